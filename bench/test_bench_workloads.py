"""Benchmarks of the reference workloads: every variant trains the workload's network
on the same data from the same weights; it must learn (validated first) before
its rounds of whole epochs are timed. samples/s = samples per epoch / best epoch time.

Each case runs in a fresh Python process, the one ``fastmlp bench`` uses
(:func:`fastmlp.bench_isolate.run_task`): in one process the thread pools a
variant leaves behind (OpenBLAS, OpenMP, XLA) keep spinning and slow down the
next. The child times the rounds itself, and they are handed to
pytest-benchmark (:func:`child_timing.record_rounds`), whose times are per
iteration, i.e. per epoch; the pytest process only starts children. With
``--benchmark-disable`` the case still runs (and must learn) but nothing is recorded.
"""
import pytest
from child_timing import record_rounds
from workloads import MIN_ROUND_S, ROUNDS, VALIDATE_EPOCHS, cases

from fastmlp.bench_isolate import run_task, workload_task


@pytest.mark.parametrize("workload, variant", cases())
def test_workload(benchmark, workload, variant, sgemm_ceiling, record):
    r = run_task(workload_task(workload, variant, ROUNDS, VALIDATE_EPOCHS, MIN_ROUND_S))
    if r["status"] == "skipped":
        benchmark.skipped = True
        pytest.skip(r["reason"])
    assert r["status"] == "ok", r["reason"]
    benchmark.group = workload.id
    record_rounds(benchmark, r["round_s"], r["epochs_per_round"])  # the child's samples_per_s is from these
    if benchmark.disabled:
        return
    benchmark.extra_info.update(r, sgemm_gflops=sgemm_ceiling)
    record(workload.id, r)
