"""The deterministic mode: bit-identical weights for any thread count (fastmlp.set_deterministic).

Each run trains a network whose products go to the BLAS (64-row batches, 784-256-128-64-10)
with Adam and with plain SGD, in a fresh process so that thread pools and limits start
clean, once on one thread and once on two; the weights must be equal bit for bit.
"""
import json
import subprocess
import sys

import numba
import pytest

import fastmlp

SCRIPT = r"""
import json, sys
import numpy as np
import fastmlp
fastmlp.set_deterministic(True)
fastmlp.set_num_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
X = rng.random((512, 784), dtype=np.float32)
y = rng.integers(0, 10, 512)
out = {}
for opt in ("adam", "sgd"):
    m = fastmlp.MLP([784, 256, 128, 64, 10], seed=0)
    m.fit(X, y, epochs=2, batch_size=64, optimizer=opt, lr=1e-3, seed=1, verbose=0)
    out[opt] = m.params.tobytes().hex()
out["info"] = fastmlp.thread_info()["blas"]
print(json.dumps(out))
"""


def _train(threads):
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(threads)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads to compare thread counts")
def test_weights_bit_identical_on_one_and_two_threads():
    one, two = _train(1), _train(2)
    assert all(d["num_threads"] == 1 for d in one["info"] + two["info"])  # the BLAS ran on one thread
    assert one["adam"] == two["adam"]
    assert one["sgd"] == two["sgd"]


def test_deterministic_switch_limits_and_restores_the_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = lambda: [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]  # noqa: E731
    before = blas()
    try:
        fastmlp.set_deterministic(True)
        assert fastmlp.is_deterministic() and fastmlp.thread_info()["deterministic"]
        assert all(n == 1 for n in blas())
    finally:
        fastmlp.set_deterministic(False)
    assert not fastmlp.is_deterministic()
    assert blas()[:len(before)] == before


def test_set_deterministic_refuses_a_non_bool():
    with pytest.raises(TypeError, match=r"^flag must be True or False; got int 1$"):
        fastmlp.set_deterministic(1)
