"""The numba backend's epoch kernels against each other, over whole epochs.

``model.engine.epoch_kernel`` forces one: 'generic' (gradient, then the optimizer's pass;
any optimizer), 'fused' (plain SGD applied inside the backward pass) and 'online' (batch
size 1, first layer transposed; any optimizer without penalties or clipping). For plain SGD
all that apply must train the same weights from the same data, order and learning rate;
'auto' picks the most special one that applies; forcing one that does not apply is refused.
(The online kernel's own checks are in test_online_epoch.py.)
"""
import numpy as np
import pytest

import fastmlp
from fastmlp.backends import NumbaBackend, TrainingData

try:
    from fastmlp.checks import check_targets, check_X
except ImportError:  # the checks' module before its rename
    from fastmlp.validation import check_targets, check_X

TOL = {"float64": 1e-12, "float32": 2e-5}  # float32: rounding differs between the two update orders
CASES = [  # layers, activation, loss
    ([3, 2], "relu", "cross_entropy"),  # one layer
    ([5, 7, 3], "sigmoid", "cross_entropy"),
    ([4, 6, 5, 3], "relu", "mse"),
    ([6, 9, 1], "leaky_relu", "bce"),
    ([33, 17, 8, 4, 3], "tanh", "cross_entropy"),
    ([64, 128, 10], "tanh", "cross_entropy"),  # BLAS-sized products at batch 32
]


def _data(layers, loss, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layers[0]))
    X[rng.random(X.shape) < 0.3] = 0.0
    if loss == "cross_entropy":
        y = rng.integers(0, layers[-1], n)
    elif loss == "bce":
        y = rng.integers(0, 2, n)
    else:
        y = rng.normal(size=(n, layers[-1]))
    return X, y


def _model(layers, act, loss, dtype, kernel="auto"):
    m = fastmlp.MLP(layers, activation=act, loss=loss, dtype=dtype, seed=1)
    m.engine.epoch_kernel = kernel
    return m


def _training_data(model, X, y, batch_size, drop_last=False):
    X = check_X(X, model.arch.n_in, model.dtype)
    yi, t = check_targets(y, model.arch, X.shape[0])
    return TrainingData(X, yi, t, batch_size, drop_last)


def _epochs(kernel, layers, act, loss, dtype, batch_size, drop_last, optimizer=None, n=50, epochs=2, lr=0.05):
    """(params, results, state) after ``epochs`` epochs by ``kernel`` on fixed data and orders."""
    X, y = _data(layers, loss, n, seed=len(layers))
    m = _model(layers, act, loss, dtype, kernel)
    data = _training_data(m, X, y, batch_size, drop_last)
    opt = optimizer or fastmlp.Optimizer("sgd")
    state = opt.new_state(m.n_params, m.dtype)
    results = [m.engine.train_epoch(m.params, state, opt, data, np.random.default_rng(e).permutation(n), lr)
               for e in range(epochs)]
    return m.params, results, state


def _assert_same_epochs(a, b, tol):
    (p1, r1, s1), (p2, r2, s2) = a, b
    np.testing.assert_allclose(p1, p2, rtol=tol, atol=tol)
    for e1, e2 in zip(r1, r2):
        assert e1.loss_sum == pytest.approx(e2.loss_sum, rel=tol)
        assert (e1.correct, e1.seen, e1.steps, e1.diverged) == (e2.correct, e2.seen, e2.steps, e2.diverged)
    assert s1.step == s2.step


