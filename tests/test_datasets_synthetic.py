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
    "kwargs, error, match",
    [
        ({"n_samples": 0}, ValueError, r"^n_samples must be a positive integer; got 0$"),
        ({"n_samples": -5}, ValueError, r"^n_samples must be a positive integer; got -5$"),
        ({"n_samples": 1}, ValueError, r"^n_samples must be >= \d \(one per class\) for \w+, got 1$"),
        ({"n_samples": 10.0}, TypeError, r"^n_samples must be a positive integer; got float 10.0$"),
        ({"n_samples": True}, TypeError, r"^n_samples must be a positive integer; got bool True$"),
        ({"noise": -0.1}, ValueError, r"^noise must be a finite number >= 0; got -0.1$"),
        ({"noise": float("nan")}, ValueError, r"^noise must be a finite number >= 0; got nan$"),
        ({"noise": "big"}, TypeError, r"^noise must be a finite number >= 0; got str 'big'$"),
        ({"test_size": 1.0}, ValueError, r"^test_size must be a finite number in \[0, 1\); got 1.0$"),
        ({"test_size": -0.1}, ValueError, r"^test_size must be a finite number in \[0, 1\); got -0.1$"),
        ({"seed": -1}, ValueError, r"^seed must be an integer >= 0, a numpy.random.Generator or None; got -1$"),
        ({"seed": 1.5}, TypeError, r"^seed must be an integer >= 0, .*; got float 1.5$"),
        ({"seed": "x"}, TypeError, r"^seed must be an integer >= 0, .*; got str 'x'$"),
        ({"dtype": np.int32}, ValueError, r"^dtype must be float32 or float64; got int32$"),
        ({"dtype": "float16"}, ValueError, r"^dtype must be float32 or float64; got float16$"),
    ],
)
def test_common_argument_validation(generator, kwargs, error, match):
    make, extra, _ = generator
    with pytest.raises(error, match=match):
        make(**extra, **kwargs)


@pytest.mark.parametrize(
    "make, kwargs, match",
    [
        (spirals, {"n_arms": 1}, r"^n_arms must be an integer >= 2; got 1$"),
        (spirals, {"turns": 0}, r"^turns must be a positive finite number; got 0$"),
        (blobs, {"n_centers": 1}, r"^n_centers must be an integer >= 2; got 1$"),
        (blobs, {"radius": -1.0}, r"^radius must be a positive finite number; got -1.0$"),
        (xor, {"margin": 1.0}, r"^margin must be a finite number in \[0, 1\); got 1.0$"),
        (circles, {"inner_radius": 0}, r"^inner_radius must be a positive finite number; got 0$"),
        (circles, {"ring": (0.3, 1.0)},
         r"^need inner_radius <= ring\[0\] < ring\[1\], got inner_radius=0.5, ring=\(0.3, 1.0\)$"),
        (circles, {"ring": (1.0, 0.8)},
         r"^need inner_radius <= ring\[0\] < ring\[1\], got inner_radius=0.5, ring=\(1.0, 0.8\)$"),
        (circles, {"ring": (0.7,)}, r"^ring must be a pair \(r_min, r_max\); got 1 items: \(0.7,\)$"),
    ],
)
def test_specific_argument_validation(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_too_few_samples_for_the_classes():
    with pytest.raises(ValueError, match=r"^n_samples must be >= 5 \(one per class\) for blobs, got 4$"):
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
    "X, kwargs, error, match",
    [
        (np.zeros((5, 3)), {}, ValueError, r"^X must have 2 columns; got shape \(5, 3\)$"),
        (np.zeros((0, 2)), {}, ValueError, r"^X must have at least 1 row; got shape \(0, 2\)$"),
        (np.zeros(4), {}, ValueError, r"^X must be 2-D \(n_samples, n_features\); got shape \(4,\)$"),
        (np.array([[0.0, np.nan]]), {}, ValueError, r"^X contains NaN or inf$"),
        (np.array([["a", "b"]]), {}, TypeError, r"^X must hold real numbers; got dtype <U1$"),
        (np.zeros((3, 2)), {"resolution": 1}, ValueError, r"^resolution must be an integer >= 2; got 1$"),
        (np.zeros((3, 2)), {"resolution": 2.5}, TypeError, r"^resolution must be an integer >= 2; got float 2.5$"),
        (np.zeros((3, 2)), {"margin": -0.1}, ValueError, r"^margin must be a finite number >= 0; got -0.1$"),
    ],
)
def test_grid_validation(X, kwargs, error, match):
    with pytest.raises(error, match=match):
        grid(X, **kwargs)


# ---- Dataset -------------------------------------------------------------


def test_dataset_checks_consistency():
    X, y = np.zeros((4, 2)), np.zeros(4, dtype=np.int64)
    ds = Dataset(X, y, X[:1], y[:1], "toy", 2, ("a", "b"))
    assert ds.n_train == 4 and ds.n_test == 1 and ds.n_features == 2
    assert "toy" in repr(ds) and len(repr(ds)) < 200
    with pytest.raises(ValueError, match=r"^X_train has 4 rows but y_train has 3$"):
        Dataset(X, y[:3], X, y, "toy", 2)
    with pytest.raises(ValueError, match=r"^X_train rows have shape \(2,\) but X_test rows have shape \(3,\)$"):
        Dataset(X, y, np.zeros((4, 3)), y, "toy", 2)
    with pytest.raises(ValueError, match=r"^class_names has 1 entries, expected n_classes=2$"):
        Dataset(X, y, X, y, "toy", 2, ("only one",))
    with pytest.raises(ValueError, match=r"^n_classes must be an integer >= 1; got 0$"):
        Dataset(X, y, X, y, "toy", 0)
    with pytest.raises(TypeError, match=r"^X_train and y_train must be numpy arrays$"):
        Dataset(X.tolist(), y, X, y, "toy", 2)


def test_dataset_is_frozen():
    ds = xor(n_samples=20)
    with pytest.raises(AttributeError, match="cannot assign to field 'name'"):
        ds.name = "other"
