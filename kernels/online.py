"""Online (batch-1) plain SGD epoch, one compiled call: fast, numba.

With one sample per step the work is two passes over the first layer's
weights (the largest matrix): the forward product and the rank-1 update.
Both stream it from L2, and that traffic is the step's cost. Here the first
layer's weights live transposed for the epoch, scratch.WT (n_out, n_in), so each
output unit's weights are one contiguous row, and the update for sample s
and the forward product for sample s + 1 share a single pass over each row:

    row -= lr * dz[j] * x_s ;  z_next[j] = row . x_{s+1}

Same arithmetic as updating then multiplying (the sums run in another
order). Each sample is first copied into an aligned scratch row (the pass
runs 25% faster than on rows at arbitrary addresses), and the sample after
it is prefetched so that copy finds it in cache. Layers above the first
use the usual kernels. Arguments are the named groups of ``structs``;
``result`` as in ``epoch``. Unweighted training only (``data.w`` is ignored: the backend
trains weighted data with the ``epoch`` kernels).
"""
from numba import njit

from .activations import bias_act
from .config import JIT, JIT_INNER
from .dense import _matmul_t_right
from .epoch import borrow_samples, borrow_workspace, record_batch
from .intrinsics import borrow, prefetch
from .losses import fused_loss
from .network import bias, block, forward_from, sgd_backward, weight


@njit(**JIT_INNER)
def _prefetch_row(row):
    for p in range(0, row.shape[0], max(1, 64 // row.itemsize)):  # one hint per 64-byte line
        prefetch(row, p)


@njit(**JIT_INNER)
def _copy_row(dst, src):
    for p in range(src.shape[0]):
        dst[p] = src[p]


@njit(**JIT_INNER)
def _transpose(dst, src):
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[j, i] = src[i, j]


@njit(**JIT_INNER)
def _update_and_next(z, WT, x, dz, lr, x_next):
    """WT -= lr * outer(dz, x); z = WT @ x_next, in one pass over WT's rows."""
    T = WT.dtype.type
    for j in range(WT.shape[0]):
        row = WT[j]
        c = T(lr) * dz[j]
        s = T(0)
        for p in range(row.shape[0]):
            v = row[p] - c * x[p]
            row[p] = v
            s += v * x_next[p]
        z[j] = s


@njit(**JIT)
def train_epoch_online(result, params, ws, scratch, data, order, net, lr):
    """Plain SGD, one sample per step, over ``order``; stops at the first non-finite loss.
    The first layer's weights are copied into scratch.WT at the start and back at the end."""
    params, ws, data, order = borrow(params), borrow_workspace(ws), borrow_samples(data), borrow(order)
    WT, xs = borrow(scratch.WT), borrow(scratch.xs)
    X, y, t = data.x, data.y, data.t
    ws.stats[:] = 0.0
    n = order.shape[0]
    last = net.lay.shape[0] - 1
    W0, b0 = weight(params, net, 0), bias(params, net, 0)
    _transpose(WT, W0)
    z0 = block(ws.acts, ws.rows, net, 0, 1)
    dz0 = block(ws.deltas, ws.rows, net, 0, 1)[0]
    if n > 0:
        _copy_row(xs[0], X[order[0]])
        _matmul_t_right(z0, xs[:1], WT)  # z0 = x WT.T
    for s in range(n):
        i = order[s]
        x = xs[s % 2:s % 2 + 1]
        bias_act(z0, b0, net.kinds[0], net.alphas[0], net.acts)
        forward_from(ws, params, z0, net, 1, None, 0)
        fused_loss(block(ws.deltas, ws.rows, net, last, 1), ws.stats, block(ws.acts, ws.rows, net, last, 1),
                  y[i:i + 1] if y.shape[0] else y, t[i:i + 1] if t.shape[0] else t, data.w[:0], net.loss)
        sgd_backward(ws, params, x, net, lr, 1)
        for j in range(b0.shape[0]):
            b0[j] -= b0.dtype.type(lr) * dz0[j]
        x_next = xs[(s + 1) % 2]
        if s + 1 < n:
            _copy_row(x_next, X[order[s + 1]])
        if s + 2 < n:
            _prefetch_row(X[order[s + 2]])
        _update_and_next(z0[0], WT, x[0], dz0, lr, x_next)
        if not record_batch(result, ws.stats, 1, False):
            break
    _transpose(W0, WT)
