"""The ``Dataset`` container returned by every loader, and shared argument checks.

Every loader in :mod:`fastmlp.datasets` returns a :class:`Dataset`: a frozen
record of train/test arrays plus the dataset's name and class count.  The
small ``check_*`` helpers here keep argument validation (and its error
messages) identical across the synthetic, IDX and scikit-learn loaders.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Train and test arrays of a classification problem.

    Parameters
    ----------
    X_train, y_train : numpy.ndarray
        Training inputs, shape ``(n_train, ...)``, and integer class ids,
        shape ``(n_train,)``.
    X_test, y_test : numpy.ndarray
        Test inputs and class ids.  When a loader was asked for no test split
        (``test_size=0``) these are empty arrays with ``n_test == 0`` rows and
        the same trailing shape and dtype as the training arrays.
    name : str
        Short identifier such as ``"circles"`` or ``"fashion_mnist"``.
    n_classes : int
        Number of classes; every label lies in ``[0, n_classes)``.
    class_names : tuple of str, optional
        Human-readable name of each class, ``len(class_names) == n_classes``.

    Raises
    ------
    ValueError
        If the arrays' lengths disagree, labels are not 1-D, or
        ``class_names`` has the wrong length.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            X = getattr(self, f"X_{part}")
            y = getattr(self, f"y_{part}")
            if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
                raise TypeError(f"X_{part} and y_{part} must be numpy arrays")
            if X.ndim < 1 or y.ndim != 1:
                raise ValueError(
                    f"y_{part} must be 1-D and X_{part} at least 1-D, got shapes "
                    f"{X.shape} and {y.shape}"
                )
            if X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"X_{part} has {X.shape[0]} rows but y_{part} has {y.shape[0]}"
                )
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise ValueError(
                f"X_train rows have shape {self.X_train.shape[1:]} but X_test rows "
                f"have shape {self.X_test.shape[1:]}"
            )
        if not isinstance(self.n_classes, numbers.Integral) or self.n_classes < 1:
            raise ValueError(f"n_classes must be a positive int, got {self.n_classes!r}")
        if self.class_names is not None and len(self.class_names) != self.n_classes:
            raise ValueError(
                f"class_names has {len(self.class_names)} entries, expected "
                f"n_classes={self.n_classes}"
            )

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples (0 when there is no test split)."""
        return int(self.X_test.shape[0])

    @property
    def n_features(self) -> int:
        """Number of input values per sample (product of the trailing shape)."""
        return int(np.prod(self.X_train.shape[1:], dtype=np.int64))

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_classes={self.n_classes}, "
            f"X_train={self.X_train.shape} {self.X_train.dtype}, "
            f"X_test={self.X_test.shape} {self.X_test.dtype})"
        )


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_nonnegative_float(value, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def check_fraction(value, name: str, allow_zero: bool) -> float:
    """Return ``value`` as a float in ``[0, 1)`` (or ``(0, 1)``), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise ValueError."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"{name} must be float32 or float64, got {dtype!r}") from exc
    if resolved not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {resolved}")
    return resolved


def make_rng(seed, name: str = "seed") -> np.random.Generator:
    """Turn ``seed`` (int >= 0, ``numpy.random.Generator`` or None) into a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"{name} must be an int, a numpy.random.Generator or None, "
            f"got {type(seed).__name__} {seed!r}"
        )
    if seed < 0:
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))
