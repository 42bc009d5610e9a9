"""fastmlp's benchmarks, installed as ``fastmlp.bench``: the ``fastmlp bench`` report and the
pytest-benchmark suite (``pytest --benchmark``). They are not part of the library: nothing in
``fastmlp`` imports them except the CLI's ``bench`` command, when it runs.

The modules, each importing only those above it:

- ``workloads``: the reference workloads (what is trained or run, with which optimizer, in
  which machine setting) and their data.
- ``peers``: the variants, fastmlp's (numba, numpy, loop) and the peers' (torch, jax-step,
  jax-scan, sklearn for training; torch, onnxruntime, sklearn, numpy-matmul for inference),
  one file per peer behind one Runner / Predictor interface, made by ``make_runner`` and
  ``make_predictor``.
- ``measure``: what one process measures: a case (validated, then timed rounds), an
  inference case (checked against the float64 reference, then timed calls), the recipe's
  wall time and test accuracy, and the machine's sgemm ceiling.
- ``tasks``: a measurement as a small JSON-able task, and its run in this process.
- ``settings``: the machine settings of a row: one core (pinned child, one-thread
  environment), a busy core (a spinner process meanwhile).
- ``isolate``: a task run in a fresh Python process in its setting; processes
  interleaved, the best kept.
- ``compile``: cold and warm compile time per optimizer, each in fresh processes.
- ``sweeps``, ``recipe``: the batch/width/depth sweeps and the end-to-end recipe over the
  variants, in fresh processes.
- ``markdown``, ``charts``: the report's text and PNG charts.
- ``report``: the ``fastmlp bench`` command, which runs all of the above.
- ``conftest``, ``child_timing``, ``test_bench_*``: the pytest-benchmark suite.
"""
