"""Fuzzing the file readers: ``fastmlp.load`` and ``read_idx`` on mutated valid files.

Byte flips, truncations, insertions and deletions of a saved model and of IDX files (plain and
gzip, from a file or an unseekable stream), and wrong values of every metadata field: each must
either read back exactly what was written or raise the reader's documented error
(ModelFormatError, IDXFormatError), never anything else, and reading may never allocate more
than a small bound. A model file that loads must work: predict, history, fit, save again.
Hypothesis runs derandomized with fixed example counts, so every run tries the same cases.
"""
import gzip
import io
import json

import numpy as np
import pytest
from hostile import Unseekable, idx_header, peak_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmlp
from fastmlp import ModelFormatError
from fastmlp.datasets import IDXFormatError, read_idx
from fastmlp.datasets.idx import encode_idx
from fastmlp.history import KEYS

BOUND = 5 << 20  # bytes reading any of these small files may allocate


def fuzz(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _mutations(size):
    """A strategy of edits of a ``size``-byte file: ``(kind, position, bytes)`` lists."""
    edit = st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.integers(0, size - 1),
                     st.binary(min_size=1, max_size=8))
    return st.lists(edit, min_size=1, max_size=3)


def _mutate(data, edits):
    b = bytearray(data)
    for kind, pos, payload in edits:
        pos = min(pos, len(b))
        if kind == "flip" and pos < len(b):
            b[pos] ^= payload[0] or 0xFF
        elif kind == "cut":
            del b[pos:]
        elif kind == "insert":
            b[pos:pos] = payload
        else:
            del b[pos:pos + len(payload)]
    return bytes(b)


# -- model files ------------------------------------------------------------------------------------
_X = np.random.default_rng(0).normal(size=(12, 3))
_Y = np.arange(12) % 3


