"""Fixtures of the benchmark suite and its summary: after a ``pytest --benchmark`` run,
a table of samples/s (rows/s, and microseconds per call on the latency row), GFLOP/s,
share of the sgemm ceiling and Numba's ratio to every other variant, per workload
(pytest-benchmark prints its own timing table too)."""
import pytest

from fastmlp.bench.markdown import ratio, row_ratio, share, table, value_text
from fastmlp.bench.measure import sgemm_gflops

RESULTS = pytest.StashKey()
CEILING = pytest.StashKey()


@pytest.fixture(scope="session")
def sgemm_ceiling(request):
    """fp32 GFLOP/s of a 2048^3 NumPy matmul (best of 5), measured once per run."""
    request.config.stash[CEILING] = sgemm_gflops()
    return request.config.stash[CEILING]


@pytest.fixture
def record(request):
    """``record(workload, row)``: keep a case's numbers for the summary table."""
    results = request.config.stash.setdefault(RESULTS, {})
    return lambda workload, row: results.setdefault(workload.id, {"metric": workload.metric, "cases": []})[
        "cases"].append(row)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(RESULTS, {})
    if not results:
        return
    ceiling = config.stash.get(CEILING, None)
    rows = []
    for wid, w in results.items():
        for r in w["cases"]:
            rows.append([wid, r["variant"], value_text(w, r), f"{r['gflops']:.3g}", share(r["gflops"], ceiling),
                         ratio(row_ratio(w, r["variant"])), f"{r.get('first_epoch_s', r.get('first_call_s')):.3g}"])
    terminalreporter.write_sep("=", "fastmlp benchmark summary")
    if ceiling:
        terminalreporter.write_line(f"fp32 sgemm ceiling (2048^3 NumPy matmul): {ceiling:.4g} GFLOP/s")
    terminalreporter.write_line(table(["workload", "variant", "samples/s, rows/s or us/call", "GFLOP/s", "of sgemm",
                                       "numba ÷ this (latency on us/call rows)", "first epoch / call s"], rows))
