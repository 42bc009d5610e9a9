"""A mini-batch's rows copied from the training data into the batch buffers: fast, numba.

An epoch's batches are the rows of its ``order`` taken ``size`` at a time (``Batching``); each is
copied into the batch buffers (a ``Samples`` of up to ``Workspace.rows`` rows) before its forward:
a shuffled order's rows lie anywhere in memory, and the products want them in one block.
``next_batch`` copies the batch that starts at a position and returns views of it. With two sets of
batch buffers the epoch copies each next batch ahead, while the step before it runs (``NextBatch``,
``gather_ahead``: in the pieces of the first layer's cut step, each piece its share of the rows,
``split.split_step``), then takes its views (``batch_views``): 64 rows of 784 float32 took 24.5 us
of a 415 us Adam step on one thread, the other idle meanwhile (Intel Xeon model 167, 2 vCPUs).
"""
from numba import njit
from numba.extending import overload

from .config import JIT_INNER, JIT_INNER_INLINE
from .intrinsics import kernel_only, prefetch, rows
from .static import absent
from .structs import NextBatch, Samples

AHEAD_ROWS = 2  # rows of x hinted into cache ahead of the one ``gather_rows`` copies
LINE_BYTES = 64  # a cache line


@njit(**JIT_INNER_INLINE)
def batch_rows(plan, start):
    """The number of rows of the batch that starts at position ``start`` of the order: 0 when the
    epoch is over (or only a short last batch is left and ``plan.drop_last``)."""
    left = plan.order.shape[0] - start
    if left <= 0:
        return 0
    m = plan.size if plan.size < left else left  # not min(): Numba compiles its min as a function of its own
    return 0 if m < plan.size and plan.drop_last else m


@njit(**JIT_INNER_INLINE)
def to_copy(plan, start, m):
    """The positions of the order that a batch of m rows from ``start`` copies: none when m < 2 (one row is
    contiguous already: it is used in place, ``batch_views``)."""
    return rows(plan.order, start, m if m > 1 else 0)


@njit(**JIT_INNER_INLINE)
def gather_rows(batch, data, idx, lo, hi):
    """Rows data[idx[lo:hi]] -> batch[lo:hi] (x, and y, t, w when present). While a row of x is copied,
    the row ``AHEAD_ROWS`` on is hinted into cache line by line (``intrinsics.prefetch``): a shuffled
    epoch's rows lie anywhere in memory, and each copy otherwise waits for its row's first lines before
    the hardware's own prefetch along the row sets in (64 of 8,192 rows of 784 float32, one thread,
    Zen 5: 11.2 us -> 8.1 us a batch)."""
    X, y, t, w = data.x, data.y, data.t, data.w
    step = LINE_BYTES // X.itemsize
    for r in range(lo, hi):  # element loops: no broadcasting, no error paths
        if r + AHEAD_ROWS < hi:
            ahead = X[idx[r + AHEAD_ROWS]]
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
def batch_views(batch, data, plan, start, m):
    """(x, y, t, w) of the batch of m rows from ``start``, copied already: the first m rows of the batch
    buffers, or for one row the data's own (y, t or w empty when unused). Views by ``rows``, their length
    chosen as a number: the fewest instructions to compile (this is inlined in each epoch kernel)."""
    y, t, w = data.y, data.t, data.w
    ny, nt, nw = (1 if y.shape[0] else 0), (1 if t.shape[0] else 0), (1 if w.shape[0] else 0)  # 1 for a field in use
    if m == 1:
        i = plan.order[start]
        return rows(data.x, i, 1), rows(y, i * ny, ny), rows(t, i * nt, nt), rows(w, i * nw, nw)
    return rows(batch.x, 0, m), rows(batch.y, 0, m * ny), rows(batch.t, 0, m * nt), rows(batch.w, 0, m * nw)


@njit(**JIT_INNER_INLINE)
def next_batch(batch, data, plan, start):
    """Copy the batch that starts at ``start`` into the batch buffers: (m, x, y, t, w), its number of rows
    (0 when the epoch is over) and ``batch_views``."""
    m = batch_rows(plan, start)
    idx = to_copy(plan, start, m)
    gather_rows(batch, data, idx, 0, idx.shape[0])
    x, y, t, w = batch_views(batch, data, plan, start, m)
    return m, x, y, t, w


@kernel_only
def gather_ahead(job, parts, t):
    """Piece t of ``parts`` of the next batch's copy ``job`` (a ``NextBatch``): rows [m t / parts, m (t + 1) /
    parts) of its m; nothing when ``job`` is None (nothing of it compiled). A function of its own, called, not
    inlined: inlined into a parallel loop's body (``split.split_step``), Numba 0.68 dropped or garbled its stores
    through the tuple's arrays (a test run crashed)."""


@overload(gather_ahead, jit_options=JIT_INNER)
def _gather_ahead_impl(job, parts, t):
    if absent(job):
        return lambda job, parts, t: None

    def impl(job, parts, t):
        m = job.order.shape[0]
        gather_rows(Samples(job.into_x, job.into_y, job.into_t, job.into_w), Samples(job.x, job.y, job.t, job.w),
                    job.order, m * t // parts, m * (t + 1) // parts)
    return impl


@njit(**JIT_INNER_INLINE)
def copy_ahead(into, data, order):
    """The ``NextBatch`` that copies the rows ``order`` of ``data`` into the batch buffers ``into``."""
    return NextBatch(into.x, into.y, into.t, into.w, data.x, data.y, data.t, data.w, order)