# -- plain SGD: every kernel that applies gives the same epoch ------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (7, False), (7, True), (32, False), (50, False)])
@pytest.mark.parametrize("layers,act,loss", CASES, ids=lambda c: "-".join(map(str, c)) if isinstance(c, list) else c)
def test_fused_and_generic_kernels_train_the_same_sgd_epoch(layers, act, loss, dtype, batch_size, drop_last):
    fused = _epochs("fused", layers, act, loss, dtype, batch_size, drop_last)
    generic = _epochs("generic", layers, act, loss, dtype, batch_size, drop_last)
    _assert_same_epochs(fused, generic, TOL[dtype])
    steps = 50 // batch_size if drop_last else -(-50 // batch_size)
    assert [r.steps for r in fused[1]] == [steps, steps] and fused[2].step == 2 * steps
    assert all(r.seen == (steps * batch_size if drop_last else 50) for r in fused[1])
    assert not np.allclose(fused[0], _model(layers, act, loss, dtype).params)  # it did train


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layers,act,loss", CASES[:5], ids=lambda c: "-".join(map(str, c)) if isinstance(c, list) else c)
def test_online_and_fused_kernels_train_the_same_sgd_epoch_at_batch_1(layers, act, loss, dtype):
    online = _epochs("online", layers, act, loss, dtype, 1, False)
    fused = _epochs("fused", layers, act, loss, dtype, 1, False)
    _assert_same_epochs(online, fused, TOL[dtype])
    _assert_same_epochs(online, _epochs("generic", layers, act, loss, dtype, 1, False), TOL[dtype])


def test_the_kernels_equal_the_numpy_backends_epoch():
    """The reference epoch loop (numpy backend: gradient, then Optimizer.step_numpy)."""
    layers, act, loss = [5, 7, 3], "tanh", "cross_entropy"
    X, y = _data(layers, loss, 50, seed=len(layers))
    ref = fastmlp.MLP(layers, activation=act, loss=loss, dtype="float64", seed=1, backend="numpy")
    data = _training_data(ref, X, y, 7)
    opt = fastmlp.Optimizer("sgd")
    state = opt.new_state(ref.n_params, ref.dtype)
    results = [ref.engine.train_epoch(ref.params, state, opt, data, np.random.default_rng(e).permutation(50), 0.05)
               for e in range(2)]
    expected = (ref.params, results, state)
    for kernel in ("fused", "generic"):
        _assert_same_epochs(_epochs(kernel, layers, act, loss, "float64", 7, False), expected, 1e-10)


# -- 'auto' --------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer,batch_size,kernel", [
    (fastmlp.Optimizer("sgd"), 1, "online"),
    (fastmlp.Optimizer("sgd"), 2, "fused"),
    (fastmlp.Optimizer("sgd"), 50, "fused"),
    (fastmlp.Optimizer("sgd", momentum=0.9), 1, "online"),
    (fastmlp.Optimizer("sgd", momentum=0.9), 2, "generic"),
    (fastmlp.Optimizer("sgd", weight_decay=1e-4), 8, "generic"),
    (fastmlp.Optimizer("adam"), 1, "online"),
    (fastmlp.Optimizer("adamw"), 1, "online"),  # decoupled weight decay: online too
    (fastmlp.Optimizer("adam", l2=1e-3), 1, "generic"),  # a penalty: not online
    (fastmlp.Optimizer("sgd", momentum=0.9, clip_norm=1.0), 1, "generic"),
    (fastmlp.Optimizer("rmsprop"), 8, "generic"),
])
def test_auto_picks_the_most_special_kernel_that_applies(optimizer, batch_size, kernel):
    m = _model([5, 7, 3], "tanh", "cross_entropy", "float64")
    assert m.engine.epoch_kernel == "auto"  # the default
    assert m.engine.choose_epoch_kernel(optimizer, batch_size) == kernel
    auto = _epochs("auto", [5, 7, 3], "tanh", "cross_entropy", "float64", batch_size, False, optimizer, lr=0.01)
    forced = _epochs(kernel, [5, 7, 3], "tanh", "cross_entropy", "float64", batch_size, False, optimizer, lr=0.01)
    np.testing.assert_array_equal(auto[0], forced[0])  # the very same computation
    assert auto[1] == forced[1]


