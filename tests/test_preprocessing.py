"""Tests of scaling, standardization, one-hot encoding and train/validation splits."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fastmlp.datasets import (
    NotFittedError,
    Standardizer,
    one_hot,
    scale_uint8,
    split_indices,
    train_val_split,
)

# ---- scale_uint8 -----------------------------------------------------------


def test_scale_uint8_maps_to_unit_interval():
    X = np.array([[0, 51, 255]], dtype=np.uint8)
    out = scale_uint8(X)
    assert out.dtype == np.float32 and out.shape == X.shape
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=1e-7)
    assert scale_uint8(X, dtype=np.float64).dtype == np.float64


def test_scale_uint8_rejects_other_inputs():
    with pytest.raises(TypeError, match=r"^X must be a uint8 numpy array, got float64$"):
        scale_uint8(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"^X must be a uint8 numpy array, got list$"):
        scale_uint8([0, 255])
    with pytest.raises(ValueError, match=r"^dtype must be float32 or float64; got int32$"):
        scale_uint8(np.zeros(2, dtype=np.uint8), dtype=np.int32)


# ---- Standardizer ----------------------------------------------------------


def test_standardizer_centres_and_scales():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[3.0, -2.0, 10.0], scale=[1.0, 5.0, 0.1], size=(500, 3))
    s = Standardizer()
    Z = s.fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(s.mean_, X.mean(axis=0))
    np.testing.assert_allclose(s.scale_, X.std(axis=0))
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-12)
    assert s.n_features_ == 3 and "n_features=3" in repr(s)


def test_standardizer_uses_training_statistics_on_new_data():
    s = Standardizer().fit(np.array([[0.0], [2.0]]))
    np.testing.assert_allclose(s.transform(np.array([[4.0]])), [[3.0]])


def test_standardizer_guards_constant_features():
    X = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    Z = Standardizer().fit_transform(X)
    assert np.all(np.isfinite(Z))
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    X32 = np.full((4, 2), 0.1, dtype=np.float32)
    Z32 = Standardizer().fit_transform(X32)
    np.testing.assert_array_equal(Z32, 0.0)


def test_standardizer_dtypes():
    X32 = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert Standardizer().fit_transform(X32).dtype == np.float32
    images = np.arange(12, dtype=np.uint8).reshape(4, 3)
    assert Standardizer().fit_transform(images).dtype == np.float64
    s = Standardizer(dtype=np.float32).fit(images)
    assert s.transform(images).dtype == np.float32
    assert s.inverse_transform(s.transform(images)).dtype == np.float32
    with pytest.raises(ValueError, match=r"^dtype must be float32 or float64; got int8$"):
        Standardizer(dtype=np.int8)


def test_standardizer_errors():
    s = Standardizer()
    assert "unfitted" in repr(s)
    with pytest.raises(NotFittedError, match=r"^Standardizer is not fitted yet: call fit\(X_train\) first$"):
        s.transform(np.zeros((2, 2)))
    with pytest.raises(NotFittedError, match=r"^Standardizer is not fitted yet: call fit\(X_train\) first$"):
        s.inverse_transform(np.zeros((2, 2)))
    assert issubclass(NotFittedError, ValueError)
    with pytest.raises(ValueError, match=r"^X must be 2-D \(n_samples, n_features\); got shape \(5,\)$"):
        s.fit(np.zeros(5))
    with pytest.raises(ValueError, match=r"^X must have at least 1 row; got shape \(0, 3\)$"):
        s.fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"^X contains NaN or inf$"):
        s.fit(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match=r"^X must hold real numbers; got dtype <U1$"):
        s.fit(np.array([["a"]]))
    s.fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="3 features.*fitted on 2"):
        s.transform(np.zeros((3, 3)))


# ---- one_hot ---------------------------------------------------------------


def test_one_hot_basic():
    out = one_hot(np.array([2, 0, 1, 2]))
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    wide = one_hot([1], n_classes=5, dtype=np.float64)
    np.testing.assert_array_equal(wide, [[0, 1, 0, 0, 0]])
    assert wide.dtype == np.float64
    assert one_hot(np.array([], dtype=np.int64), n_classes=3).shape == (0, 3)
    np.testing.assert_array_equal(one_hot(np.array([1], dtype=np.uint8)), [[0, 1]])


@pytest.mark.parametrize(
    "y, kwargs, error, match",
    [
        (np.array([0.0, 1.0]), {}, TypeError, r"^y must hold integer class ids, got dtype float64$"),
        (np.array([True, False]), {}, TypeError, r"^y must hold integer class ids, got dtype bool$"),
        (np.array([[0, 1]]), {}, ValueError, r"^y must be 1-D, got shape \(1, 2\)$"),
        (np.array([0, -1]), {}, ValueError, r"^y must be non-negative, found -1$"),
        (np.array([0, 3]), {"n_classes": 3}, ValueError, r"^y has class id 3, which is >= n_classes=3$"),
        (np.array([], dtype=int), {}, ValueError, r"^n_classes must be given when y is empty$"),
        (np.array([0]), {"n_classes": 0}, ValueError, r"^n_classes must be an integer >= 1; got 0$"),
        (np.array([0]), {"n_classes": 2.0}, TypeError, r"^n_classes must be an integer >= 1; got float 2.0$"),
    ],
)
def test_one_hot_validation(y, kwargs, error, match):
    with pytest.raises(error, match=match):
        one_hot(y, **kwargs)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=30))
def test_one_hot_rows_sum_to_one_and_argmax_inverts(labels):
    y = np.array(labels)
    out = one_hot(y, n_classes=10)
    np.testing.assert_array_equal(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out.argmax(axis=1), y)


# ---- splits ----------------------------------------------------------------


def test_train_val_split_is_stratified_and_covers_everything():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    X = np.arange(len(y) * 2).reshape(-1, 2)
    X_tr, y_tr, X_val, y_val = train_val_split(X, y, val_fraction=0.2, seed=1)
    assert len(y_val) == 40 and len(y_tr) == 160
    np.testing.assert_array_equal(np.bincount(y_val), [20, 10, 6, 4])
    # Rows stay paired with their labels and nothing is lost or duplicated.
    rows = np.concatenate([X_tr, X_val])[:, 0] // 2
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(y)))
    np.testing.assert_array_equal(y[X_tr[:, 0] // 2], y_tr)
    np.testing.assert_array_equal(y[X_val[:, 0] // 2], y_val)


def test_train_val_split_is_reproducible_and_shuffled():
    y = np.repeat(np.arange(3), 20)
    X = np.arange(60)
    a = train_val_split(X, y, 0.25, seed=5)
    b = train_val_split(X, y, 0.25, seed=5)
    c = train_val_split(X, y, 0.25, seed=6)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[0], c[0])
    assert np.any(np.diff(a[1]) < 0), "training labels came out sorted"


def test_small_classes_keep_a_training_sample():
    y = np.array([0] * 20 + [1, 1] + [2])
    X = np.arange(len(y))
    _, y_tr, _, y_val = train_val_split(X, y, val_fraction=0.5, seed=0)
    assert set(y_tr) == {0, 1, 2}
    assert 2 not in set(y_val)
    assert np.sum(y_val == 1) <= 1


def test_unstratified_split():
    y = np.zeros(10, dtype=int)
    train_idx, val_idx = split_indices(y, 0.3, seed=0, stratify=False)
    assert len(val_idx) == 3 and len(train_idx) == 7
    assert sorted(np.concatenate([train_idx, val_idx])) == list(range(10))
    X_tr, _, X_val, _ = train_val_split(np.arange(3), np.array([0, 1, 2]), 0.5, stratify=False)
    assert len(X_val) == 2 and len(X_tr) == 1


@pytest.mark.parametrize("fraction", [0, 1, -0.5, 1.5])
def test_val_fraction_must_be_open_unit_interval(fraction):
    with pytest.raises(ValueError, match=r"^val_fraction must be a finite number in \(0, 1\); got "):
        train_val_split(np.zeros((10, 2)), np.zeros(10, dtype=int), val_fraction=fraction)


def test_split_errors():
    with pytest.raises(ValueError, match=r"^X has shape \(5, 2\) but y has 4 samples$"):
        train_val_split(np.zeros((5, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match=r"^y must be 1-D, got shape \(4, 1\)$"):
        train_val_split(np.zeros((4, 2)), np.zeros((4, 1), dtype=int))
    with pytest.raises(ValueError, match=r"^need at least 2 samples to split, got 1$"):
        split_indices(np.array([0]), 0.5)
    with pytest.raises(ValueError, match=r"^a stratified split with fraction=0.5 holds out no sample: .*stratify=False$"):
        train_val_split(np.arange(3), np.array([0, 1, 2]), 0.5)
    with pytest.raises(TypeError, match=r"^seed must be an integer >= 0, .*; got str 'a'$"):
        train_val_split(np.arange(4), np.zeros(4, dtype=int), 0.5, seed="a")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 30), min_size=1, max_size=6),
    st.floats(0.05, 0.9),
    st.integers(0, 2**31),
)
def test_stratified_split_properties(class_sizes, fraction, seed):
    y = np.repeat(np.arange(len(class_sizes)), class_sizes)
    n = len(y)
    assume(n >= 2)
    try:
        train_idx, val_idx = split_indices(y, fraction, seed=seed)
    except ValueError as exc:
        assert max(class_sizes) == 1 and "stratify=False" in str(exc)
        return
    assert len(np.intersect1d(train_idx, val_idx)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
    target = min(math.ceil(fraction * n - 1e-9), n - 1)
    assert 1 <= len(val_idx) <= target
    train_counts = np.bincount(y[train_idx], minlength=len(class_sizes))
    val_counts = np.bincount(y[val_idx], minlength=len(class_sizes))
    sizes = np.array(class_sizes)
    assert np.all(train_counts >= 1), "every class must keep a training sample"
    # Proportional: each class's held-out count is within 1 of its exact share
    # of the held-out target (even where the train cap binds).
    share = sizes * target / n
    assert np.all(np.abs(val_counts - share) < 1)
