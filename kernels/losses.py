"""Output losses fused with their output link: fast, numba.

Each kernel makes one pass per row and writes dz = dL/dz for the batch loss (dz may be
empty: evaluation only), and adds (sum of per-sample losses, number correct) into
``stats`` (float64, slots named in ``structs``). Shapes: z, dz (m, c); y (m,) int class
ids; t (m, c) real targets; w (m,) sample weights or empty.

Without weights the batch loss is the mean of the per-sample losses (dz carries 1/m).
With weights it is sum_i w_i l_i / sum_i w_i (scikit-learn's convention): dz carries
w_i / sum w, stats[LOSS_SUM] gets sum_i w_i l_i and stats[WEIGHT_SUM] gets sum_i w_i
(the caller divides). Each loss body takes a constant ``weighted`` flag and is compiled
twice through its kernel (``weighted`` False or True, chosen once per call): the
unweighted copy is the code of before weights existed, their branches folded away.
``fused_loss`` with a ``LossChoice`` (``structs``, passed as ``static.Static``) compiles the one
body a training uses, weighted or not; with a loss id, every kernel (``loss_grad``).
"""
import numpy as np
from numba import njit
from numba.extending import overload

from .config import JIT, JIT_INLINE, JIT_INNER, JIT_INNER_INLINE
from .intrinsics import kernel_only
from .static import static_value
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
def row_scale(w, i, inv_w, inv_m, weighted):
    """dz's factor for row i: 1/m without weights, w_i / sum w with them."""
    return w[i] * inv_w if weighted else inv_m


@njit(**JIT_INNER_INLINE)
def share(w, i, value, weighted):
    """Row i's share of the loss sum: the loss, or w_i times it."""
    return w[i] * value if weighted else value


@njit(**JIT_INNER_INLINE)
def row_max(zi):
    """(largest value, its first index) of one row of logits."""
    best = 0
    zmax = zi[0]
    for j in range(1, zi.shape[0]):
        if zi[j] > zmax:
            zmax = zi[j]
            best = j
    return zmax, best


@njit(**JIT_INNER_INLINE)
def add_stats(stats, loss, correct, total, weighted):
    stats[LOSS_SUM] += loss
    stats[CORRECT] += correct
    if weighted:
        stats[WEIGHT_SUM] += total


@njit(**JIT_INNER_INLINE)
def _softmax_xent(dz, stats, z, y, w, weighted):
    """The body of ``softmax_xent`` (``weighted``: a constant, see the module's docstring)."""
    m, c = z.shape
    grad = dz.size > 0
    inv_m = z.dtype.type(1.0 / m)
    total, inv_w = weight_scale(w, z.dtype)
    loss = 0.0
    correct = 0
    for i in range(m):
        zi = z[i]
        zmax, best = row_max(zi)
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
        loss += share(w, i, lse - zi[y[i]], weighted)
        correct += best == y[i]
        if grad:
            r = row_scale(w, i, inv_w, inv_m, weighted)
            scale = r / s
            for j in range(c):
                dz[i, j] *= scale
            dz[i, y[i]] -= r
    add_stats(stats, loss, correct, total, weighted)


@njit(**JIT_INNER_INLINE)
def _mse(dz, stats, z, t, w, weighted):
    """The body of ``mse`` (``weighted``: a constant, see the module's docstring)."""
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
        loss += share(w, i, s / c, weighted)
        if grad and weighted:  # 1/m -> w_i / sum w
            f = z.dtype.type(m) * (w[i] * inv_w)
            for j in range(c):
                dz[i, j] *= f
    add_stats(stats, loss, 0, total, weighted)


@njit(**JIT_INNER_INLINE)
def _sigmoid_bce(dz, stats, z, t, w, weighted):
    """The body of ``sigmoid_bce`` (``weighted``: a constant, see the module's docstring)."""
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
        loss += share(w, i, max(zi, one - one) - ti * zi + np.log1p(e), weighted)
        correct += (zi > 0) == (ti > 0.5)
        if grad:
            p = one / (one + e) if zi >= 0 else e / (one + e)
            dz[i, 0] = (p - ti) * row_scale(w, i, inv_w, inv_m, weighted)
    add_stats(stats, loss, correct, total, weighted)


