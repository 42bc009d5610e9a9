"""Penalties and gradient clipping between the backward pass and the update: fast, numba.

What the optimizer's ``Hyper`` asks of the gradient before the update, in this order (each
option is off at 0 and then costs one branch, outside every loop):

    l2          loss += l2 / 2 * sum(W^2) / m,  dW += l2 * W / m      (scikit-learn's ``alpha``;
                                                                      m = rows in the batch)
    l1          loss += l1 * sum(|W|),          dW += l1 * sign(W)    (0 at W = 0)
    clip_value  g = min(max(g, -c), c)                                (every element, biases too)
    clip_norm   g *= c / (||g|| + 1e-6) when that is below 1          (torch.nn.utils.clip_grad_norm_:
                                                                      one L2 norm over all gradients)

The penalties cover the weights W only, never the biases. The penalty added to the loss
is written into ``stats[LOSS_SUM]`` as a sum over the batch's m rows (m times the amount
added to the batch's mean loss), with the weights before the update; sums run in float64.
With a static ``UpdateChoice`` as ``hyper.kind`` (``structs``) and no penalty or value
clipping, ``regularise_layer`` compiles to nothing.
"""
import numpy as np
from numba import njit
from numba.extending import overload

from .config import JIT_INNER, JIT_INNER_INLINE
from .intrinsics import kernel_only
from .static import static_field
from .structs import LOSS_SUM

NORM_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s


@njit(**JIT_INNER)
def _penalise(dW, W, l2_per_row, l1):
    """dW += l2_per_row * W + l1 * sign(W), both (n,); returns (sum W^2, sum |W|) in float64."""
    sum_sq, sum_abs = 0.0, 0.0
    for i in range(W.shape[0]):
        w = W[i]
        dW[i] += l2_per_row * w + l1 * np.sign(w)
        sum_sq += np.float64(w) * np.float64(w)
        sum_abs += abs(np.float64(w))
    return sum_sq, sum_abs


@njit(**JIT_INNER)
def _clip_values(g, c):
    """g = min(max(g, -c), c), g (n,)."""
    for i in range(g.shape[0]):
        g[i] = min(max(g[i], -c), c)


@njit(**JIT_INNER)
def _sum_sq(g):
    """sum(g^2) over g (n,), in float64."""
    s = 0.0
    for i in range(g.shape[0]):
        s += np.float64(g[i]) * np.float64(g[i])
    return s


@njit(**JIT_INNER)
def _scale(g, c):
    for i in range(g.shape[0]):
        g[i] *= c


@njit(**JIT_INNER_INLINE)
def _regularise(g, p, n_w, hyper, rows, stats):
    """``regularise_layer``'s work, each option tested per call."""
    T = p.dtype.type
    if hyper.l2 != 0 or hyper.l1 != 0:
        sum_sq, sum_abs = _penalise(g[:n_w], p[:n_w], T(hyper.l2 / rows), T(hyper.l1))
        stats[LOSS_SUM] += 0.5 * hyper.l2 * sum_sq + rows * hyper.l1 * sum_abs
    if hyper.clip_value != 0:
        _clip_values(g, T(hyper.clip_value))


@kernel_only
def regularise_layer(g, p, n_w, hyper, rows, stats):
    """One layer's penalties and value clipping, in place on its gradient g (n,) (W then b,
    params p alike; the first n_w elements are W) for a batch of ``rows`` rows;
    stats[LOSS_SUM] += the batch's penalty summed over its rows."""


@overload(regularise_layer, jit_options=JIT_INNER)
def _regularise_layer_impl(g, p, n_w, hyper, rows, stats):
    choice = static_field(hyper, "kind")
    if choice is not None and not choice.penalties:
        return lambda g, p, n_w, hyper, rows, stats: None
    return lambda g, p, n_w, hyper, rows, stats: _regularise(g, p, n_w, hyper, rows, stats)


@njit(**JIT_INNER_INLINE)
def clip_global_norm(grads, max_norm):
    """grads (P,) *= max_norm / (||grads|| + 1e-6) when that factor is below 1."""
    coef = max_norm / (np.sqrt(_sum_sq(grads)) + NORM_EPS)
    if coef < 1.0:
        _scale(grads, grads.dtype.type(coef))
