"""fastmlp.sklearn with sample_weight, class_weight and multi-label targets."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from numpy.testing import assert_allclose  # noqa: E402
from sklearn.datasets import make_blobs, make_multilabel_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

SMALL = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, random_state=0, dtype="float64", max_iter=20)


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def blobs(n=60, seed=0):
    X, y = make_blobs(n, centers=3, n_features=4, random_state=seed)
    return (X - X.mean(axis=0)) / X.std(axis=0), np.array(["a", "b", "c"])[y]


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_integer_sample_weights_are_repeated_rows(cls):
    """Full batch (batch_size 'auto' covers every row), weights 0..3: the same model as the rows
    repeated, the L2 penalty included (it is divided by the batch's weight sum)."""
    X, labels = blobs(30)
    y = labels if cls is MLPClassifier else X[:, 0] * 2 - X[:, 1]
    w = np.random.default_rng(1).integers(0, 4, 30)
    w[0] = 2
    rows = np.repeat(np.arange(30), w)
    est = dict(SMALL, alpha=0.01, shuffle=False)
    weighted = cls(**est).fit(X, y, sample_weight=w)
    repeated = cls(**est).fit(X[rows], y[rows])
    assert_allclose(weighted.coefs_[0], repeated.coefs_[0], rtol=1e-9, atol=1e-12)
    assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)
    out = "predict_proba" if cls is MLPClassifier else "predict"
    assert_allclose(getattr(weighted, out)(X), getattr(repeated, out)(X), rtol=1e-9, atol=1e-12)


def test_class_weight_balanced_and_dict():
    X, y = blobs(60)
    keep = np.r_[np.flatnonzero(y == "a"), np.flatnonzero(y == "b")[:5], np.flatnonzero(y == "c")]
    X, y = X[keep], y[keep]
    counts = {c: (y == c).sum() for c in "abc"}
    balanced = np.array([len(y) / (3 * counts[c]) for c in y])
    a = MLPClassifier(**SMALL, class_weight="balanced").fit(X, y)
    b = MLPClassifier(**SMALL).fit(X, y, sample_weight=balanced)
    assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-12)
    c = MLPClassifier(**SMALL, class_weight={"b": 4.0}).fit(X, y, sample_weight=np.full(len(y), 0.5))
    d = MLPClassifier(**SMALL).fit(X, y, sample_weight=np.where(y == "b", 2.0, 0.5))
    assert_allclose(c.coefs_[0], d.coefs_[0], rtol=1e-12)
    assert "class_weight" in MLPClassifier().get_params() and "class_weight" not in MLPRegressor().get_params()


@pytest.mark.parametrize("kw,fit_kw,exc,match", [
    (dict(class_weight={"z": 2.0}), {}, ValueError, "not one of the classes"),
    (dict(class_weight="even"), {}, ValueError, "balanced"),
    (dict(class_weight=3), {}, TypeError, "class_weight"),
    ({}, dict(sample_weight=-np.ones(60)), ValueError, ">= 0"),
    ({}, dict(sample_weight=np.ones(59)), ValueError, r"shape \(60,\)"),
])
def test_bad_weights_leave_a_fitted_classifier_unchanged(kw, fit_kw, exc, match):
    X, y = blobs(60)
    est = MLPClassifier(**SMALL, warm_start=True).fit(X, y)
    coefs, n_iter = est.coefs_[0].copy(), est.n_iter_
    est.set_params(**kw)
    with pytest.raises(exc, match=match):
        est.fit(X, y, **fit_kw)
    assert np.array_equal(est.coefs_[0], coefs) and est.n_iter_ == n_iter


def test_early_stopping_with_sample_weight_scores_the_weighted_validation():
    X, y = blobs(80)
    w = np.random.default_rng(0).uniform(0.2, 2, 80)
    est = MLPClassifier(**dict(SMALL, max_iter=5), early_stopping=True, validation_fraction=0.25).fit(X, y,
                                                                                                       sample_weight=w)
    assert len(est.validation_scores_) == est.n_iter_ and all(0 <= s <= 1 for s in est.validation_scores_)
    r = MLPRegressor(**dict(SMALL, max_iter=5), early_stopping=True).fit(X, X[:, 0], sample_weight=w)
    assert len(r.validation_scores_) == r.n_iter_


def test_partial_fit_takes_sample_weight():
    X, y = blobs(60)
    w = np.where(y == "a", 0.0, 1.0)
    est = MLPClassifier(**SMALL).partial_fit(X, y, classes=["a", "b", "c"], sample_weight=w)
    ref = MLPClassifier(**SMALL).partial_fit(X[w > 0], y[w > 0], classes=["a", "b", "c"])
    # full batch: the rows of weight 0 change nothing (the L2 term scales by the same weight sum)
    assert_allclose(est.coefs_[0], ref.coefs_[0], rtol=1e-9, atol=1e-12)


# -- multi-label ------------------------------------------------------------------------------------------
def _multilabel(n=120):
    X, Y = make_multilabel_classification(n, n_features=6, n_classes=4, random_state=0)
    return X / X.max(), Y


def test_multilabel_indicator_y_trains_a_sigmoid_per_label():
    X, Y = _multilabel()
    est = MLPClassifier(**dict(SMALL, max_iter=200, hidden_layer_sizes=(32,))).fit(X, Y)
    assert est.model_.loss == "multilabel" and est.out_activation_ == "logistic"
    assert np.array_equal(est.classes_, np.arange(4)) and est.n_outputs_ == 4
    pred, proba = est.predict(X), est.predict_proba(X)
    assert pred.shape == proba.shape == (120, 4)
    assert set(np.unique(pred)) <= {0, 1}
    assert np.array_equal(pred, (proba > 0.5).astype(int))
    assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert est.score(X, Y) == np.mean((pred == Y).all(axis=1))  # subset accuracy, scikit-learn's
    assert (pred == Y).mean() > 0.8


def test_multilabel_partial_fit_warm_start_and_errors():
    X, Y = _multilabel(60)
    est = MLPClassifier(**SMALL).partial_fit(X, Y)  # no classes needed for an indicator y
    est.partial_fit(X, Y)
    assert est.n_iter_ == 2
    with pytest.raises(ValueError, match="4 labels|labels"):
        est.partial_fit(X, Y[:, :3])
    with pytest.raises(ValueError, match="multi-label"):
        MLPClassifier(**SMALL, class_weight="balanced").fit(X, Y)
    multiclass = MLPClassifier(**SMALL, warm_start=True).fit(X, Y.argmax(axis=1))
    with pytest.raises(ValueError, match="cannot continue training|warm_start"):
        multiclass.fit(X, Y)


def test_a_multilabel_scikit_learn_classifier_converts_and_keeps_training():
    from sklearn.neural_network import MLPClassifier as SkClassifier
    X, Y = _multilabel(80)
    sk = SkClassifier((8,), max_iter=30, random_state=0).fit(X, Y)
    est = MLPClassifier.from_sklearn(sk, backend="numpy")
    assert est.model_.loss == "multilabel" and est.out_activation_ == "logistic"
    assert np.array_equal(est.predict(X), sk.predict(X))
    assert_allclose(est.predict_proba(X), sk.predict_proba(X), rtol=1e-12)
    est.set_params(warm_start=True, max_iter=3).fit(X, Y)
    assert est.n_iter_ == 3 and est.predict(X).shape == Y.shape
