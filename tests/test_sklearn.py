"""fastmlp.sklearn estimators: conventions, training behaviour, and use inside scikit-learn tools."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import joblib  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_blobs, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastmlp import MLP  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

SMALL = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def blobs(n=150, labels=("cat", "dog", "eel"), seed=0):
    X, y = make_blobs(n, centers=len(labels), n_features=4, random_state=seed)
    return StandardScaler().fit_transform(X), np.asarray(labels)[y]


def regression(n=150, n_targets=1, seed=0):
    X, y = make_regression(n, 5, n_targets=n_targets, noise=0.1, random_state=seed)
    return X, y / y.std(axis=0)


# -- conventions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_params_stored_unchanged_and_settable(cls):
    sizes = [8, 4]
    est = cls(hidden_layer_sizes=sizes, alpha=0.5, solver="sgd", dtype="float64", backend="numpy")
    params = est.get_params()
    assert params["hidden_layer_sizes"] is sizes and params["alpha"] == 0.5 and params["backend"] == "numpy"
    assert est.set_params(max_iter=7, solver="nonsense") is est  # invalid values refused at fit, not here
    assert est.max_iter == 7 and est.solver == "nonsense"
    with pytest.raises(ValueError, match=r"^unknown solver 'nonsense'; expected one of \['adagrad', 'adam', "):
        est.fit(*(blobs() if cls is MLPClassifier else regression()))
    assert not hasattr(est, "model_") and not hasattr(est, "loss_curve_")


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_unfitted_estimator_refuses_to_predict(cls):
    with pytest.raises(NotFittedError, match=rf"^This {cls.__name__} instance is not fitted yet\. Call 'fit' "):
        cls().predict(np.zeros((2, 3)))


def test_classifier_string_labels_fitted_attributes():
    X, y = blobs()
    est = MLPClassifier(max_iter=60, **SMALL)
    assert est.fit(X, y) is est
    assert list(est.classes_) == ["cat", "dog", "eel"] and est.n_features_in_ == 4
    assert isinstance(est.model_, MLP) and est.model_.layers == (4, 16, 3)
    assert est.n_iter_ == len(est.loss_curve_) and est.t_ == est.n_iter_ * len(X)
    assert est.best_loss_ == min(est.loss_curve_) and est.validation_scores_ is None
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert [w.shape for w in est.coefs_] == [(4, 16), (16, 3)] and [b.shape for b in est.intercepts_] == [(16,), (3,)]
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-6, atol=1e-9)
    pred = est.predict(X)
    assert set(pred) <= set(est.classes_) and np.array_equal(pred, est.classes_[proba.argmax(axis=1)])
    assert est.score(X, y) > 0.95


def test_classifier_binary_noncontiguous_integer_labels():
    X, y = blobs(labels=(-7, 40))
    est = MLPClassifier(max_iter=40, **SMALL).fit(X, y)
    assert list(est.classes_) == [-7, 40] and est.predict_proba(X).shape == (len(X), 2)
    assert set(est.predict(X)) <= {-7, 40} and est.score(X, y) > 0.95


def test_classifier_one_class_is_refused():
    X, _ = blobs()
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        MLPClassifier(**SMALL).fit(X, np.full(len(X), "a"))


def test_regressor_output_shapes_follow_y():
    X, y = regression()
    est = MLPRegressor(max_iter=80, **SMALL).fit(X, y)
    assert est.predict(X).shape == (len(X),) and est.n_outputs_ == 1 and est.score(X, y) > 0.9
    assert MLPRegressor(max_iter=3, **SMALL).fit(X, y[:, None]).predict(X).shape == (len(X), 1)
    X2, Y2 = regression(n_targets=3)
    multi = MLPRegressor(max_iter=80, **SMALL).fit(X2, Y2)
    assert multi.predict(X2).shape == (len(X2), 3) and multi.n_outputs_ == 3 and multi.score(X2, Y2) > 0.9


def test_predict_checks_feature_count():
    X, y = blobs()
    est = MLPClassifier(max_iter=2, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match=r"^X has 3 features, but MLPClassifier is expecting 4 features as input\.$"):
        est.predict(X[:, :3])


def test_alpha_is_the_l2_penalty_and_sgd_options():
    X, y = blobs(n=120)
    est = MLPClassifier(max_iter=2, alpha=0.3, batch_size=40, **SMALL).fit(X, y)
    hyper = est.model_.optimizer_state.hyper
    assert hyper["l2"] == 0.3 and hyper["weight_decay"] == 0.0  # divided by each batch's size in the update
    sgd = MLPClassifier(max_iter=2, solver="sgd", momentum=0.0, **SMALL).fit(X, y)  # nesterov needs momentum
    assert sgd.model_.optimizer_state.name == "sgd" and sgd.model_.optimizer_state.hyper["nesterov"] is False
    with pytest.raises(ValueError, match=r"^unknown solver 'lbfgs'; .*\('lbfgs' is not available: fastmlp trains by "):
        MLPClassifier(solver="lbfgs").fit(X, y)


# -- stopping ----------------------------------------------------------------------------------------
def test_convergence_warning_when_max_iter_runs_out():
    X, y = blobs()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        est = MLPClassifier(max_iter=3, **SMALL).fit(X, y)
    assert est.n_iter_ == 3


def test_tol_stops_after_n_iter_no_change_epochs_without_warning():
    X, y = blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = MLPClassifier(max_iter=100, tol=10.0, n_iter_no_change=4, **SMALL).fit(X, y)
    # epoch 1 sets the best loss; epochs 2..6 improve by less than tol: stop once the count exceeds 4
    assert est.n_iter_ == 6


@pytest.mark.parametrize("cls,data", [(MLPClassifier, blobs), (MLPRegressor, regression)])
def test_early_stopping_keeps_the_best_epoch(cls, data):
    X, y = data(n=200)
    est = cls(max_iter=300, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=1e-3,
              **dict(SMALL, learning_rate_init=0.03)).fit(X, y)
    assert est.best_loss_ is None and len(est.validation_scores_) == est.n_iter_ < 300
    best = int(np.argmax(est.validation_scores_))
    assert est.best_validation_score_ == est.validation_scores_[best]
    assert best < est.n_iter_ - 1  # stopped after epochs without improvement
    # the same run cut off at the best epoch ends with the weights the early-stopped run kept
    cut = clone(est).set_params(max_iter=best + 1).fit(X, y)
    np.testing.assert_array_equal(cut.model_.params, est.model_.params)


def test_early_stopping_needs_two_validation_samples():
    X, y = regression(n=12)
    with pytest.raises(ValueError, match=r"the validation set of 1 sample\(s\) .* is too small; it needs at least 2"):
        MLPRegressor(early_stopping=True, validation_fraction=0.05, **SMALL).fit(X, y)


# -- continuing training -------------------------------------------------------------------------------
def test_partial_fit_needs_classes_first_and_counts_epochs():
    X, y = blobs()
    est = MLPClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    est.partial_fit(X[:50], y[:50], classes=["eel", "cat", "dog"])
    for _ in range(30):
        est.partial_fit(X, y)
    assert list(est.classes_) == ["cat", "dog", "eel"] and est.n_iter_ == 31 and len(est.loss_curve_) == 31
    assert est.loss_curve_[-1] < est.loss_curve_[1] and est.score(X, y) > 0.9
    params = est.model_.params.copy()
    with pytest.raises(ValueError, match=r"^y contains labels not in classes .*: array\(\['fox'\]"):
        est.partial_fit(X[:3], ["cat", "fox", "dog"])
    with pytest.raises(ValueError, match=r"^classes=array\(\['cat', 'dog'\].* differs from the classes of the earlier calls"):
        est.partial_fit(X, y, classes=["cat", "dog"])
    np.testing.assert_array_equal(est.model_.params, params)  # refused calls changed nothing
    assert est.n_iter_ == 31


def test_warm_start_continues_and_cold_start_restarts():
    X, y = regression()
    est = MLPRegressor(max_iter=5, warm_start=True, **SMALL).fit(X, y)
    model = est.model_
    est.fit(X, y)
    assert est.model_ is model and est.n_iter_ == 10 and len(est.loss_curve_) == 10
    assert est.loss_curve_[9] < est.loss_curve_[4]
    params = model.params.copy()
    with pytest.raises(ValueError, match=r"^cannot continue training \(warm_start\): .* now ask for layers \[5, 8, 1\]"):
        est.set_params(hidden_layer_sizes=(8,)).fit(X, y)
    np.testing.assert_array_equal(est.model_.params, params)
    est.set_params(hidden_layer_sizes=(16,), warm_start=False).fit(X, y)
    assert est.model_ is not model and est.n_iter_ == 5


def test_warm_start_classifier_needs_the_same_classes():
    X, y = blobs()
    est = MLPClassifier(max_iter=2, warm_start=True, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match=r"^warm_start can only be used where y has the same classes as in the previous"):
        est.fit(X[y != "eel"], y[y != "eel"])


def test_random_state_makes_fits_reproducible():
    X, y = blobs()
    a = MLPClassifier(max_iter=5, **SMALL).fit(X, y).predict_proba(X)
    b = MLPClassifier(max_iter=5, **SMALL).fit(X, y).predict_proba(X)
    c = MLPClassifier(max_iter=5, **dict(SMALL, random_state=1)).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_backends_train_alike():
    X, y = blobs(n=60)
    kw = dict(max_iter=3, dtype="float64", batch_size=16, **SMALL)
    fast = MLPClassifier(**kw).fit(X, y)
    ref = MLPClassifier(backend="numpy", **kw).fit(X, y)
    np.testing.assert_allclose(ref.loss_curve_, fast.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(ref.predict_proba(X), fast.predict_proba(X), rtol=1e-8, atol=1e-12)


def test_verbose_prints_per_epoch(capsys):
    X, y = blobs()
    MLPClassifier(max_iter=2, verbose=True, **SMALL).fit(X, y)
    assert capsys.readouterr().out.count("loss") >= 2


# -- inside scikit-learn tools ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls,data", [(MLPClassifier, blobs), (MLPRegressor, regression)])
def test_pipeline_grid_search_and_cross_validation(cls, data):
    X, y = data()
    pipe = make_pipeline(StandardScaler(), cls(max_iter=40, batch_size=32, **SMALL))
    assert pipe.fit(X, y).score(X, y) > 0.8
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.7
    grid = GridSearchCV(pipe, {f"{cls.__name__.lower()}__hidden_layer_sizes": [(4,), (16,)]}, cv=3).fit(X, y)
    assert grid.best_params_ and grid.best_estimator_.predict(X).shape == np.shape(y)


@pytest.mark.parametrize("cls,data,method", [(MLPClassifier, blobs, "predict_proba"),
                                             (MLPRegressor, regression, "predict")])
def test_clone_and_pickle_round_trips(cls, data, method, tmp_path):
    X, y = data()
    est = cls(max_iter=10, **SMALL).fit(X, y)
    expected = getattr(est, method)(X)
    refit = clone(est)
    assert not hasattr(refit, "model_") and refit.get_params() == est.get_params()
    np.testing.assert_array_equal(getattr(refit.fit(X, y), method)(X), expected)
    blob = pickle.dumps(est)
    np.testing.assert_array_equal(getattr(pickle.loads(blob), method)(X), expected)
    assert b"fastmlp.backends" not in blob  # the model's engine (its buffers) is left out (MLP.__getstate__)
    joblib.dump(est, tmp_path / "est.joblib")
    mapped = joblib.load(tmp_path / "est.joblib", mmap_mode="r")  # read-only memmaps become in-memory copies
    np.testing.assert_array_equal(getattr(mapped, method)(X), expected)
    mapped.partial_fit(X, y)  # and it can train on
    assert mapped.n_iter_ == est.n_iter_ + 1
    np.testing.assert_array_equal(getattr(est, method)(X), expected)


@pytest.mark.parametrize("module", ["fastmlp.sklearn", "fastmlp.sklearn_convert"])
def test_import_without_scikit_learn(module):
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import fastmlp\n"
            f"try:\n    import {module}\nexcept ImportError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERR" in out.stdout and "pip install fastmlp[sklearn]" in out.stdout


# -- a failed fit changes nothing ------------------------------------------------------------------------
def _fitted_state(est):
    """Everything a fit sets (attributes ending or starting with '_': weights, optimizer state, history,
    n_iter_, loss_curve_, n_features_in_, the random state ...), as bytes to compare."""
    return pickle.dumps({k: v for k, v in vars(est).items() if k.endswith("_") or k.startswith("_")})


NAN, INF = float("nan"), float("inf")
BAD_PARAMS = [
    # (parameter, value, error): NaN and inf refused as scikit-learn refuses them
    ("learning_rate_init", NAN, ValueError), ("learning_rate_init", INF, ValueError),
    ("learning_rate_init", 0.0, ValueError), ("learning_rate_init", "fast", TypeError),
    ("tol", NAN, ValueError), ("tol", INF, ValueError), ("tol", -1e-4, ValueError),
    ("alpha", -1, ValueError), ("alpha", NAN, ValueError), ("alpha", INF, ValueError),
    ("epsilon", 0.0, ValueError), ("epsilon", NAN, ValueError),
    ("momentum", NAN, ValueError), ("beta_1", 1.0, ValueError), ("beta_2", NAN, ValueError),
    ("validation_fraction", NAN, ValueError), ("validation_fraction", 1.0, ValueError),
    ("hidden_layer_sizes", (0,), ValueError), ("hidden_layer_sizes", [-1], ValueError),
    ("hidden_layer_sizes", "a", ValueError), ("hidden_layer_sizes", (1.5,), TypeError),
    ("hidden_layer_sizes", [[4]], TypeError), ("hidden_layer_sizes", None, TypeError),
    ("max_iter", 0, ValueError), ("max_iter", 2.5, TypeError), ("n_iter_no_change", 0, ValueError),
    ("batch_size", 0, ValueError), ("batch_size", "all", ValueError), ("batch_size", NAN, TypeError),
    ("solver", "lbfgs", ValueError), ("activation", "bogus", ValueError), ("init", "bogus", ValueError),
    ("dtype", "int32", ValueError), ("backend", "gpu", ValueError), ("random_state", "x", TypeError),
    ("random_state", -1, ValueError),
    ("shuffle", 1, TypeError), ("verbose", "loud", TypeError), ("verbose", -1, ValueError),
    ("early_stopping", "yes", TypeError),
]


@pytest.mark.parametrize("cls,data", [(MLPClassifier, blobs), (MLPRegressor, regression)])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("name,value,error", BAD_PARAMS)
def test_a_bad_hyperparameter_leaves_the_fitted_estimator_as_it_was(cls, data, method, name, value, error):
    X, y = data(n=60)
    est = cls(max_iter=3, **SMALL).fit(X, y)
    before = _fitted_state(est)
    with pytest.raises(error, match=name):
        getattr(est.set_params(**{name: value}), method)(X, y)
    assert _fitted_state(est) == before


_BAD_DATA_MESSAGES = {
    "X NaN": r"^Input X contains NaN\.",
    "X inf": r"^Input X contains infinity or a value too large for dtype",
    "X 1-D": r"^Expected 2D array, got 1D array instead",
    "X empty": r"^Found array with 0 sample\(s\) \(shape=\(0, \d\)\) while a minimum of 1 is required by {cls}\.$",
    "y length": r"^Found input variables with inconsistent numbers of samples: \[60, 59\]$",
    "y NaN": r"^Input y contains NaN\.$",
    "y inf": r"^Input y contains infinity or a value too large for dtype",
    "warm start, other layers": r"^cannot continue training \(warm_start\): the fitted model has layers \[\d, 16, \d\]"
                                r".* now ask for layers \[\d, 3, 3, \d\].* Refit with warm_start=False$",
    "warm start, other features": r"^X has 2 features, but {cls} is expecting \d features as input\.$",
    "partial_fit, other features": r"^X has 2 features, but {cls} is expecting \d features as input\.$",
}


def _bad_data_message(case, cls):
    if case == "new features and one class":  # the regressor's y holds a NaN instead
        match = (r"^Input y contains NaN\.$" if cls is MLPRegressor
                 else r"^MLPClassifier needs samples of at least 2 classes; got 1 class")
    elif case == "tiny validation set":  # checked before scikit-learn's train_test_split (whose message names
        # test_size, which the user never passed), for both estimators
        match = (r"^early_stopping=True: the validation set of 1 sample\(s\) \(validation_fraction=.*\) is too "
                 r"small; it needs at least \d+.*: increase validation_fraction or the number of samples$")
    else:
        match = _BAD_DATA_MESSAGES[case]
    return match and match.replace("{cls}", cls.__name__)


def _nan_at(a, value=NAN):
    a = np.array(a, dtype=float)
    a.flat[3] = value
    return a


@pytest.mark.parametrize("case", ["X NaN", "X inf", "X 1-D", "X empty", "y length", "new features and one class",
                                  "y NaN", "y inf", "tiny validation set", "warm start, other layers",
                                  "warm start, other features", "partial_fit, other features"])
@pytest.mark.parametrize("cls,data", [(MLPClassifier, blobs), (MLPRegressor, regression)])
def test_bad_data_leaves_the_fitted_estimator_as_it_was(cls, data, case):
    X, y = data(n=60)
    est = cls(max_iter=3, **SMALL).fit(X, y)
    before = _fitted_state(est)
    fit, regressor = est.fit, cls is MLPRegressor
    if case == "X NaN":
        X = _nan_at(X)
    elif case == "X inf":
        X = _nan_at(X, INF)
    elif case == "X 1-D":
        X = X[:, 0]
    elif case == "X empty":
        X, y = X[:0], y[:0]
    elif case == "y length":
        y = y[:-1]
    elif case == "new features and one class":  # the feature count would be recorded before the class check
        X, y = np.ones((10, 7)), np.full(10, y[0])
        if regressor:
            y = _nan_at(y)
    elif case in ("y NaN", "y inf"):  # labels as floats for the classifier, refused as scikit-learn does
        y = _nan_at(y if regressor else np.unique(y, return_inverse=True)[1], NAN if case == "y NaN" else INF)
    elif case == "tiny validation set":
        est.set_params(early_stopping=True, validation_fraction=0.02, warm_start=True)
        X, y = X[:20], y[:20]
    elif case == "warm start, other layers":
        est.set_params(warm_start=True, hidden_layer_sizes=(3, 3))
    elif case == "warm start, other features":
        est.set_params(warm_start=True)
        X = X[:, :2]
    else:
        fit, X = est.partial_fit, X[:, :2]
    with pytest.raises(ValueError, match=_bad_data_message(case, cls)):
        fit(X, y)
    assert _fitted_state(est) == before


@pytest.mark.parametrize("case", ["X NaN", "X inf", "y NaN", "y inf", "learning_rate_init", "tol", "alpha",
                                  "epsilon", "beta_1", "beta_2", "momentum", "validation_fraction"])
def test_nan_and_inf_are_refused_where_scikit_learn_refuses_them(case):
    from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
    X, y = regression(n=40)
    params = {}
    if case.startswith("X"):
        X = _nan_at(X, NAN if case == "X NaN" else INF)
    elif case.startswith("y"):
        y = _nan_at(y, NAN if case == "y NaN" else INF)
    for value in ([NAN] if case in ("X NaN", "X inf", "y NaN", "y inf") else [NAN, INF]):
        if not case.startswith(("X", "y")):
            params = {case: value}
        if case.startswith(("X", "y")):
            ours = theirs = rf"^Input {case[0]} contains {'NaN' if case.endswith('NaN') else 'infinity'}"
        else:
            ours = rf"^{case} must be a (positive finite number|finite number (>= 0|in \S+ \S+)); got {value}$"
            theirs = rf"^The '{case}' parameter of MLPRegressor must be a float in the range .*\. Got {value} instead"
        for est, match in ((SklearnMLPRegressor(max_iter=2, **params), theirs),
                           (MLPRegressor(max_iter=2, **params), ours)):
            with pytest.raises(ValueError, match=match):
                est.fit(X, y)
