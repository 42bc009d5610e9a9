"""Hand pytest-benchmark rounds that were timed in another process.

The workload benchmarks run each case in a fresh Python process
(:mod:`fastmlp.bench.isolate`), so pytest-benchmark cannot time the calls
itself; :func:`record_rounds` gives it the child's measured rounds instead,
and its tables, JSON output and ``--benchmark-compare`` then work on them as
on rounds it timed. This uses the fixture's ``_make_stats`` (what its own
``pedantic`` calls to store rounds), as pytest-benchmark 4 and 5 have it.
"""


def record_rounds(benchmark, round_s, iterations):
    """Store rounds of ``iterations`` calls each, lasting ``round_s`` seconds, as ``benchmark``'s
    measurements (pytest-benchmark reports seconds per iteration: round / iterations);
    nothing is kept under ``--benchmark-disable``.

    Parameters
    ----------
    benchmark : pytest_benchmark.fixture.BenchmarkFixture
    round_s : sequence of float
    iterations : int
    """
    if not round_s or any(not s > 0 for s in round_s):
        raise ValueError(f"round_s must be a non-empty list of positive seconds; got {round_s!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive int; got {iterations!r}")
    make_stats = getattr(benchmark, "_make_stats", None)
    if make_stats is None or benchmark._mode:
        raise RuntimeError("this pytest-benchmark fixture cannot take external rounds (no unused _make_stats)")
    benchmark._mode = "rounds timed in a child process"
    if benchmark.disabled:  # --benchmark-disable: the rounds ran but are not kept
        return
    stats = make_stats(iterations)
    for s in round_s:
        stats.update(s)
