"""Turning raw dataset arrays into network inputs: scaling, standardizing, one-hot, splits.

Everything here is plain NumPy.  ``split_indices`` is the single splitting
routine of the package: the synthetic and digits loaders use it for their
test split, and :func:`train_val_split` uses it for validation splits.
"""

from __future__ import annotations

import math

import numpy as np

from ..checks import check_bool, check_dtype, check_int, check_matrix, check_real, make_rng

__all__ = [
    "NotFittedError",
    "Standardizer",
    "one_hot",
    "scale_uint8",
    "split_indices",
    "train_val_split",
]


class NotFittedError(ValueError):
    """Raised when a :class:`Standardizer` is used before :meth:`Standardizer.fit`."""


def scale_uint8(X, dtype=np.float32) -> np.ndarray:
    """Map uint8 pixel values 0..255 to floats in [0, 1].

    Parameters
    ----------
    X : numpy.ndarray of uint8
        Any shape.
    dtype : {numpy.float32, numpy.float64}, default float32
        Output dtype.

    Returns
    -------
    numpy.ndarray
        ``X / 255`` with the same shape as ``X``.

    Raises
    ------
    TypeError
        If ``X`` is not a uint8 array.
    ValueError
        If ``dtype`` is not float32 or float64.
    """
    dtype = check_dtype(dtype)
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8:
        got = X.dtype if isinstance(X, np.ndarray) else type(X).__name__
        raise TypeError(f"X must be a uint8 numpy array, got {got}")
    return X.astype(dtype) / dtype.type(255)


class Standardizer:
    """Per-feature standardization ``(X - mean) / std`` fitted on training data.

    Features with zero standard deviation (constant columns, e.g. always-black
    border pixels) get a scale of 1, so they map to 0 instead of NaN.

    Parameters
    ----------
    dtype : {None, numpy.float32, numpy.float64}, default None
        Dtype of transformed arrays.  ``None`` keeps a float input's dtype
        and turns integer inputs into float64.

    Attributes
    ----------
    mean_ : numpy.ndarray of float64, shape (n_features,)
    scale_ : numpy.ndarray of float64, shape (n_features,)
        Standard deviation of each feature, with zeros replaced by 1.
    n_features_ : int
    """

    def __init__(self, dtype=None):
        self.dtype = None if dtype is None else check_dtype(dtype)
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_features_: int | None = None

    def _out_dtype(self, X: np.ndarray) -> np.dtype:
        if self.dtype is not None:
            return self.dtype
        return X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)

    def _check_fitted(self, X, name: str) -> np.ndarray:
        if self.mean_ is None:
            raise NotFittedError("Standardizer is not fitted yet: call fit(X_train) first")
        X = check_matrix(X, name)
        if X.shape[1] != self.n_features_:
            raise ValueError(
                f"{name} has {X.shape[1]} features but the Standardizer was fitted "
                f"on {self.n_features_}"
            )
        return X

    def fit(self, X) -> "Standardizer":
        """Learn each feature's mean and standard deviation from ``X``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data; at least one row, finite values.

        Returns
        -------
        Standardizer
            ``self``.
        """
        X = check_matrix(X, "X", min_rows=1)
        X64 = X.astype(np.float64, copy=False)
        mean = X64.mean(axis=0)
        std = X64.std(axis=0)
        # A relative threshold treats round-off noise on constant columns as 0.
        tiny = np.finfo(np.float64).eps * 16 * np.maximum(np.abs(mean), 1.0)
        self.mean_ = mean
        self.scale_ = np.where(std > tiny, std, 1.0)
        self.n_features_ = int(X.shape[1])
        return self

    def transform(self, X) -> np.ndarray:
        """Return ``(X - mean_) / scale_``.

        Raises
        ------
        NotFittedError
            If called before :meth:`fit`.
        ValueError
            If ``X`` has a different number of features than the fitted data.
        """
        X = self._check_fitted(X, "X")
        out = (X.astype(np.float64, copy=False) - self.mean_) / self.scale_
        return out.astype(self._out_dtype(X), copy=False)

    def fit_transform(self, X) -> np.ndarray:
        """Fit on ``X`` and return its standardized copy."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Undo :meth:`transform`: return ``Z * scale_ + mean_``."""
        Z = self._check_fitted(Z, "Z")
        out = Z.astype(np.float64, copy=False) * self.scale_ + self.mean_
        return out.astype(self._out_dtype(Z), copy=False)

    def __repr__(self) -> str:
        state = "unfitted" if self.mean_ is None else f"n_features={self.n_features_}"
        return f"Standardizer({state})"


