"""Files on disk: atomic writes and the cache folder, the one copy of each.

An atomic write goes to a temporary file in the target's folder, is flushed
to disk, then renamed over the target with ``os.replace``: a reader sees the
old file or the new one, never a part. On any error the old file stays as it
was and the temporary file is removed. The new file gets the permissions
``open()`` would give it (0666 minus the umask, or the mode of the file it
replaces), not tempfile's 0600.

Standard library only: the kernels' configuration imports this before Numba
compiles anything.
"""
import contextlib
import os
import pathlib
import secrets
import stat


def cache_root():
    """fastmlp's user cache folder: ``$XDG_CACHE_HOME/fastmlp``, or ``~/.cache/fastmlp``
    when ``XDG_CACHE_HOME`` is unset or empty. Not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "fastmlp"


@contextlib.contextmanager
def atomic_file(path):
    """A new binary file (``'w+b'``) that replaces ``path`` when the ``with`` block ends without error.

    On an exception in the block (or while writing to disk) the file is
    removed and ``path`` is untouched. Several of these nested (e.g. in a
    ``contextlib.ExitStack``) replace their targets only once all blocks succeed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_beside(path, folder)
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_folder(folder)


def atomic_write(path, data):
    """Write ``path`` atomically; returns ``path`` as a str.

    Parameters
    ----------
    path : str or os.PathLike
        The target; its folder must exist.
    data : bytes-like, or a function ``f(file)``
        The file's bytes, or a function that writes them to the binary file
        object it is given (``lambda f: np.savez(f, **arrays)``).
    """
    if not (callable(data) or isinstance(data, (bytes, bytearray, memoryview))):
        raise TypeError(f"data must be bytes or a function of a binary file; got {type(data).__name__}")
    with atomic_file(path) as f:
        if callable(data):
            data(f)
        else:
            f.write(data)
    return os.fspath(path)


def write_once(path, data):
    """Create ``path`` with the bytes ``data`` unless it exists: True when this call created it, False when
    the file was there (its contents untouched). Written beside it first and then linked into place, so a
    reader sees the whole file or none, and of two processes writing at once exactly one creates it. Its
    folder must exist; an ``OSError`` other than the file existing (a read-only folder) is raised."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_beside(path, folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _sync_folder(folder)
    return True


def _create_beside(path, folder):
    """Open a new uniquely named file in ``folder`` as ``open()`` creates files: mode 0666
    minus the umask (the kernel applies it), or the mode of an existing ``path``."""
    name = os.path.basename(path)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
    except FileNotFoundError:
        pass
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def _sync_folder(folder):
    """Flush the rename to disk (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
