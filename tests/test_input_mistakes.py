"""Mistakes users make with their data, and what fastmlp tells them: unscaled inputs warn
(a category users can filter, pointing at their own line), string labels point to the
scikit-learn wrapper or to encoding, a column of class ids is class ids, labels from 1 are
recognised."""
import warnings

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.checks import UnscaledInputWarning


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return (rng.random((30, 16)) * 255).astype(np.uint8), rng.integers(0, 3, 30)


def test_uint8_images_warn_at_the_users_line(images):
    X, y = images
    model = MLP([16, 3], seed=0, backend="numpy")
    for call in (lambda: model.fit(X, y, epochs=1, verbose=0), lambda: model.predict(X),
                 lambda: model.evaluate(X, y)):
        with pytest.warns(UnscaledInputWarning, match=r"divide images by 255 \(fastmlp.datasets.scale_uint8") as w:
            call()
        assert len(w) == 1 and w[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X / 255.0, y, epochs=1, verbose=0)  # scaled: no warning
        model.predict(X.astype(bool))
        warnings.filterwarnings("ignore", category=UnscaledInputWarning)  # the category users silence
        model.predict(X)


def test_large_features_warn_with_standardization_advice():
    model = MLP([2, 2], seed=0, backend="numpy")
    with pytest.warns(UnscaledInputWarning, match="standardize the features") as w:
        model.predict(np.array([[1500.0, -3.0], [2500.0, 1.0]]))
    assert w[0].filename == __file__
    with pytest.warns(UnscaledInputWarning, match="standardize the features .*, or divide pixel values 0..255 by 255"):
        model.predict(np.array([[200.0, 3.0]]))  # float pixels not divided: both ways named


def test_string_labels_point_to_the_classifier_wrapper_or_encoding(images):
    X, _ = images
    model = MLP([16, 3], seed=0, backend="numpy")
    with pytest.raises(TypeError) as e:
        model.fit(X / 255.0, np.array(["cat", "dog", "bird"] * 10), epochs=1, verbose=0)
    assert "fastmlp.sklearn.MLPClassifier" in str(e.value) and "numpy.unique(y, return_inverse=True)" in str(e.value)


def test_a_column_of_class_ids_is_class_ids(images):
    X, y = images
    a, b = (MLP([16, 3], seed=0, backend="numpy") for _ in range(2))
    a.fit(X / 255.0, y, epochs=2, verbose=0, seed=1)
    b.fit(X / 255.0, y.reshape(-1, 1), epochs=2, verbose=0, seed=1)
    assert np.array_equal(a.params, b.params)
    assert b.evaluate(X / 255.0, y.reshape(-1, 1)) == a.evaluate(X / 255.0, y)


def test_labels_counted_from_1_are_recognised(images):
    X, y = images
    with pytest.raises(ValueError, match=r"labels counted from 1\? subtract 1"):
        MLP([16, 3], seed=0, backend="numpy").fit(X / 255.0, y + 1, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="give it 5 for these labels"):
        MLP([16, 3], seed=0, backend="numpy").fit(X / 255.0, y + 2, epochs=1, verbose=0)
