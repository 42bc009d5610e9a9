"""The ``loop`` backend: the textbook per-sample scalar backprop in pure Python.

Lists and floats only (no NumPy in the math). Each sample is pushed forward,
dL/dz is taken at the output, and deltas are carried down layer by layer,
adding each sample's dW and db; the sums are averaged over the batch. In training, each
hidden output is multiplied by its dropout mask (``keep_scale``: the hash of
``fastmlp.kernels.dropout`` on Python ints).
"""
import math

import numpy as np

from ..kernels.dropout import GOLDEN, MASK_BITS, MIX1, MIX2
from .base import no_weights, weighted_total
from .numpy import NumpyBackend

_U64 = (1 << 64) - 1

ACT = {
    "identity": lambda z: z,
    "tanh": math.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)),
    "relu": lambda z: 0.0 if z <= 0 else z,  # NaN stays NaN, as np.maximum(z, 0)
    "step": lambda z: 1.0 if z >= 0 else 0.0,
}
SLOPE = {  # derivative in terms of the output a
    "identity": lambda a: 1.0,
    "tanh": lambda a: 1.0 - a * a,
    "sigmoid": lambda a: a * (1.0 - a),
    "relu": lambda a: 1.0 if a > 0 else 0.0,
    "step": lambda a: 0.0,
}


def _layers(arch, params):
    """Per-layer (W as list of rows, b as list, activation f, slope f')."""
    out = []
    acts = arch.activation + ("identity",)
    for (W, b), name in zip(arch.split(params), acts):
        if name == "leaky_relu":
            s = arch.leaky_slope
            f, df = (lambda z, s=s: z if z > 0 else s * z), (lambda a, s=s: 1.0 if a > 0 else s)
        else:
            f, df = ACT[name], SLOPE[name]
        out.append((W.tolist(), b.tolist(), f, df))
    return out


def _stream(base, k):
    """``kernels.dropout.stream`` on Python ints (each product wrapped to 64 bits)."""
    z = (base + (k + 1) * int(GOLDEN)) & _U64
    z = ((z ^ (z >> 30)) * int(MIX1)) & _U64
    z = ((z ^ (z >> 27)) * int(MIX2)) & _U64
    return z ^ (z >> 31)


def keep_scale(dropout, step, l, row, unit):
    """The dropout mask of one unit: 1 / (1 - p) if unit ``unit`` of hidden layer l in row
    ``row`` of the batch of update ``step`` is kept, else 0.0."""
    h = _stream(_stream(_stream(_stream(dropout.key, step), l), row), unit)
    return dropout.scale(l) if h >> (64 - MASK_BITS) >= dropout.cut(l) else 0.0


def _masks_one(layers, dropout, step, row):
    """Per layer, the dropout masks of one sample's outputs (a list), or None (no dropout there)."""
    last = len(layers) - 1
    return [[keep_scale(dropout, step, l, row, j) for j in range(len(b))]
            if dropout is not None and l < last and dropout.active(l) else None
            for l, (_, b, _, _) in enumerate(layers)]


def _input(a, mask):
    """A layer's output as the next layer sees it: times its dropout mask, if any."""
    return a if mask is None else [v * k for v, k in zip(a, mask)]


def _forward_one(layers, x, masks=None):
    """Outputs of every layer for one sample x (list), each before its dropout mask
    (``masks``: per layer a list or None)."""
    outs = []
    a = x
    for l, (W, b, f, _) in enumerate(layers):
        z = [b[j] + sum(a[i] * W[i][j] for i in range(len(a))) for j in range(len(b))]
        out = [f(v) for v in z]
        outs.append(out)
        a = _input(out, masks[l] if masks else None)
    return outs


def _sigmoid_xent_one(z, t):
    """(loss, dL/dz, correct) of one logit z against the target t in [0, 1]: sigmoid and
    binary cross-entropy, log(1 + e^z) - t z in the log1p form."""
    p = 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    return max(z, 0.0) - t * z + math.log1p(math.exp(-abs(z))), p - t, (z > 0) == (t > 0.5)


