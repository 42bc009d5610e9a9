"""``model.summary()``: a table of the layers (shapes, activation, parameter counts), the
totals and the training state, printed and returned; also on the scikit-learn wrappers."""
import re

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.sklearn import MLPClassifier, MLPRegressor


def _layer_rows(text):
    return [line.split() for line in text.splitlines() if re.match(r"\d+ (hidden|output) ", line)]


def test_the_table_of_layers(capsys):
    model = MLP([784, 128, 64, 10], activation=["relu", "tanh"], seed=0)
    text = model.summary()
    assert capsys.readouterr().out == text + "\n"  # printed, and returned
    rows = _layer_rows(text)
    assert [r[:2] for r in rows] == [["1", "hidden"], ["2", "hidden"], ["3", "output"]]
    sizes = [(784, 128), (128, 64), (64, 10)]
    for row, (k, n), act in zip(rows, sizes, ["relu", "tanh", "softmax"]):
        assert " ".join(row[2:6]) == f"(None, {k}) (None, {n})"
        assert row[6] == act
        assert row[-3:] == [f"{k}x{n}", str(n), f"{k * n + n:,}"]
    assert sum(int(r[-1].replace(",", "")) for r in rows) == model.n_params
    assert f"Total params: {model.n_params:,} (427 KiB as float32)" in text
    assert "Loss: cross_entropy | dtype: float32 | backend: numba" in text
    assert "Optimizer state: none | trained epochs: 0" in text
    header = next(line for line in text.splitlines() if line.startswith("Layer"))
    assert header.split() == ["Layer", "Input", "shape", "Output", "shape", "Activation", "Weights", "Biases",
                              "Params"]


@pytest.mark.parametrize("loss, n_out, output", [("mse", 2, "identity"), ("bce", 1, "sigmoid"),
                                                 ("multilabel", 4, "sigmoid"), ("softmax_mse", 3, "softmax"),
                                                 ("cross_entropy", 3, "softmax")])
def test_the_output_function_follows_the_loss(loss, n_out, output):
    text = MLP([3, n_out], loss=loss, dtype="float64", backend="numpy").summary(print_fn=None)
    (row,) = _layer_rows(text)
    assert row[:7] == ["1", "output", "(None,", "3)", "(None,", f"{n_out})", output]
    assert f"Loss: {loss} | dtype: float64 | backend: numpy" in text
    assert "as float64" in text


def test_the_training_state_after_fit(capsys):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    model = MLP([3, 5, 2], seed=0, backend="numpy")
    model.fit(X, y, epochs=3, batch_size=10, optimizer="adam", verbose=0)
    lines = []
    text = model.summary(print_fn=lines.append)
    assert lines == [text] and capsys.readouterr().out == ""
    assert "Optimizer state: adam, step 12 | trained epochs: 3" in text


def test_print_fn_must_be_callable():
    with pytest.raises(TypeError, match="print_fn"):
        MLP([2, 2]).summary(print_fn="stdout")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learn_wrappers():
    from sklearn.exceptions import NotFittedError
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=0)
    with pytest.raises(NotFittedError):
        clf.summary()
    clf.fit(X, y)
    text = clf.summary(print_fn=None)
    assert text == clf.model_.summary(print_fn=None)
    assert [r[:2] for r in _layer_rows(text)] == [["1", "hidden"], ["2", "output"]] and "MLP 4 -> 6 -> 3" in text
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, X[:, 0])
    assert "MLP 4 -> 5 -> 1" in reg.summary(print_fn=None)


def test_a_dropout_column_when_the_model_drops_units():
    text = MLP([10, 32, 16, 3], dropout=[0.5, 0.2], seed=0).summary(print_fn=None)
    header = next(line for line in text.splitlines() if line.startswith("Layer"))
    assert "Dropout" in header.split()
    assert [r[-4] for r in _layer_rows(text)] == ["0.5", "0.2", "-"]  # before the counts; none on the output
    assert "Dropout" not in MLP([10, 32, 3]).summary(print_fn=None)
