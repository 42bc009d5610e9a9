"""Tests of the MNIST/Fashion-MNIST loaders (search, download, status) and of digits.

Downloads are tested against a real HTTP server on 127.0.0.1 serving small
generated IDX files; no test touches any other network address.
"""

import functools
import gzip
import hashlib
import http.server
import importlib
import os
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from fastmlp.datasets import (
    CHECKSUMS,
    FASHION_CLASSES,
    ChecksumError,
    Dataset,
    DownloadError,
    IDXFormatError,
    dataset_status,
    fashion_mnist,
    mnist,
    write_idx,
)

# The package re-exports the function ``mnist``, which hides the submodule.
mnist_module = importlib.import_module("fastmlp.datasets.mnist")

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $FASTMLP_DATA, a private user cache, no system folders, no proxies."""
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "fashion_mnist", ())
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "mnist", ())
    return tmp_path


def make_fake(folder, n_train=12, n_test=5, seed=0, gz=True, splits=("train", "test")):
    """Write small MNIST-shaped IDX files into ``folder``; return their arrays."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        arrays[split] = (images, labels)
        if split in splits:
            suffix = ".gz" if gz else ""
            write_idx(folder / f"{STEMS[split][0]}{suffix}", images)
            write_idx(folder / f"{STEMS[split][1]}{suffix}", labels)
    return arrays


def assert_matches(ds, arrays, splits=("train", "test")):
    for split in splits:
        images, labels = arrays[split]
        X, y = (ds.X_train, ds.y_train) if split == "train" else (ds.X_test, ds.y_test)
        np.testing.assert_array_equal(X, images.reshape(len(images), -1))
        np.testing.assert_array_equal(y, labels.astype(np.int64))


# ---- finding local files -------------------------------------------------


@pytest.mark.parametrize("loader, folder", [(fashion_mnist, "fashion-mnist"), (mnist, "mnist")])
def test_loads_from_data_home_and_its_subfolder(isolated, loader, folder):
    arrays = make_fake(isolated / "root")
    ds = loader(data_home=isolated / "root")
    assert isinstance(ds, Dataset)
    assert ds.X_train.shape == (12, 784) and ds.X_train.dtype == np.uint8
    assert ds.y_train.dtype == np.int64 and ds.n_classes == 10
    assert_matches(ds, arrays)
    sub_arrays = make_fake(isolated / "root" / folder, seed=1)
    assert_matches(loader(data_home=str(isolated / "root")), sub_arrays)


def test_class_names():
    assert FASHION_CLASSES == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )


def test_fashion_and_mnist_class_names_on_datasets(isolated):
    make_fake(isolated / "d")
    assert fashion_mnist(data_home=isolated / "d").class_names == FASHION_CLASSES
    assert mnist(data_home=isolated / "d").class_names == tuple("0123456789")


def test_uncompressed_files_and_unflattened_images(isolated):
    arrays = make_fake(isolated / "raw", gz=False)
    ds = mnist(data_home=isolated / "raw", flatten=False)
    assert ds.X_train.shape == (12, 28, 28) and ds.n_features == 784
    np.testing.assert_array_equal(ds.X_test, arrays["test"][0])


def test_search_order(isolated, monkeypatch):
    system = make_fake(isolated / "system", seed=1)
    monkeypatch.setitem(mnist_module.SYSTEM_DIRS, "fashion_mnist", (str(isolated / "system"),))
    assert_matches(fashion_mnist(), system)
    cache = make_fake(isolated / "xdg-cache" / "fastmlp" / "fashion-mnist", seed=2)
    assert_matches(fashion_mnist(), cache)
    env_root = make_fake(isolated / "env", seed=3)
    monkeypatch.setenv("FASTMLP_DATA", str(isolated / "env"))
    assert_matches(fashion_mnist(), env_root)
    env_sub = make_fake(isolated / "env" / "fashion-mnist", seed=4)
    assert_matches(fashion_mnist(), env_sub)
    explicit = make_fake(isolated / "explicit", seed=5)
    assert_matches(fashion_mnist(data_home=isolated / "explicit"), explicit)
    # A folder holding only some of the files is skipped as a whole.
    make_fake(isolated / "partial", seed=6, splits=("train",))
    assert_matches(fashion_mnist(data_home=isolated / "partial"), env_sub)


