"""One training epoch in one compiled call: fast, numba.

For each mini-batch of the given order: gather its rows into the batch
buffers, forward, fused loss, backward, update. Python runs only at epoch
boundaries. Two kernels, so that each compiles only when used:
``train_epoch_sgd`` for plain SGD (update fused into the backward pass) and
``train_epoch`` for every optimizer (gradient, then ``optimizer_step``).
Shapes: X (n, n_in); y (n,) class ids or empty; t (n, c) targets or empty;
order (n,) int64; xb (cap, n_in), yb (cap,), tb (cap, c).
``out`` receives (loss sum, correct, samples seen, steps, diverged).
"""
import numpy as np
from numba import njit

from .config import JIT, JIT_INNER, JIT_INNER_INLINE
from .network import loss_and_grad, loss_and_sgd
from .optimizers import optimizer_step
from .views import borrow

LOSS_SUM, CORRECT, SEEN, STEPS, DIVERGED = range(5)


@njit(**JIT_INNER_INLINE)
def _gather(xb, yb, tb, X, y, t, idx):
    """Rows X[idx] -> xb[:len(idx)], likewise y and t."""
    for r in range(idx.shape[0]):  # element loops: no broadcasting, no error paths
        src = idx[r]
        for j in range(X.shape[1]):
            xb[r, j] = X[src, j]
        if y.shape[0] > 0:
            yb[r] = y[src]
        if t.shape[0] > 0:
            for j in range(t.shape[1]):
                tb[r, j] = t[src, j]


@njit(**JIT_INNER_INLINE)
def _next_batch(xb, yb, tb, X, y, t, order, start, batch_size, drop_last):
    """Gather the batch starting at ``start``: (rows, x, y, t) as views of the batch
    buffers (y or t empty when unused); rows is 0 when the epoch is over."""
    m = min(batch_size, order.shape[0] - start)
    if m < batch_size and drop_last:
        m = 0
    if m == 1:  # one row is contiguous already: no copy
        i = order[start]
        return m, X[i:i + 1], y[i:i + 1] if y.shape[0] else yb[:0], t[i:i + 1] if t.shape[0] else tb[:0]
    _gather(xb, yb, tb, X, y, t, order[start:start + m])
    return m, xb[:m], yb[:m] if y.shape[0] else yb[:0], tb[:m] if t.shape[0] else tb[:0]


@njit(**JIT_INNER_INLINE)
def _record(out, stats, m):
    """Add a finished batch to ``out``; False (and the diverged flag) if its loss is not finite."""
    if not np.isfinite(stats[0]):
        out[DIVERGED] = 1.0
        return False
    out[LOSS_SUM] += stats[0]
    out[CORRECT] += stats[1]
    out[SEEN] += m
    out[STEPS] += 1
    stats[0] = 0.0
    stats[1] = 0.0
    return True


@njit(**JIT)
def train_epoch(out, params, grads, s1, s2, acts, deltas, stats, xb, yb, tb,
                X, y, t, order, batch_size, drop_last, lay, kinds, alphas, loss, opt, lr, hp, t0):
    """Mini-batch training with any optimizer; stops at the first non-finite batch loss."""
    params, grads, s1, s2, acts, deltas = borrow(params), borrow(grads), borrow(s1), borrow(s2), borrow(acts), borrow(deltas)
    xb, yb, tb, X, y, t, order = borrow(xb), borrow(yb), borrow(tb), borrow(X), borrow(y), borrow(t), borrow(order)
    stats[:] = 0.0
    for start in range(0, order.shape[0], batch_size):
        m, xm, ym, tm = _next_batch(xb, yb, tb, X, y, t, order, start, batch_size, drop_last)
        if m == 0:
            break
        loss_and_grad(grads, stats, acts, deltas, params, xm, ym, tm, lay, kinds, alphas, loss)
        if not _record(out, stats, m):
            break
        optimizer_step(params, s1, s2, grads, opt, lr, hp, t0 + int(out[STEPS]))


@njit(**JIT)
def train_epoch_sgd(out, params, acts, deltas, stats, xb, yb, tb,
                    X, y, t, order, batch_size, drop_last, lay, kinds, alphas, loss, lr):
    """Mini-batch plain SGD (no momentum, no weight decay), the update fused into the
    backward pass: no gradient buffer, no optimizer pass. Same stopping rule."""
    params, acts, deltas = borrow(params), borrow(acts), borrow(deltas)
    xb, yb, tb, X, y, t, order = borrow(xb), borrow(yb), borrow(tb), borrow(X), borrow(y), borrow(t), borrow(order)
    stats[:] = 0.0
    for start in range(0, order.shape[0], batch_size):
        m, xm, ym, tm = _next_batch(xb, yb, tb, X, y, t, order, start, batch_size, drop_last)
        if m == 0:
            break
        loss_and_sgd(stats, acts, deltas, params, xm, ym, tm, lay, kinds, alphas, loss, lr)
        if not _record(out, stats, m):
            break
