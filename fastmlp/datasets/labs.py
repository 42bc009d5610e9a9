"""The lab reports' own data: the RDFIA circles set and DLVU's synthetic quadratic-form set,
so the numbers of those reports can be reproduced with fastmlp.

- :func:`rdfia_circles`: the two-class "circles" data of the Sorbonne RDFIA practical on
  backpropagation (``CirclesData`` of its ``tme5.py``), 200 training and 200 test points whose
  class overlap caps test accuracy near 93.5% (fastmlp's cleaner :func:`~.synthetic.circles`
  reaches 96-97%).
- :func:`load_synth`: the VU Amsterdam Deep Learning course's ``load_synth`` (assignment 1,
  ``data.py``), number for number, with its return format; :func:`synth` is the same data as
  a :class:`~.base.Dataset` for the catalog.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_dtype, check_int, check_pair, check_positive_int, check_real, check_seed
from .base import Dataset
from .synthetic import _polar, _Problem

__all__ = ["SYNTH_QUADRATIC_FORM", "SYNTH_THRESHOLD", "load_synth", "rdfia_circles", "synth"]

#: DLVU ``load_synth``: a point x is class 1 when x^T Q x > threshold.
SYNTH_QUADRATIC_FORM = np.array([[1.0, -0.05], [1.0, 0.4]])
SYNTH_THRESHOLD = 0.6


def rdfia_circles(
    n_samples=400,
    noise=0.16,
    seed=0,
    test_size=0.5,
    *,
    radii=(0.5, 1.0),
    dtype=np.float32,
) -> Dataset:
    """The RDFIA backpropagation practical's two noisy circles (200 train / 200 test points).

    Source: the practical's ``tme5.py`` (``class CirclesData``, e.g. as kept in
    github.com/bourcierj/rdfia-tme4-neuralnets) loads ``circles.mat`` (``Xtrain``, ``Xtest``:
    200 x 2 each; ``Ytrain``, ``Ytest``: one-hot, 200 x 2) and draws them over the grid
    [-2, 2)^2. The points are shipped only as that file; its generator is not published.
    This function reproduces its distribution as the lab reports state it, not its points:
    two classes of equal size, class 0 on the circle of radius ``radii[0]``, class 1 on the
    circle of radius ``radii[1]`` (uniform angles, as scikit-learn's ``make_circles`` with
    ``factor=0.5``), plus Gaussian noise of standard deviation ``noise`` on each coordinate.
    The noise is set so the classes overlap as in the reports: the Bayes-optimal accuracy is
    about 94% (computed from the two Rice densities) and a well-trained MLP reaches about
    93.5% on the test points, where :func:`~.synthetic.circles` allows 96-97%.

    Parameters
    ----------
    n_samples : int, default 400
        Total number of points (train + test), at least 2.
    noise : float, default 0.16
        Standard deviation of the Gaussian noise on each coordinate.
    seed : int, numpy.random.Generator or None, default 0
    test_size : float in [0, 1), default 0.5
        Share of points held out as a stratified test set (0.5: 200 / 200 as the practical).
    radii : (float, float), default (0.5, 1.0)
        Radii of the class-0 and class-1 circles, ``0 < radii[0] < radii[1]``.
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        ``name="rdfia_circles"``, ``n_classes=2``, X of shape ``(n, 2)``; the practical's
        one-hot ``Ytrain`` is ``one_hot(d.y_train, 2)``.
    """
    problem = _Problem("rdfia_circles", n_samples, 2, noise, seed, test_size, dtype)
    r0, r1 = _radii(radii)
    rng = problem.rng
    parts = [_polar(np.full(count, r), rng.uniform(0, 2.0 * np.pi, count))
             for r, count in zip((r0, r1), problem.counts)]
    return problem.finish(parts)


def _radii(radii):
    pair = check_pair(radii, "radii", "a pair (r0, r1) of radii")
    r0, r1 = (check_real(r, f"radii[{i}]") for i, r in enumerate(pair))
    if not 0 < r0 < r1:
        raise ValueError(f"radii must have 0 < radii[0] < radii[1]; got {radii!r}")
    return r0, r1


def load_synth(num_train=60_000, num_val=10_000, seed=0):
    """DLVU's synthetic quadratic-form data, exactly as the course's ``load_synth``.

    Source: the VU Amsterdam Deep Learning course (dlvu.github.io), assignment 1, ``data.py``
    (github gist pbloem/bd8348d58251872d9ca10de4816945e4): ``np.random.seed(seed)``, then
    ``num_train + num_val`` standard-normal points ``x`` in 2-D, labelled 1 where
    ``x^T Q x > 0.6`` with ``Q = [[1, -0.05], [1, 0.4]]`` (an ellipse as decision boundary),
    the first ``num_train`` rows for training. The same seed gives the same numbers as the
    original (drawn from ``numpy.random.RandomState(seed)``, which is what
    ``np.random.seed`` seeds), without touching numpy's global random state.

    Parameters
    ----------
    num_train : int > 0, default 60000
    num_val : int >= 0, default 10000
    seed : int >= 0, default 0

    Returns
    -------
    (xtrain, ytrain), (xval, yval), num_cls
        float64 arrays ``(num_train, 2)`` and ``(num_val, 2)``, int64 labels, and 2, as the original.
    """
    num_train = check_positive_int(num_train, "num_train")
    num_val = check_int(num_val, "num_val", low=0)
    seed = check_int(seed, "seed", low=0)
    x = np.random.RandomState(seed).randn(num_train + num_val, 2)
    y = _quadratic_labels(x)
    return (x[:num_train], y[:num_train]), (x[num_train:], y[num_train:]), 2


def _quadratic_labels(x):
    q = np.einsum("bf,fk,bk->b", x, SYNTH_QUADRATIC_FORM, x)
    return (q > SYNTH_THRESHOLD).astype(np.int64)


def synth(n_samples=70_000, seed=0, test_size=1 / 7, *, dtype=np.float32) -> Dataset:
    """:func:`load_synth` as a :class:`Dataset` (the catalog's form).

    The last ``round(n_samples * test_size)`` points are the test (validation) part, as
    ``load_synth(n_samples - n_test, n_test, seed)`` returns them; the defaults are the
    original's 60000 / 10000. An int seed gives the original's numbers; a numpy Generator
    (or None, a fresh one) draws the standard-normal points from it instead.

    Parameters
    ----------
    n_samples : int, default 70000
    seed : int >= 0, numpy.random.Generator or None, default 0
    test_size : float in [0, 1), default 1/7
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        ``name="synth"``, ``n_classes=2``, X of shape ``(n, 2)``.
    """
    n_samples = check_int(n_samples, "n_samples", low=2)
    test_size = check_real(test_size, "test_size", 0, 1, high_open=True)
    dtype = check_dtype(dtype)
    seed = check_seed(seed)
    n_test = int(round(n_samples * test_size))
    if n_samples - n_test < 1:
        raise ValueError(f"test_size {test_size} leaves no training point of {n_samples}")
    if isinstance(seed, int):
        (X, y), (Xt, yt), _ = load_synth(n_samples - n_test, n_test, seed)
    else:
        rng = seed if seed is not None else np.random.default_rng()
        x = rng.standard_normal((n_samples, 2))
        labels = _quadratic_labels(x)
        n_train = n_samples - n_test
        X, y, Xt, yt = x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]
    return Dataset(X.astype(dtype), y, Xt.astype(dtype), yt, "synth", 2)
