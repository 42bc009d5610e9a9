"""Input checks shared by the model, trainer and estimators.

Each returns arrays ready for the kernels (C-contiguous, the model's dtype)
or raises ValueError/TypeError naming the argument and what was expected.
"""
import numbers

import numpy as np


def _as_array(value, name):
    try:
        return np.asarray(value)
    except Exception as e:  # ragged lists, objects numpy refuses
        raise TypeError(f"{name} could not be converted to an array: {e}") from None


def check_X(X, n_features, dtype, name="X"):
    """2-D, finite, non-empty, ``n_features`` columns, converted to ``dtype`` (C order)."""
    X = _as_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got {X.ndim}-D array of shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features; the model expects {n_features}")
    if X.dtype.kind == "c":
        raise TypeError(f"{name} has dtype {X.dtype}, which cannot be converted to real {np.dtype(dtype)}")
    if X.dtype.kind not in "biuf":
        try:
            X = X.astype(dtype)
        except (TypeError, ValueError):
            raise TypeError(f"{name} has dtype {X.dtype}, which cannot be converted to {np.dtype(dtype)}") from None
    with np.errstate(over="ignore"):  # values too large for dtype become inf: refused just below
        X = np.ascontiguousarray(X, dtype=dtype)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X


def check_targets(y, arch, n_samples, name="y"):
    """Targets for ``arch``'s loss as (class ids int64 (n,), real targets (n, c)).

    Cross-entropy takes class ids or one-hot rows (turned into ids); bce takes
    0/1 labels (or probabilities in [0, 1]); mse takes real values, (n,) for
    one output or (n, n_out).
    """
    y = _as_array(y, name)
    if y.shape[:1] != (n_samples,):
        raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} rows but X has {n_samples} samples")
    empty_t = np.zeros((0, arch.n_out), arch.dtype)
    empty_y = np.zeros(0, np.int64)
    if arch.loss == "cross_entropy":
        return _class_ids(y, arch.n_out, name), empty_t
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != arch.n_out:
        raise ValueError(f"{name} must have shape ({n_samples}, {arch.n_out}) for loss {arch.loss!r}; got {y.shape}")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric for loss {arch.loss!r}; got dtype {y.dtype}")
    t = np.ascontiguousarray(y, dtype=arch.dtype)
    if not np.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    if arch.loss == "bce" and ((t < 0) | (t > 1)).any():
        raise ValueError(f"{name} for loss 'bce' must be 0/1 labels or probabilities in [0, 1]")
    return empty_y, t


def _class_ids(y, n_classes, name):
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise ValueError(f"{name} one-hot rows must have {n_classes} columns; got {y.shape[1]}")
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{name} one-hot rows must be numeric; got dtype {y.dtype}")
        ones = y == 1
        if not (((y == 0) | ones).all() and (ones.sum(axis=1) == 1).all()):
            bad = int(np.flatnonzero(~(((y == 0) | ones).all(axis=1) & (ones.sum(axis=1) == 1)))[0])
            raise ValueError(f"{name} row {bad} is not one-hot (exactly one 1, the rest 0)")
        return np.ascontiguousarray(ones.argmax(axis=1), dtype=np.int64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be class ids (n,) or one-hot rows (n, {n_classes}); got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise ValueError(f"{name} class ids must be integers; got non-integer values")
    elif y.dtype.kind not in "biu":
        raise TypeError(f"{name} class ids must be integers; got dtype {y.dtype}")
    ids = y.astype(np.int64)
    if ids.min() < 0 or ids.max() >= n_classes:
        raise ValueError(f"{name} class ids must be in [0, {n_classes - 1}]; got values in [{ids.min()}, {ids.max()}]")
    return np.ascontiguousarray(ids)


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def check_positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)
