"""Optimizer updates over the flat parameter buffer: fast, numba.

All buffers share the params layout: p, g, s1, s2 (P,). ``hp`` (float64) holds
the optimizer's hyperparameters, ``t`` is the 1-based step number. Updates
follow torch.optim's formulas (weight decay as L2 added to the gradient).
Each element is owned by one iteration: no race under prange.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, JIT_PARALLEL, PARALLEL_MIN_WORK

SGD, ADAM, RMSPROP, ADAGRAD = 0, 1, 2, 3
# hp slots
MOMENTUM, NESTEROV, WEIGHT_DECAY, BETA1, BETA2, EPS, ALPHA, LR_DECAY = range(8)
N_HP = 8


@njit(inline="always", **JIT)
def _sgd(p, g, v, i, lr, mu, nesterov, wd):
    gi = g[i] + wd * p[i]
    if mu != 0:
        v[i] = mu * v[i] + gi
        gi = gi + mu * v[i] if nesterov else v[i]
    p[i] -= lr * gi


@njit(inline="always", **JIT)
def _adam(p, g, m, v, i, step, b1, b2, eps, wd, one, inv_c2):
    gi = g[i] + wd * p[i]
    m[i] = b1 * m[i] + (one - b1) * gi
    v[i] = b2 * v[i] + (one - b2) * gi * gi
    p[i] -= step * m[i] / (np.sqrt(v[i]) * inv_c2 + eps)


@njit(inline="always", **JIT)
def _rmsprop(p, g, v, i, lr, alpha, eps, wd, one):
    gi = g[i] + wd * p[i]
    v[i] = alpha * v[i] + (one - alpha) * gi * gi
    p[i] -= lr * gi / (np.sqrt(v[i]) + eps)


@njit(inline="always", **JIT)
def _adagrad(p, g, s, i, clr, eps, wd):
    gi = g[i] + wd * p[i]
    s[i] += gi * gi
    p[i] -= clr * gi / (np.sqrt(s[i]) + eps)


@njit(**JIT_PARALLEL)
def optimizer_step(p, s1, s2, g, kind, lr, hp, t):
    """One update of p (in place) and its state s1, s2 from the gradient g."""
    T = p.dtype.type
    one = T(1)
    wd = T(hp[WEIGHT_DECAY])
    eps = T(hp[EPS])
    n = p.shape[0]
    par = n >= PARALLEL_MIN_WORK
    if kind == SGD:
        lr_, mu, nest = T(lr), T(hp[MOMENTUM]), hp[NESTEROV] != 0
        if par:
            for i in prange(n):
                _sgd(p, g, s1, i, lr_, mu, nest, wd)
        else:
            for i in range(n):
                _sgd(p, g, s1, i, lr_, mu, nest, wd)
    elif kind == ADAM:
        b1, b2 = hp[BETA1], hp[BETA2]
        step = T(lr / (1.0 - b1 ** t))
        inv_c2 = T(1.0 / np.sqrt(1.0 - b2 ** t))
        b1, b2 = T(b1), T(b2)
        if par:
            for i in prange(n):
                _adam(p, g, s1, s2, i, step, b1, b2, eps, wd, one, inv_c2)
        else:
            for i in range(n):
                _adam(p, g, s1, s2, i, step, b1, b2, eps, wd, one, inv_c2)
    elif kind == RMSPROP:
        lr_, alpha = T(lr), T(hp[ALPHA])
        if par:
            for i in prange(n):
                _rmsprop(p, g, s1, i, lr_, alpha, eps, wd, one)
        else:
            for i in range(n):
                _rmsprop(p, g, s1, i, lr_, alpha, eps, wd, one)
    else:
        clr = T(lr / (1.0 + (t - 1) * hp[LR_DECAY]))
        if par:
            for i in prange(n):
                _adagrad(p, g, s1, i, clr, eps, wd)
        else:
            for i in range(n):
                _adagrad(p, g, s1, i, clr, eps, wd)
