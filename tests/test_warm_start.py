"""A warm start: a fresh process whose kernels are in the on-disk cache trains its first batch
after loading them, and nothing else: not Numba's compiler set-up, not scipy.linalg, not numpy.ma.

Numba's own way to load a cached function first sets up its whole compiler (``numba.np.arraymath``
and the rest, scipy.linalg and cffi's C parser with them), and its BLAS check imports all of
scipy.linalg, and its typing of a kernel's array arguments imports numpy.ma: together more than
half of a warm start (see ``intrinsics.CacheWithoutCompiler``, ``intrinsics.load_scipy_blas`` and
``intrinsics.type_arrays_without_numpy_ma``). Checked here in fresh interpreters (``subprocess``): the
first may compile (or load), the second must load, and both must train to the same weights.
"""
import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, sys
import numpy as np
import fastmlp
from fastmlp import kernels

optimizer = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.random((32, 8), dtype=np.float32)
y = rng.integers(0, 3, 32)
model = fastmlp.MLP([8, 16, 3], activation="relu", seed=0)
model.fit(X, y, epochs=1, batch_size=8, verbose=0, optimizer=optimizer, lr=0.01)  # sgd: the fused kernel
epoch_kernels = [kernels.train_epoch_sgd, kernels.train_epoch]
print(json.dumps({
    "params": model.params.tolist(),
    "hits": sum(k.stats.cache_hits.total() for k in epoch_kernels),
    "misses": sum(k.stats.cache_misses.total() for k in epoch_kernels),
    "imported": [m for m in ("scipy.linalg", "numba.np.arraymath", "cffi", "numpy.ma") if m in sys.modules],
}))
"""


def _train_in_a_fresh_process(optimizer):
    proc = subprocess.run([sys.executable, "-c", CHILD, optimizer], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_warm_process_loads_its_kernel_without_the_compiler_or_scipy_linalg(optimizer):
    first = _train_in_a_fresh_process(optimizer)  # compiles the epoch kernel if the cache lacks it
    warm = _train_in_a_fresh_process(optimizer)
    assert warm["misses"] == 0 and warm["hits"] == 1, warm
    assert warm["imported"] == [], f"a warm start imported {warm['imported']}"
    assert warm["params"] == first["params"]
