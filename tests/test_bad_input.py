"""Bad input is refused with a clear error naming the argument, and the model is left unchanged."""
import numpy as np
import pytest

from fastmlp import MLP

BACKENDS = ["numba", "numpy", "loop"]


def snapshot(model):
    return model.params.copy(), model.backend, [w.copy() for w in model.W], [b.copy() for b in model.b]


def assert_unchanged(model, snap):
    params, backend, W, b = snap
    assert np.array_equal(model.params, params)
    assert model.params.dtype == params.dtype
    assert model.backend == backend
    for w0, w1 in zip(W, model.W):
        assert np.array_equal(w0, w1)
    for b0, b1 in zip(b, model.b):
        assert np.array_equal(b0, b1)


@pytest.fixture(params=BACKENDS)
def clf(request):
    """3 inputs, 3 classes."""
    return MLP([3, 4, 3], activation="tanh", loss="cross_entropy", dtype="float64",
               backend=request.param, seed=0)


def good_X(m=5, n=3):
    return np.random.default_rng(0).normal(size=(m, n))


# -- constructor arguments ---------------------------------------------------------------------
@pytest.mark.parametrize("bad,error", [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError),
                                       ("a", TypeError), (None, TypeError), (3.0, TypeError)])
@pytest.mark.parametrize("pos", [0, 1, 2])
def test_layer_sizes_must_be_positive_ints(bad, error, pos):
    layers = [3, 4, 2]
    layers[pos] = bad
    with pytest.raises(error, match=rf"layers\[{pos}\] must be an integer"):
        MLP(layers)


def test_layer_sizes_numpy_ints_are_fine():
    model = MLP([np.int64(3), np.int32(4), 2])
    assert model.layers == (3, 4, 2) and all(type(n) is int for n in model.layers)


@pytest.mark.parametrize("layers,exc,msg", [
    ([3], ValueError, r"layers needs at least \[n_in, n_out\]"),
    ([], ValueError, r"layers needs at least"),
    (5, ValueError, r"layers needs at least \[n_in, n_out\]; got \(5,\)"),
    (None, TypeError, r"layers must be an int, a sequence of ints"),
])
def test_layers_shape(layers, exc, msg):
    with pytest.raises(exc, match=msg):
        MLP(layers)


@pytest.mark.parametrize("kw,msg", [
    (dict(activation="softplus"), r"unknown activation 'softplus'"),
    (dict(activation="RELU"), r"unknown activation 'RELU'"),
    (dict(activation=["relu", "nope"]), r"unknown activation 'nope'"),
    (dict(activation=["relu"]), r"activation: got 1 names for 2 hidden layers"),
    (dict(loss="hinge"), r"unknown loss 'hinge'"),
    (dict(init="orthogonal"), r"unknown init 'orthogonal'"),
    (dict(bias_init="orthogonal"), r"unknown bias_init 'orthogonal'"),
    (dict(bias_init=float("nan")), r"bias_init must be a finite number; got nan"),
    (dict(init="normal", init_std=-1.0), r"init_std must be a positive finite number"),
    (dict(init="uniform", init_bound=0), r"init_bound must be a positive finite number"),
    (dict(backend="cuda"), r"unknown backend 'cuda'"),
    (dict(leaky_slope=1.5), r"leaky_slope must be .*got 1.5"),
    (dict(leaky_slope=-0.1), r"leaky_slope must be .*got -0.1"),
])
def test_unknown_names_and_bad_options(kw, msg):
    with pytest.raises(ValueError, match=msg):
        MLP([3, 4, 4, 2], **kw)


@pytest.mark.parametrize("kw,msg", [
    (dict(loss=None), r"loss must be one of .* \(a str\); got None"),
    (dict(backend=3), r"backend must be one of .* \(a str\)"),
    (dict(leaky_slope="0.1"), r"leaky_slope must be"),
])
def test_wrong_types_of_options(kw, msg):
    with pytest.raises(TypeError, match=msg):
        MLP([3, 4, 4, 2], **kw)


@pytest.mark.parametrize("dtype", ["int8", "float16", np.int64, "complex128", "not-a-dtype"])
def test_model_dtype_must_be_float32_or_float64(dtype):
    with pytest.raises(ValueError, match=r"dtype must be float32 or float64"):
        MLP([3, 2], dtype=dtype)


def test_model_dtype_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64 \(a dtype or its name\)"):
        MLP([3, 2], dtype=3.5)


