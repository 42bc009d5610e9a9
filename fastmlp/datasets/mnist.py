"""Finding, downloading and loading MNIST and Fashion-MNIST from their IDX files.

Both datasets ship as the same four files (``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``; uncompressed copies without ``.gz`` are
accepted too).  Folders are searched in this order, and the first folder
holding every needed file wins:

1. ``data_home/<folder>`` then ``data_home``, when ``data_home`` is given;
2. ``$FASTMLP_DATA/<folder>`` then ``$FASTMLP_DATA``, when that variable is set;
3. the user cache ``$XDG_CACHE_HOME/fastmlp/<folder>`` (default
   ``~/.cache/fastmlp/<folder>``);
4. system folders, e.g. ``/usr/share/datasets/fashion-mnist`` from Debian's
   ``dataset-fashion-mnist`` package.

``<folder>`` is ``fashion-mnist`` or ``mnist``.  With ``download=True``
missing files are fetched into ``data_home/<folder>`` (or the user cache),
checked against SHA-256 sums, and only then moved into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checks import check_bool, check_choice, check_path, check_positive_float, check_type
from ..files import atomic_file, cache_root
from .base import Dataset
from .idx import IDXFormatError, read_idx, read_idx_header

__all__ = [
    "CHECKSUMS",
    "ChecksumError",
    "DownloadError",
    "FASHION_CLASSES",
    "MNIST_CLASSES",
    "SYSTEM_DIRS",
    "cache_dir",
    "dataset_status",
    "fashion_mnist",
    "find_dataset",
    "mnist",
    "search_dirs",
]

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))

#: File stems (without ``.gz``) of each split: (images, labels).
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: SHA-256 of the gzipped files as served by each dataset's official host.
#: Files found locally are not checked against these; downloads are.
CHECKSUMS = {
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
}

#: Read-only folders searched last, per dataset.
SYSTEM_DIRS = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),
    "mnist": (),
}


@dataclass(frozen=True)
class _Spec:
    title: str
    folder: str
    base_url: str
    class_names: tuple[str, ...]
    apt_package: str | None


_SPECS = {
    "fashion_mnist": _Spec(
        "Fashion-MNIST",
        "fashion-mnist",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        FASHION_CLASSES,
        "dataset-fashion-mnist",
    ),
    "mnist": _Spec(
        "MNIST",
        "mnist",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        MNIST_CLASSES,
        None,
    ),
}

_KINDS = {"train": ("train",), "test": ("test",), "both": ("train", "test")}
_CHUNK = 1 << 16


class DownloadError(OSError):
    """Raised when a dataset file cannot be fetched."""


class ChecksumError(DownloadError):
    """Raised when a downloaded file's SHA-256 differs from the expected one."""


def cache_dir(name: str) -> Path:
    """The user cache folder of dataset ``name`` (``"fashion_mnist"`` or ``"mnist"``).

    ``$XDG_CACHE_HOME/fastmlp/<folder>``, or ``~/.cache/fastmlp/<folder>``
    when ``XDG_CACHE_HOME`` is unset or empty.
    """
    return cache_root() / _spec(name).folder


def _spec(name: str) -> _Spec:
    return _SPECS[check_choice(name, "dataset", sorted(_SPECS))]


def _check_data_home(data_home):
    data_home = check_path(data_home, "data_home", optional=True)
    return None if data_home is None else Path(data_home)


def search_dirs(name: str, data_home=None) -> list[Path]:
    """Folders searched for dataset ``name``, in order (see the module docstring)."""
    spec = _spec(name)
    data_home = _check_data_home(data_home)
    candidates = []
    if data_home is not None:
        candidates += [data_home / spec.folder, data_home]
    env_root = os.environ.get("FASTMLP_DATA")
    if env_root:
        candidates += [Path(env_root) / spec.folder, Path(env_root)]
    candidates.append(cache_dir(name))
    candidates += [Path(p) for p in SYSTEM_DIRS.get(name, ())]
    unique = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _files_in(folder: Path, splits) -> dict[str, Path] | None:
    found = {}
    for split in splits:
        for stem in SPLIT_FILES[split]:
            path = _file_in(folder, stem)
            if path is None:
                return None
            found[stem] = path
    return found


def find_dataset(name: str, kind: str = "both", data_home=None) -> dict[str, Path] | None:
    """Locate the files of dataset ``name`` needed for ``kind``.

    Parameters
    ----------
    name : {"fashion_mnist", "mnist"}
    kind : {"train", "test", "both"}, default "both"
    data_home : path, optional

    Returns
    -------
    dict or None
        File stem -> path, all from the first searched folder that holds
        every needed file; None when no folder does.
    """
    splits = _check_kind(kind)
    for folder in search_dirs(name, data_home):
        found = _files_in(folder, splits)
        if found is not None:
            return found
    return None


