"""Output losses fused with their output link: fast, numba.

Each kernel makes one pass per row and writes dz = dL/dz for the batch loss (dz may be
empty: evaluation only), and adds (sum of per-sample losses, number correct) into
``stats`` (float64, slots named in ``structs``). Shapes: z, dz (m, c); y (m,) int class
ids; t (m, c) real targets; w (m,) sample weights or empty.

Without weights the batch loss is the mean of the per-sample losses (dz carries 1/m).
With weights it is sum_i w_i l_i / sum_i w_i (scikit-learn's convention): dz carries
w_i / sum w, stats[LOSS_SUM] gets sum_i w_i l_i and stats[WEIGHT_SUM] gets sum_i w_i
(the caller divides). The weights cost one test per row, outside the loops over outputs
(``row_scale``, ``weighted``): the unweighted code runs as fast as before they existed.
"""
import numpy as np
from numba import njit

from .config import JIT, JIT_INLINE, JIT_INNER_INLINE
from .structs import CORRECT, LOSS_SUM, WEIGHT_SUM

SOFTMAX_XENT, MSE, SIGMOID_BCE, SIGMOID_XENT, SOFTMAX_MSE = 0, 1, 2, 3, 4


@njit(**JIT_INNER_INLINE)
def weight_scale(w, dtype):
    """(sum of the weights in float64, 1 / that sum in ``dtype``; 0 for no or zero weights)."""
    total = 0.0
    for i in range(w.shape[0]):
        total += w[i]
    return total, dtype.type(1.0 / total) if total > 0 else dtype.type(0)


@njit(**JIT_INNER_INLINE)
def row_scale(w, i, inv_w, inv_m):
    """dz's factor for row i: 1/m without weights, w_i / sum w with them."""
    return inv_m if w.shape[0] == 0 else w[i] * inv_w


@njit(**JIT_INNER_INLINE)
def weighted(w, i, value):
    """Row i's share of the loss sum: the loss, or w_i times it."""
    return value if w.shape[0] == 0 else w[i] * value


@njit(**JIT_INNER_INLINE)
def add_stats(stats, loss, correct, w, total):
    stats[LOSS_SUM] += loss
    stats[CORRECT] += correct
    if w.shape[0] > 0:
        stats[WEIGHT_SUM] += total


@njit(**JIT)
def softmax_xent(dz, stats, z, y, w):
    """Softmax + cross-entropy: loss_i = logsumexp(z_i) - z_i[y_i]; dz = (softmax - onehot) / m."""
    m, c = z.shape
    grad = dz.size > 0
    inv_m = z.dtype.type(1.0 / m)
    total, inv_w = weight_scale(w, z.dtype)
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
        loss += weighted(w, i, lse - zi[y[i]])
        correct += best == y[i]
        if grad:
            r = row_scale(w, i, inv_w, inv_m)
            scale = r / s
            for j in range(c):
                dz[i, j] *= scale
            dz[i, y[i]] -= r
    add_stats(stats, loss, correct, w, total)


@njit(**JIT)
def mse(dz, stats, z, t, w):
    """Mean squared error over all m*c outputs: dz = 2 (z - t) / (m c). No accuracy."""
    m, c = z.shape
    grad = dz.size > 0
    scale = z.dtype.type(2.0 / (m * c))
    total, inv_w = weight_scale(w, z.dtype)
    loss = 0.0
    for i in range(m):
        s = 0.0
        for j in range(c):
            r = z[i, j] - t[i, j]
            s += r * r
            if grad:
                dz[i, j] = scale * r
        loss += weighted(w, i, s / c)
        if grad and w.shape[0] > 0:  # 1/m -> w_i / sum w
            f = z.dtype.type(m) * (w[i] * inv_w)
            for j in range(c):
                dz[i, j] *= f
    add_stats(stats, loss, 0, w, total)


