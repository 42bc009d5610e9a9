"""The benchmark suite's grid: every reference workload with every variant, as pytest
parameters; a peer that is not installed, or the loop variant where one batch
would take minutes, is skipped with the reason."""
import pytest

from fastmlp.bench_runners import ALL_VARIANTS, missing_reason
from fastmlp.bench_workloads import WORKLOADS

# Timing of the suite: rounds per case (best counts), a round lasts at least this long,
# epochs trained before timing (the first includes JIT; the loss must go down).
# The loop variant uses fastmlp.bench_isolate.LOOP_TIMING, as the report does.
ROUNDS, MIN_ROUND_S, VALIDATE_EPOCHS = 3, 0.2, 2


def skip_reason(workload, variant):
    """Why ``variant`` is not run on ``workload`` ('' when it is)."""
    if variant == "loop" and not workload.loop_samples:
        return workload.loop_note
    return missing_reason(variant)


def cases():
    """pytest params ``(workload, variant)`` with ids like 'mnist-b1-numba'."""
    out = []
    for w in WORKLOADS.values():
        for v in ALL_VARIANTS:
            reason = skip_reason(w, v)
            marks = [pytest.mark.skip(reason=f"{v}: {reason}")] if reason else []
            out.append(pytest.param(w, v, id=f"{w.id}-{v}", marks=marks))
    return out
