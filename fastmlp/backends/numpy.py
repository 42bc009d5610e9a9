"""The ``numpy`` backend: the vectorized reference, the same math over the whole batch at once.

Its epoch loop (:meth:`NumpyBackend.train_epoch`) is the reference for the compiled epoch
kernels: batches in ``order``, the loss and gradient of each (weighted when the data has
sample weights; a batch whose weights are all 0 is skipped), the optimizer's penalties and
clipping (``Optimizer.regularise_numpy``), then its NumPy update (``Optimizer.step_numpy``);
the loop backend shares it. In training, hidden outputs are masked by dropout
(``dropout_masks``: the hash of ``fastmlp.kernels.dropout``, vectorised).
"""
import numpy as np

from .. import buffers
from ..kernels.dropout import GOLDEN, MASK_BITS, MIX1, MIX2
from .base import BackendBase, EpochResult, no_weights, probabilities_from_logits, weighted_total


def activation(name, z, slope):
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, z.dtype.type(slope) * z)
    if name == "step":
        return (z >= 0).astype(z.dtype)
    return z


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype)


def activation_slope(name, a, slope):
    """d act / dz in terms of the output a."""
    one = a.dtype.type(1)
    if name == "tanh":
        return one - a * a
    if name == "sigmoid":
        return a * (one - a)
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "leaky_relu":
        return np.where(a > 0, one, a.dtype.type(slope))
    if name == "step":
        return np.zeros_like(a)
    return np.ones_like(a)


