"""Conversions between fastmlp and scikit-learn's MLPClassifier / MLPRegressor (fastmlp.sklearn_convert,
``fastmlp.sklearn.to_sklearn`` / ``from_sklearn`` and the wrappers' ``from_sklearn``): predictions are
equal both ways, round trips keep them, and what cannot be converted raises a clear error."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import neural_network as sk  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor, from_sklearn, to_sklearn  # noqa: E402

ACTIVATIONS = ["identity", "tanh", "sigmoid", "relu"]
# (loss, output units): multi-class and two-class softmax, one sigmoid unit, regression with 1 and 2 outputs
CASES = [("cross_entropy", 3), ("cross_entropy", 2), ("bce", 1), ("mse", 1), ("mse", 2), ("softmax_mse", 3),
         ("softmax_mse", 2), ("multilabel", 3), ("multilabel", 2)]
COMES_BACK_AS = {("cross_entropy", 2): "bce", ("softmax_mse", 2): "bce", ("softmax_mse", 3): "cross_entropy"}
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def _model(layers, activation, loss, dtype, seed=0):
    m = fastmlp.MLP(layers, activation=activation, loss=loss, dtype=dtype)
    m.set_params(np.random.default_rng(seed).normal(0.0, 0.8, m.n_params))
    return m


def _X(dtype, n=40, d=4, seed=1):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)


def _assert_same(model, est, X, classes=None):
    """``est`` (scikit-learn) predicts what ``model`` (fastmlp) predicts."""
    tol = TOL[np.dtype(model.dtype).name]
    if model.loss == "mse":
        np.testing.assert_allclose(est.predict(X), model.predict(X).reshape(est.predict(X).shape), **tol)
        return
    ids = model.predict(X)
    np.testing.assert_array_equal(est.predict(X), ids if classes is None else np.asarray(classes)[ids])
    np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(X), **tol)


def _fitted(cls, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(max_iter=20, random_state=0, **kw).fit(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss, n_out", CASES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fastmlp_to_sklearn_and_back(activation, loss, n_out, dtype):
    model = _model([4, 6, 5, n_out], activation, loss, dtype)
    X = _X(dtype)
    est = to_sklearn(model)
    assert isinstance(est, sk.MLPRegressor if loss == "mse" else sk.MLPClassifier)
    assert all(c.dtype == dtype for c in est.coefs_ + est.intercepts_)
    assert est.n_layers_ == 4 and est.n_features_in_ == 4 and est.hidden_layer_sizes == (6, 5)
    _assert_same(model, est, X)
    if loss != "mse":
        np.testing.assert_array_equal(est.classes_, np.arange(max(2, n_out)))
        assert est.score(X, model.predict(X)) == 1.0
    back = from_sklearn(est, backend="numpy")
    assert back.dtype == dtype and back.activation == model.activation
    assert back.loss == COMES_BACK_AS.get((loss, n_out), loss)  # e.g. two softmax units as scikit-learn's one unit
    _assert_same(back, est, X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression", "regression-2", "multilabel"])
@pytest.mark.parametrize("activation", ["identity", "tanh", "logistic", "relu"])
def test_sklearn_to_fastmlp_and_back(activation, kind, dtype):
    X = _X(dtype, n=60)
    rng = np.random.default_rng(2)
    if kind.startswith("regression"):
        y = X[:, :2] @ np.array([[1.0, -1.0], [0.5, 2.0]])
        est = _fitted(sk.MLPRegressor, X, y[:, 0] if kind == "regression" else y, hidden_layer_sizes=(7, 3),
                      activation=activation)
    elif kind == "multilabel":
        est = _fitted(sk.MLPClassifier, X, (X[:, :3] > 0).astype(int), hidden_layer_sizes=(7, 3), activation=activation)
    else:
        y = np.array(["ant", "bee", "cat"][:3 if kind == "multiclass" else 2])[rng.integers(0, 3 if kind == "multiclass"
                                                                                            else 2, 60)]
        est = _fitted(sk.MLPClassifier, X, y, hidden_layer_sizes=(7, 3), activation=activation)
    model = from_sklearn(est)
    assert model.dtype == dtype and model.layers == (4, 7, 3, est.n_outputs_)
    assert model.loss == {"multiclass": "cross_entropy", "binary": "bce", "multilabel": "multilabel"}.get(kind, "mse")
    classes = getattr(est, "classes_", None) if kind != "multilabel" else None
    _assert_same(model, est, X, classes)
    again = to_sklearn(model, classes=classes)
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    if hasattr(est, "classes_"):
        np.testing.assert_allclose(again.predict_proba(X), est.predict_proba(X), **TOL[dtype])
    if kind == "binary":  # as two softmax units: the same probabilities
        softmax = from_sklearn(est, binary="cross_entropy", dtype="float64")
        assert softmax.loss == "cross_entropy" and softmax.layers[-1] == 2
        _assert_same(softmax, est, X.astype(np.float64), classes)


def test_the_scikit_learn_copy_keeps_training():
    model = _model([4, 6, 3], "relu", "cross_entropy", "float64")
    X, y = _X("float64"), np.arange(40) % 3
    est = to_sklearn(model)
    before = [c.copy() for c in est.coefs_]
    est.partial_fit(X, y)
    assert est.n_iter_ == 1 and not np.allclose(est.coefs_[0], before[0])
    np.testing.assert_array_equal(model.W[0], before[0])  # the model's weights were copied, not shared
    warm = to_sklearn(model)
    warm.set_params(warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X, y)
    assert warm.n_iter_ == 3 and warm.coefs_[0].shape == (4, 6)


def test_fastmlp_estimators_from_and_to_sklearn():
    X = _X("float32", n=60)
    y = np.array(["no", "yes"])[(X[:, 0] > 0).astype(int)]
    est = _fitted(sk.MLPClassifier, X, y, hidden_layer_sizes=(5,), activation="tanh", alpha=1e-3)
    ours = MLPClassifier.from_sklearn(est, backend="numpy")
    assert ours.model_.loss == "cross_entropy" and ours.model_.layers == (4, 5, 2) and ours.dtype == "float32"
    assert (ours.hidden_layer_sizes, ours.activation, ours.alpha, ours.max_iter) == ((5,), "tanh", 1e-3, 20)
    np.testing.assert_array_equal(ours.classes_, ["no", "yes"])
    np.testing.assert_array_equal(ours.predict(X), est.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), est.predict_proba(X), **TOL["float32"])
    assert ours.score(X, y) == est.score(X, y)
    back = to_sklearn(ours)  # the labels come along
    np.testing.assert_array_equal(back.classes_, ["no", "yes"])
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    ours.partial_fit(X, y)  # keeps training from the converted weights
    assert ours.n_iter_ == 1

    Y = np.c_[X[:, 0], X[:, 1] - X[:, 2]]
    for target in (Y[:, 0], Y):
        reg = _fitted(sk.MLPRegressor, X, target, hidden_layer_sizes=(6,), solver="lbfgs")
        ours = MLPRegressor.from_sklearn(reg)
        assert ours.solver == "adam"  # no 'lbfgs' in fastmlp: its default
        assert ours.predict(X).shape == reg.predict(X).shape
        np.testing.assert_allclose(ours.predict(X), reg.predict(X), **TOL["float32"])
    with pytest.raises(TypeError, match="scikit-learn MLPClassifier"):
        MLPClassifier.from_sklearn(reg)


@pytest.mark.parametrize("activation, match", [("leaky_relu", "'leaky_relu'"), ("step", "'step'"),
                                               (["tanh", "relu"], "one activation for all hidden layers")])
def test_what_scikit_learn_cannot_express(activation, match):
    with pytest.raises(ValueError, match=match):
        to_sklearn(_model([3, 4, 4, 2], activation, "cross_entropy", "float32"))


def test_what_fastmlp_cannot_express():
    X = _X("float64", n=30)
    poisson = _fitted(sk.MLPRegressor, X, np.exp(X[:, 0]), loss="poisson", hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="'exp'"):
        from_sklearn(poisson)
    with pytest.raises(NotFittedError):
        from_sklearn(sk.MLPClassifier())
    binary = _fitted(sk.MLPClassifier, X, X[:, 0] > 0, hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match="binary"):
        from_sklearn(binary, binary="softmax")


def test_wrong_arguments():
    model = _model([3, 4, 3], "relu", "cross_entropy", "float32")
    with pytest.raises(TypeError, match="fastmlp.MLP"):
        to_sklearn(sk.MLPClassifier())
    with pytest.raises(TypeError, match="model_"):
        from_sklearn(_fitted(MLPClassifier, _X("float32", n=10, d=3), np.arange(10) % 2))
    with pytest.raises(ValueError, match="3 labels"):
        to_sklearn(model, classes=["a", "b"])
    with pytest.raises(ValueError, match="sorted and distinct"):
        to_sklearn(model, classes=["c", "b", "a"])
    with pytest.raises(ValueError, match="only for classifiers"):
        to_sklearn(_model([3, 2], "relu", "mse", "float32"), classes=[0, 1])
    with pytest.raises(ValueError, match="0/1 matrix"):
        to_sklearn(_model([3, 2], "relu", "multilabel", "float32"), classes=[0, 1])