class _Saved(tuple):
    """``(folder, path, bytes, model)`` of a saved model; shown by its path in hypothesis' reports."""

    def __repr__(self):
        return f"<model file {self[1]}>"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A valid model file (optimizer state, two epochs of history)."""
    folder = tmp_path_factory.mktemp("fuzz")
    m = fastmlp.MLP([3, 5, 3], activation="tanh", seed=0, backend="numpy")
    m.fit(_X, _Y, epochs=2, batch_size=4, lr=0.01, optimizer="adam", verbose=0, seed=0)
    path = m.save(folder / "valid")
    with open(path, "rb") as f:
        return _Saved((folder, path, f.read(), m))


def _same(a, b):
    assert a.layers == b.layers and a.activation == b.activation and a.loss == b.loss and a.dtype == b.dtype
    assert np.array_equal(a.params, b.params) and a.backend == b.backend and a.seed == b.seed
    assert a.optimizer_state.step == b.optimizer_state.step and a.optimizer_state.hyper == b.optimizer_state.hyper
    assert np.array_equal(a.optimizer_state.values(), b.optimizer_state.values())
    np.testing.assert_equal(a.history.rows, b.history.rows)


def _load_or_refuse(path):
    """Load ``path`` within BOUND bytes: the model, or None for a ModelFormatError."""
    result, peak = peak_bytes(fastmlp.load, path)
    assert peak < BOUND, f"{peak} bytes allocated"
    if isinstance(result, ModelFormatError):
        assert str(path) in str(result)
        return None
    if isinstance(result, Exception):
        raise result
    return result


def _works(model, folder):
    """A loaded model must serve every later call: predict, history, fit, save and load again."""
    assert model.predict_proba(_X).shape == (12, model.layers[-1])
    if model.history is not None:
        for key in KEYS:
            assert len(model.history[key]) == len(model.history)
    model.fit(_X, _Y, epochs=1, batch_size=4, lr=0.01, verbose=0, seed=0)
    again = fastmlp.load(model.save(folder / "again"))
    assert np.array_equal(again.params, model.params)


@fuzz(150)
@given(data=st.data())
def test_mutated_model_files_load_exactly_or_raise_model_format_error(saved, data):
    folder, path, raw, model = saved
    mutated = _mutate(raw, data.draw(_mutations(len(raw))))
    target = folder / "mutated.npz"
    target.write_bytes(mutated)
    loaded = _load_or_refuse(target)
    if loaded is not None:
        _same(loaded, model)


@fuzz(60)
@given(cut=st.integers(0, 10**6))
def test_truncated_model_files_raise_model_format_error(saved, cut):
    folder, path, raw, _ = saved
    target = folder / "cut.npz"
    target.write_bytes(raw[:cut % len(raw)])
    assert _load_or_refuse(target) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70) | st.floats()
    | st.text(max_size=8) | st.sampled_from(["relu", "adam", "sgd", "float64", "numpy", "mse", "epoch"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8)

class _Delete:
    def __repr__(self):
        return "<delete the field>"


_DELETE = _Delete()


def _fields(meta):
    """Paths to every field of the metadata: top-level keys, history flags, row metrics, optimizer parts."""
    paths = [(k,) for k in meta]
    paths += [("history", k) for k in meta["history"]]
    paths += [("history", "rows", i, k) for i in range(len(meta["history"]["rows"])) for k in KEYS]
    paths += [("optimizer", "name"), ("optimizer", "hyper")]
    paths += [("optimizer", "hyper", k) for k in meta["optimizer"]["hyper"]]
    return paths


def _replace(meta, field, value):
    """``meta`` with ``field`` set to ``value`` (or deleted); unchanged if an earlier change removed it."""
    meta = json.loads(json.dumps(meta))
    parent = meta
    for key in field[:-1]:
        if not isinstance(parent, (dict, list)) or isinstance(parent, dict) != isinstance(key, str):
            return meta
        if key not in parent if isinstance(parent, dict) else key >= len(parent):
            return meta
        parent = parent[key]
    if not isinstance(parent, dict):
        return meta
    if value is _DELETE:
        parent.pop(field[-1], None)
    else:
        parent[field[-1]] = value
    return meta


@fuzz(250)
@given(data=st.data())
def test_wrong_metadata_values_load_and_work_or_raise_model_format_error(saved, data):
    folder, path, _, _ = saved
    with np.load(path, allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    meta = json.loads(str(entries["meta"]))
    fields = _fields(meta)
    for _ in range(data.draw(st.integers(1, 3))):
        field = data.draw(st.sampled_from(fields))
        meta = _replace(meta, field, data.draw(_JSON | st.just(_DELETE)))
    target = folder / "meta.npz"
    np.savez(target, **dict(entries, meta=np.array(json.dumps(meta))))  # json writes NaN, Infinity
    loaded = _load_or_refuse(target)
    if loaded is not None:
        _works(loaded, folder)


# -- IDX files --------------------------------------------------------------------------------------
def _example(dtype, shape):
    return (np.arange(int(np.prod(shape))) % 100 - 7).astype(dtype).reshape(shape)


_VALID = [encode_idx(_example(np.uint8, (3, 4, 2))), encode_idx(_example(np.int32, (5,))),
          encode_idx(_example(np.float64, (2, 3))), encode_idx(_example(np.int16, (0, 4)))]
_VALID_GZ = [gzip.compress(v, mtime=0) for v in _VALID]
_SOURCES = {"file": io.BytesIO, "stream": Unseekable}


def _read_or_refuse(data, source):
    """read_idx of ``data`` within BOUND bytes: IDXFormatError, or exactly the array ``data`` encodes."""
    result, peak = peak_bytes(read_idx, _SOURCES[source](data))
    assert peak < BOUND, f"{peak} bytes allocated"
    if isinstance(result, IDXFormatError):
        return None
    if isinstance(result, Exception):
        raise result
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    assert encode_idx(result) == raw
    return result


@fuzz(100)
@given(st.integers(0, len(_VALID) - 1), st.booleans(), st.sampled_from(list(_SOURCES)), st.data())
def test_mutated_idx_files_read_exactly_or_raise_idx_format_error(which, compressed, source, data):
    valid = (_VALID_GZ if compressed else _VALID)[which]
    _read_or_refuse(_mutate(valid, data.draw(_mutations(len(valid)))), source)


@fuzz(60)
@given(st.integers(0, len(_VALID) - 1), st.booleans(), st.sampled_from(list(_SOURCES)), st.integers(0, 10**6))
def test_truncated_idx_files_raise_idx_format_error(which, compressed, source, cut):
    valid = (_VALID_GZ if compressed else _VALID)[which]
    assert _read_or_refuse(valid[:cut % len(valid)], source) is None


@fuzz(60)
@given(st.integers(0, len(_VALID) - 1), st.binary(min_size=1, max_size=16), st.sampled_from(list(_SOURCES)))
def test_appended_garbage_is_refused(which, extra, source):
    with pytest.raises(IDXFormatError, match="trailing bytes"):
        read_idx(_SOURCES[source](_VALID[which] + extra))
    _read_or_refuse(_VALID_GZ[which] + extra, source)


@fuzz(100)
@given(st.integers(0, 255), st.lists(st.integers(0, 2**32 - 1), max_size=6), st.binary(max_size=64),
       st.booleans(), st.sampled_from(list(_SOURCES)))
def test_random_headers_with_random_bodies(code, dims, body, compressed, source):
    data = bytes([0, 0, code, len(dims)]) + idx_header(0x08, dims)[4:] + body
    _read_or_refuse(gzip.compress(data, mtime=0) if compressed else data, source)


@fuzz(60)
@given(st.binary(max_size=64), st.sampled_from(list(_SOURCES)))
def test_random_bytes(data, source):
    _read_or_refuse(data, source)
    _read_or_refuse(b"\x1f\x8b" + data, source)
    _read_or_refuse(bytes([0, 0, 0x08, 2]) + data, source)
