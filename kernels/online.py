"""Online (batch-1) epochs, one compiled call each: fast, numba.

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

``train_epoch_online`` is plain SGD (the pass above). ``train_epoch_online_any`` is any other
optimizer without penalties or clipping (momentum, Nesterov, weight decay, Adam, AdamW's
decoupled decay, RMSprop, Adagrad): the first layer's optimizer state lives transposed too,
scratch.ST, and each row's pass takes the gradient dz[j] * x_s element by element through
the optimizer's element update (the formulas of ``optimizers``, written once), with no
gradient buffer for the first layer; the row, still in L1, then gives z_next[j] (a separate
loop, the same one that computes a call's first product: where the epoch is cut into calls
changes no bit). The layers above and the first layer's bias go through ``update_backward``
and ``update_range`` as in the generic epoch. Such a pass reads and writes three rows (the weights
and two of state) where plain SGD's reads and writes one, and that traffic is most of its cost:
over the 32 x 784 first layer of mnist-b1, one thread, Adam's pass took 3.38 us on a Zen 5, the
same loads and stores with a multiply-add each 2.85 us, plain SGD's 1.22 us. On an Intel Xeon
(family 6 model 167) the divide unit weighed more: 9.6 us with a division per element, 7.5 us with
the reciprocal estimate Adam, RMSprop and Adagrad now divide by (``intrinsics.estimated_quotient``;
the square root, still on that unit, is the rest), 6.2 us for the loads and stores with a
multiply-add each (adam-b1 80k -> 100k samples/s).
"""
from numba import njit
from numba.extending import overload

from .activations import bias_act
from .config import JIT, JIT_INNER, JIT_INNER_INLINE
from .dense import _matmul_t_right
from .epoch import borrow_samples, borrow_workspace, record_batch
from .intrinsics import borrow, flush_denormals, kernel_only, prefetch, restore_fp_mode
from .losses import fused_loss
from .network import bias, block, clear_cut_gradients, forward_from, sgd_backward, update_backward, weight
from .optimizers import (ADAGRAD, ADAM, RMSPROP, adagrad_element, adam_element, flushes, momentum_element,
                         nesterov_element, rmsprop_element, sgd_element, step_coeffs, update_range)
from .static import static_value


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


@njit(**JIT_INNER_INLINE)
def _forward_and_loss(ws, params, z0, data, i, net):
    """Sample i's forward from its first-layer product z0 (1, n_out) (bias, activation, the layers
    above) and its fused loss: ws.stats += (loss, correct), the top delta into ws.deltas."""
    last = net.lay.shape[0] - 1
    y, t = data.y, data.t
    bias_act(z0, bias(params, net, 0), net.kinds[0], net.alphas[0], net.acts)
    forward_from(ws, params, z0, net, 1, None, 0)
    fused_loss(block(ws.deltas, ws.rows, net, last, 1), ws.stats, block(ws.acts, ws.rows, net, last, 1),
               y[i:i + 1] if y.shape[0] else y, t[i:i + 1] if t.shape[0] else t, data.w[:0], net.loss)


@njit(**JIT_INNER_INLINE)
def _next_sample(xs, X, order, s):
    """The aligned row of sample s + 1 (copied into xs' other row, unless s is the last) and a
    prefetch of sample s + 2's row."""
    n = order.shape[0]
    x_next = xs[(s + 1) % 2]
    if s + 1 < n:
        _copy_row(x_next, X[order[s + 1]])
    if s + 2 < n:
        _prefetch_row(X[order[s + 2]])
    return x_next


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
    X = data.x
    ws.stats[:] = 0.0
    mode = flush_denormals(True)  # as every epoch (``epoch``)
    n = order.shape[0]
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
        _forward_and_loss(ws, params, z0, data, i, net)
        sgd_backward(ws, params, x, net, lr, 1)
        for j in range(b0.shape[0]):
            b0[j] -= b0.dtype.type(lr) * dz0[j]
        x_next = _next_sample(xs, X, order, s)
        _update_and_next(z0[0], WT, x[0], dz0, lr, x_next)
        if not record_batch(result, ws.stats, 1, False):
            break
    _transpose(W0, WT)
    restore_fp_mode(mode)


@njit(**JIT_INNER)
def _dot(a, b):
    """a . b, (n,) each: the one loop that computes the first layer's products in the online epoch
    of any optimizer, so that a product does not depend on where an epoch was cut into calls."""
    s = a.dtype.type(0)
    for p in range(a.shape[0]):
        s += a[p] * b[p]
    return s


@njit(**JIT_INNER)
def _row_dots(z, WT, x):
    """z = WT @ x by ``_dot``: WT (n_out, n_in), x (n_in,)."""
    for j in range(WT.shape[0]):
        z[j] = _dot(WT[j], x)


