"""Proof of learning: small problems reach high test accuracy on every backend."""
import numpy as np
import pytest

import fastmlp
from fastmlp.datasets import circles, digits


@pytest.mark.parametrize("backend", ["numba", "numpy", "loop"])
def test_circles_reach_95_percent(backend):
    d = circles(300, seed=0)
    model = fastmlp.MLP([2, 16, 16, 2], seed=0, backend=backend)
    history = model.fit(d.X_train, d.y_train, epochs=30, batch_size=16, lr=0.05, optimizer="adam",
                        verbose=0, seed=0)
    assert len(history) == 30 and not history.diverged
    assert history["loss"][-1] < history["loss"][0]
    assert model.evaluate(d.X_test, d.y_test)["accuracy"] >= 0.95
    assert np.mean(model.predict(d.X_test) == d.y_test) >= 0.95


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_digits_reach_95_percent(backend):
    pytest.importorskip("sklearn")
    d = digits(seed=0)
    X_train, X_test = d.X_train / 16, d.X_test / 16
    model = fastmlp.MLP([64, 64, 10], seed=0, backend=backend)
    model.fit(X_train, d.y_train, epochs=30, batch_size=32, lr=0.003, optimizer="adam", verbose=0, seed=0)
    assert model.evaluate(X_test, d.y_test)["accuracy"] >= 0.95
