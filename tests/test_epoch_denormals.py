"""Every numba epoch kernel computes with denormals flushed to zero, products and loss included
(``kernels/epoch.py``), and leaves the calling thread's floating-point mode as it was; the NumPy
variant keeps them. Observed through an epoch's accuracy: logits that differ only by a denormal
amount pick the class with the larger one, or, flushed to a tie, the first."""
import numpy as np
import pytest

import fastmlp
from fastmlp.kernels import intrinsics

TINY32 = np.float32(np.finfo(np.float32).tiny)  # the smallest normal float32
KERNELS = [("fused", "sgd", 2), ("online", "sgd", 1), ("generic", "sgd", 2), ("generic", "adam", 2),
           ("online", "adam", 1)]


def _first_epoch_accuracy(backend, kernel, optimizer, batch, eps=1e-8):
    """One epoch on samples of class 1 whose logits are (0, 8.8e-39): x = 1.76e-38 (normal) times
    W's row (0, 0.5), no bias; one batch, whose forward, before its update, decides the accuracy."""
    model = fastmlp.MLP([2, 2], dtype="float32", backend=backend, seed=0)
    model.set_layer(0, np.array([[0.0, 0.5], [0.0, 0.0]], np.float32), np.zeros(2, np.float32))
    if backend == "numba":
        model.engine.epoch_kernel = kernel
    X = np.array([[1.5 * TINY32, 0.0]] * batch, np.float32)
    kw = dict(eps=eps) if optimizer == "adam" else {}
    history = model.fit(X, np.ones(batch, np.int64), epochs=1, batch_size=batch, lr=1e-3, optimizer=optimizer,
                        shuffle=False, verbose=0, **kw)
    return history.rows[-1]["accuracy"]


@pytest.mark.skipif(not intrinsics.HAS_MXCSR, reason="no MXCSR: denormals are what the CPU makes of them")
@pytest.mark.parametrize("kernel,optimizer,batch", KERNELS)
def test_every_epoch_kernel_flushes_denormals_and_gives_the_thread_its_mode_back(kernel, optimizer, batch):
    logit = np.float32(1.5 * TINY32) * np.float32(0.5)
    assert 0 < logit < TINY32  # denormal where nothing flushes: here, the NumPy variant
    assert _first_epoch_accuracy("numpy", kernel, optimizer, batch) == 1.0
    assert _first_epoch_accuracy("numba", kernel, optimizer, batch) == 0.0  # (0, 0): a tie, the first class
    assert np.float32(TINY32) * np.float32(0.25) != 0  # this thread computes with denormals again


@pytest.mark.skipif(not intrinsics.HAS_MXCSR, reason="no MXCSR: denormals are what the CPU makes of them")
def test_an_eps_below_the_smallest_normal_float32_keeps_denormals_in_the_whole_epoch():
    assert _first_epoch_accuracy("numba", "generic", "adam", 2, eps=1e-40) == 1.0
