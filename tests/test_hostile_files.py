"""Hostile files: model files and IDX files that lie, read without allocating what they claim.

Each case of issue 11's "Files" list: a small file claiming huge layers, claims that overflow,
deeply nested metadata, a float version or step, malformed history rows, a negative step,
NaN weights, a text file, the ``.npz`` suffix, the umask, a failed save; IDX headers that are
absurd or that their file cannot hold, and gzip streams that would unpack to far more.
"""
import gzip
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest
from hostile import (Unseekable, idx_header, model_members, model_meta, model_zip, npy, npy_header,
                     peak_bytes)

import fastmlp
from fastmlp import ModelFormatError
from fastmlp.datasets import IDXFormatError, read_idx, write_idx
from fastmlp.datasets.idx import MAX_BYTES, encode_idx, read_idx_header
from fastmlp.history import KEYS

SMALL = 5 << 20  # what reading a hostile file may allocate: 5 MB


def _load(path):
    return fastmlp.load(path)


def _refused(path, match=None):
    """Load ``path``: it must be refused with ModelFormatError (matching ``match``) within SMALL bytes."""
    error, peak = peak_bytes(_load, path)
    assert isinstance(error, ModelFormatError), error
    assert peak < SMALL, f"{peak} bytes allocated to refuse {path}"
    if match is not None:
        assert match in str(error), str(error)
    assert str(path) in str(error)
    return error


@pytest.fixture
def model():
    X = np.random.default_rng(0).normal(size=(30, 3))
    m = fastmlp.MLP([3, 5, 3], seed=0)
    m.fit(X, np.arange(30) % 3, epochs=2, batch_size=8, lr=0.01, optimizer="adam", verbose=0, seed=0)
    return m


@pytest.fixture
def entries(model, tmp_path):
    """The arrays of a valid saved model, and its metadata as a dict."""
    with np.load(model.save(tmp_path / "valid"), allow_pickle=False) as z:
        e = {k: z[k] for k in z.files}
    return e, json.loads(str(e["meta"]))


def _with(tmp_path, entries, **changes):
    """A model file: the valid arrays with ``changes`` (``meta`` may be a dict)."""
    e, meta = entries
    if isinstance(changes.get("meta"), dict):
        changes["meta"] = np.array(json.dumps(changes["meta"]))
    path = tmp_path / "changed.npz"
    np.savez(path, **dict(e, **changes))
    return path


# -- a small file claiming huge layers ------------------------------------------------------------
def test_a_small_file_claiming_12000x12000_is_refused_before_allocating(tmp_path):
    small = fastmlp.MLP([3, 2], seed=0).save(tmp_path / "small")
    with np.load(small, allow_pickle=False) as z:
        e = {k: z[k] for k in z.files}
    e["meta"] = np.array(json.dumps(model_meta([12000, 12000], seed=0)))
    np.savez(tmp_path / "claims.npz", **e)  # the metadata lies, the params are the 2-by-3 model's
    assert os.path.getsize(tmp_path / "claims.npz") < 2000
    _refused(tmp_path / "claims.npz", "metadata implies (144012000,)")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_params_header_that_lies_too_is_refused_before_allocating(tmp_path, compression):
    # metadata and the params' .npy header agree on 576 MB; the archive holds 64 bytes of data
    members = model_members(model_meta([12000, 12000]), npy_header((144012000,)) + bytes(64))
    path = model_zip(tmp_path / "lies.npz", members, compression)
    assert os.path.getsize(path) < 2000
    _refused(path, "'params'")


def test_a_zip_directory_that_lies_about_sizes_is_refused(tmp_path):
    members = model_members(model_meta([12000, 12000]), npy_header((144012000,)) + bytes(64))
    path = model_zip(tmp_path / "dir.npz", members)
    raw = bytearray(path.read_bytes())
    start = raw.rindex(b"PK\x01\x02")  # the central directory's last entry: params.npy
    assert raw[start + 46:start + 46 + 10] == b"params.npy"
    claimed = 144012000 * 4 + 128
    raw[start + 20:start + 28] = struct.pack("<II", claimed, claimed)  # compressed and uncompressed sizes
    path.write_bytes(bytes(raw))
    _refused(path, f"claims {claimed} stored bytes")


