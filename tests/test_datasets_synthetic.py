"""Tests of the 2-D toy problems, the decision-boundary grid and the Dataset container."""

import math

import numpy as np
import pytest

from fastmlp.datasets import Dataset, blobs, circles, grid, moons, spirals, xor

GENERATORS = {
    "circles": (circles, {}, 2),
    "moons": (moons, {}, 2),
    "spirals": (spirals, {}, 2),
    "spirals3": (spirals, {"n_arms": 3}, 3),
    "xor": (xor, {}, 2),
    "blobs": (blobs, {}, 3),
    "blobs5": (blobs, {"n_centers": 5}, 5),
}


def _all(ds):
    return np.concatenate([ds.X_train, ds.X_test]), np.concatenate([ds.y_train, ds.y_test])


@pytest.fixture(params=sorted(GENERATORS))
def generator(request):
    return GENERATORS[request.param]


def test_shapes_dtypes_and_name(generator):
    make, kwargs, n_classes = generator
    ds = make(n_samples=203, test_size=0.2, **kwargs)
    assert isinstance(ds, Dataset)
    assert ds.n_classes == n_classes
    assert ds.name == make.__name__
    assert ds.X_train.dtype == np.float32 and ds.X_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.X_train.shape[1] == 2 and ds.n_features == 2
    assert ds.n_test == math.ceil(0.2 * 203)
    assert ds.n_train + ds.n_test == 203
    X, y = _all(ds)
    assert np.all(np.isfinite(X))
    assert set(np.unique(y)) == set(range(n_classes))


def test_classes_are_balanced(generator):
    make, kwargs, n_classes = generator
    _, y = _all(make(n_samples=301, **kwargs))
    counts = np.bincount(y, minlength=n_classes)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == 301


def test_test_split_is_stratified(generator):
    make, kwargs, n_classes = generator
    ds = make(n_samples=600, test_size=0.25, **kwargs)
    per_class_test = np.bincount(ds.y_test, minlength=n_classes)
    expected = 0.25 * 600 / n_classes
    assert np.all(np.abs(per_class_test - expected) <= 1.5)


def test_same_seed_same_data_different_seed_different_data(generator):
    make, kwargs, _ = generator
    a, b, c = make(seed=7, **kwargs), make(seed=7, **kwargs), make(seed=8, **kwargs)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X_train, c.X_train)


def test_generator_seed_is_used_and_advanced(generator):
    make, kwargs, _ = generator
    rng = np.random.default_rng(3)
    first, second = make(seed=rng, **kwargs), make(seed=rng, **kwargs)
    assert not np.array_equal(first.X_train, second.X_train)
    again = make(seed=np.random.default_rng(3), **kwargs)
    np.testing.assert_array_equal(first.X_train, again.X_train)


def test_test_size_zero_means_no_split(generator):
    make, kwargs, _ = generator
    ds = make(n_samples=50, test_size=0, **kwargs)
    assert ds.n_train == 50 and ds.n_test == 0
    assert ds.X_test.shape == (0, 2) and ds.X_test.dtype == np.float32
    assert ds.y_test.shape == (0,) and ds.y_test.dtype == np.int64


def test_float64_option(generator):
    make, kwargs, _ = generator
    ds = make(dtype=np.float64, **kwargs)
    assert ds.X_train.dtype == np.float64 and ds.X_test.dtype == np.float64
    np.testing.assert_allclose(ds.X_train, make(**kwargs).X_train, atol=1e-6)


