"""Reading and writing IDX files, the array format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the
number of dimensions), one big-endian uint32 per dimension, then the values
in C order, big-endian.  Files may be gzip-compressed; :func:`read_idx`
detects that from the gzip magic bytes, whatever the file is called.  Any
malformed input raises :class:`IDXFormatError` naming the file.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from ..checks import check_bool, check_path
from ..files import atomic_write

__all__ = ["IDX_DTYPES", "IDXFormatError", "read_idx", "write_idx"]

#: IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIM = 2**32 - 1


class IDXFormatError(ValueError):
    """Raised when bytes are not a well-formed (optionally gzipped) IDX file."""


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def _read_bytes(source) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return f.read()
    if hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"path_or_fileobj must be opened in binary mode, read() returned "
                f"{type(data).__name__}"
            )
        return bytes(data)
    raise TypeError(
        "path_or_fileobj must be a path or a binary file object, "
        f"got {type(source).__name__}"
    )


def _decompress(raw: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXFormatError(f"{name}: corrupt gzip stream ({exc})") from exc


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes into a native-endian array.

    Parameters
    ----------
    data : bytes
        The whole file content, already decompressed.
    name : str
        Used in error messages.

    Returns
    -------
    numpy.ndarray
        A writable array of the stored shape and dtype, native byte order.

    Raises
    ------
    IDXFormatError
        On a bad magic number, unknown dtype code, zero dimensions, or data
        that is shorter or longer than the header announces.
    """
    if len(data) < 4:
        raise IDXFormatError(f"{name}: truncated IDX header ({len(data)} bytes, need 4)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(
            f"{name}: bad IDX magic number {data[:4].hex()} (must start with two zero bytes)"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXFormatError(
            f"{name}: unknown IDX dtype code 0x{code:02X} (expected one of {known})"
        )
    if ndim == 0:
        raise IDXFormatError(f"{name}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = dtype.itemsize
    for d in shape:
        expected *= d
    actual = len(data) - header_len
    if actual < expected:
        raise IDXFormatError(
            f"{name}: truncated IDX data: shape {shape} of {dtype.name} needs {expected} "
            f"bytes, found {actual}"
        )
    if actual > expected:
        raise IDXFormatError(
            f"{name}: {actual - expected} trailing bytes after the IDX data of shape {shape}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path_or_fileobj) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed.

    Parameters
    ----------
    path_or_fileobj : str, os.PathLike or binary file object
        Compression is detected from the content (gzip magic ``1f 8b``), not
        from the file name.

    Returns
    -------
    numpy.ndarray
        The stored array in native byte order (e.g. uint8 of shape
        ``(60000, 28, 28)`` for MNIST training images).

    Raises
    ------
    IDXFormatError
        If the content is not a well-formed IDX file or the gzip stream is
        corrupt.  The message names the file.
    FileNotFoundError, PermissionError
        If ``path_or_fileobj`` is a path that cannot be opened.
    TypeError
        If ``path_or_fileobj`` is neither a path nor a binary file object.
    """
    name = _source_name(path_or_fileobj)
    raw = _read_bytes(path_or_fileobj)
    if raw[:2] == _GZIP_MAGIC:
        raw = _decompress(raw, name)
    return parse_idx(raw, name)


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
