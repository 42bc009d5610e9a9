"""The ``Dataset`` container returned by every loader.

Every loader in :mod:`fastmlp.datasets` returns a :class:`Dataset`: a frozen
record of train/test arrays plus the dataset's name and class count.
Loaders check their arguments with :mod:`fastmlp.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_int

__all__ = ["Dataset"]


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
    TypeError
        If an array is not a numpy array or ``n_classes`` is not an integer.
    ValueError
        If the arrays' lengths disagree, labels are not 1-D, ``n_classes``
        is below 1, or ``class_names`` has the wrong length.
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
        check_int(self.n_classes, "n_classes", low=1)
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
