"""The batch-1 plain-SGD epoch (kernels/online.py) against the batched kernel and the references.

``MLP.fit(batch_size=1)`` with plain SGD runs ``train_epoch_online`` (the numba backend's
'online' epoch kernel: first layer transposed for the epoch, its update fused with the
next sample's forward product). It must give the numbers of the 'fused' kernel
(``train_epoch_sgd``) run with batch 1, and of the NumPy and loop backends, for every
depth (including a single layer, where the first layer is the output), loss and
activation; stop at divergence like the others; and allocate nothing per sample.
"""
import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys

import fastmlp
from fastmlp import buffers
from fastmlp import kernels as K
from fastmlp.backends import EpochResult, TrainingData
from fastmlp.backends.numba import new_workspace

try:
    from fastmlp.checks import check_targets, check_X
except ImportError:  # the checks' module before its rename
    from fastmlp.validation import check_targets, check_X

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


def _training_data(model, X, y, batch_size, drop_last=False):
    """What the trainer hands the backend: checked X (model dtype, C order), targets, batching."""
    X = check_X(X, model.arch.n_in, model.dtype)
    yi, t = check_targets(y, model.arch, X.shape[0])
    return TrainingData(X, yi, t, batch_size, drop_last)


@pytest.mark.parametrize("layers,act,loss", CASES)
def test_online_epoch_matches_numpy_and_loop_backends(layers, act, loss):
    X, y = _data(layers, loss, 23)
    results = {}
    for backend in ("numba", "numpy", "loop"):
        m = _model(layers, act, loss, backend=backend)
        if backend == "numba":
            m.engine.epoch_kernel = "online"  # what 'auto' picks here: forced, so it cannot silently change
        h = m.fit(X, y, epochs=2, batch_size=1, lr=0.05, seed=3, verbose=0)
        results[backend] = (m.params.copy(), h["loss"])
    for other in ("numpy", "loop"):
        np.testing.assert_allclose(results["numba"][0], results[other][0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(results["numba"][1], results[other][1], rtol=1e-10)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("layers,act,loss", CASES)
def test_online_kernel_equals_batched_kernel_at_batch_1(layers, act, loss, dtype, tol):
    """The same epoch (data, order, lr) by the 'online' and the 'fused' epoch kernels."""
    X, y = _data(layers, loss, 40, seed=2)
    m1, m2 = _model(layers, act, loss, dtype), _model(layers, act, loss, dtype)
    m1.engine.epoch_kernel, m2.engine.epoch_kernel = "online", "fused"
    data = _training_data(m1, X, y, 1)
    order = np.random.default_rng(5).permutation(data.n)
    opt = fastmlp.Optimizer("sgd")
    s1, s2 = opt.new_state(m1.n_params, m1.dtype), opt.new_state(m2.n_params, m2.dtype)
    r1 = m1.engine.train_epoch(m1.params, s1, opt, data, order, 0.03)
    r2 = m2.engine.train_epoch(m2.params, s2, opt, data, order, 0.03)
    np.testing.assert_allclose(m1.params, m2.params, rtol=tol, atol=tol)
    assert r1.loss_sum == pytest.approx(r2.loss_sum, rel=tol)
    assert (r1.correct, r1.seen, r1.steps, r1.diverged) == (r2.correct, r2.seen, r2.steps, r2.diverged)
    assert r1.steps == 40 and r1.seen == 40 and not r1.diverged
    assert s1.step == s2.step == 40


def test_online_epoch_on_empty_order_changes_nothing():
    """The kernel itself over an empty order, with buffers built as the numba backend builds them."""
    m = _model([4, 3, 2], "relu", "cross_entropy")
    X, y = _data([4, 3, 2], "cross_entropy", 5)
    data = _training_data(m, X, y, 1)
    a = m.arch
    ws = new_workspace(a, 1)
    scratch = K.OnlineScratch(buffers.empty((a.layers[1], a.n_in), a.dtype), buffers.empty((2, a.n_in), a.dtype))
    result = np.zeros(1, K.EPOCH_RESULT)
    before = m.params.copy()
    K.train_epoch_online(result, m.params, ws, scratch, K.Samples(data.X, data.y, data.t, data.w), np.zeros(0, np.int64),
                         a.net, 0.1)
    np.testing.assert_array_equal(m.params, before)
    assert not result[0]["loss_sum"] and not result[0]["correct"] and not result[0]["diverged"]
    assert result[0]["seen"] == result[0]["steps"] == 0
    # and through the backend
    m.engine.epoch_kernel = "online"
    opt = fastmlp.Optimizer("sgd")
    state = opt.new_state(m.n_params, m.dtype)
    r = m.engine.train_epoch(m.params, state, opt, data, np.zeros(0, np.int64), 0.1)
    assert r == EpochResult(0.0, 0, 0, 0, False) and state.step == 0
    np.testing.assert_array_equal(m.params, before)


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
    m.engine.epoch_kernel = "online"
    data = _training_data(m, X, y, 1)
    opt = fastmlp.Optimizer("sgd")
    state = opt.new_state(m.n_params, m.dtype)

    def stats(order):
        before = rtsys.get_allocation_stats()
        r = m.engine.train_epoch(m.params, state, opt, data, order, 1e-3)
        after = rtsys.get_allocation_stats()
        assert r.steps == len(order)
        return {k: getattr(after, k) - getattr(before, k) for k in ("alloc", "free", "mi_alloc", "mi_free")}

    was_enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        stats(np.arange(1))  # compile and allocate the backend's buffers outside the measure
        one, many = stats(np.arange(1)), stats(np.arange(200))
    finally:
        if not was_enabled:
            _nrt_python.memsys_disable_stats()
    assert one == many and one["alloc"] == one["free"] and one["mi_alloc"] == one["mi_free"]
