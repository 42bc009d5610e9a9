"""The lab reports' data: RDFIA circles (distribution, class overlap, the accuracy an MLP
reaches on it against fastmlp's cleaner circles) and DLVU's load_synth (the original's
numbers and return format, its Dataset form, the catalog)."""
import numpy as np
import pytest

import fastmlp
from fastmlp.datasets import circles, load_dataset, load_synth, one_hot, rdfia_circles, synth
from fastmlp.datasets.catalog import DATASET_NAMES, SYNTHETIC


# -- RDFIA circles ------------------------------------------------------------------------------
def test_rdfia_circles_has_the_practicals_split_and_balance():
    d = rdfia_circles(seed=0)
    assert (d.n_train, d.n_test, d.n_classes, d.name) == (200, 200, 2, "rdfia_circles")
    assert d.X_train.shape == (200, 2) and d.X_train.dtype == np.float32
    for y in (d.y_train, d.y_test):
        assert np.bincount(y).tolist() == [100, 100]
    assert one_hot(d.y_train, 2).shape == (200, 2)  # the practical's Ytrain layout
    assert np.abs(np.concatenate([d.X_train, d.X_test])).max() < 2.0  # inside the practical's grid


def test_rdfia_circles_radii_and_noise_follow_the_stated_process():
    d = rdfia_circles(n_samples=40_000, noise=0.16, seed=3, test_size=0.0, dtype=np.float64)
    r = np.hypot(d.X_train[:, 0], d.X_train[:, 1])
    for c, R in ((0, 0.5), (1, 1.0)):
        pts = d.X_train[d.y_train == c]
        # noise of 0.16 per coordinate: mean radius ~ R (+ a small Rice bias), centred, isotropic
        assert r[d.y_train == c].mean() == pytest.approx(R, abs=0.04)
        assert np.abs(pts.mean(axis=0)).max() < 0.02
        assert pts[:, 0].std() == pytest.approx(pts[:, 1].std(), rel=0.03)
    # the radial spread of the outer class is the noise (for R >> noise the radius is ~ N(R, noise))
    assert r[d.y_train == 1].std() == pytest.approx(0.16, rel=0.08)


def _best_radius_threshold_accuracy(d):
    """Accuracy of the best rule 'class 1 iff radius > t' (the Bayes rule here is such a threshold)."""
    r = np.hypot(d.X_train[:, 0], d.X_train[:, 1])
    order = np.argsort(r)
    y = d.y_train[order]
    # rule at each cut: everything after the cut is class 1
    correct = np.cumsum(y == 0) + (np.sum(y == 1) - np.cumsum(y == 1))
    return correct.max() / y.size


def test_rdfia_circles_overlap_caps_accuracy_near_94_percent_unlike_circles():
    big = dict(n_samples=100_000, seed=1, test_size=0.0)
    bayes = _best_radius_threshold_accuracy(rdfia_circles(**big))
    assert 0.925 < bayes < 0.95
    assert _best_radius_threshold_accuracy(circles(**big)) > 0.99


def _test_accuracy(d, seed):
    m = fastmlp.MLP([2, 10, 2], activation="tanh", dtype="float64", seed=seed)
    m.fit(d.X_train, d.y_train, epochs=300, batch_size=10, lr=0.05, verbose=0, seed=seed)
    return float((m.predict(d.X_test) == d.y_test).mean())


def test_a_trained_mlp_reaches_about_93_5_percent_on_rdfia_circles_and_more_on_circles():
    rdfia = [_test_accuracy(rdfia_circles(seed=s), s) for s in range(4)]
    clean = [_test_accuracy(circles(n_samples=400, test_size=0.5, seed=s), s) for s in range(2)]
    assert 0.915 <= np.mean(rdfia) <= 0.955, rdfia
    assert max(rdfia) <= 0.96, rdfia
    assert np.mean(clean) >= 0.965 and np.mean(clean) > np.mean(rdfia) + 0.02, (clean, rdfia)


