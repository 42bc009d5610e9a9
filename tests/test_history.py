"""History as users read it: Keras-style ``h.history['loss']``, rows by position (``h[-1]``),
and JSON that is valid and counts epochs from 1, as training prints them."""
import json
import math

import numpy as np
import pytest

from fastmlp import MLP, History


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)).astype(np.float32), rng.integers(0, 2, 40)
    model = MLP([3, 4, 2], seed=0, backend="numpy")
    return model.fit(X, y, epochs=3, batch_size=8, verbose=0), model.fit(X, y, epochs=2, validation_split=0.25,
                                                                          verbose=0)


def test_keras_style_metrics(fitted):
    plain, validated = fitted
    assert plain.history["loss"] == plain["loss"] and len(plain.history["loss"]) == 3
    assert "val_loss" not in plain.history and "epoch" not in plain.history  # not measured / not a metric
    assert set(validated.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"}
    assert plain.epoch == [0, 1, 2] and validated.epoch == [3, 4]  # counted over the model's history


def test_rows_by_position(fitted):
    h, _ = fitted
    assert h[-1] is h.rows[-1] and h[-1]["epoch"] == 2 and h[0]["epoch"] == 0
    assert h[1:] == h.rows[1:] and [r["epoch"] for r in h] == [0, 1, 2]
    with pytest.raises(IndexError, match="history has 3 epoch"):
        h[3]
    with pytest.raises(KeyError, match=r"h\[-1\]"):
        h["nope"]


def test_json_is_valid_and_counts_epochs_from_1(fitted):
    h, _ = fitted
    h = History(h.rows, stopped_early=True, best_epoch=1)
    text = h.to_json()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert data["epoch_base"] == 1 and [r["epoch"] for r in data["rows"]] == [1, 2, 3] and data["best_epoch"] == 2
    assert all(r["val_loss"] is None for r in data["rows"])
    back = History.from_dict(data)
    assert back["epoch"] == [0, 1, 2] and back.best_epoch == 1 and math.isnan(back["val_loss"][0])
    plain = h.to_dict()  # as the model file stores it: counted from 0, no extra entry
    assert set(plain) == {"rows", "diverged", "interrupted", "stopped_early", "best_epoch"}
    assert [r["epoch"] for r in plain["rows"]] == [0, 1, 2] and History.from_dict(plain)["epoch"] == [0, 1, 2]
    with pytest.raises(ValueError, match="epoch_base"):
        h.to_dict(epoch_base=2)


def test_a_dict_without_epoch_base_counts_from_0():
    old = {"rows": [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}], "diverged": False, "interrupted": False,
           "stopped_early": True, "best_epoch": 0}
    h = History.from_dict(old)
    assert h["epoch"] == [0, 1] and h.best_epoch == 0
