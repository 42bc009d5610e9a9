"""One training epoch in one compiled call: fast, numba.

For each mini-batch of ``plan.order``: gather its rows into the batch buffers, forward,
fused loss, backward, update. Python runs only at epoch boundaries. ``order`` may repeat
indices (sampling with replacement): a batch's rows are copied, never written back.
With sample weights (``data.w`` not empty) each batch's loss is its weighted mean, and a
batch whose weights sum to 0 is skipped: no update, not counted in the epoch's totals.
Two kernels, so that each compiles only when used: ``train_epoch_sgd`` for plain SGD (the update fused into the
backward pass) and ``train_epoch`` for every optimizer (each layer's update applied in the
backward pass right after its gradient, or, with a global-norm clip, after the whole
backward: ``network.update_backward``), penalties and
clipping included. ``net.loss``, ``net.acts`` and ``hyper.kind`` may be static choices (``LossChoice``,
``ActChoice``, ``UpdateChoice`` as ``static.Static``, what the numba backend passes): then each kernel
compiles only the loss, weighting, activations, optimizer, penalties and clipping that training uses.
Arguments are the named groups of ``structs``: data and batch are ``Samples`` (the batch
buffers hold up to ws.rows rows), plan a ``Batching``, net a ``Net``, hyper a ``Hyper``;
``result`` is a one-element ``EPOCH_RESULT`` record array the kernel adds into.

An epoch computes with denormals flushed to zero (MXCSR's FTZ and DAZ bits, ``intrinsics.flush_denormals``),
on the calling thread and in every piece it cuts over Numba's threads (``split``), and sets the
thread's mode back at its end, as XLA does in every computation: not only in the optimizer's update
(``optimizers``), but in the products, activations and loss. A weight that Adam with weight decay
drives towards 0 passes 1e-36 on its way (the decay by ``eps``), and the products of such weights
with the activations are denormal, each one a slow microcode assist on Intel CPUs: fashion-b64 with
Adam and weight decay 5e-4 slowed from 128k to 71-96k samples/s over 60 epochs with only the update
flushing, and ran its epochs 36-65 at 131-132k against 94-101k with the whole epoch flushing (Intel
Xeon model 167, 2 vCPUs, alternated); a softmax's probabilities below 1.2e-38 (a confident net) make
the gradient's product slow the same way (Adam without weight decay: 132-139k against 123-129k).
The BLAS's own threads (plain SGD's products on two threads, and a training's first second, before
its cut kernel) keep their own mode: nothing here reaches them. Not when ``eps`` is below the
smallest normal float32 (``optimizers.flushes``), as in the update. A flushed value was below
1.2e-38: the NumPy and loop variants keep it, with the same weights to their tolerances.
"""
import numpy as np
from numba import njit

from .config import JIT, JIT_INNER_INLINE
from .intrinsics import borrow, flush_denormals, prefetch, restore_fp_mode, rows
from .network import clear_cut_gradients, loss_and_sgd, top_loss, train_forward, update_backward
from .optimizers import flushes
from .structs import CORRECT, LOSS_SUM, WEIGHT_SUM, Batching, Samples, Workspace


@njit(**JIT_INNER_INLINE)
def borrow_workspace(ws):
    """The workspace with its buffers borrowed (views of them are not reference-counted)."""
    return Workspace(borrow(ws.acts), borrow(ws.deltas), ws.stats, ws.rows, borrow(ws.wt), borrow(ws.room))


@njit(**JIT_INNER_INLINE)
def borrow_samples(s):
    return Samples(borrow(s.x), borrow(s.y), borrow(s.t), borrow(s.w))


@njit(**JIT_INNER_INLINE)
def borrow_plan(plan):
    return Batching(borrow(plan.order), plan.size, plan.drop_last)


GATHER_AHEAD = 2  # rows of x hinted into cache ahead of the one ``_gather`` copies
LINE_BYTES = 64  # a cache line


@njit(**JIT_INNER_INLINE)
def _gather(batch, data, idx):
    """Rows data[idx] -> batch[:len(idx)] (x, and y, t, w when present). While a row of x is copied,
    the row ``GATHER_AHEAD`` on is hinted into cache line by line (``intrinsics.prefetch``): a
    shuffled epoch's rows lie anywhere in memory, and each copy otherwise waits for its row's first
    lines before the hardware's own prefetch along the row sets in (64 of 8,192 rows of 784 float32,
    one thread, Zen 5: 11.2 us -> 8.1 us a batch)."""
    X, y, t, w = data.x, data.y, data.t, data.w
    step = LINE_BYTES // X.itemsize
    for r in range(idx.shape[0]):  # element loops: no broadcasting, no error paths
        if r + GATHER_AHEAD < idx.shape[0]:
            ahead = X[idx[r + GATHER_AHEAD]]
            for j in range(0, X.shape[1], step):
                prefetch(ahead, j)
        src = idx[r]
        for j in range(X.shape[1]):
            batch.x[r, j] = X[src, j]
        if y.shape[0] > 0:
            batch.y[r] = y[src]
        if t.shape[0] > 0:
            for j in range(t.shape[1]):
                batch.t[r, j] = t[src, j]
        if w.shape[0] > 0:
            batch.w[r] = w[src]


