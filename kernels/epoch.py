"""One training epoch in one compiled call: fast, numba.

For each mini-batch of the given order: gather its rows into the batch
buffers, forward, fused loss, backward, optimizer update. Python runs only
at epoch boundaries. Shapes: X (n, n_in); y (n,) class ids or empty; t (n, c)
targets or empty; order (n,) int64; xb (cap, n_in), yb (cap,), tb (cap, c).
``out`` receives (loss sum, correct, samples seen, steps, diverged).
"""
import numpy as np
from numba import njit

from .config import JIT
from .network import loss_and_grad, loss_and_sgd
from .optimizers import MOMENTUM, SGD, WEIGHT_DECAY, optimizer_step

LOSS_SUM, CORRECT, SEEN, STEPS, DIVERGED = range(5)


@njit(**JIT)
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


@njit(**JIT)
def train_epoch(out, params, grads, s1, s2, acts, deltas, stats, xb, yb, tb,
                X, y, t, order, batch_size, drop_last, lay, kinds, alphas, loss, opt, lr, hp, t0):
    """Mini-batch training over ``order``; stops at the first non-finite batch loss."""
    n = order.shape[0]
    steps = 0
    plain_sgd = opt == SGD and hp[MOMENTUM] == 0 and hp[WEIGHT_DECAY] == 0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        if m < batch_size and drop_last:
            break
        _gather(xb, yb, tb, X, y, t, order[start:start + m])
        yy = yb[:m] if y.shape[0] > 0 else yb[:0]
        tt = tb[:m] if t.shape[0] > 0 else tb[:0]
        stats[0] = 0.0
        stats[1] = 0.0
        if plain_sgd:  # update fused into the backward pass
            loss_and_sgd(stats, acts, deltas, params, xb[:m], yy, tt, lay, kinds, alphas, loss, lr)
        else:
            loss_and_grad(grads, stats, acts, deltas, params, xb[:m], yy, tt, lay, kinds, alphas, loss)
        if not np.isfinite(stats[0]):
            out[DIVERGED] = 1.0
            break
        steps += 1
        if not plain_sgd:
            optimizer_step(params, s1, s2, grads, opt, lr, hp, t0 + steps)
        out[LOSS_SUM] += stats[0]
        out[CORRECT] += stats[1]
        out[SEEN] += m
    out[STEPS] += steps
