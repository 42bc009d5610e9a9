"""One training epoch in one compiled call: fast, numba.

For each mini-batch of ``plan.order``: gather its rows into the batch buffers, forward,
fused loss, backward, update. Python runs only at epoch boundaries. ``order`` may repeat
indices (sampling with replacement): a batch's rows are copied, never written back (``batches``).
The kernel cut over Numba's threads (``Net.parts``, ``split``) copies each next batch into a second
set of batch buffers during the step before it, its pieces sharing the rows out in the first layer's
parallel region (``train_epoch``'s ``ahead``, ``network.update_backward_ahead``): the same steps on the
same rows, without a serial copy between steps (Adam, fashion net, Intel Xeon model 167, 2 vCPUs, both ways
alternated in one process: +1.5% samples/s at batch 64, +2.3% at 256, +3.6% at 1,024).
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
from numba.extending import overload

from .batches import batch_rows, batch_views, copy_ahead, gather_ahead, gather_rows, next_batch, to_copy
from .config import JIT, JIT_INNER, JIT_INNER_INLINE
from .intrinsics import borrow, flush_denormals, kernel_only, restore_fp_mode
from .network import (clear_cut_gradients, copies_ahead, loss_and_sgd, top_loss, train_forward,
                      update_backward_ahead)
from .optimizers import flushes
from .static import absent
from .structs import CORRECT, LOSS_SUM, WEIGHT_SUM, Batching, Samples, Workspace


@njit(**JIT_INNER_INLINE)
def borrow_workspace(ws):
    """The workspace with its buffers borrowed (views of them are not reference-counted)."""
    return Workspace(borrow(ws.acts), borrow(ws.deltas), ws.stats, ws.rows, borrow(ws.wt), borrow(ws.room),
                     borrow(ws.tiles))


@njit(**JIT_INNER_INLINE)
def borrow_samples(s):
    return Samples(borrow(s.x), borrow(s.y), borrow(s.t), borrow(s.w))


@njit(**JIT_INNER_INLINE)
def borrow_plan(plan):
    return Batching(borrow(plan.order), plan.size, plan.drop_last)


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


@njit(**JIT_INNER_INLINE)
def _train_step(result, params, grads, slots, ws, m, x, y, t, w, net, hyper, step0, drop, job):
    """One batch's forward, loss, and backward with each layer's update, the next batch copied ahead meanwhile
    when ``job`` is a ``NextBatch`` (``network.update_backward_ahead``); False, with no update, when its loss is
    not finite."""
    train_forward(ws, params, x, net, drop, step0 + result[0].steps + 1)
    top_loss(ws, x, y, t, w, net, True)
    if not record_batch(result, ws.stats, m, w.shape[0] > 0):  # a non-finite loss: no update
        return False
    update_backward_ahead(grads, slots, ws, params, x, net, hyper, step0 + result[0].steps, drop, job)
    add_penalty(result, ws.stats)
    return True


@njit(**JIT_INNER)
def _steps(result, params, grads, slots, ws, batch, data, plan, net, hyper, step0, drop, ahead):
    """``train_epoch``'s batches, each copied into ``batch`` before its step (``ahead`` unused)."""
    for start in range(0, plan.order.shape[0], plan.size):
        m, xm, ym, tm, wm = next_batch(batch, data, plan, start)
        if m == 0:
            break
        if weightless(wm):
            continue
        if not _train_step(result, params, grads, slots, ws, m, xm, ym, tm, wm, net, hyper, step0, drop, None):
            break


@njit(**JIT_INNER)
def _steps_copying_ahead(result, params, grads, slots, ws, batch, data, plan, net, hyper, step0, drop, ahead):
    """``train_epoch``'s batches in the buffers ``batch`` and ``ahead`` in turn: the first copied before its step,
    each next one into the other buffers during the step before it (``network.update_backward_ahead``). The same
    steps on the same rows as ``_steps``."""
    start, m, here = 0, batch_rows(plan, 0), 0
    idx = to_copy(plan, 0, m)
    gather_rows(batch, data, idx, 0, idx.shape[0])
    while m > 0:
        xm, ym, tm, wm = batch_views(batch if here == 0 else ahead, data, plan, start, m)
        following = start + plan.size
        n = batch_rows(plan, following)
        job = copy_ahead(ahead if here == 0 else batch, data, to_copy(plan, following, n))
        if weightless(wm):
            gather_ahead(job, 1, 0)
        elif not _train_step(result, params, grads, slots, ws, m, xm, ym, tm, wm, net, hyper, step0, drop, job):
            break
        start, m, here = following, n, 1 - here


@kernel_only
def epoch_steps(result, params, grads, slots, ws, batch, data, plan, net, hyper, step0, drop, ahead):
    """``train_epoch``'s batches: ``_steps_copying_ahead`` when it has second batch buffers ``ahead`` and
    ``network.copies_ahead`` says the first layer's cut step can copy into them, else ``_steps``."""


@overload(epoch_steps, jit_options=JIT_INNER)
def _epoch_steps_impl(result, params, grads, slots, ws, batch, data, plan, net, hyper, step0, drop, ahead):
    return (_steps_copying_ahead if copies_ahead(net, hyper, ahead) else _steps).py_func


@njit(**JIT)
def train_epoch(result, params, grads, slots, ws, batch, data, plan, net, hyper, step0, drop=None, ahead=None):
    """Mini-batch training with any optimizer (state ``slots`` (2, S >= P), ``step0`` updates done
    before this epoch); stops at the first non-finite batch loss. ``drop``: dropout's
    ``DropoutWork`` (the masks of update ``step0 + k`` in the k-th batch) or None. ``ahead``: None, or
    a second set of batch buffers like ``batch``, into which a kernel that cuts copies each next batch
    during the step before it (``epoch_steps``)."""
    params, grads, slots = borrow(params), borrow(grads), borrow(slots)
    ws, batch, data, plan = borrow_workspace(ws), borrow_samples(batch), borrow_samples(data), borrow_plan(plan)
    ws.stats[:] = 0.0
    clear_cut_gradients(grads, net, hyper, plan.order.shape[0])
    mode = flush_denormals(flushes(hyper))  # see the module docstring
    epoch_steps(result, params, grads, slots, ws, batch, data, plan, net, hyper, step0, drop, borrowed(ahead))
    restore_fp_mode(mode)


@kernel_only
def borrowed(samples):
    """``borrow_samples(samples)``, or None for None."""


@overload(borrowed, jit_options=JIT_INNER, inline="always")
def _borrowed_impl(samples):
    if absent(samples):
        return lambda samples: None
    return lambda samples: borrow_samples(samples)


@njit(**JIT)
def train_epoch_sgd(result, params, ws, batch, data, plan, net, lr):
    """Mini-batch plain SGD (no momentum, no weight decay), the update fused into the
    backward pass: no gradient buffer, no optimizer pass. Same stopping rule."""
    params, ws, batch, data = borrow(params), borrow_workspace(ws), borrow_samples(batch), borrow_samples(data)
    plan = borrow_plan(plan)
    ws.stats[:] = 0.0
    mode = flush_denormals(True)  # see the module docstring
    for start in range(0, plan.order.shape[0], plan.size):
        m, xm, ym, tm, wm = next_batch(batch, data, plan, start)
        if m == 0:
            break
        if weightless(wm):
            continue
        loss_and_sgd(ws, params, xm, ym, tm, wm, net, lr)
        if not record_batch(result, ws.stats, m, wm.shape[0] > 0):
            break
    restore_fp_mode(mode)
