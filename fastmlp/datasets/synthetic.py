"""Seeded 2-D toy classification problems (circles, moons, spirals, xor, blobs).

Each generator draws balanced classes (class sizes differ by at most one),
adds Gaussian jitter of standard deviation ``noise``, shuffles, and splits off
a stratified test part of ``test_size``.  The same integer ``seed`` always
gives the same arrays.  :func:`grid` builds the evaluation mesh used to draw
decision boundaries over such data.
"""

from __future__ import annotations

import numpy as np

from ..checks import (
    check_dtype,
    check_int,
    check_matrix,
    check_pair,
    check_positive_float,
    check_positive_int,
    check_real,
    make_rng,
)
from .base import Dataset
from .preprocessing import split_indices

__all__ = ["blobs", "circles", "grid", "moons", "spirals", "xor"]

_TAU = 2.0 * np.pi


def _balanced_counts(n_samples: int, n_classes: int) -> list[int]:
    base, extra = divmod(n_samples, n_classes)
    return [base + (c < extra) for c in range(n_classes)]


class _Problem:
    """Validated common arguments of one generator call."""

    def __init__(self, name, n_samples, n_classes, noise, seed, test_size, dtype):
        self.name = name
        self.n_classes = n_classes
        self.n_samples = check_positive_int(n_samples, "n_samples")
        if self.n_samples < n_classes:
            raise ValueError(
                f"n_samples must be >= {n_classes} (one per class) for {name}, "
                f"got {self.n_samples}"
            )
        self.noise = check_real(noise, "noise", low=0)
        self.test_size = check_real(test_size, "test_size", 0, 1, high_open=True)
        self.dtype = check_dtype(dtype)
        self.rng = make_rng(seed)
        self.counts = _balanced_counts(self.n_samples, n_classes)

    def finish(self, parts: list[np.ndarray]) -> Dataset:
        """Stack per-class points, jitter, shuffle, split and wrap in a Dataset."""
        X = np.concatenate(parts).astype(np.float64, copy=False)
        y = np.concatenate([np.full(len(p), c, dtype=np.int64) for c, p in enumerate(parts)])
        if self.noise > 0:
            X = X + self.rng.normal(scale=self.noise, size=X.shape)
        X = X.astype(self.dtype)
        if self.test_size == 0:
            order = self.rng.permutation(len(y))
            X_train, y_train = X[order], y[order]
            X_test, y_test = X[:0], y[:0]
        else:
            train_idx, test_idx = split_indices(y, self.test_size, seed=self.rng)
            X_train, y_train = X[train_idx], y[train_idx]
            X_test, y_test = X[test_idx], y[test_idx]
        return Dataset(X_train, y_train, X_test, y_test, self.name, self.n_classes)


def _polar(radius: np.ndarray, angle: np.ndarray) -> np.ndarray:
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def circles(
    n_samples=400,
    noise=0.05,
    seed=0,
    test_size=0.2,
    *,
    inner_radius=0.5,
    ring=(0.7, 1.0),
    dtype=np.float32,
) -> Dataset:
    """Inner disk (class 0) versus surrounding ring (class 1).

    Class 0 is uniform over the disk of radius ``inner_radius``; class 1 is
    uniform over the annulus ``ring[0] <= r <= ring[1]``.

    Parameters
    ----------
    n_samples : int, default 400
        Total number of points (train + test), at least 2.
    noise : float, default 0.05
        Standard deviation of the Gaussian jitter added to every coordinate.
    seed : int, numpy.random.Generator or None, default 0
    test_size : float in [0, 1), default 0.2
        Share of points held out as a stratified test set; 0 means no split.
    inner_radius : float, default 0.5
    ring : (float, float), default (0.7, 1.0)
        Inner and outer radius of the ring; ``inner_radius <= ring[0] < ring[1]``.
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        ``name="circles"``, ``n_classes=2``, X of shape ``(n, 2)``.
    """
    problem = _Problem("circles", n_samples, 2, noise, seed, test_size, dtype)
    r_in = check_positive_float(inner_radius, "inner_radius")
    ring = check_pair(ring, "ring", "a pair (r_min, r_max)")
    r_lo, r_hi = (check_real(r, f"ring[{i}]") for i, r in enumerate(ring))
    if not r_in <= r_lo < r_hi:
        raise ValueError(
            f"need inner_radius <= ring[0] < ring[1], got inner_radius={r_in}, ring={ring!r}"
        )
    rng = problem.rng
    n0, n1 = problem.counts
    # sqrt of a uniform variable gives points uniform by area.
    disk = _polar(r_in * np.sqrt(rng.uniform(size=n0)), rng.uniform(0, _TAU, n0))
    ring_r = np.sqrt(rng.uniform(r_lo**2, r_hi**2, n1))
    annulus = _polar(ring_r, rng.uniform(0, _TAU, n1))
    return problem.finish([disk, annulus])


def moons(n_samples=400, noise=0.1, seed=0, test_size=0.2, *, dtype=np.float32) -> Dataset:
    """Two interleaving half circles.

    Class 0 lies on the upper unit half circle, class 1 on the lower half
    circle shifted to ``(1, 0.5)``, as in scikit-learn's ``make_moons``; the
    position along each arc is uniform at random.

    Parameters
    ----------
    n_samples : int, default 400
    noise : float, default 0.1
        Standard deviation of the Gaussian jitter.
    seed : int, numpy.random.Generator or None, default 0
    test_size : float in [0, 1), default 0.2
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        ``name="moons"``, ``n_classes=2``.
    """
    problem = _Problem("moons", n_samples, 2, noise, seed, test_size, dtype)
    rng = problem.rng
    n0, n1 = problem.counts
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    return problem.finish([upper, lower])


