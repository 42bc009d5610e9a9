"""A whole MLP forward and backward over flat buffers: fast, numba.

Layout (built by ``fastmlp.architecture``): ``lay`` is an int64 (L, 5) table,
one row per layer: n_in, n_out, offset of W in params, offset of b in params,
offset of the layer's (cap, n_out) block in the activation buffers. W is
(n_in, n_out) row-major, so z = x @ W + b. ``acts`` holds each layer's output
a = act(z) for the first m rows; ``deltas`` the same layout for dL/dz.
Gradients use the params layout. Nothing here allocates.
"""
import numpy as np
from numba import njit

from .activations import act_backward
from .config import JIT, JIT_INLINE, JIT_INNER, JIT_INNER_INLINE
from .dense import dense_backward, dense_dx, dense_forward, dense_sgd
from .losses import loss_grad
from .views import matrix

N_IN, N_OUT, W_OFF, B_OFF, A_OFF = 0, 1, 2, 3, 4


@njit(**JIT_INNER_INLINE)
def weight(params, lay, l):
    return matrix(params, lay[l, W_OFF], lay[l, N_IN], lay[l, N_OUT])


@njit(**JIT_INNER_INLINE)
def bias(params, lay, l):
    b = lay[l, B_OFF]
    return params[b:b + lay[l, N_OUT]]


@njit(**JIT_INNER_INLINE)
def block(buf, lay, l, m):
    return matrix(buf, lay[l, A_OFF], m, lay[l, N_OUT])


@njit(**JIT_INNER_INLINE)
def forward_from(acts, params, a_in, lay, kinds, alphas, first):
    """Layers first.. on the m rows of a_in (the input to layer ``first``), outputs into acts."""
    m = a_in.shape[0]
    for l in range(first, lay.shape[0]):
        out = block(acts, lay, l, m)
        dense_forward(out, a_in, weight(params, lay, l), bias(params, lay, l), kinds[l], alphas[l])
        a_in = out


@njit(**JIT_INLINE)
def forward(acts, params, x, lay, kinds, alphas):
    """Each layer's output into acts, for the m = len(x) rows of x (m, n_in)."""
    forward_from(acts, params, x, lay, kinds, alphas, 0)


@njit(**JIT)
def backward(grads, deltas, acts, params, x, lay, kinds, alphas):
    """Gradients from the top delta (already in deltas' last block) down to the inputs."""
    m = x.shape[0]
    empty = x[:0]
    for l in range(lay.shape[0] - 1, -1, -1):
        dz = block(deltas, lay, l, m)
        if l > 0:
            a_in = block(acts, lay, l - 1, m)
            dx = block(deltas, lay, l - 1, m)
        else:
            a_in = x
            dx = empty
        dense_backward(dx, weight(grads, lay, l), bias(grads, lay, l), dz, a_in, weight(params, lay, l))
        if l > 0:
            act_backward(dx, a_in, kinds[l - 1], alphas[l - 1])


@njit(**JIT)
def loss_and_grad(grads, stats, acts, deltas, params, x, y, t, lay, kinds, alphas, loss):
    """Forward, fused loss, backward for one batch; stats += (loss sum, correct)."""
    m = x.shape[0]
    last = lay.shape[0] - 1
    forward(acts, params, x, lay, kinds, alphas)
    loss_grad(block(deltas, lay, last, m), stats, block(acts, lay, last, m), y, t, loss)
    backward(grads, deltas, acts, params, x, lay, kinds, alphas)


@njit(**JIT)
def evaluate(stats, acts, params, x, y, t, lay, kinds, alphas, loss):
    """Forward and loss only (no gradient); stats += (loss sum, correct)."""
    m = x.shape[0]
    last = lay.shape[0] - 1
    forward(acts, params, x, lay, kinds, alphas)
    loss_grad(block(acts, lay, last, 0)[:0], stats, block(acts, lay, last, m), y, t, loss)


@njit(**JIT_INLINE)
def loss_and_sgd(stats, acts, deltas, params, x, y, t, lay, kinds, alphas, loss, lr):
    """Forward, fused loss, then backward applying plain SGD layer by layer
    (each layer's dx is taken before its W changes): no gradient buffer, no
    separate optimizer pass. stats += (loss sum, correct)."""
    m = x.shape[0]
    last = lay.shape[0] - 1
    forward(acts, params, x, lay, kinds, alphas)
    loss_grad(block(deltas, lay, last, m), stats, block(acts, lay, last, m), y, t, loss)
    sgd_backward(deltas, acts, params, x, lay, kinds, alphas, lr, 0)


@njit(**JIT_INNER_INLINE)
def sgd_backward(deltas, acts, params, x, lay, kinds, alphas, lr, stop):
    """Plain SGD on layers top..stop from the top delta, each layer's dx taken
    before its W changes; for stop > 0 the delta of layer stop - 1 is left in deltas."""
    m = x.shape[0]
    for l in range(lay.shape[0] - 1, stop - 1, -1):
        dz = block(deltas, lay, l, m)
        W = weight(params, lay, l)
        a_in = x
        if l > 0:
            a_in = block(acts, lay, l - 1, m)
            dx = block(deltas, lay, l - 1, m)
            dense_dx(dx, dz, W)
            act_backward(dx, a_in, kinds[l - 1], alphas[l - 1])
        dense_sgd(W, bias(params, lay, l), a_in, dz, lr)
