"""fastmlp's benchmarks, installed as ``fastmlp.bench``: the ``fastmlp bench`` report and the
pytest-benchmark suite (``pytest --benchmark``). They are not part of the library: nothing in
``fastmlp`` imports them except the CLI's ``bench`` command, when it runs.

- ``workloads``: the reference workloads (what is trained) and their data.
- ``peers``: the variants, fastmlp's (numba, numpy, loop) and the peers' (torch, jax-step,
  jax-scan, sklearn), one file per peer behind one Runner interface, made by ``make_runner``.
- ``measure``: validate a runner, then time rounds of epochs; the sgemm ceiling.
- ``isolate``: every case run in a fresh Python process; processes interleaved, the best kept.
- ``compile``: cold and warm compile time, each in fresh processes.
- ``sweeps``, ``recipe``: the batch/width/depth sweeps and the end-to-end recipe.
- ``markdown``, ``charts``: the report's text and PNG charts.
- ``report``: the ``fastmlp bench`` command, which runs all of the above.
- ``conftest``, ``child_timing``, ``test_bench_*``: the pytest-benchmark suite.
"""
