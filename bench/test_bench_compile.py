"""Benchmarks of the Numba path's compile time per optimizer (plain SGD, momentum, Adam): a
fresh process from launch to its first trained batch, with an empty NUMBA_CACHE_DIR (cold) and
with the cache it filled (warm)."""
import pytest

from fastmlp.bench.compile import run_child
from fastmlp.bench.workloads import COMPILE_OPTIMIZERS, WORKLOADS

NET = WORKLOADS["fashion-b64"].net


@pytest.fixture(scope="module")
def cache_dirs(tmp_path_factory):
    """One cache folder per optimizer, empty until its cold benchmark runs."""
    return {opt: tmp_path_factory.mktemp(f"numba-cache-{opt}") for opt in COMPILE_OPTIMIZERS}


@pytest.mark.parametrize("optimizer", COMPILE_OPTIMIZERS)
def test_compile_cold(benchmark, cache_dirs, optimizer):
    cache_dir = cache_dirs[optimizer]
    assert not any(cache_dir.iterdir())
    out = {}
    benchmark.group = f"compile {optimizer}"
    benchmark.pedantic(lambda: out.update(run_child(NET.with_optimizer(optimizer), cache_dir)), rounds=1,
                       iterations=1)
    assert any(cache_dir.iterdir())
    benchmark.extra_info.update(out)


@pytest.mark.parametrize("optimizer", COMPILE_OPTIMIZERS)
def test_compile_warm(benchmark, cache_dirs, optimizer):
    cache_dir, net = cache_dirs[optimizer], NET.with_optimizer(optimizer)
    if not any(cache_dir.iterdir()):  # the cold benchmark was deselected: fill the cache untimed
        run_child(net, cache_dir)
    runs = []
    benchmark.group = f"compile {optimizer}"
    benchmark.pedantic(lambda: runs.append(run_child(net, cache_dir)), rounds=3, iterations=1)
    benchmark.extra_info.update(min(runs, key=lambda r: r["to_first_batch_s"]))