def test_user_cache_defaults_to_home_dot_cache(isolated, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(isolated / "home"))
    arrays = make_fake(isolated / "home" / ".cache" / "fastmlp" / "mnist")
    assert_matches(mnist(), arrays)


@pytest.mark.parametrize("kind, present", [("train", "train"), ("test", "test")])
def test_single_split(isolated, kind, present):
    arrays = make_fake(isolated / "d", splits=(present,))
    ds = mnist(data_home=isolated / "d", kind=kind)
    assert_matches(ds, arrays, splits=(present,))
    empty_X = ds.X_test if kind == "train" else ds.X_train
    empty_y = ds.y_test if kind == "train" else ds.y_train
    assert empty_X.shape == (0, 784) and empty_X.dtype == np.uint8
    assert empty_y.shape == (0,) and empty_y.dtype == np.int64
    with pytest.raises(FileNotFoundError, match=r"^MNIST not found: no folder holds all of .*t10k-images-idx3-ubyte"):
        mnist(data_home=isolated / "d", kind="both")


def test_not_found_message_lists_places_and_remedies(isolated, monkeypatch):
    monkeypatch.setenv("FASTMLP_DATA", str(isolated / "env"))
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist(data_home=isolated / "nowhere")
    message = str(info.value)
    for place in (
        isolated / "nowhere" / "fashion-mnist",
        isolated / "nowhere",
        isolated / "env" / "fashion-mnist",
        isolated / "env",
        isolated / "xdg-cache" / "fastmlp" / "fashion-mnist",
    ):
        assert str(place) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message
    with pytest.raises(FileNotFoundError, match="download=True"):
        mnist()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"kind": "validation"}, ValueError,
         r"^unknown kind 'validation'; expected one of \['train', 'test', 'both'\]$"),
        ({"flatten": 1}, TypeError, r"^flatten must be True or False; got int 1$"),
        ({"data_home": 3}, TypeError, r"^data_home must be a path \(str or os.PathLike\) or None; got int 3$"),
        ({"base_url": b"http://x/"}, TypeError, r"^base_url must be a str or None; got bytes b'http://x/'$"),
        ({"checksums": ["abc"]}, TypeError, r"^checksums must be a dict or None; got list \['abc'\]$"),
        ({"checksums": {"train-images-idx3-ubyte.gz": 5}}, TypeError,
         r"^checksums\['train-images-idx3-ubyte.gz'\] must be a hex str or None; got int 5$"),
    ],
)
def test_argument_validation(isolated, kwargs, error, match):
    with pytest.raises(error, match=match):
        mnist(**kwargs)


def test_inconsistent_files_raise_format_errors(isolated):
    folder = isolated / "d"
    make_fake(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="5 images.*4 labels"):
        mnist(data_home=folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(5, 10, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match=r"t10k-labels-idx1-ubyte\.gz: label 10 is outside 0\.\.9$"):
        mnist(data_home=folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.int32))
    with pytest.raises(IDXFormatError, match=r"t10k-labels-idx1-ubyte\.gz: expected 1-D uint8 labels, got int32 \(5,\)$"):
        mnist(data_home=folder)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 784), dtype=np.uint8))
    with pytest.raises(IDXFormatError, match=r"t10k-images-idx3-ubyte\.gz: expected uint8 images of shape \(n, rows, cols\), "
                                             r"got uint8 \(5, 784\)$"):
        mnist(data_home=folder, kind="test")


def test_headers_are_checked_against_each_other_before_any_body_is_read(isolated):
    folder = isolated / "d"
    make_fake(folder)
    # images: a header announcing 5 images of 28x28 then a body cut short; labels: 4 of them
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(struct.pack(">IIII", 2051, 5, 28, 28) + bytes(100)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="5 images.*4 labels"):
        mnist(data_home=folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="t10k-images.*truncated IDX data"):
        mnist(data_home=folder)