@njit(**JIT_INNER_INLINE)
def _next_batch(batch, data, plan, start):
    """Gather the batch starting at ``start``: (rows, x, y, t, w), views of the batch buffers
    (y, t or w empty when unused); rows is 0 when the epoch is over. Views by ``rows``, their
    length chosen as a number: the fewest instructions to compile (this is inlined in each epoch kernel)."""
    left = plan.order.shape[0] - start
    m = plan.size if plan.size < left else left  # not min(): Numba compiles its min as a function of its own
    if m < plan.size and plan.drop_last:
        m = 0
    y, t, w = data.y, data.t, data.w
    ny, nt, nw = (1 if y.shape[0] else 0), (1 if t.shape[0] else 0), (1 if w.shape[0] else 0)  # 1 for a field in use
    if m == 1:  # one row is contiguous already: no copy
        i = plan.order[start]
        return m, rows(data.x, i, 1), rows(y, i * ny, ny), rows(t, i * nt, nt), rows(w, i * nw, nw)
    _gather(batch, data, rows(plan.order, start, m))
    return m, rows(batch.x, 0, m), rows(batch.y, 0, m * ny), rows(batch.t, 0, m * nt), rows(batch.w, 0, m * nw)


@njit(**JIT_INNER_INLINE)
def weightless(w):
    """True for a weighted batch whose weights are all 0 (it is skipped); False without weights."""
    for i in range(w.shape[0]):
        if w[i] != 0:
            return False
    return w.shape[0] > 0


@njit(**JIT_INNER_INLINE)
def record_batch(result, stats, m, weighted):
    """Add a finished batch to ``result``; False (and the diverged flag) if its loss is not finite.
    A weighted batch adds m times its weighted mean loss (as scikit-learn's loss curve does)."""
    r = result[0]
    if not np.isfinite(stats[LOSS_SUM]):
        r.diverged = True
        return False
    if weighted:
        r.loss_sum += stats[LOSS_SUM] * m / stats[WEIGHT_SUM]
        stats[WEIGHT_SUM] = 0.0
    else:
        r.loss_sum += stats[LOSS_SUM]
    r.correct += stats[CORRECT]
    r.seen += m
    r.steps += 1
    stats[LOSS_SUM] = 0.0
    stats[CORRECT] = 0.0
    return True


@njit(**JIT_INNER_INLINE)
def add_penalty(result, stats):
    """Add the penalty the update put into stats[LOSS_SUM] (0 without one) to the epoch's loss."""
    result[0].loss_sum += stats[LOSS_SUM]
    stats[LOSS_SUM] = 0.0


@njit(**JIT)
def train_epoch(result, params, grads, slots, ws, batch, data, plan, net, hyper, step0, drop=None):
    """Mini-batch training with any optimizer (state ``slots`` (2, S >= P), ``step0`` updates done
    before this epoch); stops at the first non-finite batch loss. ``drop``: dropout's
    ``DropoutWork`` (the masks of update ``step0 + k`` in the k-th batch) or None."""
    params, grads, slots = borrow(params), borrow(grads), borrow(slots)
    ws, batch, data, plan = borrow_workspace(ws), borrow_samples(batch), borrow_samples(data), borrow_plan(plan)
    ws.stats[:] = 0.0
    clear_cut_gradients(grads, net, hyper, plan.order.shape[0])
    mode = flush_denormals(flushes(hyper))  # see the module docstring
    for start in range(0, plan.order.shape[0], plan.size):
        m, xm, ym, tm, wm = _next_batch(batch, data, plan, start)
        if m == 0:
            break
        if weightless(wm):
            continue
        train_forward(ws, params, xm, net, drop, step0 + result[0].steps + 1)
        top_loss(ws, xm, ym, tm, wm, net, True)
        if not record_batch(result, ws.stats, m, wm.shape[0] > 0):  # a non-finite loss: no update
            break
        update_backward(grads, slots, ws, params, xm, net, hyper, step0 + result[0].steps, drop, 0)
        add_penalty(result, ws.stats)
    restore_fp_mode(mode)


@njit(**JIT)
def train_epoch_sgd(result, params, ws, batch, data, plan, net, lr):
    """Mini-batch plain SGD (no momentum, no weight decay), the update fused into the
    backward pass: no gradient buffer, no optimizer pass. Same stopping rule."""
    params, ws, batch, data = borrow(params), borrow_workspace(ws), borrow_samples(batch), borrow_samples(data)
    plan = borrow_plan(plan)
    ws.stats[:] = 0.0
    mode = flush_denormals(True)  # see the module docstring
    for start in range(0, plan.order.shape[0], plan.size):
        m, xm, ym, tm, wm = _next_batch(batch, data, plan, start)
        if m == 0:
            break
        if weightless(wm):
            continue
        loss_and_sgd(ws, params, xm, ym, tm, wm, net, lr)
        if not record_batch(result, ws.stats, m, wm.shape[0] > 0):
            break
    restore_fp_mode(mode)