@njit(**JIT_INNER_INLINE)
def _sigmoid_xent(dz, stats, z, t, w, weighted):
    """The body of ``sigmoid_xent`` (``weighted``: a constant, see the module's docstring)."""
    m, c = z.shape
    grad = dz.size > 0
    one = z.dtype.type(1)
    inv_mc = z.dtype.type(1.0 / (m * c))
    inv_c = z.dtype.type(1.0 / c)
    total, inv_w = weight_scale(w, z.dtype)
    loss = 0.0
    correct = 0
    for i in range(m):
        r = inv_c * (w[i] * inv_w) if weighted else inv_mc
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
        loss += share(w, i, s / c, weighted)
        correct += right == c
    add_stats(stats, loss, correct, total, weighted)


@njit(**JIT_INNER_INLINE)
def _softmax_mse(dz, stats, z, y, w, weighted):
    """The body of ``softmax_mse`` (``weighted``: a constant, see the module's docstring)."""
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
        zmax, best = row_max(zi)
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
        loss += share(w, i, sq / c, weighted)
        correct += best == y[i]
        if grad:
            r = row_scale(w, i, inv_w, inv_m, weighted)
            for j in range(c):
                p = dz[i, j]
                d = p - one if j == y[i] else p
                dz[i, j] = p * (two_c * d - gp) * r
    add_stats(stats, loss, correct, total, weighted)


# -- the kernels: each runs its body's unweighted or weighted copy (one test per call) -----------
@njit(**JIT)
def softmax_xent(dz, stats, z, y, w):
    """Softmax + cross-entropy: loss_i = logsumexp(z_i) - z_i[y_i]; dz = (softmax - onehot) / m."""
    _softmax_xent(dz, stats, z, y, w, False) if w.shape[0] == 0 else _softmax_xent(dz, stats, z, y, w, True)


@njit(**JIT)
def mse(dz, stats, z, t, w):
    """Mean squared error over all m*c outputs: dz = 2 (z - t) / (m c). No accuracy."""
    _mse(dz, stats, z, t, w, False) if w.shape[0] == 0 else _mse(dz, stats, z, t, w, True)


@njit(**JIT)
def sigmoid_bce(dz, stats, z, t, w):
    """Sigmoid + binary cross-entropy on logits: softplus(z) - t z; dz = (sigmoid(z) - t) / m."""
    _sigmoid_bce(dz, stats, z, t, w, False) if w.shape[0] == 0 else _sigmoid_bce(dz, stats, z, t, w, True)


@njit(**JIT)
def sigmoid_xent(dz, stats, z, t, w):
    """Multi-label: a sigmoid + binary cross-entropy per output, averaged over the c outputs:
    loss_i = mean_j softplus(z_ij) - t_ij z_ij (log1p form: no overflow); dz = (sigmoid(z) - t) / (m c).
    A sample is correct when every one of its c labels is ((z > 0) == (t > 0.5)): subset accuracy."""
    _sigmoid_xent(dz, stats, z, t, w, False) if w.shape[0] == 0 else _sigmoid_xent(dz, stats, z, t, w, True)


@njit(**JIT)
def softmax_mse(dz, stats, z, y, w):
    """Softmax + squared error to the one-hot target, averaged over the c outputs:
    loss_i = mean_j (p_ij - [j == y_i])^2 with p = softmax(z_i). Through the softmax's
    Jacobian, with g_j = 2 (p_j - onehot_j) / c: dz_j = p_j (g_j - sum_k g_k p_k) / m."""
    _softmax_mse(dz, stats, z, y, w, False) if w.shape[0] == 0 else _softmax_mse(dz, stats, z, y, w, True)


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


@kernel_only
def fused_loss(dz, stats, z, y, t, w, choice):
    """``loss_grad`` for ``choice``: a loss id (every loss compiled, the weighting tested per
    call) or a static ``LossChoice`` (only that loss's body, weighted or not, is compiled;
    ``w`` is then read only when ``choice.weighted``)."""


@overload(fused_loss, jit_options=JIT_INNER)
def _fused_loss_impl(dz, stats, z, y, t, w, choice):
    c = static_value(choice)
    if c is None:
        return lambda dz, stats, z, y, t, w, choice: loss_grad(dz, stats, z, y, t, w, choice)
    body = {SOFTMAX_XENT: _softmax_xent, MSE: _mse, SIGMOID_BCE: _sigmoid_bce, SIGMOID_XENT: _sigmoid_xent,
            SOFTMAX_MSE: _softmax_mse}[c.loss]
    weighted = bool(c.weighted)
    if c.loss in (SOFTMAX_XENT, SOFTMAX_MSE):  # class ids
        return lambda dz, stats, z, y, t, w, choice: body(dz, stats, z, y, w, weighted)
    return lambda dz, stats, z, y, t, w, choice: body(dz, stats, z, t, w, weighted)
