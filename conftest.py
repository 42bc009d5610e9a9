"""Project-wide pytest setup: the ``--benchmark`` option that turns on the benchmark suite.

Plain ``pytest`` runs the tests (tests/) and collects the benchmarks (bench/)
but skips them; ``pytest --benchmark`` runs them too, timed by pytest-benchmark
(whose own ``--benchmark-*`` options keep working).

bench/ is a package, installed as ``fastmlp.bench``. With pytest's ``prepend``
import mode (set in pyproject.toml) its test files and conftest are imported as
``bench.test_*`` from this folder, which pytest puts first on ``sys.path``; they
import the benchmark code by its installed name, ``fastmlp.bench.*``, as the
child processes they start do, so that code is loaded once (only the suite lives under bench.*).
"""
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).parent / "bench"


def pytest_addoption(parser):
    parser.addoption("--benchmark", action="store_true", default=False,
                     help="run the benchmark suite in bench/ (skipped otherwise)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--benchmark"):
        return
    skip = pytest.mark.skip(reason="benchmark: run with pytest --benchmark")
    for item in items:
        if BENCH_DIR in Path(item.path).parents:
            item.add_marker(skip)
