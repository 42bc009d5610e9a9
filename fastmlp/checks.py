"""Every argument check of fastmlp, under one policy.

A wrong *type* raises TypeError, a wrong *value* raises ValueError. Each
message names the argument, says what was expected and shows what was got:
``epochs must be a positive integer; got float 2.5``. Public functions check
their arguments with these, then call private functions that trust them.

- scalars: :func:`check_int`, :func:`check_real`, :func:`check_positive_int`,
  :func:`check_positive_float`, :func:`check_bool`, :func:`check_choice`;
- other arguments: :func:`check_pair`, :func:`check_type`, :func:`check_callable`,
  :func:`check_path`, :func:`check_n_jobs`;
- seeds: :func:`check_seed`, :func:`make_rng`;
- settings: :func:`check_dtype`, :func:`check_int_list`, :func:`check_hidden_sizes`,
  :func:`check_per_layer`, :func:`check_dropout`;
- arrays: :func:`check_matrix`, :func:`check_X` (for a model, warning with
  :class:`UnscaledInputWarning` at the user's line, :func:`user_stacklevel`), :func:`check_targets`;
- weights: :func:`check_sample_weight`, :func:`check_class_weight`.
"""
import math
import numbers
import os
import sys
import warnings

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _got(value):
    """``float 2.5``: the type and the value, for TypeError messages."""
    return f"{type(value).__name__} {value!r}"


def _range(kind, low, high, low_open, high_open):
    """``'an integer >= 1'``, ``'a finite number in [0, 1)'``, ... (``kind`` when unbounded)."""
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return kind


def _inside(v, low, high, low_open, high_open):
    if low is not None and (v <= low if low_open else v < low):
        return False
    return high is None or (v < high if high_open else v <= high)


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


# -- scalars ---------------------------------------------------------------------------------------
def _int(value, name, low, high, what):
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {what}; got {_got(value)}")
    if not _inside(value, low, high, False, False):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return int(value)


def check_int(value, name, low=None, high=None):
    """``value`` as an int; Python and numpy integers only (bools and floats such as 2.0 refused).

    ``low`` and ``high`` are inclusive bounds (None: unbounded). TypeError for
    a non-integer, ValueError for an integer out of bounds.
    """
    return _int(value, name, low, high, _range("an integer", low, high, False, False))


def check_positive_int(value, name):
    """``value`` as an int >= 1 (see :func:`check_int`)."""
    return _int(value, name, 1, None, "a positive integer")


