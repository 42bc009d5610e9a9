"""Reading and writing IDX files, the array format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the
number of dimensions), one big-endian uint32 per dimension, then the values
in C order, big-endian.  Files may be gzip-compressed; :func:`read_idx`
detects that from the gzip magic bytes, whatever the file is called.

Reading trusts nothing: the header (magic, dtype code, number of dimensions,
sizes, the total size against ``max_bytes`` and, when the file's size is
known, against what the file can hold) is checked before the body is read,
and the body is read in chunks into an array that grows with the data
actually found, so a small or truncated file cannot make the reader allocate
what its header merely claims; a gzip stream is decompressed only as far as
the header announces (and one byte further, to refuse trailing data).  Any
malformed input raises :class:`IDXFormatError` naming the file.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import struct
import zlib

import numpy as np

from ..checks import check_bool, check_int, check_path
from ..files import atomic_write

__all__ = ["IDX_DTYPES", "IDXFormatError", "MAX_BYTES", "read_idx", "read_idx_header", "write_idx"]

#: IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: Default bound on the size of the array a file may declare (1 GiB: MNIST's
#: largest file is 47 MB, EMNIST's 550 MB); ``read_idx(..., max_bytes=)`` changes it.
MAX_BYTES = 1 << 30
MAX_NDIM = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32  # numpy's limit

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_MAX_RATIO = 1032  # deflate's best ratio: a gzip file never unpacks to more than this many times its size
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
_MAX_DIM = 2**32 - 1
_CHUNK = 1 << 20


class IDXFormatError(ValueError):
    """Raised when bytes are not a well-formed (optionally gzipped) IDX file, or
    declare an array larger than the reader's bound."""


def read_idx(path_or_fileobj, max_bytes=MAX_BYTES) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed.

    Parameters
    ----------
    path_or_fileobj : str, os.PathLike or binary file object
        Compression is detected from the content (gzip magic ``1f 8b``), not
        from the file name.  A file object is read from its current position.
    max_bytes : int, default ``MAX_BYTES`` (1 GiB)
        Largest array (in bytes) the header may declare; a larger one is
        refused before anything is allocated.

    Returns
    -------
    numpy.ndarray
        The stored array in native byte order (e.g. uint8 of shape
        ``(60000, 28, 28)`` for MNIST training images).

    Raises
    ------
    IDXFormatError
        If the content is not a well-formed IDX file, the gzip stream is
        corrupt, or the header declares more than ``max_bytes``.  The message
        names the file.
    FileNotFoundError, PermissionError
        If ``path_or_fileobj`` is a path that cannot be opened.
    TypeError
        If ``path_or_fileobj`` is neither a path nor a binary file object, or
        ``max_bytes`` is not an integer.
    """
    max_bytes = check_int(max_bytes, "max_bytes", low=0)
    with _opened(path_or_fileobj) as (stream, name):
        with _guard(name):
            body, dtype, shape = _open_body(stream, name, max_bytes)
            array = _read_array(body, name, dtype, shape)
    return array


def read_idx_header(path_or_fileobj, max_bytes=MAX_BYTES):
    """The ``(dtype, shape)`` an IDX file declares, checked as :func:`read_idx`
    checks it, without reading the body (a gzip file is decompressed only as far
    as its header).  ``dtype`` is the native-order dtype ``read_idx`` returns.

    Raises as :func:`read_idx` (except for faults in the body, which is not read).
    """
    max_bytes = check_int(max_bytes, "max_bytes", low=0)
    with _opened(path_or_fileobj) as (stream, name):
        with _guard(name):
            _, dtype, shape = _open_body(stream, name, max_bytes)
    return dtype.newbyteorder("="), shape


@contextlib.contextmanager
def _opened(source):
    """``(binary stream, name for messages)``; a path is opened (and closed after),
    a file object is used as it is."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield f, os.fspath(source)
        return
    if not hasattr(source, "read"):
        raise TypeError(
            "path_or_fileobj must be a path or a binary file object, "
            f"got {type(source).__name__}"
        )
    probe = source.read(0)
    if not isinstance(probe, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"path_or_fileobj must be opened in binary mode, read() returned "
            f"{type(probe).__name__}"
        )
    name = getattr(source, "name", None)
    yield source, name if isinstance(name, str) else f"<{type(source).__name__}>"


@contextlib.contextmanager
def _guard(name):
    """Turn the errors of a damaged gzip stream into IDXFormatError."""
    try:
        yield
    except _GZIP_ERRORS as exc:
        raise IDXFormatError(f"{name}: corrupt gzip stream ({exc})") from exc


class _Unread:
    """A binary stream with the bytes already read from it put back in front."""

    def __init__(self, head, stream):
        self._head, self._stream = head, stream

    def read(self, n=-1):
        if not self._head:
            return self._stream.read(n)
        if n is None or n < 0:
            out, self._head = self._head + self._stream.read(), b""
        else:
            out, self._head = self._head[:n], self._head[n:]
        return out