@pytest.mark.parametrize("layers", [[2**40, 2**40], [10**30, 10**30, 10**30], [2**64 + 1, 1], [1, 2**62]])
def test_claims_large_enough_to_overflow_are_refused(tmp_path, layers):
    members = model_members(model_meta(layers), npy(np.zeros(3, np.float32)))
    _refused(model_zip(tmp_path / "overflow.npz", members), "parameters; at most")


def test_an_integer_of_thousands_of_digits_is_refused(tmp_path):
    text = json.dumps(model_meta([3, 2])).replace('"optimizer_step": 0', '"optimizer_step": ' + "9" * 5000)
    members = model_members(text, npy(np.zeros(8, np.float32)))
    _refused(model_zip(tmp_path / "digits.npz", members), "not valid JSON")


# -- metadata ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, '{"a": ' * 50000 + "1" + "}" * 50000])
def test_deeply_nested_metadata_is_a_model_format_error(tmp_path, entries, text):
    _refused(_with(tmp_path, entries, meta=np.array(text)), "nested too deeply")


@pytest.mark.parametrize("version", [1.5, 1.0, True, "1"])
def test_a_format_version_that_is_not_an_integer_is_refused_not_truncated(tmp_path, entries, version):
    _refused(_with(tmp_path, entries, format_version=np.array(version)), "format_version")


@pytest.mark.parametrize("step", [3.5, 3.0, -1, "3", True, None, 2**63])
def test_an_optimizer_step_that_is_not_a_count_is_refused_at_load(tmp_path, entries, step):
    _refused(_with(tmp_path, entries, meta=dict(entries[1], optimizer_step=step)), "optimizer_step")


@pytest.mark.parametrize("change, match", [
    (lambda h: dict(h, rows=[[1, 2]]), "history row 0"),
    (lambda h: dict(h, rows=[{"epoch": 0, "loss": 1.0}]), "history row 0"),
    (lambda h: dict(h, rows=h["rows"] + [dict(h["rows"][0], loss="low")]), "history row 2: loss"),
    (lambda h: dict(h, rows=[dict(h["rows"][0], epoch=-1)]), "epoch must be an integer"),
    (lambda h: dict(h, rows=[dict(h["rows"][0], epoch=1.5)]), "epoch must be an integer"),
    (lambda h: dict(h, rows=[dict(h["rows"][0], accuracy=[0.5])]), "accuracy"),
    (lambda h: dict(h, rows=[dict(h["rows"][0], extra=1)]), "history row 0"),
    (lambda h: dict(h, rows="none"), "rows must be a list"),
    (lambda h: dict(h, diverged="no"), "diverged"),
    (lambda h: dict(h, best_epoch=-3), "best_epoch"),
    (lambda h: {k: v for k, v in h.items() if k != "interrupted"}, "history must be null"),
    (lambda h: [h], "history must be null"),
])
def test_malformed_history_is_refused_at_load(tmp_path, entries, change, match):
    meta = entries[1]
    _refused(_with(tmp_path, entries, meta=dict(meta, history=change(meta["history"]))), match)


def test_the_valid_history_loads_and_every_metric_reads(tmp_path, model):
    loaded = fastmlp.load(model.save(tmp_path / "m"))
    for key in KEYS:
        assert len(loaded.history[key]) == 2


@pytest.mark.parametrize("field, value, match", [
    ("leaky_slope", float("nan"), "NaN, which is not JSON"),
    ("leaky_slope", float("inf"), "Infinity, which is not JSON"),
    ("activation", [], "one function per hidden layer"),
    ("activation", ["relu", "relu"], "one function per hidden layer"),
    ("seed", -1, "seed"),
    ("dtype", "float16", "dtype"),
    ("optimizer", {"name": "adam"}, "optimizer must be null"),
    ("optimizer", {"name": "adam", "hyper": {"beta1": "high"}}, "beta1"),
    ("optimizer", {"name": "newton", "hyper": {}}, "newton"),
    ("backend", "cuda", "cuda"),
    ("loss", 3, "loss must be a name"),
])
def test_other_wrong_metadata_names_the_field(tmp_path, entries, field, value, match):
    meta = json.dumps(dict(entries[1], **{field: value}))  # allow_nan: json writes NaN and Infinity
    _refused(_with(tmp_path, entries, meta=np.array(meta)), match)