@pytest.mark.parametrize("layers,loss,msg", [
    ([3, 2], "bce", r"loss 'bce' needs one output unit; layers ends with 2"),
    ([3, 1], "cross_entropy", r"loss 'cross_entropy' needs at least 2 output units"),
])
def test_loss_and_output_width(layers, loss, msg):
    with pytest.raises(ValueError, match=msg):
        MLP(layers, loss=loss)


def test_unknown_backend_assignment_keeps_model(clf):
    snap = snapshot(clf)
    with pytest.raises(ValueError, match=r"unknown backend 'gpu'"):
        clf.backend = "gpu"
    assert_unchanged(clf, snap)
    clf.predict(good_X())  # still usable


# -- X -----------------------------------------------------------------------------------------
BAD_X = [
    (np.zeros((5, 2)), ValueError, r"X has 2 features; the model expects 3"),
    (np.zeros((5, 4)), ValueError, r"X has 4 features; the model expects 3"),
    (np.zeros(3), ValueError, r"X must be 2-D \(n_samples, n_features\); got 1-D"),
    (np.zeros((2, 5, 3)), ValueError, r"X must be 2-D \(n_samples, n_features\); got 3-D"),
    (np.float64(1.0), ValueError, r"X must be 2-D .* got 0-D"),
    (np.zeros((0, 3)), ValueError, r"X is empty: it has 0 samples"),
    (np.where(np.arange(15).reshape(5, 3) == 7, np.nan, 1.0), ValueError, r"X contains NaN or inf"),
    (np.where(np.arange(15).reshape(5, 3) == 7, np.inf, 1.0), ValueError, r"X contains NaN or inf"),
    (np.where(np.arange(15).reshape(5, 3) == 7, -np.inf, 1.0), ValueError, r"X contains NaN or inf"),
    (np.array([["a", "b", "c"]] * 5), TypeError, r"X has dtype <U1, which cannot be converted to float64"),
    ([[1.0, 2.0, 3.0], [1.0, 2.0]] + [[0.0, 0.0, 0.0]] * 3, TypeError, r"X could not be converted to an array"),
    (np.array([[{}, 1.0, 2.0]] * 5, dtype=object), TypeError, r"X has dtype object, which cannot be converted"),
    (np.array([[None, 1.0, 2.0]] * 5, dtype=object), ValueError, r"X contains NaN or inf"),  # None -> NaN
]


@pytest.mark.parametrize("method", ["loss_and_grad", "evaluate", "predict", "layer_outputs"])
@pytest.mark.parametrize("X,exc,msg", BAD_X, ids=[m for _, _, m in BAD_X])
def test_bad_X_is_refused(clf, method, X, exc, msg):
    snap = snapshot(clf)
    with pytest.raises(exc, match=msg):
        if method in ("loss_and_grad", "evaluate"):
            getattr(clf, method)(X, np.zeros(5, np.int64))
        else:
            getattr(clf, method)(X)
    assert_unchanged(clf, snap)


def test_X_overflowing_float32_is_refused():
    """1e39 is finite in float64 but inf once converted to the model's float32."""
    model = MLP([3, 2], dtype="float32", seed=0)
    snap = snapshot(model)
    X = np.ones((2, 3))
    X[1, 2] = 1e39
    with pytest.raises(ValueError, match=r"X contains NaN or inf"):
        model.predict(X)
    assert_unchanged(model, snap)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 15, 16, 33 * 70 // 2 + 3, 33 * 70 - 1])
def test_one_bad_value_anywhere_in_a_large_X_stops_fit(dtype, bad, where):
    """check_X decides finiteness from X's largest and smallest values (NaN propagates through
    both reductions, inf shows in one): one bad value at the start, at either side of a SIMD
    block's end, in the middle or last is refused by fit, beside values that would only warn."""
    model = MLP([70, 4, 3], dtype=dtype, seed=0)
    snap = snapshot(model)
    X = np.random.default_rng(0).random((33, 70)) * 500  # beyond UNSCALED_LIMIT: a warning, not an error
    X.flat[where] = bad
    with pytest.raises(ValueError, match=r"X contains NaN or inf"):
        model.fit(X, np.arange(33) % 3, epochs=1, verbose=0)
    assert_unchanged(model, snap)


