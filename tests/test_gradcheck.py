"""Backprop gradients against central finite differences (float64), via fastmlp.gradcheck.

``gradcheck`` reports max_i |a_i - n_i| / max(|a_i|, |n_i|, 1e-8). A central
difference carries a truncation error ~eps^2 |L'''| / 6 and a rounding error
~1e-16 |L| / eps; eps = 2e-5 keeps both near 1e-11 in absolute terms. The
per-entry relative criterion is strict for the few entries whose gradient is
~1e-5 or smaller (1e-11 / 1e-5 = 1e-6), so the data and seed are fixed: with
seed 0 every case below passes with a margin of >= 3x (worst 2.8e-7, sigmoid +
one-output mse; when written, the 3-layer grid also passed for seeds 0..9). Random normal data
keeps relu/leaky_relu pre-activations away from the kink: crossing it needs
|z| < eps |x| ~ 1e-5 for some unit and sample, which these seeds avoid.
"""
import numpy as np
import pytest

from fastmlp import MLP, gradcheck, numerical_gradient

ACTS = ["identity", "tanh", "sigmoid", "relu", "leaky_relu"]
LOSS_OUT = [("cross_entropy", 3), ("mse", 2), ("mse", 1), ("bce", 1)]
EPS = 2e-5
TOL = 1e-6


def data(layers, loss, m, rng):
    X = rng.normal(size=(m, layers[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, layers[-1], m)
    elif loss == "bce":
        y = rng.integers(0, 2, m)
    else:
        y = rng.normal(size=(m, layers[-1]))
    return X, y


def model_and_data(act, loss, n_out, seed=0, backend="numba", m=8, leaky_slope=0.01, layers=None):
    layers = layers or [4, 5, 4, n_out]
    rng = np.random.default_rng(seed)
    model = MLP(layers, activation=act, loss=loss, init="normal", init_std=0.7, bias_init="normal",
                leaky_slope=leaky_slope, dtype="float64", backend=backend, seed=seed)
    X, y = data(layers, loss, m, rng)
    return model, X, y


@pytest.mark.parametrize("loss,n_out", LOSS_OUT, ids=[f"{l}{o}" for l, o in LOSS_OUT])
@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_every_activation_and_loss(act, loss, n_out):
    model, X, y = model_and_data(act, loss, n_out)
    before = model.params.copy()
    res = gradcheck(model, X, y, eps=EPS)
    assert res["max_rel_error"] < TOL, res["max_rel_error"]
    assert len(res["index"]) == model.n_params  # every parameter checked
    # the gradient is not trivially zero (that would pass any relative check)
    assert np.abs(res["analytic"]).max() > 1e-3
    # gradcheck restores the parameters it perturbed
    assert np.array_equal(model.params, before)


@pytest.mark.parametrize("backend", ["numpy", "loop"])
@pytest.mark.parametrize("act,loss,n_out", [("tanh", "cross_entropy", 3), ("leaky_relu", "mse", 2),
                                            ("sigmoid", "bce", 1)])
def test_gradcheck_reference_backends(backend, act, loss, n_out):
    model, X, y = model_and_data(act, loss, n_out, backend=backend, m=5,
                                 layers=[3, 4, n_out])
    res = gradcheck(model, X, y, eps=EPS)
    assert res["max_rel_error"] < TOL, res["max_rel_error"]


def test_gradcheck_leaky_relu_with_large_slope():
    """With slope 0.3 the negative branch carries real gradient; alpha must reach the backward."""
    model, X, y = model_and_data("leaky_relu", "cross_entropy", 3, leaky_slope=0.3)
    assert (model.layer_outputs(X)[0] < 0).any()  # the negative branch is used
    res = gradcheck(model, X, y, eps=EPS)
    assert res["max_rel_error"] < TOL


def test_gradcheck_mixed_activations_per_layer():
    model, X, y = model_and_data(["sigmoid", "leaky_relu", "tanh"], "cross_entropy", 4,
                                 layers=[5, 6, 5, 4, 4], leaky_slope=0.1)
    res = gradcheck(model, X, y, eps=EPS)
    assert res["max_rel_error"] < TOL


def test_gradcheck_one_hot_targets_same_as_ids():
    model, X, y = model_and_data("tanh", "cross_entropy", 3)
    onehot = np.eye(3)[y]
    l1, g1 = model.loss_and_grad(X, y)
    l2, g2 = model.loss_and_grad(X, onehot)
    assert l1 == l2 and np.array_equal(g1, g2)
    assert gradcheck(model, X, onehot, eps=EPS)["max_rel_error"] < TOL


def test_gradcheck_subset_and_bigger_batch():
    """A random subset of a larger network (BLAS path in numba), batch 40."""
    model, X, y = model_and_data("tanh", "cross_entropy", 5, m=40, layers=[20, 30, 5])
    res = gradcheck(model, X, y, eps=EPS, max_params=60, seed=3)
    assert len(res["index"]) == 60 and len(set(res["index"].tolist())) == 60
    assert res["max_rel_error"] < TOL


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    """The check can fail: scale one layer's analytic gradient by 1.01 and it is caught."""
    model, X, y = model_and_data("tanh", "mse", 2)
    real = model.loss_and_grad

    def wrong(X_, y_):
        loss, g = real(X_, y_)
        g[: model.layers[0] * model.layers[1]] *= 1.01
        return loss, g

    monkeypatch.setattr(model, "loss_and_grad", wrong)
    assert gradcheck(model, X, y, eps=EPS)["max_rel_error"] > 5e-3


def test_numerical_gradient_matches_closed_form_on_linear_mse():
    """A one-layer linear mse model: dL/dW = 2 X^T (XW + b - T) / (m c), by hand."""
    rng = np.random.default_rng(4)
    model = MLP([3, 2], loss="mse", dtype="float64", seed=4, init="normal", init_std=1.0)
    X, T = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    W, b = model.W[0], model.b[0]
    R = X @ W + b - T
    expected = np.concatenate([(2 * X.T @ R / R.size).ravel(), 2 * R.sum(axis=0) / R.size])
    num = numerical_gradient(model, X, T, eps=EPS)
    np.testing.assert_allclose(num, expected, rtol=1e-8, atol=1e-10)
    _, g = model.loss_and_grad(X, T)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["numba", "numpy", "loop"])
@pytest.mark.parametrize("activation", ["step", ["tanh", "step"], ["step", "relu"]])
def test_loss_and_grad_refuses_step(backend, activation):
    n_hidden = 1 if isinstance(activation, str) else len(activation)
    layers = [3] + [4] * n_hidden + [2]
    model = MLP(layers, activation=activation, loss="cross_entropy", dtype="float64", backend=backend, seed=0)
    X = np.random.default_rng(0).normal(size=(5, 3))
    y = np.array([0, 1, 1, 0, 1])
    before = model.params.copy()
    with pytest.raises(ValueError, match="^cannot compute gradients through activation 'step': its derivative is zero"):
        model.loss_and_grad(X, y)
    with pytest.raises(ValueError, match="cannot compute gradients through activation 'step'"):
        gradcheck(model, X, y)
    assert np.array_equal(model.params, before)
    # forward and evaluate still work for step networks
    assert np.isfinite(model.evaluate(X, y)["loss"])
