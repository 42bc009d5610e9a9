"""fastmlp.files: atomic writes keep the old file on failure, leave no temporary file,
write_once never replaces one,
and create files with the umask's permissions; the cache root follows XDG."""
import contextlib
import os
import stat
from pathlib import Path

import pytest

from fastmlp.files import atomic_file, atomic_write, cache_root, write_once


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_bytes_or_through_a_function(tmp_path):
    assert atomic_write(tmp_path / "a.bin", b"hello") == str(tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == b"hello"
    atomic_write(tmp_path / "a.bin", lambda f: f.write(b"new"))
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old contents")

    def broken(f):
        f.write(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["model.npz"]
    with pytest.raises(KeyboardInterrupt, match="^Ctrl-C while writing$"):  # not only Exceptions: Ctrl-C too
        atomic_write(tmp_path / "new.npz", lambda f: (_ for _ in ()).throw(KeyboardInterrupt("Ctrl-C while writing")))
    assert os.listdir(tmp_path) == ["model.npz"]


def test_failing_rename_leaves_no_temporary(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match=r"Is a directory: .*\.tmp' -> '.*folder'$"):  # os.replace's error
        atomic_write(tmp_path / "folder", b"a folder cannot be replaced by a file")
    assert os.listdir(tmp_path) == ["folder"] and os.listdir(tmp_path / "folder") == []


def test_nothing_replaced_before_every_nested_file_is_written(tmp_path):
    (tmp_path / "a").write_bytes(b"old a")
    with pytest.raises(ValueError, match="second failed"):
        with contextlib.ExitStack() as stack:
            stack.enter_context(atomic_file(tmp_path / "a")).write(b"new a")
            stack.enter_context(atomic_file(tmp_path / "b")).write(b"new b")
            raise ValueError("second failed")
    assert sorted(os.listdir(tmp_path)) == ["a"] and (tmp_path / "a").read_bytes() == b"old a"


def test_new_file_mode_follows_the_umask(tmp_path, umask_022):
    atomic_write(tmp_path / "f", b"x")
    assert _mode(tmp_path / "f") == 0o644
    os.umask(0o077)
    atomic_write(tmp_path / "g", b"x")
    assert _mode(tmp_path / "g") == 0o600
    with open(tmp_path / "h", "wb"):  # exactly what open() gives
        pass
    assert _mode(tmp_path / "g") == _mode(tmp_path / "h")


def test_replacing_keeps_the_mode_of_the_old_file(tmp_path, umask_022):
    target = tmp_path / "shared.txt"
    target.write_bytes(b"old")
    os.chmod(target, 0o664)
    atomic_write(target, b"new")
    assert _mode(target) == 0o664 and target.read_bytes() == b"new"


def test_data_must_be_bytes_or_a_function(tmp_path):
    with pytest.raises(TypeError, match="data must be bytes or a function"):
        atomic_write(tmp_path / "f", "text is not bytes")
    assert os.listdir(tmp_path) == []


def test_cache_root_follows_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "fastmlp"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == Path(tmp_path / "home" / ".cache" / "fastmlp")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == tmp_path / "home" / ".cache" / "fastmlp"


def test_write_once_creates_a_new_file_and_leaves_an_existing_one_untouched(tmp_path):
    path = tmp_path / "record.json"
    assert write_once(path, b"first") is True and path.read_bytes() == b"first"
    assert write_once(path, b"second") is False and path.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]  # no temporary left either way


def test_write_once_into_a_folder_that_cannot_be_created_raises_and_leaves_nothing(tmp_path):
    (tmp_path / "a file").write_bytes(b"x")
    with pytest.raises(OSError):
        write_once(tmp_path / "a file" / "record.json", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a file"]
