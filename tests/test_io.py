"""Saving and loading: round trips, resuming, atomic writes, and refusing bad files."""
import json
import os
import re
import zipfile

import numpy as np
import pytest

import fastmlp
from fastmlp import ModelFormatError


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (np.arange(n) % 3).astype(np.int64)
    X[:, 0] += y
    return X, y


def _trained(dtype="float64", optimizer="adam", **kw):
    X, y = _data()
    m = fastmlp.MLP([3, 6, 5, 3], activation=["tanh", "leaky_relu"], leaky_slope=0.05, dtype=dtype, seed=0)
    m.fit(X, y, epochs=2, batch_size=8, lr=0.01, optimizer=optimizer, verbose=0, seed=0, **kw)
    return m


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_keeps_everything(tmp_path, dtype):
    m = _trained(dtype, optimizer="sgd", momentum=0.9, nesterov=np.bool_(True))
    path = m.save(tmp_path / "model")
    assert path == str(tmp_path / "model.npz") and os.listdir(tmp_path) == ["model.npz"]
    r = fastmlp.load(path)
    assert r.layers == m.layers and r.activation == m.activation and r.loss == m.loss
    assert r.arch.leaky_slope == 0.05 and r.dtype == m.dtype == np.dtype(dtype) and r.backend == m.backend
    assert r.params.dtype == np.dtype(dtype) and np.array_equal(r.params, m.params)
    a, b = m.optimizer_state, r.optimizer_state
    assert (b.name, b.hyper, b.step) == (a.name, a.hyper, a.step)
    assert b.slots.dtype == np.dtype(dtype) and b.values().shape == (2, m.n_params)
    assert np.array_equal(a.velocity, b.velocity) and np.array_equal(a.slots, b.slots)
    np.testing.assert_equal(r.history.rows, m.history.rows)  # NaN val metrics compare equal
    assert r.history.diverged == m.history.diverged
    X, _ = _data()
    assert np.array_equal(r.predict_proba(X), m.predict_proba(X))


@pytest.mark.parametrize("end", [dict(diverged=True), dict(interrupted=True), dict(stopped_early=True, best_epoch=1)])
def test_round_trip_keeps_how_the_run_ended(tmp_path, end):
    m = _trained()
    m.history = fastmlp.History(m.history.rows, **end)
    r = fastmlp.load(m.save(tmp_path / "m.npz"))
    ended = lambda h: (h.diverged, h.interrupted, h.stopped_early, h.best_epoch)  # noqa: E731
    assert ended(r.history) == ended(m.history) != (False, False, False, None)
    np.testing.assert_equal(r.history.rows, m.history.rows)


def test_round_trip_regression_without_optimizer_or_history(tmp_path):
    m = fastmlp.MLP([4, 2], loss="mse", backend="numpy", seed=1)
    r = fastmlp.MLP.load(m.save(tmp_path / "plain.npz"))
    assert r.optimizer_state is None and r.history is None and r.backend == "numpy"
    assert r.loss == "mse" and np.array_equal(r.params, m.params)


@pytest.mark.parametrize("optimizer,hyper", [("adam", {}), ("sgd", dict(momentum=0.9)), ("rmsprop", {}),
                                             ("adagrad", dict(lr_decay=0.01))])
def test_resume_after_load_equals_one_long_fit(tmp_path, optimizer, hyper):
    X, y = _data()
    kw = dict(batch_size=8, lr=0.01, optimizer=optimizer, schedule=fastmlp.ExponentialDecay(0.9),
              verbose=0, seed=7, **hyper)
    whole = fastmlp.MLP([3, 6, 3], dtype="float64", seed=0)
    whole.fit(X, y, epochs=4, **kw)
    part = fastmlp.MLP([3, 6, 3], dtype="float64", seed=0)
    part.fit(X, y, epochs=2, **kw)
    resumed = fastmlp.load(part.save(tmp_path / "half.npz"))
    resumed.fit(X, y, epochs=2, **kw)
    assert np.array_equal(resumed.params, whole.params)
    assert resumed.optimizer_state.step == whole.optimizer_state.step == 4 * 5
    assert np.array_equal(resumed.optimizer_state.slots, whole.optimizer_state.slots)
    timing = ("seconds", "samples_per_s")
    np.testing.assert_equal([{k: v for k, v in r.items() if k not in timing} for r in resumed.history.rows],
                            [{k: v for k, v in r.items() if k not in timing} for r in whole.history.rows])
    fresh = fastmlp.MLP([3, 6, 3], dtype="float64", seed=0)  # without the state, resuming differs
    fresh.set_params(part.params)
    fresh.fit(X, y, epochs=2, **kw)
    assert not np.array_equal(fresh.params, whole.params)