# ---- downloading from a local HTTP server ----------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path / 'served'`` on 127.0.0.1; yields (folder, base_url)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}/files"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _serve_fake(served, seed=0):
    arrays = make_fake(served / "files", seed=seed)
    sums = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (served / "files").iterdir()
    }
    return arrays, sums


def test_download_success_writes_files_and_loads(isolated, server):
    served, base_url = server
    arrays, sums = _serve_fake(served)
    ds = fashion_mnist(data_home=isolated / "home", download=True, base_url=base_url, checksums=sums)
    assert_matches(ds, arrays)
    target = isolated / "home" / "fashion-mnist"
    assert sorted(os.listdir(target)) == sorted(sums)
    for name, digest in sums.items():
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == digest
    # Now found locally: no server needed, no download attempted.
    assert_matches(fashion_mnist(data_home=isolated / "home", base_url="http://127.0.0.1:9/"), arrays)


def test_download_goes_to_user_cache_without_data_home(isolated, server):
    served, base_url = server
    arrays, sums = _serve_fake(served)
    ds = mnist(download=True, base_url=base_url + "/", checksums=sums, kind="test")
    assert_matches(ds, arrays, splits=("test",))
    cache = isolated / "xdg-cache" / "fastmlp" / "mnist"
    assert sorted(os.listdir(cache)) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert dataset_status()["mnist"]["test"] == str(cache)


def test_download_fetches_only_missing_files(isolated, server):
    served, base_url = server
    arrays, sums = _serve_fake(served)
    target = isolated / "home" / "mnist"
    target.mkdir(parents=True)
    for stem in STEMS["train"]:
        os.replace(served / "files" / f"{stem}.gz", target / f"{stem}.gz")
    ds = mnist(data_home=isolated / "home", download=True, base_url=base_url, checksums=sums)
    assert_matches(ds, arrays)


def test_wrong_checksum_raises_and_leaves_nothing(isolated, server):
    served, base_url = server
    _, sums = _serve_fake(served)
    sums["t10k-labels-idx1-ubyte.gz"] = "0" * 64
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz.*0000") as info:
        fashion_mnist(data_home=isolated / "home", download=True, base_url=base_url, checksums=sums)
    assert isinstance(info.value, OSError)
    assert os.listdir(isolated / "home" / "fashion-mnist") == []


def test_default_checksum_table_rejects_other_files(isolated, server):
    served, base_url = server
    _serve_fake(served)
    with pytest.raises(ChecksumError, match=CHECKSUMS["mnist"]["train-images-idx3-ubyte.gz"]):
        mnist(download=True, base_url=base_url)
    assert os.listdir(isolated / "xdg-cache" / "fastmlp" / "mnist") == []


def test_http_404_raises_clear_error_and_leaves_nothing(isolated, server):
    served, base_url = server
    _, sums = _serve_fake(served)
    (served / "files" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        mnist(data_home=isolated / "home", download=True, base_url=base_url, checksums=sums)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)
    assert os.listdir(isolated / "home" / "mnist") == []


def test_unverified_download_must_still_be_idx(isolated, server):
    served, base_url = server
    _, sums = _serve_fake(served)
    (served / "files" / "train-labels-idx1-ubyte.gz").write_bytes(b"<html>not found</html>")
    unverified = dict.fromkeys(sums)
    with pytest.raises(DownloadError, match="not a valid IDX"):
        mnist(data_home=isolated / "home", download=True, base_url=base_url, checksums=unverified)
    assert os.listdir(isolated / "home" / "mnist") == []


def test_unreachable_server_raises_download_error(isolated):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}"):
        mnist(data_home=isolated / "home", download=True, base_url=f"http://127.0.0.1:{port}/", timeout=5)
    assert os.listdir(isolated / "home" / "mnist") == []


# ---- status --------------------------------------------------------------