def test_training_rows_are_shuffled(generator):
    make, kwargs, _ = generator
    y = make(n_samples=200, **kwargs).y_train
    assert np.any(np.diff(y) < 0), "labels come out sorted, so rows were not shuffled"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"n_samples": 0}, ValueError),
        ({"n_samples": -5}, ValueError),
        ({"n_samples": 1}, ValueError),
        ({"n_samples": 10.0}, TypeError),
        ({"n_samples": True}, TypeError),
        ({"noise": -0.1}, ValueError),
        ({"noise": float("nan")}, ValueError),
        ({"noise": "big"}, TypeError),
        ({"test_size": 1.0}, ValueError),
        ({"test_size": -0.1}, ValueError),
        ({"seed": -1}, ValueError),
        ({"seed": 1.5}, TypeError),
        ({"seed": "x"}, TypeError),
        ({"dtype": np.int32}, ValueError),
        ({"dtype": "float16"}, ValueError),
    ],
)
def test_common_argument_validation(generator, kwargs, error):
    make, extra, _ = generator
    with pytest.raises(error) as info:
        make(**extra, **kwargs)
    assert next(iter(kwargs)) in str(info.value)


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (spirals, {"n_arms": 1}),
        (spirals, {"turns": 0}),
        (blobs, {"n_centers": 1}),
        (blobs, {"radius": -1.0}),
        (xor, {"margin": 1.0}),
        (circles, {"inner_radius": 0}),
        (circles, {"ring": (0.3, 1.0)}),
        (circles, {"ring": (1.0, 0.8)}),
        (circles, {"ring": (0.7,)}),
    ],
)
def test_specific_argument_validation(make, kwargs):
    with pytest.raises(ValueError) as info:
        make(**kwargs)
    name = next(iter(kwargs))
    assert name in str(info.value) or "ring" in str(info.value)


def test_too_few_samples_for_the_classes():
    with pytest.raises(ValueError, match="n_samples"):
        blobs(n_samples=4, n_centers=5)


def test_circles_geometry_without_noise():
    X, y = _all(circles(n_samples=1000, noise=0, test_size=0.3))
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[y == 0].max() <= 0.5 + 1e-6
    assert r[y == 1].min() >= 0.7 - 1e-6 and r[y == 1].max() <= 1.0 + 1e-6
    # Uniform by area: a quarter of the disk's points lie within half its radius.
    assert 0.18 < np.mean(r[y == 0] < 0.25) < 0.32


def test_circles_custom_radii_and_noise_spreads_points():
    X, y = _all(circles(n_samples=400, noise=0, inner_radius=1.0, ring=(2.0, 3.0)))
    r = np.hypot(X[:, 0], X[:, 1])
    assert r[y == 0].max() <= 1.0 + 1e-6 and r[y == 1].min() >= 2.0 - 1e-6
    X_noisy, y_noisy = _all(circles(n_samples=400, noise=0.3))
    r_noisy = np.hypot(X_noisy[:, 0], X_noisy[:, 1])
    assert r_noisy[y_noisy == 0].max() > 0.6


def test_moons_geometry_without_noise():
    X, y = _all(moons(n_samples=500, noise=0))
    upper, lower = X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-5)
    assert upper[:, 1].min() >= -1e-6
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-5)
    assert lower[:, 1].max() <= 0.5 + 1e-6


def test_spiral_arms_without_noise_follow_their_curve():
    n_arms, turns = 3, 1.5
    X, y = _all(spirals(n_samples=600, noise=0, n_arms=n_arms, turns=turns, dtype=np.float64))
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.min() >= 0.05 - 1e-9 and r.max() <= 1.0 + 1e-9
    expected_angle = 2 * np.pi * (turns * r + y / n_arms)
    diff = np.angle(np.exp(1j * (np.arctan2(X[:, 1], X[:, 0]) - expected_angle)))
    np.testing.assert_allclose(diff, 0.0, atol=1e-9)


def test_xor_quadrants_without_noise():
    X, y = _all(xor(n_samples=400, noise=0, margin=0.2))
    same_sign = np.sign(X[:, 0]) == np.sign(X[:, 1])
    np.testing.assert_array_equal(y, np.where(same_sign, 0, 1))
    assert np.abs(X).min() >= 0.2 - 1e-6 and np.abs(X).max() <= 1.0 + 1e-6
    quadrant = (X[:, 0] > 0) * 2 + (X[:, 1] > 0)
    counts = np.bincount(quadrant, minlength=4)
    assert counts.max() - counts.min() <= 1