def _stream(base, k):
    """``kernels.dropout.stream`` on uint64 arrays (broadcast; wrapping as in the kernel)."""
    z = base + (k + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    return z ^ (z >> np.uint64(31))


def dropout_masks(dropout, step, l, m, n, dtype):
    """Hidden layer l's dropout masks (m, n) in the batch of update ``step``: 1 / (1 - p) for
    a kept unit, 0 for a dropped one (``kernels.dropout.fill_masks``, vectorised)."""
    u = lambda v: np.array([v], np.uint64)  # noqa: E731  (1-element arrays: numpy scalars warn when they wrap)
    base = _stream(_stream(u(dropout.key), u(step)), u(l))
    rows = _stream(base, np.arange(m, dtype=np.uint64)[:, None])
    h = _stream(rows, np.arange(n, dtype=np.uint64))
    keep = (h >> np.uint64(64 - MASK_BITS)) >= np.uint64(dropout.cut(l))
    return np.where(keep, dtype.type(dropout.scale(l)), dtype.type(0))


def forward_train(arch, params, X, dropout=None, step=0):
    """(outputs, masks): per-layer outputs (m, n_l), the last holding the logits, and the
    dropout masks of each layer's output (None where it has none): with ``dropout`` (a
    ``fastmlp.dropout.Dropout``) those of update ``step``. Each layer takes the output of
    the one below times its mask."""
    outs, masks = [], []
    a = X
    acts = arch.activation + ("identity",)
    for l, ((W, b), name) in enumerate(zip(arch.split(params), acts)):
        out = activation(name, a @ W + b, arch.leaky_slope)
        mask = None
        if dropout is not None and l < arch.n_layers - 1 and dropout.active(l):
            mask = dropout_masks(dropout, step, l, out.shape[0], out.shape[1], out.dtype)
        outs.append(out)
        masks.append(mask)
        a = out if mask is None else out * mask
    return outs, masks


def forward(arch, params, X):
    """List of per-layer outputs (m, n_l); the last holds the logits (inference: no dropout)."""
    return forward_train(arch, params, X)[0]


def loss_from_logits(loss, z, y, t):
    """(per-sample losses (m,), dL/dz for the batch mean (m, c), correct count)."""
    m = z.shape[0]
    if loss in ("cross_entropy", "softmax_mse"):
        zmax = z.max(axis=1, keepdims=True)
        e = np.exp(z - zmax)
        s = e.sum(axis=1, keepdims=True)
        correct = int((z.argmax(axis=1) == y).sum())
        p = e / s
        onehot = np.zeros_like(z)
        onehot[np.arange(m), y] = 1
        if loss == "cross_entropy":
            values = (zmax + np.log(s))[:, 0] - z[np.arange(m), y]
            return values, (p - onehot) / m, correct
        d = p - onehot
        g = 2 * d / z.shape[1]  # dL_i/dp, then through the softmax's Jacobian
        return (d * d).mean(axis=1), p * (g - (g * p).sum(axis=1, keepdims=True)) / m, correct
    if loss == "mse":
        r = z - t
        return (r * r).mean(axis=1), 2 * r / r.size, 0
    e = np.exp(-np.abs(z))
    p = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    elementwise = np.maximum(z, 0) - t * z + np.log1p(e)
    right = (z > 0) == (t > 0.5)
    if loss == "multilabel":  # mean over the labels; correct = every label right
        return elementwise.mean(axis=1), (p - t) / z.size, int(right.all(axis=1).sum())
    return elementwise[:, 0], (p - t) / m, int(right[:, 0].sum())


def weigh(values, delta, w):
    """The loss and dL/dz of the weighted batch mean from those of the plain mean:
    (sum w_i l_i / sum w_i, each row of delta times m w_i / sum w)."""
    total = w.astype(np.float64).sum()
    return (values.astype(np.float64) * w).sum() / total, delta * (w * (w.shape[0] / total)).astype(delta.dtype)[:, None]


def loss_and_grad(arch, params, X, y, t, w=None, dropout=None, step=0):
    """(mean loss, flat gradient in params layout, number correct); the weighted mean with
    sample weights w (n,); with ``dropout``, of the training forward with the masks of
    update ``step``."""
    outs, masks = forward_train(arch, params, X, dropout, step)
    values, delta, correct = loss_from_logits(arch.loss, outs[-1], y, t)
    if not no_weights(w):
        mean, delta = weigh(values, delta, w)
    grads = np.empty(arch.n_params, arch.dtype)
    layers = arch.split(params)
    grad_layers = arch.split(grads)
    acts = arch.activation
    for l in range(arch.n_layers - 1, -1, -1):
        a = outs[l - 1] if l > 0 else X
        mask = masks[l - 1] if l > 0 else None
        a_in = a if mask is None else a * mask
        gW, gb = grad_layers[l]
        gW[...] = a_in.T @ delta
        gb[...] = delta.sum(axis=0)
        if l > 0:
            delta = (delta @ layers[l][0].T) * activation_slope(acts[l - 1], a, arch.leaky_slope)
            if mask is not None:
                delta = delta * mask
    if not no_weights(w):
        return float(mean), grads, correct
    return float(values.astype(np.float64).sum()) / X.shape[0], grads, correct


def evaluate(arch, params, X, y, t, w=None):
    """(sum of per-sample losses, number correct), forward only; with sample weights w (n,),
    n times their weighted mean instead of the sum."""
    values, _, correct = loss_from_logits(arch.loss, forward(arch, params, X)[-1], y, t)
    if not no_weights(w):
        return float(weighted_total((values.astype(np.float64) * w).sum(), w.astype(np.float64).sum(), X.shape[0])), \
            correct
    return float(values.astype(np.float64).sum()), correct


class NumpyBackend(BackendBase):
    """The vectorized reference (see the module's functions)."""

    name = "numpy"
    # the math, as this module's functions (the loop backend puts its own here)
    _forward, _loss_and_grad, _evaluate = staticmethod(forward), staticmethod(loss_and_grad), staticmethod(evaluate)

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        self._grads = None  # the gradient buffer of training, allocated once

    def layer_outputs(self, params, X):
        return self._forward(self.arch, params, X)

    def output(self, params, X):
        return self.layer_outputs(params, X)[-1]

    def probabilities(self, params, X):
        return probabilities_from_logits(self.arch.loss, self.output(params, X))

    def loss_and_grad(self, params, grads, X, y, t, w=None, dropout=None, step=0):
        loss, g, correct = self._loss_and_grad(self.arch, params, X, y, t, w, dropout, step)
        grads[...] = g
        return loss, correct

    def evaluate(self, params, X, y, t, w=None):
        return self._evaluate(self.arch, params, X, y, t, w)

    def train_epoch(self, params, state, optimizer, data, order, lr):
        if self._grads is None:
            self._grads = buffers.zeros(self.arch.n_params, self.arch.dtype)
        with self._fit_lock, np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported
            return self._batches(params, state, optimizer, data, order, lr)

    def _batches(self, params, state, optimizer, data, order, lr):
        g = self._grads
        n, bs = order.shape[0], data.batch_size
        loss_sum, correct, seen, steps = 0.0, 0, 0, 0
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            if len(idx) < bs and data.drop_last:
                break
            yb = data.y[idx] if data.y.size else data.y
            tb = data.t[idx] if data.t.size else data.t
            wb = data.w[idx] if data.weighted else None
            if wb is not None and not wb.any():  # weights summing to 0: skipped, as in the kernels
                continue
            loss, c = self.loss_and_grad(params, g, data.X[idx], yb, tb, wb, data.dropout, state.step + 1)
            if not np.isfinite(loss):
                return EpochResult(loss_sum, correct, seen, steps, True)
            if optimizer.regularises:  # penalties (into the loss) and clipping, on the gradient
                layers = [(W, dW) for (W, _), (dW, _) in zip(self.arch.split(params), self.arch.split(g))]
                loss += optimizer.regularise_numpy(layers, g, len(idx))
            optimizer.step_numpy(params, g, state, lr)
            loss_sum += loss * len(idx)
            correct += c
            seen += len(idx)
            steps += 1
        return EpochResult(loss_sum, correct, seen, steps, False)
