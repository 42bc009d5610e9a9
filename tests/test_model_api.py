"""The MLP object: flat parameter buffer and views, initialisation, dtypes, predictions, backends, copy."""
import numpy as np
import pytest

from fastmlp import MLP, Architecture

BACKENDS = ["numba", "numpy", "loop"]


# -- the flat buffer and its views -------------------------------------------------------------
def test_params_is_one_flat_contiguous_buffer_and_W_b_are_views():
    model = MLP([3, 5, 4, 2], dtype="float64", seed=0)
    p = model.params
    assert p.ndim == 1 and p.flags.c_contiguous and p.flags.writeable
    assert p.ctypes.data % 64 == 0  # cache-line aligned (fastmlp.buffers)
    assert model.n_params == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2 == p.size
    shapes = [w.shape for w in model.W]
    assert shapes == [(3, 5), (5, 4), (4, 2)]
    assert [b.shape for b in model.b] == [(5,), (4,), (2,)]
    for w, b in zip(model.W, model.b):
        assert np.shares_memory(w, p) and np.shares_memory(b, p)
        assert w.base is not None and b.base is not None
    # layout: W0 row-major, b0, W1, b1, ...
    off = 0
    for w, b in zip(model.W, model.b):
        assert np.array_equal(p[off:off + w.size], w.ravel())
        off += w.size
        assert np.array_equal(p[off:off + b.size], b)
        off += b.size
    assert off == p.size


def test_writing_into_views_changes_params():
    model = MLP([3, 5, 2], dtype="float64", seed=0)
    model.W[0][1, 2] = 42.0
    assert model.params[1 * 5 + 2] == 42.0
    model.b[1][...] = [7.0, 8.0]
    assert model.params[-2:].tolist() == [7.0, 8.0]
    model.W[1][...] = 0.5
    assert np.all(model.params[3 * 5 + 5:3 * 5 + 5 + 5 * 2] == 0.5)
    # and the other way round: params writes show in the views
    model.params[3 * 5] = -3.0
    assert model.b[0][0] == -3.0


def test_views_stay_valid_after_set_params():
    model = MLP([2, 3, 2], dtype="float64", seed=0)
    W0 = model.W[0]
    model.set_params(np.arange(model.n_params, dtype=float))
    assert W0.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_split_of_gradients():
    model = MLP([3, 4, 2], dtype="float64", seed=0)
    X = np.random.default_rng(0).normal(size=(6, 3))
    _, g = model.loss_and_grad(X, [0, 1, 1, 0, 1, 0])
    parts = model.split(g)
    assert [(dW.shape, db.shape) for dW, db in parts] == [((3, 4), (4,)), ((4, 2), (2,))]
    for dW, db in parts:
        assert np.shares_memory(dW, g) and np.shares_memory(db, g)
    assert np.array_equal(np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in parts]), g)
    # the same split as Architecture.split
    arch = Architecture.build([3, 4, 2], "relu", "cross_entropy", 0.01, "float64")
    for (a, b), (c, d) in zip(arch.split(g), parts):
        assert np.array_equal(a, c) and np.array_equal(b, d)


# -- initialisation ----------------------------------------------------------------------------
N = 400


def _w(init, **kw):
    model = MLP([N, N], loss="mse", init=init, dtype="float64", seed=1, **kw)
    return model.W[0], model.b[0]


@pytest.mark.parametrize("init,std", [
    ("he_normal", np.sqrt(2 / N)), ("kaiming_normal", np.sqrt(2 / N)),
    ("lecun_normal", np.sqrt(1 / N)), ("lecun", np.sqrt(1 / N)),
    ("glorot_normal", np.sqrt(2 / (N + N))), ("xavier_normal", np.sqrt(2 / (N + N))),
    ("fan_max", np.sqrt(1 / N)),
])
def test_normal_inits_have_the_right_std(init, std):
    W, b = _w(init)
    assert abs(W.std() / std - 1) < 0.05
    assert abs(W.mean()) < 0.05 * std
    assert np.all(b == 0)


@pytest.mark.parametrize("init,bound", [
    ("he_uniform", np.sqrt(6 / N)), ("kaiming_uniform", np.sqrt(6 / N)),
    ("lecun_uniform", np.sqrt(3 / N)),
    ("glorot_uniform", np.sqrt(6 / (N + N))), ("xavier_uniform", np.sqrt(6 / (N + N))),
])
def test_uniform_inits_respect_bounds(init, bound):
    W, _ = _w(init)
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.99 * bound  # fills the interval
    assert abs(W.std() / (bound / np.sqrt(3)) - 1) < 0.05