def _real(value, name, low, high, low_open, high_open, finite, what):
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}; got {_got(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the float range
        v = math.inf if value > 0 else -math.inf
    if math.isnan(v) or (finite and math.isinf(v)) or not _inside(v, low, high, low_open, high_open):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return v


def check_real(value, name, low=None, high=None, low_open=False, high_open=False, finite=True):
    """``value`` as a float; any real Python or numpy number (bools refused).

    ``low`` and ``high`` bound it, inclusive unless ``low_open`` /
    ``high_open``. NaN is always refused; infinities unless ``finite=False``.
    TypeError for a non-number, ValueError for a number out of bounds.
    """
    kind = "a finite number" if finite else "a number"
    return _real(value, name, low, high, low_open, high_open, finite, _range(kind, low, high, low_open, high_open))


def check_positive_float(value, name):
    """``value`` as a finite float > 0 (see :func:`check_real`)."""
    return _real(value, name, 0, None, True, False, True, "a positive finite number")


def check_bool(value, name):
    """``value`` as a bool; True/False or numpy bools only (1, 0 and None are refused: TypeError)."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False; got {_got(value)}")
    return bool(value)


def check_choice(value, name, choices):
    """``value`` if it is one of ``choices`` (a sequence, or a dict's keys), else raise.

    TypeError when the choices are all strings (all integers) and ``value`` is
    not a str (an integer; True and False count as 1 and 0, as in Python);
    ValueError for an unknown value. The message lists the choices.
    """
    choices = list(choices)
    for kind, label in ((str, "a str"), (numbers.Integral, "an integer")):
        if choices and all(isinstance(c, kind) for c in choices) and not isinstance(value, kind):
            raise TypeError(f"{name} must be one of {choices} ({label}); got {_got(value)}")
    known = any(_is_same(value, c) for c in choices)
    if not known:
        raise ValueError(f"unknown {name} {value!r}; expected one of {choices}")
    return value


def _is_same(value, choice):
    try:
        return bool(value == choice)
    except (TypeError, ValueError):  # e.g. an array, whose == is element-wise
        return False


def check_pair(value, name, what="a pair"):
    """``value`` as a 2-tuple: TypeError if it is not a sequence (or is text), ValueError for another length.

    ``what`` describes the pair in messages, e.g. ``'a pair (a, b) of numbers'``.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {what}; got {_got(value)}")
    try:
        n = len(value)
    except TypeError:
        raise TypeError(f"{name} must be {what}; got {_got(value)}") from None
    if n != 2:
        raise ValueError(f"{name} must be {what}; got {n} items: {value!r}")
    return tuple(value)


def check_type(value, name, types, what):
    """``value`` if it is an instance of ``types``, else TypeError (``what`` names the expected kind,
    e.g. ``'a str or None'``)."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {what}; got {_got(value)}")
    return value


def check_callable(value, name, what="a function"):
    """``value`` if it can be called, else TypeError (``what`` describes the expected call)."""
    if not callable(value):
        raise TypeError(f"{name} must be {what}; got {_got(value)}")
    return value


def check_path(value, name, optional=False):
    """``value`` as a str path (str or os.PathLike; None too when ``optional``), else TypeError."""
    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)):
        expected = "a path (str or os.PathLike)" + (" or None" if optional else "")
        raise TypeError(f"{name} must be {expected}; got {_got(value)}")
    return os.fspath(value)


def check_n_jobs(n_jobs, name="n_jobs"):
    """A number of worker processes: a positive int, or -1 / None for one per core (returned as that count)."""
    if n_jobs is None or (not _is_bool(n_jobs) and isinstance(n_jobs, numbers.Integral) and n_jobs == -1):
        return os.cpu_count() or 1
    return _int(n_jobs, name, 1, None, "a positive integer, -1 or None")


# -- seeds -----------------------------------------------------------------------------------------
def check_seed(seed, name="seed"):
    """``seed`` as an int >= 0, a numpy Generator (returned as is) or None."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if _is_bool(seed) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0, a numpy.random.Generator or None; got {_got(seed)}")
    if seed < 0:
        raise ValueError(f"{name} must be an integer >= 0, a numpy.random.Generator or None; got {seed!r}")
    return int(seed)


def make_rng(seed, name="seed"):
    """A numpy Generator from a seed accepted by :func:`check_seed`: the Generator itself,
    one seeded by the int, or a freshly seeded one for None."""
    seed = check_seed(seed, name)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# -- settings --------------------------------------------------------------------------------------
def check_dtype(dtype, name="dtype"):
    """``np.dtype(dtype)`` if it is float32 or float64.

    ValueError for another dtype or an unknown dtype name; TypeError for an
    object numpy does not read as a dtype at all.
    """
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        if isinstance(dtype, str):
            raise ValueError(f"{name} must be float32 or float64; got {dtype!r}") from None
        raise TypeError(f"{name} must be float32 or float64 (a dtype or its name); got {_got(dtype)}") from None
    if resolved not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64; got {resolved}")
    return resolved


def check_int_list(value, name, low=None):
    """A tuple of ints (each >= ``low``) from an int, a sequence of ints or text like ``'64,32'``.

    Empty text or an empty sequence gives ``()``. Text that is not integers
    is a ValueError (text is the type expected); other types a TypeError.
    """
    if isinstance(value, str):
        parts = [p for p in value.split(",") if p.strip()]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"{name} must be comma-separated integers; got {value!r}") from None
    elif isinstance(value, numbers.Integral) and not _is_bool(value):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, a sequence of ints or text like '64,32'; "
                        f"got {_got(value)}") from None
    return tuple(check_int(v, f"{name}[{i}]", low=low) for i, v in enumerate(items))


