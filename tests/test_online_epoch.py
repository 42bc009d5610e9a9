"""The batch-1 plain-SGD epoch (kernels/online.py) against the batched kernel and the references.

``MLP.fit(batch_size=1)`` with plain SGD runs ``train_epoch_online`` (first
layer transposed for the epoch, its update fused with the next sample's
forward product). It must give the numbers of ``train_epoch_sgd`` run with
batch 1, and of the NumPy and loop backends, for every depth (including a
single layer, where the first layer is the output), loss and activation;
stop at divergence like the others; and allocate nothing per sample.
"""
import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys

import fastmlp
from fastmlp import kernels as K
from fastmlp.trainer import _EpochRunner

CASES = [  # layers, activation, loss
    ([3, 2], "relu", "cross_entropy"),  # one layer: the first layer is the output
    ([1, 1, 2], "tanh", "cross_entropy"),
    ([5, 7, 3], "sigmoid", "cross_entropy"),
    ([4, 6, 5, 3], "relu", "mse"),
    ([6, 9, 1], "leaky_relu", "bce"),
    ([33, 17, 8, 4, 3], "tanh", "cross_entropy"),
    ([3, 4, 1], "identity", "mse"),
]


def _data(layers, loss, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layers[0]))
    X[rng.random(X.shape) < 0.3] = 0.0  # zero inputs, as in images
    if loss == "cross_entropy":
        y = rng.integers(0, layers[-1], n)
    elif loss == "bce":
        y = rng.integers(0, 2, n)
    else:
        y = rng.normal(size=(n, layers[-1])) if layers[-1] > 1 else rng.normal(size=n)
    return X, y


def _model(layers, act, loss, dtype="float64", backend="numba"):
    return fastmlp.MLP(layers, activation=act, loss=loss, dtype=dtype, seed=1, backend=backend)


@pytest.mark.parametrize("layers,act,loss", CASES)
def test_online_epoch_matches_numpy_and_loop_backends(layers, act, loss):
    X, y = _data(layers, loss, 23)
    results = {}
    for backend in ("numba", "numpy", "loop"):
        m = _model(layers, act, loss, backend=backend)
        h = m.fit(X, y, epochs=2, batch_size=1, lr=0.05, seed=3, verbose=0)
        results[backend] = (m.params.copy(), h["loss"])
    for other in ("numpy", "loop"):
        np.testing.assert_allclose(results["numba"][0], results[other][0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(results["numba"][1], results[other][1], rtol=1e-10)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("layers,act,loss", CASES)
def test_online_kernel_equals_batched_kernel_at_batch_1(layers, act, loss, dtype, tol):
    X, y = _data(layers, loss, 40, seed=2)
    m1, m2 = _model(layers, act, loss, dtype), _model(layers, act, loss, dtype)
    Xc, yi, t = m1._data(X, y)
    order = np.random.default_rng(5).permutation(len(Xc))
    opt = fastmlp.Optimizer("sgd")
    r = _EpochRunner(m1, opt, opt.new_state(m1.n_params, m1.dtype), Xc, yi, t, 1, False)
    assert r.online
    a, ws = m1.arch, r.ws
    out1, out2 = np.zeros(5), np.zeros(5)
    K.train_epoch_online(out1, m1.params, ws.acts, ws.deltas, ws.stats, r.WT, r.xs, Xc, yi, t, order,
                         ws.lay, a.kinds, a.alphas, a.loss_id, 0.03)
    K.train_epoch_sgd(out2, m2.params, ws.acts, ws.deltas, ws.stats, r.xb, r.yb, r.tb, Xc, yi, t, order, 1,
                      False, ws.lay, a.kinds, a.alphas, a.loss_id, 0.03)
    np.testing.assert_allclose(m1.params, m2.params, rtol=tol, atol=tol)
    np.testing.assert_allclose(out1, out2, rtol=tol)
    assert out1[K.epoch.STEPS] == 40 and out1[K.epoch.SEEN] == 40


def test_online_epoch_on_empty_order_changes_nothing():
    m = _model([4, 3, 2], "relu", "cross_entropy")
    X, y = _data([4, 3, 2], "cross_entropy", 5)
    Xc, yi, t = m._data(X, y)
    opt = fastmlp.Optimizer("sgd")
    r = _EpochRunner(m, opt, opt.new_state(m.n_params, m.dtype), Xc, yi, t, 1, False)
    before, out = m.params.copy(), np.zeros(5)
    a, ws = m.arch, r.ws
    K.train_epoch_online(out, m.params, ws.acts, ws.deltas, ws.stats, r.WT, r.xs, Xc, yi, t,
                         np.zeros(0, np.int64), ws.lay, a.kinds, a.alphas, a.loss_id, 0.1)
    np.testing.assert_array_equal(m.params, before)
    assert not out.any()


def test_online_divergence_stops_and_keeps_the_last_finite_weights():
    X, y = _data([5, 8, 3], "mse", 50)
    m = _model([5, 8, 3], "relu", "mse")
    m.fit(X, y * 1e3, epochs=1, batch_size=1, lr=1e-6, verbose=0)
    good = m.params.copy()
    with pytest.warns(RuntimeWarning, match="diverg"):
        h = m.fit(X, y * 1e30, epochs=3, batch_size=1, lr=1e3, verbose=0, on_divergence="warn")
    assert h.diverged and len(h) == 0  # the first epoch diverged: nothing recorded
    np.testing.assert_array_equal(m.params, good)  # the weights from before it, restored


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_online_epoch_allocates_nothing_per_sample(dtype):
    layers = [64, 32, 16, 3]
    X, y = _data(layers, "cross_entropy", 200)
    m = _model(layers, "sigmoid", "cross_entropy", dtype)
    Xc, yi, t = m._data(X, y)
    opt = fastmlp.Optimizer("sgd")
    r = _EpochRunner(m, opt, opt.new_state(m.n_params, m.dtype), Xc, yi, t, 1, False)
    a, ws = m.arch, r.ws

    def stats(order):
        out = np.zeros(5)
        before = rtsys.get_allocation_stats()
        K.train_epoch_online(out, m.params, ws.acts, ws.deltas, ws.stats, r.WT, r.xs, Xc, yi, t, order,
                             ws.lay, a.kinds, a.alphas, a.loss_id, 1e-3)
        after = rtsys.get_allocation_stats()
        assert out[K.epoch.STEPS] == len(order)
        return {k: getattr(after, k) - getattr(before, k) for k in ("alloc", "free", "mi_alloc", "mi_free")}

    _nrt_python.memsys_enable_stats()
    try:
        stats(np.arange(1))  # compile outside the measure
        one, many = stats(np.arange(1)), stats(np.arange(200))
    finally:
        _nrt_python.memsys_disable_stats()
    assert one == many and one["alloc"] == one["free"]
