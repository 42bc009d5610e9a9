"""Optimizer updates over the flat parameter buffer: fast, numba.

All buffers share the params layout: p, g, s1, s2 (P,). ``hp`` (float64) holds
the optimizer's hyperparameters, ``t`` is the 1-based step number. Updates
follow torch.optim's formulas (weight decay as L2 added to the gradient).
Large buffers are split into fixed chunks under prange; each element is
owned by one chunk: no race, and the result does not depend on threads.
"""
import numpy as np
from numba import njit, prange

from .config import JIT, JIT_INNER, JIT_PARALLEL, PARALLEL_MIN_WORK

SGD, ADAM, RMSPROP, ADAGRAD = 0, 1, 2, 3
# hp slots
MOMENTUM, NESTEROV, WEIGHT_DECAY, BETA1, BETA2, EPS, ALPHA, LR_DECAY = range(8)
N_HP = 8
CHUNK = 16384


@njit(**JIT_INNER)
def _update(p, s1, s2, g, kind, lr, wd, eps, a, b, e, ca, cb):
    """Update every element; scalars are in p's dtype, ca = 1 - a, cb = 1 - b (see optimizer_step).
    Loops run over range(len): a loop over range(lo, hi) keeps numba's negative-index
    check and does not vectorise (7x slower measured)."""
    n = p.shape[0]
    if kind == SGD and a == 0:  # plain SGD: one branch-free loop that vectorises
        for i in range(n):
            p[i] -= lr * (g[i] + wd * p[i])
    elif kind == SGD and b == 0:  # a = momentum
        for i in range(n):
            s1[i] = a * s1[i] + g[i] + wd * p[i]
            p[i] -= lr * s1[i]
    elif kind == SGD:  # Nesterov
        for i in range(n):
            gi = g[i] + wd * p[i]
            s1[i] = a * s1[i] + gi
            p[i] -= lr * (gi + a * s1[i])
    elif kind == ADAM:  # lr = lr / (1 - beta1^t), a = beta1, b = beta2, e = 1 / sqrt(1 - beta2^t)
        for i in range(n):
            gi = g[i] + wd * p[i]
            s1[i] = a * s1[i] + ca * gi
            s2[i] = b * s2[i] + cb * gi * gi
            p[i] -= lr * s1[i] / (np.sqrt(s2[i]) * e + eps)
    elif kind == RMSPROP:  # a = alpha
        for i in range(n):
            gi = g[i] + wd * p[i]
            s1[i] = a * s1[i] + ca * gi * gi
            p[i] -= lr * gi / (np.sqrt(s1[i]) + eps)
    else:  # ADAGRAD: lr already decayed
        for i in range(n):
            gi = g[i] + wd * p[i]
            s1[i] += gi * gi
            p[i] -= lr * gi / (np.sqrt(s1[i]) + eps)


@njit(**JIT_PARALLEL)
def optimizer_step(p, s1, s2, g, kind, lr, hp, t):
    """One update of p (in place) and its state s1, s2 from the gradient g."""
    a = b = e = 0.0
    if kind == SGD:
        a, b = hp[MOMENTUM], hp[NESTEROV]
    elif kind == ADAM:
        lr = lr / (1.0 - hp[BETA1] ** t)
        a, b, e = hp[BETA1], hp[BETA2], 1.0 / np.sqrt(1.0 - hp[BETA2] ** t)
    elif kind == RMSPROP:
        a = hp[ALPHA]
    else:
        lr = lr / (1.0 + (t - 1) * hp[LR_DECAY])
    T = p.dtype.type
    lr_, wd, eps, a_, b_, e_ = T(lr), T(hp[WEIGHT_DECAY]), T(hp[EPS]), T(a), T(b), T(e)
    ca, cb = T(1.0 - a), T(1.0 - b)  # complements rounded once from float64, as torch does
    n = p.shape[0]
    if n < PARALLEL_MIN_WORK:
        _update(p, s1, s2, g, kind, lr_, wd, eps, a_, b_, e_, ca, cb)
    else:
        for k in prange((n + CHUNK - 1) // CHUNK):
            lo = k * CHUNK
            hi = min(n, lo + CHUNK)
            _update(p[lo:hi], s1[lo:hi], s2[lo:hi], g[lo:hi], kind, lr_, wd, eps, a_, b_, e_, ca, cb)