def check_hidden_sizes(value, name="hidden"):
    """Hidden-layer widths: :func:`check_int_list` with every width >= 1; ``()`` is no hidden layer."""
    return check_int_list(value, name, low=1)


def check_per_layer(value, name, n_layers, choices):
    """A tuple of ``n_layers`` choices: one str for every layer, or a sequence of one per layer.

    TypeError for neither a str nor a sequence (or an item that is not a str),
    ValueError for a wrong length or an unknown item (named ``name[i]``).
    """
    if isinstance(value, str):
        return (check_choice(value, name, choices),) * n_layers
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be one of {list(choices)} (a str) or a list of one per layer "
                        f"({n_layers}); got {_got(value)}")
    if len(value) != n_layers:
        raise ValueError(f"{name} must name one choice per layer: {n_layers} names; got {len(value)}: {value!r}")
    return tuple(check_choice(v, f"{name}[{i}]", choices) for i, v in enumerate(value))


def check_dropout(value, n_hidden, name="dropout"):
    """Dropout rates as a tuple of ``n_hidden`` floats in [0, 1), from one rate for every
    hidden layer or a sequence of one rate per hidden layer (None is no dropout).

    A rate above 0 for a network without hidden layers is a ValueError (dropout acts on
    hidden layers only), as is a sequence of the wrong length.
    """
    if value is None:
        return (0.0,) * n_hidden
    if isinstance(value, numbers.Real) or _is_bool(value):
        rate = check_real(value, name, low=0.0, high=1.0, high_open=True)
        if rate > 0 and n_hidden == 0:
            raise ValueError(f"{name} {rate!r} needs hidden layers to act on; this network has none (use 0)")
        return (rate,) * n_hidden
    if isinstance(value, str):
        raise TypeError(f"{name} must be a number in [0, 1) or one per hidden layer; got {_got(value)}")
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a number in [0, 1) or one per hidden layer; got {_got(value)}") from None
    if len(items) != n_hidden:
        raise ValueError(f"{name}: got {len(items)} rates for {n_hidden} hidden layers; give one rate for all "
                         "or one per hidden layer")
    return tuple(check_real(v, f"{name}[{i}]", low=0.0, high=1.0, high_open=True) for i, v in enumerate(items))


# -- arrays ----------------------------------------------------------------------------------------
def _as_array(value, name):
    try:
        return np.asarray(value)
    except Exception as e:  # ragged lists, objects numpy refuses
        raise TypeError(f"{name} could not be converted to an array: {e}") from None


def check_matrix(X, name="X", n_columns=None, min_rows=0):
    """``X`` as a 2-D array of real numbers (its dtype kept: bool, int or float), finite.

    ``n_columns`` (when given) is the required width, ``min_rows`` the
    fewest rows. TypeError for values that are not real numbers.
    """
    X = _as_array(X, name)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}")
    if X.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row{'' if min_rows == 1 else 's'}; got shape {X.shape}")
    if n_columns is not None and X.shape[1] != n_columns:
        raise ValueError(f"{name} must have {n_columns} columns; got shape {X.shape}")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or inf")
    return X


#: |X| above this looks like raw pixel values or unscaled features (see :class:`UnscaledInputWarning`).
UNSCALED_LIMIT = 100.0


class UnscaledInputWarning(UserWarning):
    """Inputs look unscaled (e.g. uint8 pixels 0..255): networks train best on values of order 1.

    Silence it with ``warnings.filterwarnings("ignore", category=fastmlp.checks.UnscaledInputWarning)``.
    """


