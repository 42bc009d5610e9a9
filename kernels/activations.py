"""Hidden-layer activations and their derivatives: fast, numba.

Activation ids are small ints so one compiled kernel serves every layer.
Derivatives are taken from the activation's output ``a`` (not from ``z``),
so the forward pass stores one buffer per layer.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, JIT_PARALLEL, PARALLEL_MIN_WORK

IDENTITY, TANH, SIGMOID, RELU, LEAKY_RELU, STEP = 0, 1, 2, 3, 4, 5


@njit(**JIT)
def act_value(z, kind, alpha, one):
    if kind == TANH:
        return np.tanh(z)
    if kind == SIGMOID:
        if z >= 0:
            return one / (one + np.exp(-z))
        e = np.exp(z)
        return e / (one + e)
    if kind == RELU:
        return z if z > 0 else one - one
    if kind == LEAKY_RELU:
        return z if z > 0 else alpha * z
    if kind == STEP:
        return one if z >= 0 else one - one
    return z


@njit(**JIT)
def act_slope(a, kind, alpha, one):
    """d act / d z, written in terms of the output a = act(z)."""
    if kind == TANH:
        return one - a * a
    if kind == SIGMOID:
        return a * (one - a)
    if kind == RELU:
        return one if a > 0 else one - one
    if kind == LEAKY_RELU:
        return one if a > 0 else alpha
    if kind == STEP:
        return one - one
    return one


@njit(**JIT)
def _bias_act_row(row, b, kind, alpha, one):
    for j in range(row.shape[0]):
        row[j] = act_value(row[j] + b[j], kind, alpha, one)


@njit(**JIT_PARALLEL)
def bias_act(out, b, kind, alpha):
    """out[i, :] = act(out[i, :] + b), in place. out (m, n), b (n,)."""
    one = out.dtype.type(1)
    alpha = out.dtype.type(alpha)
    m, n = out.shape
    if m * n < PARALLEL_MIN_WORK or m == 1:
        for i in range(m):
            _bias_act_row(out[i], b, kind, alpha, one)
    else:
        for i in prange(m):
            _bias_act_row(out[i], b, kind, alpha, one)


@njit(**JIT)
def _slope_row(dz, a, kind, alpha, one):
    for j in range(dz.shape[0]):
        dz[j] *= act_slope(a[j], kind, alpha, one)


@njit(**JIT)
def act_backward(dz, a, kind, alpha):
    """dz *= act'(z), in place, from the outputs a. dz, a (m, n). Serial: a few
    flops per element, memory-bound; a parallel region would cost more than it saves."""
    if kind == IDENTITY:
        return
    one = dz.dtype.type(1)
    alpha = dz.dtype.type(alpha)
    for i in range(dz.shape[0]):
        _slope_row(dz[i], a[i], kind, alpha, one)