def test_blobs_without_noise_sit_on_evenly_spaced_centres():
    X, y = _all(blobs(n_samples=60, noise=0, n_centers=4, radius=2.0))
    centres = np.array([X[y == k][0] for k in range(4)], dtype=np.float64)
    for k in range(4):
        np.testing.assert_allclose(X[y == k], np.broadcast_to(centres[k], X[y == k].shape))
    np.testing.assert_allclose(np.hypot(centres[:, 0], centres[:, 1]), 2.0, atol=1e-6)
    gaps = np.linalg.norm(centres - np.roll(centres, 1, axis=0), axis=1)
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-5)


def test_blobs_noise_is_cluster_std():
    X, y = _all(blobs(n_samples=6000, noise=0.3, n_centers=2, dtype=np.float64))
    for k in range(2):
        np.testing.assert_allclose(X[y == k].std(axis=0), 0.3, rtol=0.1)


# ---- grid ----------------------------------------------------------------


def test_grid_covers_bounding_box_with_margin():
    X = np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 0.0]], dtype=np.float32)
    xx, yy, points = grid(X, resolution=50, margin=0.1)
    assert xx.shape == yy.shape == (50, 50)
    assert points.shape == (2500, 2)
    assert points.dtype == np.float32
    np.testing.assert_allclose([xx.min(), xx.max()], [-0.2, 2.2], rtol=1e-6)
    np.testing.assert_allclose([yy.min(), yy.max()], [-1.4, 3.4], rtol=1e-6)
    np.testing.assert_array_equal(points[:, 0], xx.ravel())
    np.testing.assert_array_equal(points[:, 1], yy.ravel())
    assert np.all(np.diff(xx[0]) > 0) and np.all(np.diff(yy[:, 0]) > 0)


def test_grid_of_generated_data_contains_all_points():
    ds = moons(n_samples=100)
    xx, yy, _ = grid(ds.X_train)
    assert xx.min() < ds.X_train[:, 0].min() and xx.max() > ds.X_train[:, 0].max()
    assert yy.min() < ds.X_train[:, 1].min() and yy.max() > ds.X_train[:, 1].max()
    assert xx.shape == (200, 200)


def test_grid_degenerate_axis_and_integer_input():
    xx, yy, points = grid(np.array([[1, 5], [1, 7]]), resolution=3, margin=0)
    assert points.dtype == np.float64
    np.testing.assert_allclose(xx[0], [0.5, 1.0, 1.5])
    np.testing.assert_allclose(yy[:, 0], [5.0, 6.0, 7.0])


@pytest.mark.parametrize(
    "X, kwargs, error",
    [
        (np.zeros((5, 3)), {}, ValueError),
        (np.zeros((0, 2)), {}, ValueError),
        (np.zeros(4), {}, ValueError),
        (np.array([[0.0, np.nan]]), {}, ValueError),
        (np.array([["a", "b"]]), {}, TypeError),
        (np.zeros((3, 2)), {"resolution": 1}, ValueError),
        (np.zeros((3, 2)), {"resolution": 2.5}, TypeError),
        (np.zeros((3, 2)), {"margin": -0.1}, ValueError),
    ],
)
def test_grid_validation(X, kwargs, error):
    with pytest.raises(error):
        grid(X, **kwargs)


# ---- Dataset -------------------------------------------------------------


def test_dataset_checks_consistency():
    X, y = np.zeros((4, 2)), np.zeros(4, dtype=np.int64)
    ds = Dataset(X, y, X[:1], y[:1], "toy", 2, ("a", "b"))
    assert ds.n_train == 4 and ds.n_test == 1 and ds.n_features == 2
    assert "toy" in repr(ds) and len(repr(ds)) < 200
    with pytest.raises(ValueError, match="y_train"):
        Dataset(X, y[:3], X, y, "toy", 2)
    with pytest.raises(ValueError, match="X_test"):
        Dataset(X, y, np.zeros((4, 3)), y, "toy", 2)
    with pytest.raises(ValueError, match="class_names"):
        Dataset(X, y, X, y, "toy", 2, ("only one",))
    with pytest.raises(ValueError, match="n_classes"):
        Dataset(X, y, X, y, "toy", 0)
    with pytest.raises(TypeError):
        Dataset(X.tolist(), y, X, y, "toy", 2)


def test_dataset_is_frozen():
    ds = xor(n_samples=20)
    with pytest.raises(AttributeError):
        ds.name = "other"