def one_hot(y, n_classes=None, dtype=np.float32) -> np.ndarray:
    """Encode integer class ids as one-hot rows.

    Parameters
    ----------
    y : array_like of int, shape (n_samples,)
        Class ids, each in ``[0, n_classes)``.
    n_classes : int, optional
        Number of columns.  Defaults to ``y.max() + 1``.
    dtype : numpy dtype, default float32
        Output dtype.

    Returns
    -------
    numpy.ndarray, shape (n_samples, n_classes)

    Raises
    ------
    TypeError
        If ``y`` is not integer-valued or ``n_classes`` is not an int.
    ValueError
        If ``y`` is not 1-D, has negative ids or ids >= ``n_classes``, or is
        empty while ``n_classes`` is not given.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class ids, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if n_classes is None:
        if y.size == 0:
            raise ValueError("n_classes must be given when y is empty")
        n_classes = int(y.max()) + 1
    else:
        n_classes = check_int(n_classes, "n_classes", low=1)
    if y.size and y.min() < 0:
        raise ValueError(f"y must be non-negative, found {int(y.min())}")
    if y.size and y.max() >= n_classes:
        raise ValueError(f"y has class id {int(y.max())}, which is >= n_classes={n_classes}")
    out = np.zeros((y.shape[0], int(n_classes)), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def _stratified_counts(counts: np.ndarray, n_val: int) -> np.ndarray:
    """Split ``n_val`` over classes proportionally, leaving >= 1 per class in train.

    Each class gets ``floor`` or ``ceil`` of its exact share (largest
    remainder first, ties to the class listed first), capped at its size - 1.
    """
    ideal = counts * (n_val / counts.sum())
    cap = counts - 1
    take = np.minimum(np.floor(ideal).astype(np.int64), cap)
    ceiling = np.minimum(np.ceil(ideal).astype(np.int64), cap)
    missing = n_val - int(take.sum())
    for c in np.argsort(-(ideal - take), kind="stable"):
        if missing == 0:
            break
        if take[c] < ceiling[c]:
            take[c] += 1
            missing -= 1
    return take


def split_indices(y, fraction, seed=0, stratify=True):
    """Shuffle sample indices into a train part and a held-out part.

    The held-out part has ``ceil(fraction * n)`` samples (at most n - 1).  With
    ``stratify=True`` each class contributes its proportional share of that
    total, rounded down or up, and keeps at least one sample in train (so a
    class with a single sample stays in train); when that cap binds, the
    held-out part is correspondingly smaller.

    Parameters
    ----------
    y : array_like, shape (n_samples,)
        Labels (only used for stratification and the sample count).
    fraction : float in (0, 1)
        Share of samples to hold out.
    seed : int, numpy.random.Generator or None, default 0
    stratify : bool, default True

    Returns
    -------
    train_idx, held_idx : numpy.ndarray of int64
        Disjoint, shuffled index arrays that together cover ``range(n)``.

    Raises
    ------
    ValueError
        If ``fraction`` is outside (0, 1), there are fewer than 2 samples, or
        the split would leave either part empty.
    """
    fraction = check_real(fraction, "fraction", 0, 1, low_open=True, high_open=True)
    rng = make_rng(seed)
    stratify = check_bool(stratify, "stratify")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    n = y.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples to split, got {n}")
    # The small tolerance keeps e.g. 0.3 * 10 = 3.0000000000000004 at 3.
    n_held = min(max(math.ceil(fraction * n - 1e-9), 1), n - 1)
    if not stratify:
        perm = rng.permutation(n)
        return perm[n_held:].astype(np.int64), perm[:n_held].astype(np.int64)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    take = _stratified_counts(counts, n_held)
    if take.sum() == 0:
        raise ValueError(
            f"a stratified split with fraction={fraction} holds out no sample: every "
            f"one of the {len(classes)} classes is too small; use more data, a larger "
            "fraction, or stratify=False"
        )
    train_parts, held_parts = [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        held_parts.append(members[: take[c]])
        train_parts.append(members[take[c]:])
    train_idx = rng.permutation(np.concatenate(train_parts)).astype(np.int64)
    held_idx = rng.permutation(np.concatenate(held_parts)).astype(np.int64)
    return train_idx, held_idx


def train_val_split(X, y, val_fraction=0.1, seed=0, stratify=True):
    """Split ``(X, y)`` into training and validation parts.

    Parameters
    ----------
    X : array_like, shape (n_samples, ...)
    y : array_like, shape (n_samples,)
    val_fraction : float in (0, 1), default 0.1
        Share of samples put in the validation part (rounded up).
    seed : int, numpy.random.Generator or None, default 0
    stratify : bool, default True
        Keep class proportions in both parts; every class with >= 2 samples
        keeps at least one sample in train.

    Returns
    -------
    X_train, y_train, X_val, y_val : numpy.ndarray

    Raises
    ------
    ValueError
        If ``val_fraction`` is outside (0, 1), ``X`` and ``y`` lengths
        differ, or the split would leave a part empty.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if X.ndim < 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X has shape {X.shape} but y has {y.shape[0]} samples")
    check_real(val_fraction, "val_fraction", 0, 1, low_open=True, high_open=True)
    train_idx, val_idx = split_indices(y, val_fraction, seed=seed, stratify=stratify)
    return X[train_idx], y[train_idx], X[val_idx], y[val_idx]
