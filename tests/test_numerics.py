"""Activations over their whole range: float32 accuracy and NaN/inf handling the same in every
backend; and the softmax cross-entropy of logits so large that exp overflows.

The float32 kernels use vectorising approximations (a rational tanh, a polynomial exp for the
sigmoid). Their relative error must stay within 1e-6 of the exact value wherever float32 can
represent the result as a normal number, including deep in the tails (sigmoid(-20) is 2e-9,
and sigmoid saturates to exactly 1); NaN must propagate, and +-inf map to the limits, as
NumPy's and the loop backend's formulas do.
"""
import math

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp import kernels as K
from fastmlp.backends import loops as loop_ref
from fastmlp.backends import numpy as numpy_ref

KINDS = {"identity": K.IDENTITY, "tanh": K.TANH, "sigmoid": K.SIGMOID, "relu": K.RELU, "leaky_relu": K.LEAKY_RELU}
EXACT = {"tanh": np.tanh, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}


def _kernel(name, z, slope=0.01):
    """The numba activation of every element of z (1-D), through bias_act with a zero bias."""
    out = np.ascontiguousarray(z.reshape(1, -1)).copy()
    K.bias_act(out, np.zeros(out.shape[1], out.dtype), KINDS[name], slope)
    return out[0]


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_float32_activation_relative_error_within_1e_6_over_the_whole_range(name):
    z = np.linspace(-104.0, 104.0, 2_000_001).astype(np.float32)
    got = _kernel(name, z).astype(np.float64)
    exact = EXACT[name](z.astype(np.float64))
    normal = np.abs(exact) >= np.finfo(np.float32).tiny
    rel = np.abs(got[normal] - exact[normal]) / np.abs(exact[normal])
    assert rel.max() <= 1e-6, f"max relative error {rel.max():.3g} at z = {z[normal][rel.argmax()]}"


def test_float32_sigmoid_tails():
    z = np.array([-20.0, -50.0, -87.0, 17.0, 30.0], np.float32)
    got = _kernel("sigmoid", z)
    np.testing.assert_allclose(got[:3], np.exp(z[:3].astype(np.float64)), rtol=1e-6)  # not stuck at 1.19e-7
    assert got[3] == got[4] == np.float32(1.0)  # saturates to exactly 1, as the exact value rounds


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(KINDS))
def test_nan_and_inf_handled_alike_in_every_backend(name, dtype):
    z = np.array([np.nan, -np.inf, np.inf, -1.5, 0.0, 2.0], dtype)
    got = _kernel(name, z, slope=0.2)
    ref = numpy_ref.activation(name, z.copy(), 0.2)
    if name == "leaky_relu":
        loop_f = lambda v: v if v > 0 else 0.2 * v  # noqa: E731  (what loops._layers builds for this slope)
    else:
        loop_f = loop_ref.ACT[name]
    loops = np.array([loop_f(float(v)) for v in z], dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(loops))
    np.testing.assert_allclose(got[1:], ref[1:], rtol=1e-6)
    np.testing.assert_allclose(got[1:], loops[1:], rtol=1e-6)
    assert np.isnan(got[0]), f"{name} must propagate NaN"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", ["numba", "numpy", "loop"])
def test_cross_entropy_of_huge_logits_is_finite_and_exact(backend, dtype):
    """Logits of +-1000 overflow exp in both dtypes: the loss must be taken as
    max(z) + log(sum exp(z - max z)) - z_y, finite and exact, in training (loss_and_grad)
    and in evaluation (the kernel's path without gradient) alike."""
    model = MLP([1, 3], loss="cross_entropy", dtype=dtype, backend=backend)
    model.set_layer(0, W=[[1000.0, -1000.0, 990.0]], b=[0.0, 0.0, 0.0])
    X, y = [[1.0], [-1.0]], [2, 2]
    # sample 1: z = (1000, -1000, 990), y = 2: loss 10 + log(1 + e^-10 + e^-2000), predicted 0
    # sample 2: z = (-1000, 1000, -990), y = 2: loss 1990 + log(1 + e^-1990 + e^-2000), predicted 1
    want_loss = (10 + math.log1p(math.exp(-10)) + 1990) / 2
    # dL/dz = (softmax - onehot) / 2 per sample; dW = x^T dz, db = column sums of dz
    p0 = 1 / (1 + math.exp(-10))
    dz1, dz2 = np.array([p0, 0.0, 1 - p0 - 1]), np.array([0.0, 1.0, -1.0])
    want_dW, want_db = (dz1 - dz2)[None, :] / 2, (dz1 + dz2) / 2
    rel = 1e-6 if dtype == "float32" else 1e-12
    loss, grads = model.loss_and_grad(X, y)
    (dW, db), = model.split(grads)
    assert np.isfinite(grads).all() and loss == pytest.approx(want_loss, rel=rel)
    np.testing.assert_allclose(dW, want_dW, rtol=0, atol=rel)
    np.testing.assert_allclose(db, want_db, rtol=0, atol=rel)
    ev = model.evaluate(X, y)
    assert ev["loss"] == pytest.approx(want_loss, rel=rel) and ev["accuracy"] == 0.0