def spirals(
    n_samples=400,
    noise=0.05,
    seed=0,
    test_size=0.2,
    *,
    n_arms=2,
    turns=1.0,
    dtype=np.float32,
) -> Dataset:
    """Interleaved spiral arms, one class per arm.

    Arm ``k`` is ``r = t``, ``angle = 2*pi*(turns*t + k/n_arms)`` for ``t``
    uniform in ``[0.05, 1]``.

    Parameters
    ----------
    n_samples : int, default 400
    noise : float, default 0.05
    seed : int, numpy.random.Generator or None, default 0
    test_size : float in [0, 1), default 0.2
    n_arms : int, default 2
        Number of arms (= classes), at least 2.
    turns : float, default 1.0
        How many full turns each arm makes; > 0.
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        ``name="spirals"``, ``n_classes=n_arms``.
    """
    n_arms = check_int(n_arms, "n_arms", low=2)
    turns = check_positive_float(turns, "turns")
    problem = _Problem("spirals", n_samples, n_arms, noise, seed, test_size, dtype)
    rng = problem.rng
    parts = []
    for k, count in enumerate(problem.counts):
        t = rng.uniform(0.05, 1.0, count)
        parts.append(_polar(t, _TAU * (turns * t + k / n_arms)))
    return problem.finish(parts)


def xor(
    n_samples=400,
    noise=0.05,
    seed=0,
    test_size=0.2,
    *,
    margin=0.1,
    dtype=np.float32,
) -> Dataset:
    """The XOR problem: four quadrants, two classes.

    Class 0 fills quadrants (+, +) and (-, -), class 1 fills (+, -) and
    (-, +); each class's points are split evenly between its two quadrants.
    Before jitter, each coordinate's magnitude is uniform in ``[margin, 1]``.

    Parameters
    ----------
    n_samples : int, default 400
    noise : float, default 0.05
    seed : int, numpy.random.Generator or None, default 0
    test_size : float in [0, 1), default 0.2
    margin : float in [0, 1), default 0.1
        Empty band around both axes.
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        ``name="xor"``, ``n_classes=2``.
    """
    margin = check_real(margin, "margin", 0, 1, high_open=True)
    problem = _Problem("xor", n_samples, 2, noise, seed, test_size, dtype)
    rng = problem.rng
    quadrant_signs = {0: ((1, 1), (-1, -1)), 1: ((1, -1), (-1, 1))}
    parts = []
    for c, count in enumerate(problem.counts):
        first, second = _balanced_counts(count, 2)
        signs = np.array([quadrant_signs[c][0]] * first + [quadrant_signs[c][1]] * second)
        magnitude = rng.uniform(margin, 1.0, size=(count, 2))
        parts.append(magnitude * signs.reshape(count, 2))
    return problem.finish(parts)


def blobs(
    n_samples=400,
    noise=0.2,
    seed=0,
    test_size=0.2,
    *,
    n_centers=3,
    radius=1.0,
    dtype=np.float32,
) -> Dataset:
    """Gaussian clusters whose centres are evenly spaced on a circle.

    Centre ``k`` is at angle ``pi/2 + 2*pi*k/n_centers`` on the circle of
    the given ``radius``; ``noise`` is each cluster's standard deviation.

    Parameters
    ----------
    n_samples : int, default 400
    noise : float, default 0.2
    seed : int, numpy.random.Generator or None, default 0
    test_size : float in [0, 1), default 0.2
    n_centers : int, default 3
        Number of clusters (= classes), at least 2.
    radius : float, default 1.0
        Distance of each centre from the origin; > 0.
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        ``name="blobs"``, ``n_classes=n_centers``.
    """
    n_centers = check_int(n_centers, "n_centers", low=2)
    radius = check_positive_float(radius, "radius")
    problem = _Problem("blobs", n_samples, n_centers, noise, seed, test_size, dtype)
    angles = np.pi / 2 + _TAU * np.arange(n_centers) / n_centers
    centers = _polar(np.full(n_centers, radius), angles)
    parts = [np.repeat(centers[k : k + 1], count, axis=0) for k, count in enumerate(problem.counts)]
    return problem.finish(parts)


def grid(X, resolution=200, margin=0.1):
    """A regular mesh covering the bounding box of 2-D data, for boundary plots.

    Parameters
    ----------
    X : array_like, shape (n_samples, 2)
        Points whose bounding box the mesh covers; at least one finite row.
    resolution : int, default 200
        Number of mesh lines along each axis, at least 2.
    margin : float, default 0.1
        Padding on each side, as a fraction of the box's width (height); an
        axis on which all points coincide is padded by 0.5 instead.

    Returns
    -------
    xx, yy : numpy.ndarray, shape (resolution, resolution)
        Mesh coordinates as from :func:`numpy.meshgrid`.
    points : numpy.ndarray, shape (resolution * resolution, 2)
        ``column_stack([xx.ravel(), yy.ravel()])``, ready for ``predict``.

    Notes
    -----
    The output dtype is ``X``'s dtype when it is floating point, else float64.
    """
    X = check_matrix(X, "X", n_columns=2, min_rows=1)
    resolution = check_int(resolution, "resolution", low=2)
    margin = check_real(margin, "margin", low=0)
    dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
    axes = []
    for j in range(2):
        lo, hi = float(X[:, j].min()), float(X[:, j].max())
        pad = margin * (hi - lo) if hi > lo else 0.5
        axes.append(np.linspace(lo - pad, hi + pad, resolution, dtype=dtype))
    xx, yy = np.meshgrid(axes[0], axes[1])
    points = np.column_stack([xx.ravel(), yy.ravel()])
    return xx, yy, points
