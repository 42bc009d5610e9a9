"""Tests of IDX reading/writing: round trips, the byte layout, malformed files (fuzzing: test_fuzz_files.py,
hostile headers: test_hostile_files.py)."""

import gzip
import io
import struct

import numpy as np
import pytest

from fastmlp.datasets import IDXFormatError, read_idx, write_idx
from fastmlp.datasets.idx import encode_idx, read_idx_header

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _example(dtype, shape):
    values = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    if np.dtype(dtype).kind == "f":
        values = values * 1.5 - 7.25
    elif np.dtype(dtype).kind == "i":
        values = values - 5
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4), (2, 1, 3, 2), (0, 5)])
@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
def test_roundtrip(tmp_path, dtype, shape, suffix):
    array = _example(dtype, shape)
    path = tmp_path / f"a{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == suffix.endswith(".gz")


def test_bytes_are_big_endian_per_the_format():
    data = encode_idx(np.array([[1, 258]], dtype=np.int32))
    assert data == bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 1, 2) + struct.pack(">ii", 1, 258)
    assert encode_idx(np.array([1.0], dtype="<f4"))[8:] == struct.pack(">f", 1.0)


def test_mnist_style_header():
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    assert encode_idx(images)[:16] == struct.pack(">IIII", 2051, 2, 28, 28)
    assert encode_idx(np.zeros(2, dtype=np.uint8))[:8] == struct.pack(">II", 2049, 2)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = _example(np.int16, (3, 5))
    misnamed_gz = tmp_path / "data.idx"
    misnamed_gz.write_bytes(gzip.compress(encode_idx(array)))
    np.testing.assert_array_equal(read_idx(misnamed_gz), array)
    misnamed_raw = tmp_path / "data.gz"
    misnamed_raw.write_bytes(encode_idx(array))
    np.testing.assert_array_equal(read_idx(misnamed_raw), array)


def test_reads_file_objects(tmp_path):
    array = _example(np.float32, (4, 2))
    np.testing.assert_array_equal(read_idx(io.BytesIO(encode_idx(array))), array)
    path = tmp_path / "f.gz"
    write_idx(path, array)
    with open(path, "rb") as f:
        np.testing.assert_array_equal(read_idx(f), array)


@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
def test_read_idx_header_gives_dtype_and_shape(tmp_path, suffix):
    path = tmp_path / f"h{suffix}"
    write_idx(path, _example(np.int32, (3, 2)))
    assert read_idx_header(path) == (np.dtype(np.int32), (3, 2))
    with open(path, "rb") as f:
        assert read_idx_header(f) == (np.dtype(np.int32), (3, 2))
    with pytest.raises(IDXFormatError, match=r"h\.idx(\.gz)?: IDX header declares shape \(3, 2\) of int32 \(24 bytes\), "
                                             r"more than max_bytes=23; pass a larger max_bytes"):
        read_idx_header(path, max_bytes=23)


def test_write_compress_flag_overrides_suffix(tmp_path):
    array = _example(np.uint8, (5,))
    path = tmp_path / "plain.idx"
    write_idx(path, array, compress=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(path), array)
    assert [p.name for p in tmp_path.iterdir()] == ["plain.idx"], "temp file left behind"


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "truncated IDX header"),
        (b"\x00\x00\x08", "truncated IDX header"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"x", "magic"),
        (b"\x00\x02\x08\x01" + struct.pack(">I", 1) + b"x", "magic"),
        (_header(0x0A, [1]) + b"x", "dtype code 0x0A"),
        (_header(0x08, []), "0 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated IDX header"),
        (_header(0x08, [2, 3]) + bytes(5), "truncated IDX data"),
        (_header(0x0C, [2]) + bytes(7), "truncated IDX data"),
        (_header(0x08, [2, 3]) + bytes(7), "1 trailing bytes"),
        (_header(0x08, [2**32 - 1, 2**32 - 1]) + bytes(3), "max_bytes"),
    ],
)
def test_malformed_raw_files(tmp_path, data, match):
    path = tmp_path / "bad-file.idx"
    path.write_bytes(data)
    with pytest.raises(IDXFormatError, match=match) as info:
        read_idx(path)
    assert "bad-file.idx" in str(info.value)


def test_corrupt_gzip_crc_and_truncation(tmp_path):
    packed = bytearray(gzip.compress(encode_idx(_example(np.uint8, (10, 10)))))
    packed[-8] ^= 0xFF  # CRC32 of the payload
    bad_crc = tmp_path / "crc.gz"
    bad_crc.write_bytes(bytes(packed))
    with pytest.raises(IDXFormatError, match="crc.gz.*corrupt gzip"):
        read_idx(bad_crc)
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(bytes(packed[: len(packed) // 2]))
    with pytest.raises(IDXFormatError, match=r"cut\.gz: corrupt gzip stream \("):
        read_idx(truncated)
    only_magic = tmp_path / "magic.gz"
    only_magic.write_bytes(b"\x1f\x8b")
    with pytest.raises(IDXFormatError, match=r"magic\.gz: corrupt gzip stream \("):
        read_idx(only_magic)


def test_valid_gzip_of_malformed_idx_names_file(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(_header(0x08, [4]) + b"ab"))
    with pytest.raises(IDXFormatError, match="short.gz: truncated IDX data"):
        read_idx(path)


def test_errors_that_are_not_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: .*missing\.idx'$"):
        read_idx(tmp_path / "missing.idx")
    with pytest.raises(TypeError, match="path_or_fileobj"):
        read_idx(12)
    (tmp_path / "t.idx").write_bytes(encode_idx(np.zeros(2, np.uint8)))
    with open(tmp_path / "t.idx", encoding="latin-1") as text_file:
        with pytest.raises(TypeError, match=r"^path_or_fileobj must be opened in binary mode, read\(\) returned str$"):
            read_idx(text_file)


@pytest.mark.parametrize(
    "array, error, match",
    [
        (np.zeros(3, dtype=np.int64), TypeError, r"^array dtype int64 cannot be stored in IDX; use uint8, int8, "),
        (np.zeros(3, dtype=bool), TypeError, r"^array dtype bool cannot be stored in IDX; use uint8, int8, "),
        (np.zeros(3, dtype=np.float16), TypeError, r"^array dtype float16 cannot be stored in IDX; use uint8, int8, "),
        (np.zeros(3, dtype=np.uint16), TypeError, r"^array dtype uint16 cannot be stored in IDX; use uint8, int8, "),
        (np.array(5, dtype=np.uint8), ValueError, r"^array must have 1 to 255 dimensions, got 0$"),
    ],
)
def test_write_rejects_unstorable_arrays(tmp_path, array, error, match):
    with pytest.raises(error, match=match):
        write_idx(tmp_path / "x.idx", array)
    assert list(tmp_path.iterdir()) == []
