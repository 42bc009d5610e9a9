"""The batch-1 epochs (kernels/online.py) against the batched kernels and the references.

``MLP.fit(batch_size=1)`` with plain SGD runs ``train_epoch_online`` (the numba backend's
'online' epoch kernel: first layer transposed for the epoch, its update fused with the
next sample's forward product). It must give the numbers of the 'fused' kernel
(``train_epoch_sgd``) run with batch 1, and of the NumPy and loop backends, for every
depth (including a single layer, where the first layer is the output), loss and
activation; stop at divergence like the others; and allocate nothing per sample.

Any other optimizer without penalties or clipping runs ``train_epoch_online_any`` (the same
kernel name, 'online': the first layer's optimizer state transposed too). It must give the
weights, optimizer state and epoch results of the 'generic' kernel at batch 1 for every
optimizer (momentum, Nesterov, weight decay, Adam, AdamW's decoupled decay, RMSprop,
Adagrad), every depth, loss and dtype; stop before the update of the first non-finite loss,
as the generic kernel does; leave nothing changed over an empty order; allocate nothing per
sample; and train the same bits on one thread and on two.
"""
import numba
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
    scratch = K.OnlineScratch(buffers.empty((a.layers[1], a.n_in), a.dtype), buffers.empty((2, a.n_in), a.dtype),
                              buffers.empty((2, 0, a.n_in), a.dtype))
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


def _assert_no_allocation_per_sample(dtype, opt):
    """200 samples by the 'online' kernel allocate what 1 sample does, and free it all."""
    layers = [64, 32, 16, 3]
    X, y = _data(layers, "cross_entropy", 200)
    m = _model(layers, "sigmoid", "cross_entropy", dtype)
    m.engine.epoch_kernel = "online"
    data = _training_data(m, X, y, 1)
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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_online_epoch_allocates_nothing_per_sample(dtype):
    _assert_no_allocation_per_sample(dtype, fastmlp.Optimizer("sgd"))


# -- any optimizer: train_epoch_online_any against the generic kernel at batch 1 ----------------

OPTIMIZERS = {  # name -> Optimizer arguments (no penalty or clipping: what 'online' trains)
    "sgd_wd": ("sgd", dict(weight_decay=0.05)),
    "momentum": ("sgd", dict(momentum=0.9)),
    "momentum_wd": ("sgd", dict(momentum=0.8, weight_decay=0.05)),
    "nesterov": ("sgd", dict(momentum=0.9, nesterov=True)),
    "nesterov_wd": ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.02)),
    "adam": ("adam", {}),
    "adam_wd": ("adam", dict(beta1=0.8, beta2=0.99, weight_decay=0.05)),
    "adamw": ("adamw", dict(decoupled_weight_decay=0.1)),
    "rmsprop_wd": ("rmsprop", dict(alpha=0.9, weight_decay=0.01)),
    "adagrad": ("adagrad", dict(lr_decay=0.1, weight_decay=0.01)),
}
ANY_TOL = {"float64": 1e-10, "float32": 2e-5}  # sums in other orders (the first layer's dot products)


def _kernel_epochs(kernel, layers, act, loss, dtype, optimizer, epochs=3, n=40, lr=0.01, state=None, blowup=None):
    """(model, epoch results, state) after ``epochs`` engine epochs by ``kernel`` at batch 1;
    ``blowup``: rows whose regression targets are made 1e200 (their loss overflows)."""
    X, y = _data(layers, loss, n, seed=len(layers))
    if blowup is not None:
        y[blowup] = 1e200
    m = _model(layers, act, loss, dtype)
    m.engine.epoch_kernel = kernel
    data = _training_data(m, X, y, 1)
    state = state or optimizer.new_state(m.n_params, m.dtype)
    results = [m.engine.train_epoch(m.params, state, optimizer, data, np.random.default_rng(e).permutation(n), lr)
               for e in range(epochs)]
    return m, results, state


def _assert_same_training(a, b, tol):
    (m1, r1, s1), (m2, r2, s2) = a, b
    np.testing.assert_allclose(m1.params, m2.params, rtol=tol, atol=tol)
    np.testing.assert_allclose(s1.values(), s2.values(), rtol=tol, atol=tol)
    assert s1.step == s2.step
    for e1, e2 in zip(r1, r2):
        assert e1.loss_sum == pytest.approx(e2.loss_sum, rel=tol)
        assert (e1.correct, e1.seen, e1.steps, e1.diverged) == (e2.correct, e2.seen, e2.steps, e2.diverged)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_online_kernel_trains_every_optimizer_as_the_generic_kernel(opt, dtype):
    name, hyper = OPTIMIZERS[opt]
    optimizer = fastmlp.Optimizer(name, **hyper)
    layers, act, loss = [5, 7, 3], "sigmoid", "cross_entropy"
    assert _model(layers, act, loss, dtype).engine.choose_epoch_kernel(optimizer, 1) == "online"  # what 'auto' picks
    online = _kernel_epochs("online", layers, act, loss, dtype, optimizer)
    generic = _kernel_epochs("generic", layers, act, loss, dtype, optimizer)
    _assert_same_training(online, generic, ANY_TOL[dtype])
    assert online[2].step == 120 and [r.steps for r in online[1]] == [40] * 3
    assert np.abs(online[0].W[0] - _model(layers, act, loss, dtype).W[0]).max() > 1e-3  # it did train
    if opt != "sgd_wd":  # SGD without momentum keeps no state
        assert np.abs(online[2].values()[0]).max() > 0  # the state moved


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", ["adam", "nesterov_wd"])
@pytest.mark.parametrize("layers,act,loss", CASES)
def test_online_kernel_trains_any_depth_and_loss_as_the_generic_kernel(layers, act, loss, dtype, opt):
    optimizer = fastmlp.Optimizer(OPTIMIZERS[opt][0], **OPTIMIZERS[opt][1])
    online = _kernel_epochs("online", layers, act, loss, dtype, optimizer, epochs=2, n=23)
    generic = _kernel_epochs("generic", layers, act, loss, dtype, optimizer, epochs=2, n=23)
    _assert_same_training(online, generic, ANY_TOL[dtype])


