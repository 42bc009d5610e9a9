"""The fused plain-SGD path (update applied in the backward pass, no gradient buffer)
against the unfused one: gradient, then a separate update."""
import numpy as np
import pytest

import fastmlp
from fastmlp import kernels as K
from fastmlp.backends.numba import new_workspace
from fastmlp.kernels.blas import gemm
from fastmlp.kernels.config import BLAS_MIN_WORK
from fastmlp.kernels.dense import dense_sgd
from fastmlp.kernels.network import loss_and_sgd
from fastmlp.kernels.structs import CORRECT, LOSS_SUM

SHAPES = [(1, 1, 1), (1, 784, 32), (3, 5, 7), (10, 2, 10), (64, 300, 10), (33, 50, 1)]


@pytest.mark.parametrize("loops", [True, None], ids=["loops", "blas-only"])
@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-13)])
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_dense_sgd_matches_numpy(m, k, n, dtype, tol, loops):
    """dx from the W before the update, then the update: by loops for small products, or
    everything through BLAS (``loops`` None: a training whose full batches are BLAS-sized)."""
    rng = np.random.default_rng(m * 1000 + k + n)
    x = rng.normal(size=(m, k)).astype(dtype)
    x[x < -0.5] = 0  # zero inputs are skipped by the loop path: results must not change
    d = rng.normal(size=(m, n)).astype(dtype)
    W = rng.normal(size=(k, n)).astype(dtype)
    b = rng.normal(size=n).astype(dtype)
    dx_ref = d.astype(np.float64) @ W.T.astype(np.float64)
    W_ref = W.astype(np.float64) - 0.05 * x.T.astype(np.float64) @ d
    b_ref = b.astype(np.float64) - 0.05 * d.sum(axis=0)
    dx = np.full((m, k), np.nan, dtype)
    dense_sgd(dx, W, b, x, d, 0.05, loops)
    assert W.dtype == np.dtype(dtype)
    assert np.abs(dx - dx_ref).max() <= tol * max(1.0, np.abs(dx_ref).max())
    assert np.abs(W - W_ref).max() <= tol * max(1.0, np.abs(W_ref).max())
    assert np.abs(b - b_ref).max() <= tol * max(1.0, np.abs(b_ref).max())
    W2, b2 = W.copy(), b.copy()
    dense_sgd(dx[:0], W2, b2, x, d, 0.0, loops)  # no dx asked for: nothing else written
    assert np.array_equal(W2, W) and np.array_equal(b2, b)


def test_both_code_paths_are_exercised():
    assert any(m * k * n >= BLAS_MIN_WORK for m, k, n in SHAPES)
    assert any(m * k * n < BLAS_MIN_WORK for m, k, n in SHAPES)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,k,n", [(9, 6, 4), (1, 7, 3), (5, 1, 1), (1, 1, 1), (33, 17, 65)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.5, 1.0), (-0.01, 1.0), (0.5, -2.0)])
def test_gemm_is_alpha_opA_opB_plus_beta_C(dtype, ta, tb, m, k, n, alpha, beta):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(k, m) if ta else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if tb else (k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    expected = alpha * (A.T if ta else A) @ (B.T if tb else B) + beta * C
    gemm(C, A, ta, B, tb, alpha, beta)
    np.testing.assert_allclose(C, expected, rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("layers,act,loss,m", [
    ([784, 32, 32, 10], "sigmoid", "cross_entropy", 1),
    ([784, 300, 10], "tanh", "cross_entropy", 64),
    ([5, 7, 3], "relu", "mse", 4),
    ([3, 6, 6, 1], "leaky_relu", "bce", 9),
])
def test_fused_step_equals_gradient_then_update(layers, act, loss, m):
    model = fastmlp.MLP(layers, activation=act, loss=loss, dtype="float64", seed=3)
    a = model.arch
    rng = np.random.default_rng(0)
    X = rng.normal(size=(m, layers[0]))
    if loss == "cross_entropy":
        y, t = rng.integers(0, layers[-1], m), np.zeros((0, layers[-1]))
    else:
        y, t = np.zeros(0, np.int64), rng.uniform(0, 1, (m, layers[-1]))
    ws = new_workspace(a, m)
    grads = np.zeros_like(model.params)
    w = np.zeros(0, a.dtype)
    K.loss_and_grad(grads, ws, model.params, X, y, t, w, a.net)
    expected = model.params - 0.1 * grads
    loss_unfused, correct_unfused = ws.stats[LOSS_SUM], ws.stats[CORRECT]
    fused = model.params.copy()
    ws.stats[:] = 0
    loss_and_sgd(ws, fused, X, y, t, w, a.net, 0.1)
    assert ws.stats[LOSS_SUM] == pytest.approx(loss_unfused, rel=1e-12)
    assert ws.stats[CORRECT] == correct_unfused
    np.testing.assert_allclose(fused, expected, rtol=1e-11, atol=1e-13)