def _remaining(stream):
    """Bytes left in ``stream`` from its position, or None if it cannot seek."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here


def _read_exact(stream, n):
    """Up to ``n`` bytes: fewer only at the end of the stream."""
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _open_body(stream, name, max_bytes):
    """Check the header; return ``(body stream, dtype, shape)`` with the stream at the first value."""
    size = _remaining(stream)
    head = _read_exact(stream, 2)
    body = _Unread(head, stream)
    if head == _GZIP_MAGIC:
        body = gzip.GzipFile(fileobj=body, mode="rb")
    dtype, shape, header_len = _read_header(body, name, max_bytes)
    nbytes = dtype.itemsize * math.prod(shape)
    if size is not None:
        _check_file_size(name, size, head == _GZIP_MAGIC, header_len, nbytes, shape, dtype)
    return body, dtype, shape


def _read_header(stream, name, max_bytes):
    magic = _read_exact(stream, 4)
    if len(magic) < 4:
        raise IDXFormatError(f"{name}: truncated IDX header ({len(magic)} bytes, need 4)")
    zero0, zero1, code, ndim = magic
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(
            f"{name}: bad IDX magic number {magic.hex()} (must start with two zero bytes)"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXFormatError(
            f"{name}: unknown IDX dtype code 0x{code:02X} (expected one of {known})"
        )
    if ndim == 0:
        raise IDXFormatError(f"{name}: IDX header declares 0 dimensions")
    if ndim > MAX_NDIM:
        raise IDXFormatError(
            f"{name}: IDX header declares {ndim} dimensions; numpy arrays have at most {MAX_NDIM}"
        )
    header_len = 4 + 4 * ndim
    dims = _read_exact(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise IDXFormatError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"file has {4 + len(dims)}"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[code]
    # the sizes without their zeros: numpy refuses a shape whose product overflows even if it is empty
    declared = dtype.itemsize * math.prod(max(d, 1) for d in shape)
    if declared > max_bytes:
        raise IDXFormatError(
            f"{name}: IDX header declares shape {shape} of {dtype.name} ({declared} bytes), more than "
            f"max_bytes={max_bytes}; pass a larger max_bytes to read_idx if the file is trusted"
        )
    return dtype, shape, header_len


def _check_file_size(name, size, compressed, header_len, nbytes, shape, dtype):
    """Refuse a header its file cannot satisfy, before the body is read."""
    if compressed:
        if header_len + nbytes > _GZIP_MAX_RATIO * size:
            raise IDXFormatError(
                f"{name}: IDX header declares shape {shape} of {dtype.name} ({nbytes} bytes), more "
                f"than a gzip file of {size} bytes can hold: the header is damaged or hostile"
            )
        return
    if size - header_len < nbytes:
        raise IDXFormatError(
            f"{name}: truncated IDX data: shape {shape} of {dtype.name} needs {nbytes} "
            f"bytes, found {size - header_len}"
        )
    if size - header_len > nbytes:
        raise IDXFormatError(
            f"{name}: {size - header_len - nbytes} trailing bytes after the IDX data of shape {shape}"
        )


def _read_array(body, name, dtype, shape):
    """The values that follow the header, read in chunks into a buffer that grows with the data found."""
    nbytes = dtype.itemsize * math.prod(shape)
    out = np.empty(min(nbytes, _CHUNK), np.uint8)
    filled = 0
    while filled < nbytes:
        chunk = body.read(min(_CHUNK, nbytes - filled))
        if not chunk:
            raise IDXFormatError(
                f"{name}: truncated IDX data: shape {shape} of {dtype.name} needs {nbytes} "
                f"bytes, found {filled}"
            )
        if filled + len(chunk) > out.size:  # grown only for data that arrived, at most twice what arrived
            out.resize(min(max(2 * out.size, filled + len(chunk)), nbytes), refcheck=False)
        out[filled:filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
        filled += len(chunk)
    extra = body.read(1)
    if extra:
        raise IDXFormatError(f"{name}: trailing bytes after the IDX data of shape {shape}")
    array = out.view(dtype).reshape(shape)
    if not dtype.isnative:
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array


def encode_idx(array) -> bytes:

    """Return the uncompressed IDX bytes of ``array``.

    Raises
    ------
    TypeError
        If the dtype has no IDX code (supported: uint8, int8, int16, int32,
        float32, float64).
    ValueError
        If the array has 0 or more than 255 dimensions, or a dimension of
        2**32 or more.
    """
    array = np.asarray(array)
    code = None
    for c, dtype in IDX_DTYPES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            code = c
    if code is None:
        raise TypeError(
            f"array dtype {array.dtype} cannot be stored in IDX; use uint8, int8, "
            "int16, int32, float32 or float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array must have 1 to 255 dimensions, got {array.ndim}")
    if any(d > _MAX_DIM for d in array.shape):
        raise ValueError(f"array dimensions must be < 2**32, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    return header + body


def write_idx(path, array, compress=None) -> None:
    """Write ``array`` as an IDX file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.  The file is first written to a temporary file in the
        same folder and then renamed, so readers never see a partial file.
    array : array_like
        uint8, int8, int16, int32, float32 or float64, 1 to 255 dimensions.
    compress : bool, optional
        Gzip the file.  Defaults to True exactly when ``path`` ends in ``.gz``.

    Raises
    ------
    TypeError, ValueError
        As :func:`encode_idx`; TypeError also for a ``path`` that is not a
        path or a ``compress`` that is not a bool or None.
    """
    path = check_path(path, "path")
    compress = path.endswith(".gz") if compress is None else check_bool(compress, "compress")
    data = encode_idx(array)
    if compress:
        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)