def user_stacklevel():
    """The ``stacklevel`` for ``warnings.warn`` in the function calling this one that points at
    the first frame outside fastmlp: the user's line, however deep in fastmlp the warning
    arose (``MLP.fit`` -> ``Trainer.fit``, a scikit-learn wrapper, ...)."""
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(2), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame, level = frame.f_back, level + 1
    return level


def ready_rows(X, n_features, dtype):
    """Whether ``X`` is already what :func:`check_X` would return unchanged (an aligned,
    C-contiguous 2-D ndarray of ``dtype`` with ``n_features`` columns and at least one row),
    so that only its values remain to be checked: a backend that ``screens`` counts the
    non-finite and unscaled ones (beyond ``UNSCALED_LIMIT``) while it computes, and any
    found go through ``check_X``, which refuses or warns with its own messages."""
    if type(X) is not np.ndarray:
        return False
    shape = X.shape  # each attribute read once: this runs on every prediction (~0.1 us less)
    if len(shape) != 2 or shape[1] != n_features or not shape[0]:
        return False
    flags = X.flags
    return X.dtype == dtype and flags.c_contiguous and flags.aligned


def check_X(X, n_features, dtype, name="X", count=None):
    """2-D, finite, non-empty, ``n_features`` columns, converted to ``dtype`` (C order).

    Warns (:class:`UnscaledInputWarning`, pointing at the caller's line) when the values
    reach beyond ``UNSCALED_LIMIT`` in magnitude, e.g. uint8 images not divided by 255.

    ``count`` (optional): an engine's ``count_flagged(X, limit)``, which counts in one pass the
    values of an X already in this form (:func:`ready_rows`) that are NaN, inf or beyond
    ``limit`` in magnitude, or returns None to leave them to NumPy's passes here. A count of 0
    returns X as it is; any other looks at X as without ``count``, to refuse or warn.
    """
    if count is not None and ready_rows(X, n_features, dtype) and count(X, UNSCALED_LIMIT) == 0:
        return X
    X = _as_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got {X.ndim}-D array of shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features; the model expects {n_features}")
    if X.dtype.kind == "c":
        raise TypeError(f"{name} has dtype {X.dtype}, which cannot be converted to real {np.dtype(dtype)}")
    given = X.dtype
    if X.dtype.kind not in "biuf":
        try:
            X = X.astype(dtype)
        except (TypeError, ValueError):
            raise TypeError(f"{name} has dtype {X.dtype}, which cannot be converted to {np.dtype(dtype)}") from None
    with np.errstate(over="ignore"):  # values too large for dtype become inf: refused just below
        X = np.ascontiguousarray(X, dtype=dtype)
    if not X.size:
        return X
    # Two passes over X decide both checks: a NaN makes the largest and the smallest value NaN, an
    # inf shows in one of them. np.isfinite(X).all() was a third pass and a mask the size of X
    # (7.8 -> 2.9 ms a fit on 16384 Fashion-MNIST rows, whose epoch trains in about 130 ms).
    high, low = float(X.max()), float(X.min())
    if not (math.isfinite(high) and math.isfinite(low)):
        raise ValueError(f"{name} contains NaN or inf")
    if given.kind != "b":
        top = max(high, -low)
        if top > UNSCALED_LIMIT:
            in_pixel_range = 0 <= low and top <= 255
            if in_pixel_range and given.kind in "iu":
                advice = "divide images by 255 (fastmlp.datasets.scale_uint8(X))"
            else:
                advice = ("standardize the features (fastmlp.datasets.Standardizer().fit_transform(X_train))"
                          + (", or divide pixel values 0..255 by 255" if in_pixel_range else ""))
            warnings.warn(f"{name} looks unscaled: its values reach {top:g} ({given}); networks train poorly on "
                          f"inputs far from order 1: {advice}, and scale the data you predict on the same way",
                          UnscaledInputWarning, stacklevel=user_stacklevel())
    return X