def test_overwrite_is_atomic_and_leaves_no_temp_files(tmp_path):
    m = _trained()
    path = tmp_path / "m.npz"
    m.save(path)
    m.params[:] = 0.5
    m.save(path)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert np.all(fastmlp.load(path).params == 0.5)


def test_failing_write_leaves_the_old_file_untouched(tmp_path, monkeypatch):
    m = _trained()
    path = tmp_path / "m.npz"
    m.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    m.params[:] = 0.0
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]
    with pytest.raises(OSError, match="disk full"):
        m.save(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["m.npz"]


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No such file or directory: .*nope\.npz"):
        fastmlp.load(tmp_path / "nope.npz")


@pytest.fixture
def saved(tmp_path):
    path = _trained().save(tmp_path / "good.npz")
    with open(path, "rb") as f:
        return path, f.read()


def test_truncated_files_are_refused(saved, tmp_path):
    _, raw = saved
    bad = tmp_path / "cut.npz"
    for n in [0, 1, 4, 30, 100, len(raw) // 2, len(raw) - 22, len(raw) - 1]:
        bad.write_bytes(raw[:n])
        with pytest.raises(ModelFormatError, match=r"cut\.npz: not a fastmlp model file \(not an \.npz archive: "):
            fastmlp.load(bad)


def test_corrupted_bytes_are_refused_or_harmless(saved, tmp_path):
    path, raw = saved
    good = fastmlp.load(path)
    with zipfile.ZipFile(path) as z:  # flip a byte inside the stored params: the CRC must catch it
        info = z.getinfo("params.npy")
    data_start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    bad = tmp_path / "bad.npz"
    for offset in (200, info.compress_size - 1):
        b = bytearray(raw)
        b[data_start + offset] ^= 0xFF
        bad.write_bytes(bytes(b))
        with pytest.raises(ModelFormatError, match=r"bad\.npz: corrupted fastmlp model file "
                                                   r"\(BadZipFile: Bad CRC-32 for file 'params\.npy'\)"):
            fastmlp.load(bad)
    # any flipped byte, in every zip header (local and central directory: version, flags,
    # compression method, ...) and elsewhere: either refused, or (timestamps and the like) the same model
    with zipfile.ZipFile(path) as z:
        headers = [range(i.header_offset, i.header_offset + 30 + len(i.filename)) for i in z.infolist()]
        headers.append(range(z.start_dir, len(raw)))
    positions = sorted(set().union(*headers) | set(np.random.default_rng(0).choice(len(raw), 100).tolist()))
    for pos, flip in ((p, f) for p in positions for f in (0x01, 0xFF)):
        b = bytearray(raw)
        b[pos] ^= flip
        bad.write_bytes(bytes(b))
        try:
            m = fastmlp.load(bad)
        except ModelFormatError:
            continue
        assert np.array_equal(m.params, good.params) and m.layers == good.layers


def _entries(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_wrong_or_missing_format_version_is_refused(saved, tmp_path):
    path, _ = saved
    for version, match in ((np.array(2), r"format version 2 is not supported \(this fastmlp reads version 1\)"),
                           (np.array(0), r"format version 0 is not supported \(this fastmlp reads version 1\)"),
                           (np.array("one"), r"missing or invalid format_version \(an integer; got <U3 array\('one'"),
                           (np.array([1, 1]),
                            r"missing or invalid format_version \(an integer; got int64 array\(\[1, 1\]\)")):
        e = dict(_entries(path), format_version=version)
        np.savez(tmp_path / "v.npz", **e)
        with pytest.raises(ModelFormatError, match=r"v\.npz: " + match):
            fastmlp.load(tmp_path / "v.npz")
    e = _entries(path)
    del e["format_version"]
    np.savez(tmp_path / "v.npz", **e)
    with pytest.raises(ModelFormatError,
                       match=r"v\.npz: missing or invalid format_version \(an integer; got nothing\)"):
        fastmlp.load(tmp_path / "v.npz")


def test_inconsistent_contents_are_refused(saved, tmp_path):
    path, _ = saved
    e = _entries(path)
    meta = json.loads(str(e["meta"]))
    n = len(e["params"])
    variants = [
        (dict(e, params=e["params"][:-1]), rf"'params' has shape \({n - 1},\); the metadata implies \({n},\)$"),
        (dict(e, params=e["params"].astype(np.float32)), r"'params' has dtype float32; the metadata says float64$"),
        (dict(e, meta=np.array("{not json")), r"'meta' is not valid JSON \(JSONDecodeError: "),
        (dict(e, meta=np.array(json.dumps(dict(meta, layers="3-6-5-3")))),
         r"layers must be a list of at least two positive integers; got '3-6-5-3'$"),
        (dict(e, meta=np.array(json.dumps(dict(meta, activation=["tanh", "swish"])))),
         r"invalid model metadata: unknown activation 'swish'; expected one of \["),
        (dict(e, meta=np.array(json.dumps({k: v for k, v in meta.items() if k != "loss"}))),
         r"'meta' lacks \['loss'\]$"),
        (dict(e, opt_s1=e["opt_s1"][:3]), rf"'opt_s1' has shape \(3,\); the metadata implies \({n},\)$"),
        ({k: v for k, v in e.items() if k != "opt_s2"}, r"the optimizer state \('opt_s1', 'opt_s2'\) is missing$"),
        ({k: v for k, v in e.items() if k != "params"},
         r"no 'params' entry$"),
    ]
    for i, (entries, match) in enumerate(variants):
        np.savez(tmp_path / f"x{i}.npz", **entries)
        with pytest.raises(ModelFormatError, match=rf"x{i}\.npz: " + match):
            fastmlp.load(tmp_path / f"x{i}.npz")


def test_foreign_files_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    np.savez(tmp_path / "fake.npz", format=np.array("other"), format_version=np.array(1))
    np.save(tmp_path / "single.npy", np.arange(3))
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "text.npz").write_text("hello")
    for name, why in (("plain.npz", r"no 'format' = 'fastmlp' entry"), ("fake.npz", r"no 'format' = 'fastmlp' entry"),
                      ("single.npy", r"not an \.npz archive: "), ("random.npz", r"not an \.npz archive: "),
                      ("text.npz", r"not an \.npz archive: ")):
        with pytest.raises(ModelFormatError, match=re.escape(name) + r": not a fastmlp model file \(" + why):
            fastmlp.load(tmp_path / name)


class _Boom:
    """Unpickling this creates a marker file: proof that load never unpickles."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_object_arrays_are_never_unpickled(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "unpickled"
    _Boom.marker = marker
    evil = np.array([_Boom()], dtype=object)
    for key in ("params", "meta", "format"):
        np.savez(tmp_path / "evil.npz", **dict(_entries(path), **{key: evil}))
        with pytest.raises(ModelFormatError, match=rf"evil\.npz: '{key}' holds Python objects \(refused: no pickle\)"):
            fastmlp.load(tmp_path / "evil.npz")
    import pickle
    (tmp_path / "raw.npz").write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ModelFormatError, match=r"raw\.npz: not a fastmlp model file \(not an \.npz archive: "):
        fastmlp.load(tmp_path / "raw.npz")
    assert not marker.exists()