@kernel_only
def update_rows_and_next(z, WT, ST, x, dz, c, kind, nesterov, x_next):
    """The first layer's update by any optimizer and the next sample's product, one output unit's
    row at a time (each row stays in L1 between the two): for row j of WT (n_out, n_in) and of
    its state ST (2, n_out, n_in), each element's gradient g = dz[j] * x[p] goes through the
    optimizer's element update (``optimizers``, the decoupled decay included: c.decay is 1
    without it; denormals flushed as in every update), then z[j] = updated row . x_next.
    ``kind`` as in ``optimizers.apply_update``: with a static ``UpdateChoice`` only that
    optimizer's pass is compiled."""


@overload(update_rows_and_next, jit_options=JIT_INNER)
def _update_rows_and_next_impl(z, WT, ST, x, dz, c, kind, nesterov, x_next):
    choice = static_value(kind)
    only = None if choice is None else choice.kind  # a constant: the other passes are pruned before typing

    def impl(z, WT, ST, x, dz, c, kind, nesterov, x_next):
        k = kind if only is None else only
        n = WT.shape[1]
        mode = flush_denormals(c.flush)  # as every optimizer update (``optimizers``)
        for j in range(WT.shape[0]):
            w, first, second = WT[j], ST[0, j], ST[1, j]
            d = dz[j]
            if k == ADAM:
                for p in range(n):
                    w[p], first[p], second[p] = adam_element(w[p], first[p], second[p], d * x[p], c)
            elif k == RMSPROP:
                for p in range(n):
                    w[p], first[p] = rmsprop_element(w[p], first[p], d * x[p], c)
            elif k == ADAGRAD:
                for p in range(n):
                    w[p], first[p] = adagrad_element(w[p], first[p], d * x[p], c)
            elif c.momentum == 0:
                for p in range(n):
                    w[p] = sgd_element(w[p], d * x[p], c)
            elif not nesterov:
                for p in range(n):
                    w[p], first[p] = momentum_element(w[p], first[p], d * x[p], c)
            else:
                for p in range(n):
                    w[p], first[p] = nesterov_element(w[p], first[p], d * x[p], c)
            z[j] = _dot(w, x_next)
        restore_fp_mode(mode)
    return impl


@njit(**JIT)
def train_epoch_online_any(result, params, grads, slots, ws, scratch, data, order, net, hyper, step0):
    """Any optimizer (state ``slots`` (2, S >= P), ``step0`` updates done before this epoch),
    one sample per step over ``order``; stops at the first non-finite loss, before that
    sample's update. The first layer's weights and their state are copied transposed into
    scratch.WT and scratch.ST at the start and back at the end; layers above it are updated
    by ``network.update_backward``, the first layer's bias by ``optimizers.update_range``."""
    params, grads, slots = borrow(params), borrow(grads), borrow(slots)
    ws, data, order = borrow_workspace(ws), borrow_samples(data), borrow(order)
    WT, ST, xs = borrow(scratch.WT), borrow(scratch.ST), borrow(scratch.xs)
    X = data.x
    ws.stats[:] = 0.0
    mode = flush_denormals(flushes(hyper))  # as every epoch (``epoch``)
    n = order.shape[0]
    clear_cut_gradients(grads, net, hyper, n)
    W0, b0, gb0 = weight(params, net, 0), bias(params, net, 0), bias(grads, net, 0)
    S0 = (weight(slots[0], net, 0), weight(slots[1], net, 0))
    bias_slots = (bias(slots[0], net, 0), bias(slots[1], net, 0))
    _transpose(WT, W0)
    _transpose(ST[0], S0[0])
    _transpose(ST[1], S0[1])
    z0 = block(ws.acts, ws.rows, net, 0, 1)
    dz0 = block(ws.deltas, ws.rows, net, 0, 1)[0]
    nesterov = hyper.nesterov != 0
    if n > 0:
        _copy_row(xs[0], X[order[0]])
        _row_dots(z0[0], WT, xs[0])
    for s in range(n):
        i = order[s]
        x = xs[s % 2:s % 2 + 1]
        _forward_and_loss(ws, params, z0, data, i, net)
        if not record_batch(result, ws.stats, 1, False):  # a non-finite loss: no update
            break
        step = step0 + result[0].steps
        update_backward(grads, slots, ws, params, x, net, hyper, step, None, 1)
        _copy_row(gb0, dz0)
        update_range(b0, bias_slots[0], bias_slots[1], gb0, hyper, step)
        x_next = _next_sample(xs, X, order, s)
        update_rows_and_next(z0[0], WT, ST, x[0], dz0, step_coeffs(hyper, step, params), hyper.kind, nesterov,
                             x_next)
    _transpose(W0, WT)
    _transpose(S0[0], ST[0])
    _transpose(S0[1], ST[1])
    restore_fp_mode(mode)