def test_dataset_status(isolated):
    make_fake(isolated / "home" / "fashion-mnist")
    make_fake(isolated / "home" / "mnist", splits=("train",))
    status = dataset_status(data_home=isolated / "home")
    fashion = status["fashion_mnist"]
    assert fashion["available"] is True
    assert fashion["path"] == fashion["train"] == fashion["test"] == str(isolated / "home" / "fashion-mnist")
    assert status["mnist"]["available"] is False and status["mnist"]["path"] is None
    assert status["mnist"]["train"] == str(isolated / "home" / "mnist")
    assert status["mnist"]["test"] is None
    assert str(isolated / "xdg-cache" / "fastmlp" / "mnist") in status["mnist"]["searched"]
    assert set(status["digits"]) == {"available", "path", "source"}


# ---- the real files from Debian's dataset-fashion-mnist ---------------------

needs_debian = pytest.mark.skipif(
    not all((DEBIAN_DIR / f"{s}.gz").is_file() for pair in STEMS.values() for s in pair),
    reason="Debian's dataset-fashion-mnist is not installed",
)


@needs_debian
def test_real_fashion_mnist_from_debian(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ds = fashion_mnist()
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    assert ds.X_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 1000))
    assert ds.X_train.max() == 255 and ds.X_train.min() == 0
    assert dataset_status()["fashion_mnist"]["path"] == str(DEBIAN_DIR)


# Debian's files hold the official deflate streams, but their gzip headers were
# rewritten (file name dropped, time stamp changed).  Rebuilding the official
# header from these (name, mtime) pairs must give the official SHA-256 sums.
_OFFICIAL_GZIP_MTIME = {
    "train-images-idx3-ubyte": 1504176606,
    "train-labels-idx1-ubyte": 1504176606,
    "t10k-images-idx3-ubyte": 1504176627,
    "t10k-labels-idx1-ubyte": 1504176627,
}


@needs_debian
@pytest.mark.parametrize("stem", sorted(_OFFICIAL_GZIP_MTIME))
def test_fashion_checksum_table_matches_debian_payload(stem):
    debian = (DEBIAN_DIR / f"{stem}.gz").read_bytes()
    assert debian[:4] == b"\x1f\x8b\x08\x00", "expected a gzip header without a file name"
    official = (
        b"\x1f\x8b\x08\x08"
        + struct.pack("<I", _OFFICIAL_GZIP_MTIME[stem])
        + b"\x00\x03"
        + stem.encode()
        + b"\x00"
        + debian[10:]
    )
    assert hashlib.sha256(official).hexdigest() == CHECKSUMS["fashion_mnist"][f"{stem}.gz"]


# ---- digits (scikit-learn) -------------------------------------------------


def test_digits_without_sklearn_names_the_extra(monkeypatch):
    from fastmlp.datasets import digits

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install fastmlp\[sklearn\]"):
        digits()


def test_digits_split_and_values():
    pytest.importorskip("sklearn")
    from fastmlp.datasets import digits

    ds = digits()
    assert ds.name == "digits" and ds.n_classes == 10
    assert ds.n_train + ds.n_test == 1797
    assert ds.X_train.shape[1] == 64 and ds.X_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64
    assert ds.X_train.min() == 0 and ds.X_train.max() == 16
    train_counts = np.bincount(ds.y_train, minlength=10)
    test_counts = np.bincount(ds.y_test, minlength=10)
    share = test_counts / (train_counts + test_counts)
    np.testing.assert_allclose(share, 0.25, atol=0.02)
    again = digits()
    np.testing.assert_array_equal(ds.X_test, again.X_test)
    assert not np.array_equal(ds.y_train, digits(seed=1).y_train)


def test_digits_options():
    pytest.importorskip("sklearn")
    from fastmlp.datasets import digits

    whole = digits(test_size=0, dtype=np.float64)
    assert whole.n_train == 1797 and whole.n_test == 0 and whole.X_test.shape == (0, 64)
    assert whole.X_train.dtype == np.float64
    with pytest.raises(ValueError, match=r"^test_size must be a finite number in \[0, 1\); got 1.0$"):
        digits(test_size=1.0)