def _loss_one(loss, z, y, t):
    """(loss, dL/dz, correct) for one sample's output logits z."""
    if loss in ("cross_entropy", "softmax_mse"):
        zmax = max(z)
        e = [math.exp(v - zmax) for v in z]
        s = sum(e)
        p = [v / s for v in e]
        if loss == "cross_entropy":
            dz = list(p)
            dz[y] -= 1.0
            return zmax + math.log(s) - z[y], dz, z.index(zmax) == y
        c = len(z)
        d = [pj - (1.0 if j == y else 0.0) for j, pj in enumerate(p)]
        g = [2.0 * dj / c for dj in d]  # dL/dp, then through the softmax: dz_k = p_k (g_k - sum_j g_j p_j)
        gp = sum(gj * pj for gj, pj in zip(g, p))
        return sum(dj * dj for dj in d) / c, [pk * (gk - gp) for pk, gk in zip(p, g)], z.index(zmax) == y
    if loss == "multilabel":
        each = [_sigmoid_xent_one(zj, tj) for zj, tj in zip(z, t)]
        c = len(z)
        return sum(v for v, _, _ in each) / c, [dj / c for _, dj, _ in each], all(ok for _, _, ok in each)
    if loss == "mse":
        c = len(z)
        # (zi - ti) * (zi - ti), not ** 2: a float power raises OverflowError where the product gives
        # inf, and a diverging fit must end in the trainer's DivergenceWarning, not an exception
        return (sum((zi - ti) * (zi - ti) for zi, ti in zip(z, t)) / c, [2.0 * (zi - ti) / c for zi, ti in zip(z, t)],
                False)
    value, dz, ok = _sigmoid_xent_one(z[0], t[0])
    return value, [dz], ok


def forward(arch, params, X):
    """List of per-layer outputs (arrays, the output layer's being logits)."""
    layers = _layers(arch, params)
    per_sample = [_forward_one(layers, x) for x in X.tolist()]
    return [np.array([outs[l] for outs in per_sample], dtype=arch.dtype) for l in range(len(layers))]


def loss_and_grad(arch, params, X, y, t, w=None, dropout=None, step=0):
    """(mean loss, flat gradient in params layout, number correct); with sample weights w,
    each sample's loss and delta count w_s times and the sums are divided by sum w; with
    ``dropout``, of the training forward with the masks of update ``step``."""
    layers = _layers(arch, params)
    dW = [[[0.0] * len(W[0]) for _ in W] for W, _, _, _ in layers]
    db = [[0.0] * len(b) for _, b, _, _ in layers]
    total, correct = 0.0, 0
    X_rows, t_rows, y_ids = X.tolist(), t.tolist(), y.tolist()
    weights = [1.0] * len(X_rows) if no_weights(w) else w.tolist()
    m = len(X_rows) if no_weights(w) else sum(weights)
    for s, x in enumerate(X_rows):
        masks = _masks_one(layers, dropout, step, s)
        outs = _forward_one(layers, x, masks)
        value, delta, ok = _loss_one(arch.loss, outs[-1], y_ids[s] if y_ids else None, t_rows[s] if t_rows else None)
        if not no_weights(w):
            value, delta = weights[s] * value, [weights[s] * d for d in delta]
        total += value
        correct += ok
        for l in range(len(layers) - 1, -1, -1):
            W, _, _, _ = layers[l]
            a_in = _input(outs[l - 1], masks[l - 1]) if l > 0 else x
            for i, ai in enumerate(a_in):
                row = dW[l][i]
                for j, dj in enumerate(delta):
                    row[j] += ai * dj
            for j, dj in enumerate(delta):
                db[l][j] += dj
            if l > 0:
                slope, a, mask = layers[l - 1][3], outs[l - 1], masks[l - 1]
                delta = [slope(a[i]) * sum(W[i][j] * delta[j] for j in range(len(delta))) for i in range(len(a))]
                if mask is not None:
                    delta = [d * k for d, k in zip(delta, mask)]
    grads = np.empty(arch.n_params, arch.dtype)
    for (gW, gb), dWl, dbl in zip(arch.split(grads), dW, db):
        gW[...] = np.array(dWl) / m
        gb[...] = np.array(dbl) / m
    return total / m, grads, correct


def evaluate(arch, params, X, y, t, w=None):
    """(sum of per-sample losses, number correct), forward only; with sample weights w,
    n times their weighted mean instead of the sum."""
    layers = _layers(arch, params)
    total, correct = 0.0, 0
    y_ids, t_rows = y.tolist(), t.tolist()
    weights = None if no_weights(w) else w.tolist()
    for s, x in enumerate(X.tolist()):
        z = _forward_one(layers, x)[-1]
        value, _, ok = _loss_one(arch.loss, z, y_ids[s] if y_ids else None, t_rows[s] if t_rows else None)
        total += value if weights is None else weights[s] * value
        correct += ok
    if weights is not None:
        return weighted_total(total, sum(weights), len(weights)), correct
    return total, correct


class LoopBackend(NumpyBackend):
    """The per-sample reference: this module's functions, in NumPy's epoch loop."""

    name = "loop"
    _forward, _loss_and_grad, _evaluate = staticmethod(forward), staticmethod(loss_and_grad), staticmethod(evaluate)
