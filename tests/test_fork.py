"""A forked worker can train after its parent did (multiprocessing's default on Linux before 3.14).

Under GNU OpenMP a child forked from a process whose thread pool is running aborts or hangs
("fork() called from a process already using GNU OpenMP"). fastmlp starts no thread at import
and runs Numba's TBB layer, which is fork-safe; the test runs the whole scenario in a fresh
process with a time limit, so a hang fails the test instead of the test run. It runs it twice:
on every core, and pinned to one (a `taskset -c 0`, a container of one CPU), where TBB starts no
worker thread and the parent hung at its exit until ``intrinsics.launch_threads`` waited for the
pool's start.
"""
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import os
import sys
if sys.argv[1] == "one":  # pinned before NumPy, Numba and TBB load, as `taskset -c 0` would
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
import multiprocessing as mp
import numba
import numpy as np
import fastmlp

rng = np.random.default_rng(0)
X = rng.random((600, 40), dtype=np.float32)
y = rng.integers(0, 3, 600)

def work(seed):
    m = fastmlp.MLP([40, 400, 400, 3], seed=seed)  # > 131072 parameters: the optimizer runs in parallel
    m.fit(X, y, epochs=1, batch_size=32, optimizer="adam", verbose=0)
    return m.evaluate(X, y)["loss"]

if __name__ == "__main__":
    parent = work(0)  # starts the thread pool and runs parallel kernels in the parent
    print("layer", numba.threading_layer(), flush=True)
    with mp.get_context("fork").Pool(2) as pool:
        losses = pool.map(work, [0, 1])
    print("losses", parent, *losses, "cpus", len(os.sched_getaffinity(0)), flush=True)
    assert abs(losses[0] - parent) < 1e-6  # the same training in the child gives the same model
"""


@pytest.mark.parametrize("cores", ["every", "one"])
def test_forked_pool_trains_after_the_parent_trained(tmp_path, cores):
    if cores == "one" and not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity to pin a process to one core here")
    script = tmp_path / "fork_pool.py"
    script.write_text(SCRIPT)
    try:
        run = subprocess.run([sys.executable, str(script), cores], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        where = "at the parent's exit, after the pool's work" if "losses" in out else "before the pool's work ended"
        pytest.fail(f"the forked pool hung ({cores} core(s)) {where}")
    if "layer omp" in run.stdout or "layer workqueue" in run.stdout:
        pytest.skip("TBB is not available here: fork after training needs Numba's tbb layer (see README)")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "layer tbb" in run.stdout and "losses" in run.stdout
    if cores == "one":
        assert run.stdout.rstrip().endswith("cpus 1")