def test_rdfia_circles_is_seeded_and_checks_its_arguments():
    a, b, c = rdfia_circles(seed=5), rdfia_circles(seed=5), rdfia_circles(seed=6)
    assert np.array_equal(a.X_train, b.X_train) and not np.array_equal(a.X_train, c.X_train)
    with pytest.raises(ValueError, match=r"radii must have 0 < radii\[0\] < radii\[1\]"):
        rdfia_circles(radii=(1.0, 0.5))
    with pytest.raises(TypeError, match=r"radii must be a pair"):
        rdfia_circles(radii=1.0)
    with pytest.raises(ValueError, match=r"noise must be a finite number >= 0"):
        rdfia_circles(noise=-1)


# -- DLVU load_synth ----------------------------------------------------------------------------
def _original_load_synth(num_train, num_val, seed):
    """The course's code, on numpy's global random state (saved and restored around it)."""
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        quad = np.asarray([[1, -0.05], [1, .4]])
        x = np.random.randn(num_train + num_val, 2)
        q = np.einsum('bf, fk, bk -> b', x, quad, x)
        y = (q > 0.6).astype(int)
        return (x[:num_train, :], y[:num_train]), (x[num_train:, :], y[num_train:]), 2
    finally:
        np.random.set_state(saved)


@pytest.mark.parametrize("num_train,num_val,seed", [(60_000, 10_000, 0), (500, 70, 3), (7, 0, 11)])
def test_load_synth_gives_the_originals_numbers_and_format(num_train, num_val, seed):
    before = np.random.get_state()[1].copy()
    (xt, yt), (xv, yv), n_cls = load_synth(num_train, num_val, seed)
    assert np.array_equal(np.random.get_state()[1], before)  # global random state untouched
    (ot, oyt), (ov, oyv), on = _original_load_synth(num_train, num_val, seed)
    assert n_cls == on == 2
    assert xt.shape == (num_train, 2) and xv.shape == (num_val, 2) and xt.dtype == np.float64
    assert yt.dtype == np.int64
    np.testing.assert_array_equal(xt, ot)
    np.testing.assert_array_equal(xv, ov)
    np.testing.assert_array_equal(yt, oyt)
    np.testing.assert_array_equal(yv, oyv)


def test_load_synth_boundary_is_the_quadratic_form_ellipse():
    (x, y), _, _ = load_synth(20_000, 0, 1)
    q = x[:, 0] ** 2 + (1 - 0.05) * x[:, 0] * x[:, 1] + 0.4 * x[:, 1] ** 2
    assert np.array_equal(y, (q > 0.6).astype(np.int64))
    assert 0.4 < y.mean() < 0.8  # both classes well represented


def test_synth_dataset_form_and_catalog():
    d = synth(seed=0)
    (xt, yt), (xv, yv), _ = load_synth()
    assert (d.n_train, d.n_test, d.name, d.n_classes) == (60_000, 10_000, "synth", 2)
    np.testing.assert_array_equal(d.X_train, xt.astype(np.float32))
    np.testing.assert_array_equal(d.y_test, yv)
    small = load_dataset("synth", n_samples=700, test_size=0.1, seed=2)
    (xs, _), (xsv, ysv), _ = load_synth(630, 70, 2)
    np.testing.assert_array_equal(small.X_test, xsv.astype(np.float32))
    np.testing.assert_array_equal(small.y_test, ysv)
    g = synth(n_samples=100, seed=np.random.default_rng(0))
    assert g.n_train == 86 and g.n_test == 14
    for name in ("rdfia_circles", "synth"):
        assert name in SYNTHETIC and name in DATASET_NAMES
    rc = load_dataset("rdfia_circles", seed=4)
    np.testing.assert_array_equal(rc.X_test, rdfia_circles(seed=4).X_test)


def test_load_synth_checks_its_arguments():
    with pytest.raises(ValueError, match=r"num_train must be a positive integer"):
        load_synth(0, 10)
    with pytest.raises(TypeError, match=r"seed must be an integer >= 0"):
        load_synth(10, 10, seed=1.5)
    with pytest.raises(ValueError, match=r"test_size 0.99 leaves no training point of 10"):
        synth(n_samples=10, test_size=0.99)


def test_an_mlp_learns_the_synth_ellipse():
    d = synth(n_samples=4000, seed=0, test_size=0.25)
    m = fastmlp.MLP([2, 16, 2], activation="tanh", seed=0)
    m.fit(d.X_train, d.y_train, epochs=30, batch_size=32, lr=0.1, verbose=0)
    assert (m.predict(d.X_test) == d.y_test).mean() > 0.95