def test_fan_max_uses_the_larger_fan():
    model = MLP([100, 900], loss="mse", init="fan_max", dtype="float64", seed=2)
    assert abs(model.W[0].std() / np.sqrt(1 / 900) - 1) < 0.05


def test_normal_and_uniform_with_explicit_scale():
    W, _ = _w("normal", init_std=0.3)
    assert abs(W.std() / 0.3 - 1) < 0.05
    W, _ = _w("normal")  # default std 0.01
    assert abs(W.std() / 0.01 - 1) < 0.05
    W, _ = _w("uniform", init_bound=0.2)
    assert np.abs(W).max() <= 0.2 and np.abs(W).max() > 0.198
    W, _ = _w("uniform")  # default bound 0.05
    assert np.abs(W).max() <= 0.05 and np.abs(W).max() > 0.0495


def test_zeros_init_is_zero():
    model = MLP([5, 6, 3], init="zeros", seed=0)
    assert not model.params.any()


def test_auto_init_is_he_after_relu_and_glorot_otherwise():
    relu = MLP([N, N, N], activation="relu", loss="mse", dtype="float64", seed=3)
    he = MLP([N, N, N], activation="relu", loss="mse", dtype="float64", seed=3, init="he_normal")
    # layer 0 feeds relu: He normal; the output layer (identity) is Glorot uniform
    assert np.array_equal(relu.W[0], he.W[0])
    assert abs(relu.W[0].std() / np.sqrt(2 / N) - 1) < 0.05
    assert np.abs(relu.W[1]).max() <= np.sqrt(6 / (2 * N))
    tanh = MLP([N, N], activation="tanh", loss="mse", dtype="float64", seed=3)
    assert np.abs(tanh.W[0]).max() <= np.sqrt(6 / (2 * N))


def test_bias_defaults_to_zero_and_constant_when_asked():
    assert all(not b.any() for b in MLP([4, 5, 3], seed=0).b)
    model = MLP([4, 5, 3], bias_init=0.25, seed=0)
    assert all(np.all(b == np.float32(0.25)) for b in model.b)
    drawn = MLP([4, 5, 3], bias_init="normal", init_std=1.0, seed=0, dtype="float64")
    assert all(b.std() > 0.1 for b in drawn.b)


def test_seed_reproducibility():
    a = MLP([6, 7, 3], seed=123)
    b = MLP([6, 7, 3], seed=123)
    c = MLP([6, 7, 3], seed=124)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    g1 = MLP([6, 7, 3], seed=np.random.default_rng(5))
    g2 = MLP([6, 7, 3], seed=np.random.default_rng(5))
    assert np.array_equal(g1.params, g2.params)
    # unseeded models differ
    assert not np.array_equal(MLP([6, 7, 3]).params, MLP([6, 7, 3]).params)


# -- dtypes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32, np.dtype("float64")])
def test_dtype_preserved_everywhere(dtype, backend):
    want = np.dtype(dtype)
    model = MLP([3, 4, 2], dtype=dtype, backend=backend, seed=0)
    assert model.dtype == want and model.params.dtype == want
    assert all(w.dtype == want for w in model.W) and all(b.dtype == want for b in model.b)
    X = np.random.default_rng(0).normal(size=(5, 3))  # float64 data, converted
    assert all(o.dtype == want for o in model.layer_outputs(X))
    assert model.forward(X.astype(np.float32)).dtype == want
    loss, g = model.loss_and_grad(X, [0, 1, 0, 1, 1])
    assert g.dtype == want and type(loss) is float
    model.set_layer(0, W=np.ones((3, 4)))
    assert model.params.dtype == want


# -- predictions -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_and_proba_cross_entropy(backend):
    model = MLP([4, 6, 3], activation="tanh", backend=backend, dtype="float64", seed=0,
                init="normal", init_std=1.0)
    X = np.random.default_rng(1).normal(size=(10, 4))
    proba = model.predict_proba(X)
    assert proba.shape == (10, 3)
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    pred = model.predict(X)
    assert pred.shape == (10,) and pred.dtype.kind == "i"
    assert np.array_equal(pred, proba.argmax(axis=1))
    assert np.array_equal(pred, model.forward(X).argmax(axis=1))
    assert len(set(pred.tolist())) > 1


