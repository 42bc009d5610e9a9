"""Benchmarks of the Numba path's compile time: a fresh process from launch to its first
trained batch, with an empty NUMBA_CACHE_DIR (cold) and with the cache it filled (warm)."""
import pytest

from fastmlp.bench.compile import run_child
from fastmlp.bench.workloads import WORKLOADS

NET = WORKLOADS["fashion-b64"].net


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("numba-cache")


def test_compile_cold(benchmark, cache_dir):
    assert not any(cache_dir.iterdir())
    out = {}
    benchmark.group = "compile"
    benchmark.pedantic(lambda: out.update(run_child(NET, cache_dir)), rounds=1, iterations=1)
    assert any(cache_dir.iterdir())
    benchmark.extra_info.update(out)


def test_compile_warm(benchmark, cache_dir):
    if not any(cache_dir.iterdir()):  # the cold benchmark was deselected: fill the cache untimed
        run_child(NET, cache_dir)
    runs = []
    benchmark.group = "compile"
    benchmark.pedantic(lambda: runs.append(run_child(NET, cache_dir)), rounds=3, iterations=1)
    benchmark.extra_info.update(min(runs, key=lambda r: r["to_first_batch_s"]))
