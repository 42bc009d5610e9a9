"""Benchmarks of the Numba path's compile time per optimizer (plain SGD, momentum, Adam): a
fresh process from launch to its first trained batch, with an empty NUMBA_CACHE_DIR (cold) and
with the cache it filled (warm), on every core and pinned to one (``fastmlp.bench.compile.SETTINGS``)."""
import pytest

from fastmlp.bench.compile import SETTINGS, run_child
from fastmlp.bench.workloads import COMPILE_OPTIMIZERS, WORKLOADS

NET = WORKLOADS["fashion-b64"].net
CASES = [(opt, setting) for setting in SETTINGS for opt in COMPILE_OPTIMIZERS]


@pytest.fixture(scope="module")
def cache_dirs(tmp_path_factory):
    """One cache folder per optimizer and setting, empty until its cold benchmark runs."""
    return {(opt, setting): tmp_path_factory.mktemp(f"numba-cache-{opt}-{setting}") for opt, setting in CASES}


@pytest.mark.parametrize("optimizer,setting", CASES)
def test_compile_cold(benchmark, cache_dirs, optimizer, setting):
    cache_dir = cache_dirs[optimizer, setting]
    assert not any(cache_dir.iterdir())
    out = {}
    benchmark.group = f"compile {optimizer} {setting}"
    benchmark.pedantic(lambda: out.update(run_child(NET.with_optimizer(optimizer), cache_dir, setting=setting)),
                       rounds=1, iterations=1)
    assert any(cache_dir.iterdir())
    benchmark.extra_info.update(out)


@pytest.mark.parametrize("optimizer,setting", CASES)
def test_compile_warm(benchmark, cache_dirs, optimizer, setting):
    cache_dir, net = cache_dirs[optimizer, setting], NET.with_optimizer(optimizer)
    if not any(cache_dir.iterdir()):  # the cold benchmark was deselected: fill the cache untimed
        run_child(net, cache_dir, setting=setting)
    runs = []
    benchmark.group = f"compile {optimizer} {setting}"
    benchmark.pedantic(lambda: runs.append(run_child(net, cache_dir, setting=setting)), rounds=3, iterations=1)
    benchmark.extra_info.update(min(runs, key=lambda r: r["to_first_batch_s"]))