def test_complex_X_is_refused():
    """Complex X cannot be converted to a real dtype without losing the imaginary part."""
    model = MLP([2, 2], dtype="float64", seed=0)
    snap = snapshot(model)
    X = np.array([[1 + 2j, 3 + 0j], [0 + 1j, 1 + 0j]])
    with pytest.raises(TypeError, match=r"X has dtype complex128, which cannot be converted"):
        model.predict(X)
    assert_unchanged(model, snap)


def test_numeric_strings_and_ints_and_bools_in_X_are_converted(clf):
    """Only what cannot be converted is refused: integer, bool and numeric-string X work."""
    a = clf.predict(np.array([[1, 0, 2]]))
    assert a.shape == (1,)
    assert clf.predict(np.array([[True, False, True]])).shape == (1,)
    assert np.array_equal(clf.predict(np.array([["1", "0", "2"]])), a)


# -- y -----------------------------------------------------------------------------------------
BAD_Y_CE = [
    (np.zeros(4, np.int64), ValueError, r"y has 4 rows but X has 5 samples"),
    (np.zeros(6, np.int64), ValueError, r"y has 6 rows but X has 5 samples"),
    (np.int64(0), ValueError, r"y has 0 rows but X has 5 samples"),
    (np.array([0, 1, 2, 3, 0]), ValueError, r"y class ids must be in \[0, 2\]; got values in \[0, 3\]"),
    (np.array([0, 1, -1, 2, 0]), ValueError, r"y class ids must be in \[0, 2\]; got values in \[-1, 2\]"),
    (np.array([0.0, 1.0, 1.5, 2.0, 0.0]), ValueError, r"y class ids must be integers; got non-integer values"),
    (np.array([0.0, 1.0, np.nan, 2.0, 0.0]), ValueError, r"y class ids must be integers"),
    (np.array([0.0, 1.0, np.inf, 2.0, 0.0]), ValueError, r"y class ids must be integers"),
    (np.array(["a", "b", "c", "a", "b"]), TypeError, r"y class ids must be integers; got dtype <U1"),
    (np.zeros((5, 2, 1)), ValueError, r"y must be class ids \(n,\) or one-hot rows \(n, 3\); got shape \(5, 2, 1\)"),
    # one-hot rows that are not one-hot
    (np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1], [1, 0, 0], [0, 1, 0]]), ValueError,
     r"y row 1 is not one-hot \(exactly one 1, the rest 0\)"),
    (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 1, 0]]), ValueError, r"y row 2 is not one-hot"),
    (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0], [0, 1, 0]]), ValueError, r"y row 3 is not one-hot"),
    (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [2, -1, 0]]), ValueError, r"y row 4 is not one-hot"),
    (np.eye(2)[[0, 1, 0, 1, 0]], ValueError, r"y one-hot rows must have 3 columns; got 2"),
]


@pytest.mark.parametrize("method", ["loss_and_grad", "evaluate"])
@pytest.mark.parametrize("y,exc,msg", BAD_Y_CE, ids=[m for _, _, m in BAD_Y_CE])
def test_bad_class_targets_are_refused(clf, method, y, exc, msg):
    snap = snapshot(clf)
    with pytest.raises(exc, match=msg):
        getattr(clf, method)(good_X(), y)
    assert_unchanged(clf, snap)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loss,layers,y,exc,msg", [
    ("bce", [3, 1], np.array([0, 1, 2, 0, 1]), ValueError, r"y for loss 'bce' must be 0/1 labels or probabilities in \[0, 1\]"),
    ("bce", [3, 1], np.array([0, 1, -0.5, 0, 1]), ValueError, r"y for loss 'bce' must be 0/1 labels"),
    ("bce", [3, 1], np.array([0, 1, np.nan, 0, 1]), ValueError, r"y contains NaN or inf"),
    ("bce", [3, 1], np.zeros((5, 2)), ValueError, r"y must have shape \(5, 1\) for loss 'bce'; got \(5, 2\)"),
    ("bce", [3, 1], np.array(list("01010")), TypeError, r"y must be numeric for loss 'bce'; got dtype <U1"),
    ("mse", [3, 2], np.zeros(5), ValueError, r"y must have shape \(5, 2\) for loss 'mse'; got \(5, 1\)"),
    ("mse", [3, 2], np.zeros((5, 3)), ValueError, r"y must have shape \(5, 2\) for loss 'mse'; got \(5, 3\)"),
    ("mse", [3, 2], np.zeros((4, 2)), ValueError, r"y has 4 rows but X has 5 samples"),
    ("mse", [3, 2], np.full((5, 2), np.inf), ValueError, r"y contains NaN or inf"),
    ("mse", [3, 1], np.array(["x"] * 5), TypeError, r"y must be numeric for loss 'mse'"),
])
def test_bad_real_targets_are_refused(backend, loss, layers, y, exc, msg):
    model = MLP(layers, loss=loss, dtype="float64", backend=backend, seed=1)
    snap = snapshot(model)
    for method in ("loss_and_grad", "evaluate"):
        with pytest.raises(exc, match=msg):
            getattr(model, method)(good_X(), y)
    assert_unchanged(model, snap)


