"""Datasets for fastmlp: toy 2-D problems, the lab reports' own sets, MNIST-style IDX files,
digits, preprocessing.

Every loader returns a :class:`Dataset` with ``X_train, y_train, X_test,
y_test, name, n_classes`` (and ``class_names`` where known);
:func:`load_dataset` loads any of them by name, scaled for training.  Pure NumPy and
the standard library; scikit-learn is needed only by :func:`digits`.
"""

from .base import Dataset
from .catalog import DATASET_NAMES, SYNTHETIC, load_dataset
from .digits import digits
from .idx import IDXFormatError, read_idx, write_idx
from .labs import load_synth, rdfia_circles, synth
from .mnist import (
    CHECKSUMS,
    FASHION_CLASSES,
    MNIST_CLASSES,
    ChecksumError,
    DownloadError,
    cache_dir,
    dataset_status,
    fashion_mnist,
    find_dataset,
    mnist,
    search_dirs,
)
from .preprocessing import (
    NotFittedError,
    Standardizer,
    one_hot,
    scale_uint8,
    split_indices,
    train_val_split,
)
from .synthetic import blobs, circles, grid, moons, spirals, xor

__all__ = [
    "CHECKSUMS",
    "DATASET_NAMES",
    "FASHION_CLASSES",
    "MNIST_CLASSES",
    "ChecksumError",
    "Dataset",
    "DownloadError",
    "IDXFormatError",
    "NotFittedError",
    "SYNTHETIC",
    "Standardizer",
    "blobs",
    "cache_dir",
    "circles",
    "dataset_status",
    "digits",
    "fashion_mnist",
    "find_dataset",
    "grid",
    "load_dataset",
    "load_synth",
    "mnist",
    "moons",
    "one_hot",
    "rdfia_circles",
    "read_idx",
    "scale_uint8",
    "search_dirs",
    "spirals",
    "split_indices",
    "synth",
    "train_val_split",
    "write_idx",
    "xor",
]
