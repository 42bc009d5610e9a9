"""Fixtures of the benchmark suite and its summary: after a ``pytest --benchmark`` run,
a table of samples/s, GFLOP/s, share of the sgemm ceiling and Numba's ratio to
every other variant, per workload (pytest-benchmark prints its own timing table too)."""
import pytest

from fastmlp.bench.markdown import numba_ratio, rate, ratio, share, table
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
    """``record(workload_id, row)``: keep a case's numbers for the summary table."""
    results = request.config.stash.setdefault(RESULTS, {})
    return lambda workload, row: results.setdefault(workload, []).append(row)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(RESULTS, {})
    if not results:
        return
    ceiling = config.stash.get(CEILING, None)
    rows = []
    for wid, cases in results.items():
        for r in cases:
            rows.append([wid, r["variant"], rate(r["samples_per_s"]), f"{r['gflops']:.3g}",
                         share(r["gflops"], ceiling), ratio(numba_ratio(cases, r["variant"])),
                         f"{r['first_epoch_s']:.3g}"])
    terminalreporter.write_sep("=", "fastmlp benchmark summary")
    if ceiling:
        terminalreporter.write_line(f"fp32 sgemm ceiling (2048^3 NumPy matmul): {ceiling:.4g} GFLOP/s")
    terminalreporter.write_line(table(["workload", "variant", "samples/s", "GFLOP/s", "of sgemm", "numba ÷ this",
                                       "first epoch s"], rows))
