"""fastmlp's benchmarks, installed as ``fastmlp.bench``: the ``fastmlp bench`` report and the
pytest-benchmark suite (``pytest --benchmark``). They are not part of the library: nothing in
``fastmlp`` imports them except the CLI's ``bench`` command, when it runs.

The modules, each importing only those above it:

- ``workloads``: the reference workloads (what is trained) and their data.
- ``peers``: the variants, fastmlp's (numba, numpy, loop) and the peers' (torch, jax-step,
  jax-scan, sklearn), one file per peer behind one Runner interface, made by ``make_runner``.
- ``measure``: what one process measures: a case (validated, then timed rounds), the
  recipe's wall time and test accuracy, and the machine's sgemm ceiling.
- ``tasks``: a measurement as a small JSON-able task, and its run in this process.
- ``isolate``: a task run in a fresh Python process; processes interleaved, the best kept.
- ``compile``: cold and warm compile time, each in fresh processes.
- ``sweeps``, ``recipe``: the batch/width/depth sweeps and the end-to-end recipe over the
  variants, in fresh processes.
- ``markdown``, ``charts``: the report's text and PNG charts.
- ``report``: the ``fastmlp bench`` command, which runs all of the above.
- ``conftest``, ``child_timing``, ``test_bench_*``: the pytest-benchmark suite.
"""