def check_targets(y, arch, n_samples, name="y"):
    """Targets for ``arch``'s loss as (class ids int64 (n,), real targets (n, c)).

    Cross-entropy and softmax_mse take class ids or one-hot rows (turned into ids);
    bce takes 0/1 labels (or probabilities in [0, 1]); multilabel an (n, n_out)
    indicator matrix of 0/1 (or probabilities in [0, 1]); mse takes real values, (n,)
    for one output or (n, n_out).
    """
    y = _as_array(y, name)
    if y.shape[:1] != (n_samples,):
        raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} rows but X has {n_samples} samples")
    empty_t = np.zeros((0, arch.n_out), arch.dtype)
    empty_y = np.zeros(0, np.int64)
    if arch.takes_class_ids:
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
    if arch.loss in ("bce", "multilabel") and ((t < 0) | (t > 1)).any():
        raise ValueError(f"{name} for loss {arch.loss!r} must be 0/1 labels or probabilities in [0, 1]")
    return empty_y, t


def check_sample_weight(sample_weight, n_samples, dtype, name="sample_weight"):
    """Sample weights as a C-contiguous (n,) array of ``dtype``; None gives an empty array
    (unweighted). Real, finite, >= 0 (zeros allowed), and not all 0."""
    if sample_weight is None:
        return np.zeros(0, dtype)
    w = _as_array(sample_weight, name)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {w.dtype}")
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},), one weight per sample; got shape {w.shape}")
    with np.errstate(over="ignore"):
        w = np.ascontiguousarray(w, dtype=dtype)
    if not np.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or inf (or values too large for {np.dtype(dtype).name})")
    if (w < 0).any():
        raise ValueError(f"{name} must be >= 0; got {float(w.min()):g} at index {int(np.argmin(w))}")
    if n_samples and not (w > 0).any():
        raise ValueError(f"{name} are all zero: at least one sample must have a positive weight")
    return w


def check_class_weight(class_weight, n_classes, name="class_weight"):
    """None, 'balanced', or a dict {class id: finite weight >= 0} with ids in [0, n_classes)."""
    if class_weight is None or (isinstance(class_weight, str) and class_weight == "balanced"):
        return class_weight
    if isinstance(class_weight, str):
        raise ValueError(f"{name} must be 'balanced', a dict {{class: weight}} or None; got {class_weight!r}")
    if not isinstance(class_weight, dict):
        raise TypeError(f"{name} must be 'balanced', a dict {{class: weight}} or None; got {_got(class_weight)}")
    out = {}
    for k, v in class_weight.items():
        k = check_int(k, f"{name} key")
        if not 0 <= k < n_classes:
            raise ValueError(f"{name} key {k} is not a class id in [0, {n_classes - 1}]")
        out[k] = check_real(v, f"{name}[{k}]", low=0.0)
    return out


def _class_ids(y, n_classes, name):
    if y.ndim == 2 and y.shape[1] == 1 and n_classes > 1:  # a column of class ids, e.g. y.reshape(-1, 1)
        y = y[:, 0]
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
        labels = "labels such as strings" if y.dtype.kind in "USO" else "values of this kind"
        raise TypeError(f"{name} class ids must be integers; got dtype {y.dtype}: for {labels} use "
                        "fastmlp.sklearn.MLPClassifier, which takes any labels, or encode them first: "
                        "classes, y_ids = numpy.unique(y, return_inverse=True)")
    ids = y.astype(np.int64)
    if ids.min() < 0 or ids.max() >= n_classes:
        hint = ("; labels counted from 1? subtract 1 (y - 1)" if ids.min() == 1 and ids.max() == n_classes else
                f"; the model has {n_classes} outputs: give it {int(ids.max()) + 1} for these labels"
                if ids.min() >= 0 else "")
        raise ValueError(f"{name} class ids must be in [0, {n_classes - 1}]; got values in [{ids.min()}, {ids.max()}]"
                         + hint)
    return np.ascontiguousarray(ids)