# -- weights ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("member", ["params", "opt_s1", "opt_s2"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_or_optimizer_state_are_refused(tmp_path, entries, member, value):
    bad = entries[0][member].copy()
    bad[1] = value
    _refused(_with(tmp_path, entries, **{member: bad}), "NaN or inf")


# -- not a model file at all ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["notes.txt", "notes.npz", "notes"])
def test_a_text_file_gives_a_clear_model_format_error(tmp_path, name):
    path = tmp_path / name
    path.write_text("layers: 3 5 3\nweights: see attachment\n" * 20)
    error = _refused(path, "not a fastmlp model file")
    assert "pickle" not in str(error)


def test_an_npy_file_or_a_foreign_npz_is_refused(tmp_path):
    np.save(tmp_path / "weights.npy", np.zeros(5))
    _refused(tmp_path / "weights.npy", "not a fastmlp model file")
    np.savez(tmp_path / "other.npz", W=np.zeros(5))
    _refused(tmp_path / "other.npz", "not a fastmlp model file")


# -- writing ----------------------------------------------------------------------------------------
def test_save_adds_npz_and_load_finds_it(tmp_path, model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert model.save("mymodel") == "mymodel.npz"
    assert os.listdir(tmp_path) == ["mymodel.npz"]
    for loaded in (fastmlp.load("mymodel"), fastmlp.MLP.load("mymodel"), fastmlp.load("mymodel.npz")):
        assert np.array_equal(loaded.params, model.params)
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: 'othermodel'$"):
        fastmlp.load("othermodel")


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002, 0o000])
def test_files_are_written_with_the_users_umask(tmp_path, model, umask):
    old = os.umask(umask)
    try:
        saved = model.save(tmp_path / "m")
        write_idx(tmp_path / "a.idx.gz", np.zeros(3, np.uint8))
    finally:
        os.umask(old)
    for path in (saved, tmp_path / "a.idx.gz"):
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_overwriting_keeps_the_mode_of_the_file_it_replaces(tmp_path, model):
    path = model.save(tmp_path / "m")
    os.chmod(path, 0o640)
    model.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_a_save_that_fails_leaves_the_existing_file_intact(tmp_path, model):
    path = model.save(tmp_path / "m")
    before = open(path, "rb").read()
    # a child process whose files may not exceed 1000 bytes: writing the model fails part-way (EFBIG)
    script = textwrap.dedent(f"""
        import resource, signal
        import fastmlp
        m = fastmlp.load({path!r})
        m.params[:] = 0.5
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        try:
            m.save({path!r})
        except OSError as e:
            print("refused", e.errno)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.startswith("refused"), out.stderr
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["m.npz"]


# -- IDX --------------------------------------------------------------------------------------------
def _idx_refused(source, match, **kw):
    error, peak = peak_bytes(read_idx, source, *kw.values())
    assert isinstance(error, IDXFormatError), error
    assert isinstance(error, ValueError) and match in str(error), str(error)
    assert peak < SMALL, f"{peak} bytes allocated to refuse it"
    return error


def _gzip_of_zeros(head, n_zeros, tail=b""):
    """gzip of ``head``, ``n_zeros`` zero bytes and ``tail``, compressed chunk by chunk."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(head)]
    zeros = bytes(1 << 20)
    for start in range(0, n_zeros, len(zeros)):
        parts.append(c.compress(zeros[:min(len(zeros), n_zeros - start)]))
    parts += [c.compress(tail), c.flush()]
    return b"".join(parts)


@pytest.mark.parametrize("dims, match", [
    ([0, 2**32 - 1, 2**32 - 1, 2**32 - 1], "more than max_bytes"),  # empty, but numpy cannot shape it
    ([0] + [1] * 99, "dimensions; numpy arrays have at most"),
    ([2**32 - 1] * 3, "more than max_bytes"),
    ([2**16, 2**16], "more than max_bytes"),
])
def test_absurd_but_well_formed_idx_headers_raise_idx_format_error(tmp_path, dims, match):
    path = tmp_path / "absurd.idx"
    path.write_bytes(idx_header(0x08, dims))
    assert str(path) in str(_idx_refused(path, match))


def test_max_bytes_bounds_what_a_header_may_declare(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, np.zeros((10, 100), np.uint8))
    assert read_idx(path, max_bytes=1000).shape == (10, 100)
    _idx_refused(path, "more than max_bytes=999", max_bytes=999)
    with pytest.raises(TypeError, match=r"^max_bytes must be an integer >= 0; got float 1000000000.0$"):
        read_idx(path, max_bytes=1e9)
    assert MAX_BYTES == 1 << 30


@pytest.mark.parametrize("seekable", [True, False])
def test_a_raw_header_its_file_cannot_hold_is_refused_before_allocating(tmp_path, seekable):
    data = idx_header(0x0E, [10**8]) + bytes(80)  # claims 800 MB of float64, holds 80 bytes
    source = tmp_path / "short.idx" if seekable else Unseekable(data)
    if seekable:
        source.write_bytes(data)
    _idx_refused(source, "truncated IDX data")


def test_a_small_gzip_file_cannot_ask_for_gigabytes(tmp_path):
    # 900 MB declared (under the 1 GiB bound), 1 MB of zeros behind it: a 1 KB file
    data = _gzip_of_zeros(idx_header(0x08, [900 << 20]), 1 << 20)
    path = tmp_path / "bomb.gz"
    path.write_bytes(data)
    _idx_refused(path, "more than a gzip file of")  # from the file's size, before decompressing
    _idx_refused(Unseekable(data), "truncated IDX data")  # no size known: read until the data ends


def test_from_an_unseekable_stream_the_array_grows_with_the_data_that_arrives():
    # 900 MB declared, 12 MB there: without the file's size, the reader holds at most twice what arrived
    data = _gzip_of_zeros(idx_header(0x08, [900 << 20]), 12 << 20)
    error, peak = peak_bytes(read_idx, Unseekable(data))
    assert isinstance(error, IDXFormatError) and f"found {12 << 20}" in str(error)
    assert peak < 2 * (12 << 20) + SMALL


def test_a_gzip_stream_is_never_decompressed_past_its_header_and_data(tmp_path):
    # a valid 10-byte array followed, inside the same gzip stream, by 64 MB of zeros
    data = _gzip_of_zeros(idx_header(0x08, [10]) + bytes(range(10)), 64 << 20)
    path = tmp_path / "tail.gz"
    path.write_bytes(data)
    assert len(data) < 100_000
    _idx_refused(path, "trailing bytes")
    _idx_refused(Unseekable(data), "trailing bytes")
    (dtype, shape), peak = peak_bytes(read_idx_header, path)
    assert (dtype, shape) == (np.dtype(np.uint8), (10,)) and peak < SMALL


def test_a_gzip_bomb_declaring_more_than_max_bytes_is_refused_unread(tmp_path):
    data = _gzip_of_zeros(idx_header(0x08, [2**31]), 64 << 20)
    path = tmp_path / "big.gz"
    path.write_bytes(data)
    _idx_refused(path, "more than max_bytes")


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float64])
def test_unseekable_streams_read_like_files(dtype):
    array = (np.arange(3 * (1 << 18)) % 120).astype(dtype).reshape(3, -1)  # several chunks
    raw = encode_idx(array)
    for data in (raw, gzip.compress(raw)):
        back = read_idx(Unseekable(data))
        assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.flags.writeable
        np.testing.assert_array_equal(back, array)
