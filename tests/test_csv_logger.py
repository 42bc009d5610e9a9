"""CSVLogger: one row per epoch with every logged metric, the header once, flushed each
epoch, appending to a resumed run's log; bad paths refused before training."""
import csv
import math
import os

import numpy as np
import pytest

from fastmlp import MLP, CSVLogger
from fastmlp.history import KEYS


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _read(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_one_row_per_epoch_with_every_metric(tmp_path):
    X, y = _data()
    path = tmp_path / "log.csv"
    model = MLP([3, 5, 2], seed=0, backend="numpy")
    model.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[CSVLogger(path)])
    header, *rows = _read(path)
    assert header == list(KEYS) and len(rows) == 3
    for row, logged in zip(rows, model.history):
        got = dict(zip(header, row))
        assert int(got["epoch"]) == logged["epoch"] + 1  # counted from 1, as training prints it
        for key in KEYS[1:]:
            assert float(got[key]) == logged[key]  # written in full: the same numbers read back


def test_each_epoch_is_on_disk_when_it_ends(tmp_path):
    X, y = _data()
    path = tmp_path / "log.csv"
    lines_seen = []
    peek = lambda epoch, logs: lines_seen.append(len(_read(path)))  # noqa: E731
    MLP([3, 4, 2], seed=0, backend="numpy").fit(X, y, epochs=3, verbose=0, callbacks=[CSVLogger(path), peek])
    assert lines_seen == [2, 3, 4]  # the header and the epochs so far


def test_separator_and_unmeasured_metrics(tmp_path):
    X, _ = _data()
    path = tmp_path / "reg.tsv"
    model = MLP([3, 4, 1], loss="mse", seed=0, backend="numpy")
    model.fit(X, X[:, 0], epochs=2, verbose=0, callbacks=[CSVLogger(path, separator="\t")])
    header, *rows = _read(path, "\t")
    assert header == list(KEYS) and all(len(r) == len(KEYS) for r in rows)
    got = [dict(zip(header, r)) for r in rows]
    assert all(math.isnan(float(r[k])) for r in got for k in ("accuracy", "val_loss", "val_accuracy"))
    assert [float(r["loss"]) for r in got] == model.history["loss"]


def test_append_continues_a_resumed_runs_log(tmp_path):
    X, y = _data()
    path = tmp_path / "log.csv"
    model = MLP([3, 4, 2], seed=0, backend="numpy")
    model.fit(X, y, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    model.fit(X, y, epochs=2, verbose=0, callbacks=[CSVLogger(path, append=True)])
    header, *rows = _read(path)
    assert header == list(KEYS) and [int(r[0]) for r in rows] == [1, 2, 3, 4]  # one header
    assert [float(r[1]) for r in rows] == model.history["loss"]
    model.fit(X, y, epochs=1, verbose=0, callbacks=[CSVLogger(path)])  # append=False starts the file anew
    assert [r[0] for r in _read(path)] == ["epoch", "5"]


def test_append_to_a_file_with_other_columns_is_refused(tmp_path):
    X, y = _data()
    path = tmp_path / "other.csv"
    path.write_text("step,value\n1,2\n")
    model = MLP([3, 4, 2], seed=0, backend="numpy")
    before = model.params.copy()
    with pytest.raises(ValueError, match="columns"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert path.read_text() == "step,value\n1,2\n"
    assert np.array_equal(model.params, before) and model.history is None


def test_append_to_a_file_that_is_not_text_is_refused(tmp_path):
    X, y = _data()
    path = tmp_path / "model.npz"
    MLP([3, 4, 2], seed=0).save(path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not a CSV text file"):
        MLP([3, 4, 2], seed=0).fit(X, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert path.read_bytes() == before


def test_bad_paths_and_separators_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        CSVLogger(tmp_path / "no" / "log.csv")
    with pytest.raises(ValueError, match="is a folder"):
        CSVLogger(tmp_path)
    with pytest.raises(TypeError, match="path"):
        CSVLogger(None)
    with pytest.raises(ValueError, match="separator"):
        CSVLogger(tmp_path / "log.csv", separator=";;")
    with pytest.raises(ValueError, match="separator"):
        CSVLogger(tmp_path / "log.csv", separator="\n")
    with pytest.raises(TypeError, match="separator"):
        CSVLogger(tmp_path / "log.csv", separator=b",")
    with pytest.raises(TypeError, match="append"):
        CSVLogger(tmp_path / "log.csv", append="yes")


def test_a_path_gone_bad_after_creation_is_refused_before_the_first_epoch(tmp_path):
    X, y = _data()
    folder = tmp_path / "logs"
    folder.mkdir()
    logger = CSVLogger(folder / "log.csv")
    os.rmdir(folder)
    model = MLP([3, 4, 2], seed=0, backend="numpy")
    before = model.params.copy()
    with pytest.raises(ValueError, match="does not exist"):
        model.fit(X, y, epochs=2, verbose=0, callbacks=[logger])
    assert np.array_equal(model.params, before) and model.history is None