def _check_kind(kind) -> tuple[str, ...]:
    return _KINDS[check_choice(kind, "kind", list(_KINDS))]


def _fetch(url: str, out, expected: str | None, timeout: float) -> None:
    """Stream ``url`` into the binary file ``out`` and check it: its SHA-256 when
    ``expected`` is given, else that it parses as IDX."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"downloading {url} failed: {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise DownloadError(f"downloading {url} failed: {exc}") from exc
    actual = digest.hexdigest()
    if expected is not None and actual != expected.lower():
        raise ChecksumError(
            f"checksum mismatch for {url}: expected SHA-256 {expected.lower()}, got "
            f"{actual}; the file was discarded"
        )
    if expected is None:
        out.flush()
        out.seek(0)
        try:
            read_idx(out)
        except IDXFormatError as exc:
            raise DownloadError(f"{url} is not a valid IDX file: {exc}") from exc


def _download(name, splits, folder: Path, base_url, checksums, timeout) -> None:
    """Fetch the missing files of ``splits`` into ``folder``: all of them or none.

    Each file streams into its own atomic file; they replace their targets
    only once every download succeeded and was verified.
    """
    table = dict(CHECKSUMS[name])
    if checksums is not None:
        table.update(checksums)
    folder.mkdir(parents=True, exist_ok=True)
    base = base_url if base_url.endswith("/") else base_url + "/"
    with contextlib.ExitStack() as pending:
        for split in splits:
            for stem in SPLIT_FILES[split]:
                if _file_in(folder, stem) is None:
                    filename = f"{stem}.gz"
                    out = pending.enter_context(atomic_file(folder / filename))
                    _fetch(base + filename, out, table.get(filename), timeout)


def _not_found_message(name: str, kind: str, data_home) -> str:
    spec = _SPECS[name]
    stems = [stem for split in _KINDS[kind] for stem in SPLIT_FILES[split]]
    places = "\n".join(f"  {p}" for p in search_dirs(name, data_home))
    ways = []
    if spec.apt_package:
        ways.append(f"install Debian's package: apt-get install {spec.apt_package}")
    ways.append(f"pass download=True to fetch it into {cache_dir(name)} (or data_home)")
    ways.append(f"put the files in $FASTMLP_DATA/{spec.folder}")
    how = "\n".join(f"  - {w}" for w in ways)
    return (
        f"{spec.title} not found: no folder holds all of "
        f"{', '.join(s + '[.gz]' for s in stems)}.\nSearched:\n{places}\nTo get it:\n{how}"
    )


def _load_split(files: dict[str, Path], split: str, flatten: bool):
    images_stem, labels_stem = SPLIT_FILES[split]
    images_path, labels_path = files[images_stem], files[labels_stem]
    (images_dtype, images_shape), (labels_dtype, labels_shape) = (
        read_idx_header(images_path), read_idx_header(labels_path))
    # the headers are checked against each other before either body is read
    if images_dtype != np.uint8 or len(images_shape) != 3:
        raise IDXFormatError(
            f"{images_path}: expected uint8 images of shape (n, rows, cols), got "
            f"{images_dtype} {images_shape}"
        )
    if labels_dtype != np.uint8 or len(labels_shape) != 1:
        raise IDXFormatError(
            f"{labels_path}: expected 1-D uint8 labels, got {labels_dtype} {labels_shape}"
        )
    if images_shape[0] != labels_shape[0]:
        raise IDXFormatError(
            f"{images_path} holds {images_shape[0]} images but {labels_path} holds "
            f"{labels_shape[0]} labels"
        )
    images, labels = read_idx(images_path), read_idx(labels_path)
    if labels.size and labels.max() > 9:
        raise IDXFormatError(f"{labels_path}: label {int(labels.max())} is outside 0..9")
    if flatten:
        images = images.reshape(images.shape[0], -1)
    return images, labels.astype(np.int64)


def _empty_like(X: np.ndarray, y: np.ndarray):
    return X[:0].copy(), y[:0].copy()


def _load(name, data_home, download, base_url, kind, flatten, checksums, timeout) -> Dataset:
    spec = _spec(name)
    splits = _check_kind(kind)
    data_home = _check_data_home(data_home)
    download = check_bool(download, "download")
    flatten = check_bool(flatten, "flatten")
    check_type(base_url, "base_url", (str, type(None)), "a str or None")
    check_type(checksums, "checksums", (dict, type(None)), "a dict or None")
    for filename, digest in (checksums or {}).items():
        check_type(digest, f"checksums[{filename!r}]", (str, type(None)), "a hex str or None")
    timeout = check_positive_float(timeout, "timeout")
    files = find_dataset(name, kind, data_home)
    if files is None:
        if not download:
            raise FileNotFoundError(_not_found_message(name, kind, data_home))
        target = data_home / spec.folder if data_home is not None else cache_dir(name)
        _download(name, splits, target, base_url or spec.base_url, checksums, timeout)
        files = _files_in(target, splits)
    loaded = {split: _load_split(files, split, flatten) for split in splits}
    if "train" not in loaded:
        loaded["train"] = _empty_like(*loaded["test"])
    if "test" not in loaded:
        loaded["test"] = _empty_like(*loaded["train"])
    (X_train, y_train), (X_test, y_test) = loaded["train"], loaded["test"]
    return Dataset(X_train, y_train, X_test, y_test, name, 10, spec.class_names)


def fashion_mnist(
    data_home=None,
    download=False,
    base_url=None,
    kind="both",
    flatten=True,
    checksums=None,
    timeout=60.0,
) -> Dataset:
    """Load Fashion-MNIST: 28x28 grey images of 10 clothing classes.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Folder searched first (and ``data_home/fashion-mnist`` before it);
        downloads go to ``data_home/fashion-mnist`` when it is given.
    download : bool, default False
        Fetch the files when no searched folder holds them.
    base_url : str, optional
        Where to download from; defaults to the official
        ``http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/``.
    kind : {"both", "train", "test"}, default "both"
        Which split(s) to load; the other split's arrays are then empty.
    flatten : bool, default True
        Images as rows of 784 values; False keeps shape ``(n, 28, 28)``.
    checksums : dict, optional
        File name (``"train-images-idx3-ubyte.gz"`` ...) -> SHA-256 hex, or
        None to skip verification of that file; overrides :data:`CHECKSUMS`.
    timeout : float, default 60.0
        Seconds to wait on the server per request.

    Returns
    -------
    Dataset
        X uint8 (60000 train / 10000 test rows for the official files), y
        int64, ``n_classes=10``, ``class_names=FASHION_CLASSES``.

    Raises
    ------
    FileNotFoundError
        If the files are not found and ``download`` is False; the message
        lists the folders searched and how to get the data.
    DownloadError, ChecksumError
        If a download fails or does not match its checksum; no partial or
        temporary file is left behind.
    IDXFormatError
        If a file is corrupt.
    """
    return _load("fashion_mnist", data_home, download, base_url, kind, flatten, checksums, timeout)


def mnist(
    data_home=None,
    download=False,
    base_url=None,
    kind="both",
    flatten=True,
    checksums=None,
    timeout=60.0,
) -> Dataset:
    """Load MNIST: 28x28 grey images of handwritten digits 0-9.

    Same parameters, search order and errors as :func:`fashion_mnist`, with
    folder name ``mnist`` and default ``base_url``
    ``https://ossci-datasets.s3.amazonaws.com/mnist/``.

    Returns
    -------
    Dataset
        X uint8, y int64, ``n_classes=10``, ``class_names=MNIST_CLASSES``.
    """
    return _load("mnist", data_home, download, base_url, kind, flatten, checksums, timeout)


def dataset_status(data_home=None) -> dict[str, dict]:
    """Which datasets are available and where, e.g. for ``fastmlp info``.

    Parameters
    ----------
    data_home : path, optional
        Searched first, as in :func:`fashion_mnist`.

    Returns
    -------
    dict
        For ``"fashion_mnist"`` and ``"mnist"``: ``{"available": bool, "path":
        folder or None, "train": folder or None, "test": folder or None,
        "searched": [folders]}`` where ``available`` means both splits were
        found in ``path``.  For ``"digits"``: ``{"available": bool, "path":
        None, "source": "scikit-learn"}``, available when scikit-learn is
        installed.
    """
    status = {}
    for name in _SPECS:
        per_kind = {}
        for kind in ("both", "train", "test"):
            files = find_dataset(name, kind, data_home)
            per_kind[kind] = None if files is None else str(next(iter(files.values())).parent)
        status[name] = {
            "available": per_kind["both"] is not None,
            "path": per_kind["both"],
            "train": per_kind["train"],
            "test": per_kind["test"],
            "searched": [str(p) for p in search_dirs(name, data_home)],
        }
    status["digits"] = {
        "available": importlib.util.find_spec("sklearn") is not None,
        "path": None,
        "source": "scikit-learn",
    }
    return status
