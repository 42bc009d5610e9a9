"""The 8x8 handwritten digits bundled with scikit-learn, as a :class:`Dataset`.

scikit-learn is an optional dependency (the ``sklearn`` extra); it is
imported only when :func:`digits` is called.
"""

from __future__ import annotations

import numpy as np

from ..checks import check_dtype, check_real, make_rng
from .base import Dataset
from .preprocessing import split_indices

__all__ = ["digits"]

_INSTALL_HINT = (
    "digits() needs scikit-learn, which is not installed; install it with "
    "`pip install fastmlp[sklearn]` (or `pip install scikit-learn`)"
)


def digits(test_size=0.25, seed=0, *, dtype=np.float32) -> Dataset:
    """Load scikit-learn's 1797 8x8 digit images with a stratified test split.

    Parameters
    ----------
    test_size : float in [0, 1), default 0.25
        Share of images held out, stratified by digit; 0 means no split.
    seed : int, numpy.random.Generator or None, default 0
        Controls the shuffle and split.
    dtype : {numpy.float32, numpy.float64}, default float32

    Returns
    -------
    Dataset
        X of shape ``(n, 64)`` with pixel intensities 0..16 (not rescaled),
        y int64 in 0..9, ``name="digits"``, ``n_classes=10``.

    Raises
    ------
    ImportError
        If scikit-learn is not installed; the message names the extra to install.
    """
    test_size = check_real(test_size, "test_size", 0, 1, high_open=True)
    dtype = check_dtype(dtype)
    rng = make_rng(seed)
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    X, y = load_digits(return_X_y=True)
    X = X.astype(dtype)
    y = y.astype(np.int64)
    if test_size == 0:
        order = rng.permutation(len(y))
        X_train, y_train, X_test, y_test = X[order], y[order], X[:0], y[:0]
    else:
        train_idx, test_idx = split_indices(y, test_size, seed=rng)
        X_train, y_train = X[train_idx], y[train_idx]
        X_test, y_test = X[test_idx], y[test_idx]
    class_names = tuple(str(d) for d in range(10))
    return Dataset(X_train, y_train, X_test, y_test, "digits", 10, class_names)
