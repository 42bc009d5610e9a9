"""Output losses fused with their output link: fast, numba.

Each kernel makes one pass per row and writes dz = dL/dz for the batch-mean
loss (dz may be empty: evaluation only), and adds (sum of per-sample losses,
number correct) into ``stats`` (float64). Shapes: z, dz (m, c); y (m,) int
class ids; t (m, c) real targets.
"""
import numpy as np
from numba import njit

from .config import JIT, JIT_INLINE

SOFTMAX_XENT, MSE, SIGMOID_BCE = 0, 1, 2


@njit(**JIT)
def softmax_xent(dz, stats, z, y):
    """Softmax + cross-entropy: loss_i = logsumexp(z_i) - z_i[y_i]; dz = (softmax - onehot) / m."""
    m, c = z.shape
    grad = dz.size > 0
    inv_m = z.dtype.type(1.0 / m)
    loss = 0.0
    correct = 0
    for i in range(m):
        zi = z[i]
        best = 0
        zmax = zi[0]
        for j in range(1, c):
            if zi[j] > zmax:
                zmax = zi[j]
                best = j
        s = z.dtype.type(0)
        if grad:  # keep the exponentials in dz, scale them after
            for j in range(c):
                e = np.exp(zi[j] - zmax)
                dz[i, j] = e
                s += e
        else:
            for j in range(c):
                s += np.exp(zi[j] - zmax)
        lse = zmax + np.log(s)  # never log of an underflowed softmax
        loss += lse - zi[y[i]]
        correct += best == y[i]
        if grad:
            scale = inv_m / s
            for j in range(c):
                dz[i, j] *= scale
            dz[i, y[i]] -= inv_m
    stats[0] += loss
    stats[1] += correct


@njit(**JIT)
def mse(dz, stats, z, t):
    """Mean squared error over all m*c outputs: dz = 2 (z - t) / (m c). No accuracy."""
    m, c = z.shape
    grad = dz.size > 0
    scale = z.dtype.type(2.0 / (m * c))
    loss = 0.0
    for i in range(m):
        s = 0.0
        for j in range(c):
            r = z[i, j] - t[i, j]
            s += r * r
            if grad:
                dz[i, j] = scale * r
        loss += s / c
    stats[0] += loss


@njit(**JIT)
def sigmoid_bce(dz, stats, z, t):
    """Sigmoid + binary cross-entropy on logits: softplus(z) - t z; dz = (sigmoid(z) - t) / m."""
    m = z.shape[0]
    grad = dz.size > 0
    one = z.dtype.type(1)
    inv_m = z.dtype.type(1.0 / m)
    loss = 0.0
    correct = 0
    for i in range(m):
        zi = z[i, 0]
        ti = t[i, 0]
        e = np.exp(-abs(zi))
        loss += max(zi, one - one) - ti * zi + np.log1p(e)
        correct += (zi > 0) == (ti > 0.5)
        if grad:
            p = one / (one + e) if zi >= 0 else e / (one + e)
            dz[i, 0] = (p - ti) * inv_m
    stats[0] += loss
    stats[1] += correct


@njit(**JIT_INLINE)
def loss_grad(dz, stats, z, y, t, kind):
    """Dispatch on the loss id; y is used by softmax_xent, t by the others."""
    if kind == SOFTMAX_XENT:
        softmax_xent(dz, stats, z, y)
    elif kind == MSE:
        mse(dz, stats, z, t)
    else:
        sigmoid_bce(dz, stats, z, t)
