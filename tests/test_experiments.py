"""The experiments behave as theory says: signal propagation, gradient cost, boxes."""
import math

import numpy as np
import pytest

from fastmlp import MLP, numerical_gradient
from fastmlp.experiments import (box_approximation, box_network, count_forward_passes, gradient_cost, multiply_adds,
                                 signal_propagation)


@pytest.fixture(scope="module")
def signal():
    return {(r["activation"], r["init"]): r for r in signal_propagation(depth=10, width=128, n_samples=128)}


def test_he_keeps_relu_variance_while_small_normal_collapses(signal):
    he = np.array(signal["relu", "he_normal"]["act_var"])
    assert he.max() / he.min() < 3
    small = signal["relu", "normal"]["act_var"]
    assert small[-1] < 1e-12 * small[0]
    lecun = signal["relu", "lecun_normal"]["act_var"]  # halves per layer under relu
    assert lecun[-1] < 0.01 * lecun[0]
    assert len(signal["tanh", "he_normal"]["grad_var"]) == 11


def test_finite_difference_forward_passes_grow_quadratically():
    rng = np.random.default_rng(0)
    passes, madds = {}, {}
    for width in (4, 8):
        model = MLP([width, width, 3], activation="tanh", dtype="float64", backend="numpy", seed=0)
        X, y = rng.standard_normal((5, width)), rng.integers(0, 3, 5)
        passes[width] = {m: count_forward_passes(model, X, y, m) for m in ("central", "forward", "backprop")}
        assert passes[width]["central"] == 2 * model.n_params
        assert passes[width]["forward"] == model.n_params + 1
        madds[width] = multiply_adds(model.layers, 5), model.n_params
    (f4, b4), p4 = madds[4]
    (f8, b8), p8 = madds[8]
    assert passes[4]["backprop"] == passes[8]["backprop"] == 1
    assert 2 <= b4 / f4 <= 3 and 2 <= b8 / f8 <= 3  # backprop costs 2-3 forward passes
    assert b8 / b4 < 1.3 * p8 / p4  # so it grows linearly in P
    fd_ratio = (passes[8]["central"] * f8) / (passes[4]["central"] * f4)
    assert fd_ratio > 0.8 * (p8 / p4) ** 2  # finite differences ~ P squared


def test_forward_difference_matches_backprop():
    rng = np.random.default_rng(1)
    model = MLP([3, 5, 2], activation="tanh", dtype="float64", backend="numpy", seed=0)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    before = model.params.copy()
    _, g = model.loss_and_grad(X, y)
    assert np.allclose(numerical_gradient(model, X, y, eps=1e-7, method="forward"), g, atol=1e-5)
    assert np.array_equal(model.params, before)


def test_gradient_cost_records():
    rows = gradient_cost(sizes=((1, 4), (2, 4)), fd_params=3, repeats=1, backend="numpy")
    assert [r["depth"] for r in rows] == [1, 2]
    for r in rows:
        assert r["fd_central_passes"] == 2 * r["n_params"] and r["fd_timed_params"] == 3
        assert r["backprop_seconds"] > 0 and r["fd_central_seconds"] > 0


def test_box_error_decreases_with_more_boxes():
    res = box_approximation(np.sin, (0, 2 * math.pi), box_counts=(2, 4, 8, 16, 32), n_points=500)
    assert all(a > b for a, b in zip(res["max_error"], res["max_error"][1:]))
    assert all(a > b for a, b in zip(res["mean_error"], res["mean_error"][1:]))
    assert res["max_error"][-1] < 2 * math.pi / 32  # |sin'| <= 1, half a box wide at most


def test_box_network_is_a_staircase():
    model = box_network(lambda x: x ** 2, 4, (0.0, 4.0))
    assert model.layers == (1, 8, 1) or list(model.layers) == [1, 8, 1]
    out = model.forward(np.array([[0.2], [1.5], [3.9]]))[:, 0]
    assert np.allclose(out, [0.25, 2.25, 12.25])


@pytest.mark.parametrize("kw,exc,match", [
    (dict(n_boxes=0), ValueError, "n_boxes must be a positive integer; got 0"),
    (dict(n_boxes=2.0), TypeError, "n_boxes must be a positive integer; got float 2.0"),
    (dict(n_boxes=2, interval=(1, 1)), ValueError, "interval must have a < b"),
    (dict(n_boxes=2, interval=(0, 1, 2)), ValueError, "interval must be a pair"),
    (dict(n_boxes=2, interval=("0", 1)), TypeError, r"interval\[0\] must be a finite number"),
    (dict(n_boxes=2, interval=(0, float("inf"))), ValueError, r"interval\[1\] must be a finite number"),
    (dict(n_boxes=2, f=5), TypeError, "f must be a function of an array; got int 5"),
])
def test_box_network_refuses_bad_arguments(kw, exc, match):
    kw.setdefault("f", np.sin)
    with pytest.raises(exc, match=match):
        box_network(**kw)


def test_gradient_cost_times_on_one_blas_thread_best_of_repeats(monkeypatch):
    """Timings run with every BLAS the kernels may call on one thread (OpenBLAS's threads made
    backprop at width 128 look 350x dearer than at 64 on a busy machine), and keep the best run."""
    import importlib

    from threadpoolctl import threadpool_info
    module = importlib.import_module("fastmlp.experiments.gradient_cost")  # the module, not the function
    seen = []
    real = module._best_seconds

    def spy(f, repeats):
        seen.append((repeats, sorted({d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"}),
                     sorted({d["filepath"] for d in threadpool_info() if d["user_api"] == "blas"})))
        return real(f, repeats)
    monkeypatch.setattr(module, "_best_seconds", spy)
    rows = gradient_cost(sizes=((1, 4),), fd_params=2, repeats=4, backend="numpy")
    assert [s[0] for s in seen] == [4, 4, 2, 2] and all(s[1] == [1] for s in seen)
    assert any("scipy" in path for path in seen[0][2])  # the kernels' BLAS (scipy's) is limited too
    assert rows[0]["timing"] == "best of 4 runs (2 for finite differences), one BLAS thread"
    times = iter([5.0, 7.0, 3.0, 9.0])
    monkeypatch.setattr(module.time, "perf_counter", lambda: next(times))
    assert real(lambda: None, 2) == 2.0  # the shorter run: 7-5=2 beats 9-3=6