def test_predict_proba_huge_logits_is_finite():
    model = MLP([1, 2], loss="cross_entropy", dtype="float64")
    model.set_layer(0, W=[[1000.0, -1000.0]], b=[0.0, 0.0])
    p = model.predict_proba([[1.0], [-1.0]])
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, [[1, 0], [0, 1]], atol=1e-300)


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_and_proba_bce(backend):
    model = MLP([3, 1], loss="bce", backend=backend, dtype="float64", seed=0)
    model.set_layer(0, W=[[1.0], [0.0], [0.0]], b=[0.0])
    X = np.array([[2.0, 5, 5], [-1.0, 0, 0], [0.5, 1, 1]])
    proba = model.predict_proba(X)
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-15)
    s = 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.5])))
    np.testing.assert_allclose(proba[:, 1], s, rtol=1e-14)
    np.testing.assert_allclose(proba[:, 0], 1 - s, rtol=1e-14)
    assert model.predict(X).tolist() == [1, 0, 1]
    assert model.arch.n_classes == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_out", [1, 3])
def test_predict_mse(backend, n_out):
    model = MLP([4, 5, n_out], loss="mse", activation="sigmoid", backend=backend, dtype="float64", seed=0)
    X = np.random.default_rng(2).normal(size=(7, 4))
    pred = model.predict(X)
    assert pred.shape == (7, n_out)
    assert np.array_equal(pred, model.forward(X))
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        model.predict_proba(X)
    assert np.isnan(model.evaluate(X, np.zeros((7, n_out)))["accuracy"])


def test_predict_single_row_and_lists():
    model = MLP([2, 3, 2], seed=0)
    assert model.predict([[0.1, 0.2]]).shape == (1,)
    assert model.predict_proba([[0.1, 0.2]]).shape == (1, 2)


# -- backends and copies -----------------------------------------------------------------------
def test_switching_backend_keeps_weights():
    model = MLP([4, 6, 3], activation="leaky_relu", dtype="float64", seed=0)
    X = np.random.default_rng(3).normal(size=(9, 4))
    y = np.arange(9) % 3
    before = model.params.copy()
    params_obj = model.params
    results = {}
    for name in ["numpy", "loop", "numba", "numpy"]:
        model.backend = name
        assert model.backend == name
        assert model.params is params_obj and np.array_equal(model.params, before)
        results[name] = model.loss_and_grad(X, y)
    for name in ["loop", "numba"]:
        assert abs(results[name][0] - results["numpy"][0]) < 1e-12
        np.testing.assert_allclose(results[name][1], results["numpy"][1], rtol=0, atol=1e-12)
    assert "backend='numpy'" in repr(model)


def test_copy_is_independent():
    model = MLP([3, 4, 2], dtype="float64", seed=0, backend="numba")
    X = np.random.default_rng(4).normal(size=(5, 3))
    y = [0, 1, 1, 0, 1]
    other = model.copy()
    assert other is not model
    assert other.params is not model.params and not np.shares_memory(other.params, model.params)
    assert np.array_equal(other.params, model.params)
    assert other.backend == model.backend and other.layers == model.layers
    assert other.engine is not model.engine  # no shared buffers
    assert model.loss_and_grad(X, y)[0] == other.loss_and_grad(X, y)[0]
    other.W[0][...] = 0.0
    other.set_layer(1, b=[5.0, 5.0])
    assert model.W[0].any() and not model.b[1].any()
    model.params[:] = 1.0
    assert not other.W[0].any()
    other.backend = "loop"
    assert model.backend == "numba"


def test_structure_properties():
    model = MLP([3, 4, 5, 2], activation=["tanh", "logistic"], loss="softmax_cross_entropy", seed=0)
    assert model.layers == (3, 4, 5, 2)
    assert model.activation == ("tanh", "sigmoid")  # aliases canonicalised
    assert model.loss == "cross_entropy"
    assert model.arch.n_layers == 3 and model.arch.n_in == 3 and model.arch.n_out == 2
    assert model.arch.is_classifier and model.arch.n_classes == 2
    assert MLP([3, 2], loss="squared_error").loss == "mse"
    assert MLP([3, 1], loss="binary_cross_entropy").loss == "bce"


def test_loss_and_grad_does_not_touch_params_and_evaluate_matches():
    model = MLP([4, 5, 3], activation="sigmoid", dtype="float64", seed=0)
    X = np.random.default_rng(5).normal(size=(8, 4))
    y = np.arange(8) % 3
    before = model.params.copy()
    loss, g = model.loss_and_grad(X, y)
    assert np.array_equal(model.params, before)
    assert g is not model.params and g.shape == model.params.shape
    ev = model.evaluate(X, y)
    assert abs(ev["loss"] - loss) < 1e-12
    assert ev["accuracy"] == np.mean(model.predict(X) == y)
    # a second call returns a fresh gradient array (no aliasing between calls)
    _, g2 = model.loss_and_grad(X[:3], y[:3])
    assert not np.shares_memory(g, g2)
    assert np.array_equal(g, model.loss_and_grad(X, y)[1])