@njit(**JIT)
def sigmoid_bce(dz, stats, z, t, w):
    """Sigmoid + binary cross-entropy on logits: softplus(z) - t z; dz = (sigmoid(z) - t) / m."""
    m = z.shape[0]
    grad = dz.size > 0
    one = z.dtype.type(1)
    inv_m = z.dtype.type(1.0 / m)
    total, inv_w = weight_scale(w, z.dtype)
    loss = 0.0
    correct = 0
    for i in range(m):
        zi = z[i, 0]
        ti = t[i, 0]
        e = np.exp(-abs(zi))
        loss += weighted(w, i, max(zi, one - one) - ti * zi + np.log1p(e))
        correct += (zi > 0) == (ti > 0.5)
        if grad:
            p = one / (one + e) if zi >= 0 else e / (one + e)
            dz[i, 0] = (p - ti) * row_scale(w, i, inv_w, inv_m)
    add_stats(stats, loss, correct, w, total)


@njit(**JIT)
def sigmoid_xent(dz, stats, z, t, w):
    """Multi-label: a sigmoid + binary cross-entropy per output, averaged over the c outputs:
    loss_i = mean_j softplus(z_ij) - t_ij z_ij (log1p form: no overflow); dz = (sigmoid(z) - t) / (m c).
    A sample is correct when every one of its c labels is ((z > 0) == (t > 0.5)): subset accuracy."""
    m, c = z.shape
    grad = dz.size > 0
    one = z.dtype.type(1)
    inv_mc = z.dtype.type(1.0 / (m * c))
    inv_c = z.dtype.type(1.0 / c)
    total, inv_w = weight_scale(w, z.dtype)
    loss = 0.0
    correct = 0
    for i in range(m):
        r = inv_mc if w.shape[0] == 0 else inv_c * (w[i] * inv_w)
        s = 0.0
        right = 0
        for j in range(c):
            zj = z[i, j]
            tj = t[i, j]
            e = np.exp(-abs(zj))
            s += max(zj, one - one) - tj * zj + np.log1p(e)
            right += (zj > 0) == (tj > 0.5)
            if grad:
                p = one / (one + e) if zj >= 0 else e / (one + e)
                dz[i, j] = (p - tj) * r
        loss += weighted(w, i, s / c)
        correct += right == c
    add_stats(stats, loss, correct, w, total)


@njit(**JIT)
def softmax_mse(dz, stats, z, y, w):
    """Softmax + squared error to the one-hot target, averaged over the c outputs:
    loss_i = mean_j (p_ij - [j == y_i])^2 with p = softmax(z_i). Through the softmax's
    Jacobian, with g_j = 2 (p_j - onehot_j) / c: dz_j = p_j (g_j - sum_k g_k p_k) / m."""
    m, c = z.shape
    grad = dz.size > 0
    zero = z.dtype.type(0)
    one = z.dtype.type(1)
    two_c = z.dtype.type(2.0 / c)
    inv_m = z.dtype.type(1.0 / m)
    total, inv_w = weight_scale(w, z.dtype)
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
        s = zero
        for j in range(c):
            s += np.exp(zi[j] - zmax)
        inv_s = one / s
        sq = zero
        gp = zero  # sum_k g_k p_k
        for j in range(c):
            p = np.exp(zi[j] - zmax) * inv_s
            d = p - one if j == y[i] else p
            sq += d * d
            gp += two_c * d * p
            if grad:
                dz[i, j] = p
        loss += weighted(w, i, sq / c)
        correct += best == y[i]
        if grad:
            r = row_scale(w, i, inv_w, inv_m)
            for j in range(c):
                p = dz[i, j]
                d = p - one if j == y[i] else p
                dz[i, j] = p * (two_c * d - gp) * r
    add_stats(stats, loss, correct, w, total)


@njit(**JIT_INLINE)
def loss_grad(dz, stats, z, y, t, w, kind):
    """Dispatch on the loss id; y is used by the softmax losses, t by the others."""
    if kind == SOFTMAX_XENT:
        softmax_xent(dz, stats, z, y, w)
    elif kind == MSE:
        mse(dz, stats, z, t, w)
    elif kind == SIGMOID_BCE:
        sigmoid_bce(dz, stats, z, t, w)
    elif kind == SIGMOID_XENT:
        sigmoid_xent(dz, stats, z, t, w)
    else:
        softmax_mse(dz, stats, z, y, w)