def test_fit_with_a_forced_kernel_equals_auto():
    X, y = _data([5, 7, 3], "cross_entropy", 40)
    params = {}
    for kernel in ("auto", "fused", "generic"):
        m = _model([5, 7, 3], "tanh", "cross_entropy", "float64", kernel)
        m.fit(X, y, epochs=2, batch_size=8, lr=0.1, seed=0, verbose=0)
        assert m.engine.epoch_kernel == kernel  # a fit keeps the choice
        params[kernel] = m.params
    np.testing.assert_array_equal(params["auto"], params["fused"])
    np.testing.assert_allclose(params["generic"], params["fused"], rtol=1e-12, atol=1e-12)


# -- refused -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,optimizer,batch_size,match", [
    ("online", fastmlp.Optimizer("sgd"), 8, "'online' needs batch_size 1; got 8"),
    ("online", fastmlp.Optimizer("sgd", momentum=0.9, l1=1e-3), 1, "'online' trains no penalty or clipping"),
    ("online", fastmlp.Optimizer("adam", clip_value=1.0), 1, "'online' trains no penalty or clipping"),
    ("online", fastmlp.Optimizer("rmsprop", l2=1e-3), 1, "'online' trains no penalty or clipping"),
    ("fused", fastmlp.Optimizer("sgd", momentum=0.5), 8, "'fused' trains plain SGD only"),
    ("fused", fastmlp.Optimizer("sgd", weight_decay=1e-3), 8, "'fused' trains plain SGD only"),
    ("fused", fastmlp.Optimizer("adagrad"), 8, "'fused' trains plain SGD only"),
])
def test_forcing_a_kernel_that_does_not_apply_is_refused(kernel, optimizer, batch_size, match):
    m = _model([5, 7, 3], "tanh", "cross_entropy", "float64", kernel)
    X, y = _data([5, 7, 3], "cross_entropy", 16)
    data = _training_data(m, X, y, batch_size)
    state = optimizer.new_state(m.n_params, m.dtype)
    before = m.params.copy()
    with pytest.raises(ValueError, match=match):
        m.engine.choose_epoch_kernel(optimizer, batch_size)
    with pytest.raises(ValueError, match=match):
        m.engine.train_epoch(m.params, state, optimizer, data, np.arange(16), 0.1)
    assert np.array_equal(m.params, before) and state.step == 0 and not state.slots.any()
    with pytest.raises(ValueError, match=match):
        m.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer, verbose=0)
    assert np.array_equal(m.params, before)
    m.engine.epoch_kernel = "generic"  # which always applies
    m.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer, verbose=0)
    assert not np.array_equal(m.params, before)


@pytest.mark.parametrize("name", ["fast", "", None, "Online", 1])
def test_unknown_epoch_kernel_is_refused(name):
    m = _model([5, 7, 3], "tanh", "cross_entropy", "float64")
    with pytest.raises(ValueError, match="epoch_kernel must be one of"):
        m.engine.epoch_kernel = name
    assert m.engine.epoch_kernel == "auto"  # unchanged
    with pytest.raises(ValueError, match="epoch_kernel must be one of"):
        NumbaBackend(m.arch, epoch_kernel=name)


ONE_BATCH_CHILD = """
import json, sys
import numpy as np
import fastmlp
rng = np.random.default_rng(0)
X, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
out = {}
for optimizer in ("adam", "sgd"):
    m = fastmlp.MLP([784, 256, 128, 64, 10], activation="relu", seed=0)
    start = m.params.copy()
    m.fit(X, y, epochs=1, batch_size=64, optimizer=optimizer, verbose=0)
    out[optimizer] = [float(m.history["loss"][-1]), bool(np.any(m.params != start))]
print(json.dumps(out))
"""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_data_set_of_one_batch_trains_in_a_fresh_process(threads):
    """The whole data one batch of 64 on the Fashion network, from a fresh process (as the compile-time
    benchmark runs it): a layer-step overload inlined into the Adam kernel once crashed here."""
    import json
    import os
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", ONE_BATCH_CHILD], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, NUMBA_NUM_THREADS=threads))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for optimizer, (loss, moved) in out.items():
        assert np.isfinite(loss) and moved, optimizer
