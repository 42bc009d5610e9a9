"""Benchmarks of the reference workloads: every variant trains the workload's network
on the same data from the same weights with the same optimizer; it must learn (validated
first) before its rounds of whole epochs are timed. samples/s = samples per epoch / best
epoch time. The inference rows time ``predict_proba`` instead (validated against the float64
reference first), in rounds of calls: rows/s, and microseconds per call on predict-1.

Each case runs in a fresh Python process, the one ``fastmlp bench`` uses
(:func:`fastmlp.bench.isolate.run_task`), in the workload's machine setting (one core,
a busy core: :mod:`fastmlp.bench.settings`): in one process the thread pools a
variant leaves behind (OpenBLAS, OpenMP, XLA) keep spinning and slow down the
next. The child times the rounds itself, and they are handed to
pytest-benchmark (:func:`fastmlp.bench.child_timing.record_rounds`), whose times are per
iteration, i.e. per epoch (per call for inference); the pytest process only starts children.
With ``--benchmark-disable`` the case still runs (and must learn) but nothing is recorded.

The grid: every reference workload with every variant that applies to it (training or
inference); a peer that is not installed, or the loop variant where one batch would take
minutes, is skipped with the reason.
"""
import pytest

from fastmlp.bench.child_timing import record_rounds
from fastmlp.bench.isolate import run_task
from fastmlp.bench.peers import missing_reason, variants_for
from fastmlp.bench.tasks import not_run_reason, workload_task
from fastmlp.bench.workloads import WORKLOADS

# Timing of the suite: rounds per case (best counts), a round lasts at least this long,
# epochs trained before timing (the first includes JIT; the loss must go down).
# The loop variant uses fastmlp.bench.tasks.LOOP_TIMING, as the report does.
ROUNDS, MIN_ROUND_S, VALIDATE_EPOCHS = 3, 0.2, 2


def skip_reason(workload, variant):
    """Why ``variant`` is not run on ``workload`` ('' when it is)."""
    return not_run_reason(workload, variant) or missing_reason(variant, workload.net.optimizer)


def cases():
    """pytest params ``(workload, variant)`` with ids like 'mnist-b1-numba'."""
    out = []
    for w in WORKLOADS.values():
        for v in variants_for(w.kind):
            reason = skip_reason(w, v)
            marks = [pytest.mark.skip(reason=f"{v}: {reason}")] if reason else []
            out.append(pytest.param(w, v, id=f"{w.id}-{v}", marks=marks))
    return out


@pytest.mark.parametrize("workload, variant", cases())
def test_workload(benchmark, workload, variant, sgemm_ceiling, record):
    r = run_task(workload_task(workload, variant, ROUNDS, VALIDATE_EPOCHS, MIN_ROUND_S))
    if r["status"] == "skipped":
        benchmark.skipped = True
        pytest.skip(r["reason"])
    assert r["status"] == "ok", r["reason"]
    benchmark.group = workload.id
    per_round = r["calls_per_round"] if workload.kind == "predict" else r["epochs_per_round"]
    record_rounds(benchmark, r["round_s"], per_round)  # the child's samples_per_s is from these
    if benchmark.disabled:
        return
    benchmark.extra_info.update(r, sgemm_gflops=sgemm_ceiling)
    record(workload, r)