def test_predict_proba_refused_for_mse():
    model = MLP([3, 2], loss="mse")
    with pytest.raises(ValueError, match=r"predict_proba needs a classifier"):
        model.predict_proba(good_X())


# -- set_layer / set_params / split ------------------------------------------------------------
@pytest.mark.parametrize("kw,exc,msg", [
    (dict(l=0, W=np.zeros((4, 3))), ValueError, r"W for layer 0 must have shape \(3, 4\); got \(4, 3\)"),
    (dict(l=0, W=np.zeros(12)), ValueError, r"W for layer 0 must have shape \(3, 4\); got \(12,\)"),
    (dict(l=1, b=np.zeros(4)), ValueError, r"b for layer 1 must have shape \(3,\); got \(4,\)"),
    (dict(l=0, W=np.full((3, 4), np.nan)), ValueError, r"W for layer 0 contains NaN or inf"),
    (dict(l=1, b=[0.0, np.inf, 0.0]), ValueError, r"b for layer 1 contains NaN or inf"),
    # W is fine but b is not: neither is written
    (dict(l=0, W=np.ones((3, 4)), b=[1.0, np.nan, 1.0, 1.0]), ValueError, r"b for layer 0 contains NaN or inf"),
    (dict(l=0, W=np.ones((3, 4)), b=np.ones(3)), ValueError, r"b for layer 0 must have shape \(4,\)"),
    (dict(l=2, W=np.ones((4, 3))), IndexError, r"layer index must be in \[-2, 1\] \(2 weight layers\); got 2"),
    (dict(l=-3, W=np.ones((3, 4))), IndexError, r"layer index must be in \[-2, 1\] \(2 weight layers\); got -3"),
    (dict(l=True, W=np.ones((4, 3))), TypeError, r"layer index must be an integer.*got bool True"),
    (dict(l=0.0, W=np.ones((3, 4))), TypeError, r"layer index must be an integer.*got float 0.0"),
])
def test_set_layer_refuses_and_changes_nothing(clf, kw, exc, msg):
    snap = snapshot(clf)
    with pytest.raises(exc, match=msg):
        clf.set_layer(**kw)
    assert_unchanged(clf, snap)


def test_set_layer_refuses_values_that_overflow_float32():
    """1e39 is finite in float64 but becomes inf in a float32 model; it must be refused."""
    model = MLP([3, 4, 3], dtype="float32", seed=0)
    snap = snapshot(model)
    with pytest.raises(ValueError, match=r"W for layer 0 contains NaN or inf"):
        model.set_layer(0, W=np.full((3, 4), 1e39))
    assert_unchanged(model, snap)
    assert np.isfinite(model.params).all()


def test_set_params_refuses_values_that_overflow_float32():
    model = MLP([3, 4, 3], dtype="float32", seed=0)
    snap = snapshot(model)
    flat = np.zeros(model.n_params)
    flat[0] = -1e39
    with pytest.raises(ValueError, match=r"params contains NaN or inf"):
        model.set_params(flat)
    assert_unchanged(model, snap)
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("flat,msg", [
    (np.zeros(5), r"params must have shape \(31,\); got \(5,\)"),
    (np.zeros((31, 1)), r"params must have shape \(31,\); got \(31, 1\)"),
    (np.full(31, np.nan), r"params contains NaN or inf"),
])
def test_set_params_refuses(clf, flat, msg):
    assert clf.n_params == 31
    snap = snapshot(clf)
    with pytest.raises(ValueError, match=msg):
        clf.set_params(flat)
    assert_unchanged(clf, snap)


def test_split_refuses_wrong_length(clf):
    with pytest.raises(ValueError, match=r"flat vector must have shape \(31,\); got \(30,\)"):
        clf.split(np.zeros(30))