@pytest.mark.parametrize("opt", ["adam", "momentum"])
def test_online_kernel_continues_the_state_of_another_kernel(opt):
    """A state trained by the generic kernel, continued by the online one (the transposed copy of
    the first layer's state is taken at the start of each call, given back at its end)."""
    optimizer = fastmlp.Optimizer(OPTIMIZERS[opt][0], **OPTIMIZERS[opt][1])
    layers, act, loss = [6, 9, 1], "tanh", "bce"
    first = _kernel_epochs("generic", layers, act, loss, "float64", optimizer, epochs=1)
    runs = {}
    for kernel in ("online", "generic"):
        m, _, state = _kernel_epochs(kernel, layers, act, loss, "float64", optimizer, epochs=0, state=first[2].copy())
        m.params[:] = first[0].params
        data = _training_data(m, *_data(layers, loss, 40, seed=len(layers)), 1)
        results = [m.engine.train_epoch(m.params, state, optimizer, data, np.random.default_rng(9).permutation(40), 0.01)]
        runs[kernel] = (m, results, state)
    _assert_same_training(runs["online"], runs["generic"], 1e-10)
    assert runs["online"][2].step == 80


@pytest.mark.parametrize("opt", ["adam", "momentum", "adagrad"])
def test_online_kernel_stops_before_the_update_of_a_non_finite_loss(opt):
    """A row whose loss overflows, met after a few steps: both kernels stop at that sample,
    without its update, with the same weights and state."""
    optimizer = fastmlp.Optimizer(OPTIMIZERS[opt][0], **OPTIMIZERS[opt][1])
    layers, act, loss = [4, 6, 5, 3], "relu", "mse"
    bad = np.random.default_rng(0).permutation(40)[5]  # the 6th sample of the first epoch's order
    online = _kernel_epochs("online", layers, act, loss, "float64", optimizer, epochs=1, blowup=bad)
    generic = _kernel_epochs("generic", layers, act, loss, "float64", optimizer, epochs=1, blowup=bad)
    r = online[1][0]
    assert r.diverged and r.steps == 5 and online[2].step == 5, r
    assert np.isfinite(online[0].params).all() and np.isfinite(online[2].values()).all()
    _assert_same_training(online, generic, 1e-10)


def test_online_kernel_over_an_empty_order_changes_nothing():
    optimizer = fastmlp.Optimizer("adam")
    m, results, state = _kernel_epochs("online", [4, 3, 2], "relu", "cross_entropy", "float64", optimizer, epochs=1)
    params, slots = m.params.copy(), state.slots.copy()
    data = _training_data(m, *_data([4, 3, 2], "cross_entropy", 5), 1)
    r = m.engine.train_epoch(m.params, state, optimizer, data, np.zeros(0, np.int64), 0.1)
    assert r == EpochResult(0.0, 0, 0, 0, False) and state.step == 40
    np.testing.assert_array_equal(m.params, params)
    np.testing.assert_array_equal(state.slots, slots)


@pytest.mark.parametrize("dtype,opt", [("float32", "adam"), ("float64", "nesterov_wd"), ("float32", "adagrad")])
def test_online_kernel_allocates_nothing_per_sample_with_any_optimizer(dtype, opt):
    _assert_no_allocation_per_sample(dtype, fastmlp.Optimizer(OPTIMIZERS[opt][0], **OPTIMIZERS[opt][1]))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads to compare thread counts")
def test_online_kernel_trains_the_same_bits_on_one_thread_and_on_two():
    """A large second layer (160,400 parameters), the BLAS kept on one thread (deterministic
    mode): the thread count changes no bit."""
    layers = [8, 400, 400, 3]
    X, y = _data(layers, "cross_entropy", 30)
    out = []
    try:
        fastmlp.set_deterministic(True)
        for threads in (1, 2):
            fastmlp.set_num_threads(threads)
            m = _model(layers, "tanh", "cross_entropy", "float32")
            m.engine.epoch_kernel = "online"
            m.fit(X, y, epochs=2, batch_size=1, optimizer="adam", lr=1e-3, seed=2, verbose=0)
            out.append((m.params.tobytes(), m.optimizer_state.slots.tobytes()))
    finally:
        fastmlp.set_deterministic(False)
        fastmlp.set_num_threads("auto")
    assert out[0] == out[1]
