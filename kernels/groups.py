"""Rows grouped by where they are zero, for the first layer's product over nonzero inputs: fast, numba.

``matmul.matmul_sparse`` sums each tile of ``matmul.ROWS_PER_TILE`` (6) rows over the positions of k where one of
its rows is not zero. Taken in the order they come, 6 images rarely share their zeros: a Fashion-MNIST pixel is zero
in half of the rows but in only 16% of tiles of 6 rows. Grouped, tiles of rows with like zeros skip 36% of the
positions (blocks of 64 rows of the test set); the first layer's product of a 64-row block of the fashion net took
178-179 us instead of 216-217 us on one thread (AMD EPYC Zen 4, 150 blocks, best of 9), the grouping included
(6.6-8.2 us; 96 rows: 259 against 316 us, the grouping 11 us). Inference by blocks groups each block's rows
(``inference``), a training on one thread each batch's.

:func:`matmul_grouped` is ``matmul_sparse`` with the rows grouped: it orders the rows (:func:`order_rows`), copies
them in that order into its room, multiplies them there and puts each row's result back in its own row of out. Each
row's result is the one ``matmul_sparse`` gives it among the rows of its tile (the positions its tile keeps decide
how its sums pair): which rows those are depends only on the rows of x, so a block gives the same bits on whichever
thread takes it.

The grouping is greedy, over coarse masks: a row's mask (128 bits, ``MASK_BITS``) has a bit set for each run of
positions where the row is not zero (runs of 8 positions, more for k over 1,024). A tile starts with the row of fewest
bits left, then takes, five times, the row that adds the fewest bits to the tile's union (the first of equals), and
so on until no row is left: about m * m / 2 unions counted (``intrinsics.popcount``), which vectorise. Measured on
the test set's blocks of 64 rows: the tiles keep 65% of the positions (exact per-position masks: 64%; sorted by
count alone: 76%; in order: 84%).

Grouped on one thread only: the training's first layer cut over several threads (``matmul.matmul_sparse_cut``)
takes the rows in their order. There the grouping would run on the calling thread while the others wait between
two parallel regions: a 64-row Fashion-MNIST batch's product on two threads took 124-220 us grouped against 106-130
us in order (each 87-109 us on rows grouped beforehand); plain SGD's and Adam's trainings on one core gained 5-8% and
3.5% (fashion-b64, ``taskset``).

Shapes: out (m, n), x (m, k), W (k, n), of one dtype (float32 where ``matmul`` is taken); ``room`` int32 of
:func:`grouped_room`.
"""
import numpy as np
from numba import njit
from numba.extending import overload, register_jitable

from .config import JIT_INNER, JIT_INNER_INLINE
from .intrinsics import kernel_only, matrix, popcount, wide_vectors
from .matmul import ROWS_PER_TILE, has_zeros, matmul, matmul_sparse, matmul_sparse_cut, sparse_room
from .split import cuts_nothing

MASK_WORDS = 2  # uint64 words of a row's coarse mask
MASK_BITS = 64 * MASK_WORDS
RUN_BYTES = 8  # the positions of a mask bit: whole uint64 words of the row's nonzero flags (one byte each)
ROW_BITS = 16  # the low bits of a remaining row's key in ``_fewest_added``: its number
MAX_ROWS = 1 << ROW_BITS  # the most rows :func:`matmul_grouped` groups


@register_jitable
def _flag_words(k):
    """uint64 words of a row's nonzero flags, one byte per position, padded to whole words."""
    return (k + RUN_BYTES - 1) // RUN_BYTES


@register_jitable
def _lists_end(m, k):
    """Where the grouping's pieces start in the room: past ``matmul_sparse``'s lists, at an even int32."""
    at = sparse_room(m, k)
    return at + (at & 1)


@register_jitable
def grouped_room(m, k, n, itemsize):
    """int32 values :func:`matmul_grouped` needs for x (m, k) and W (k, n) of ``itemsize``-byte values:
    ``matmul_sparse``'s lists, then the grouping's own (:func:`_parts`)."""
    return _lists_end(m, k) + 6 * m + 2 * _flag_words(k) + (m * k + m * n) * (itemsize // 4)


@register_jitable
def holds_grouped(size, x, n):
    """Whether a room of ``size`` int32 values holds :func:`matmul_grouped`'s for x (m, k) and a product of n columns
    (:func:`grouped_room`), and x has no more rows than it groups (``MAX_ROWS``)."""
    m, k = x.shape
    return m <= MAX_ROWS and grouped_room(m, k, n, x.itemsize) <= size


@njit(**JIT_INNER_INLINE)
def _parts(room, x, n):
    """The named pieces of ``room`` for x (m, k) and a product of n columns: (lists, order, rows, lo, hi, flags, xs,
    out) - ``matmul_sparse``'s lists; the order (m,) int32; the remaining rows' numbers (m,) int32; their masks' low
    and high words (m,) uint64; one row's nonzero flags (``_flag_words(k)`` words) uint64; x's rows in order (m, k)
    and their product (m, n), of x's dtype. The uint64 and float pieces start at an even int32 (8-byte aligned as the
    room is)."""
    m, k = x.shape
    at = _lists_end(m, k)
    lists = room[:sparse_room(m, k)]
    lo = room[at:at + 2 * m].view(np.uint64)
    hi = room[at + 2 * m:at + 4 * m].view(np.uint64)
    words = _flag_words(k)
    flags = room[at + 4 * m:at + 4 * m + 2 * words].view(np.uint64)
    at += 4 * m + 2 * words
    order, rows = room[at:at + m], room[at + m:at + 2 * m]
    at += 2 * m
    size = x.itemsize // 4
    xs = matrix(room[at:at + m * k * size].view(x.dtype), 0, m, k)
    at += m * k * size
    out = matrix(room[at:at + m * n * size].view(x.dtype), 0, m, n)
    return lists, order, rows, lo, hi, flags, xs, out


@njit(**JIT_INNER)
def row_masks(lo, hi, flags, x):
    """lo, hi (m,) uint64: each row's coarse mask of x (m, k): bit b set where one of the positions of run b is not
    zero (``MASK_BITS`` runs of whole words of the flags); flags (``_flag_words(k)``,) uint64 scratch."""
    m, k = x.shape
    words = flags.shape[0]
    per = (words + MASK_BITS - 1) // MASK_BITS  # flag words per bit
    runs = (words + per - 1) // per
    bytes_ = flags.view(np.uint8)
    for i in range(m):
        r = x[i]
        flags[words - 1] = 0  # the padding past k
        for p in range(k):
            bytes_[p] = r[p] != 0
        if per > 1:  # each run's words into one, in place (run b's words start at b * per >= b)
            for b in range(runs):
                run = np.uint64(0)
                for q in range(b * per, min(b * per + per, words)):
                    run |= flags[q]
                flags[b] = run
        low = np.uint64(0)
        for b in range(min(64, runs)):
            low |= np.uint64(flags[b] != 0) << np.uint64(b)
        high = np.uint64(0)
        for b in range(64, runs):
            high |= np.uint64(flags[b] != 0) << np.uint64(b - 64)
        lo[i] = low
        hi[i] = high


@njit(**JIT_INNER)
def _fewest_added(lo, hi, rows, low, high, left):
    """The number (``rows``) of the one of the first ``left`` remaining rows whose mask adds the fewest bits to the
    union (low, high), the lowest number of equals: one key per row, its count above its number, the least taken."""
    wide_vectors()
    best = np.uint64(0xFFFFFFFFFFFFFFFF)
    for j in range(left):
        added = popcount(low | lo[j]) + popcount(high | hi[j])
        best = min(best, (added << np.uint64(ROW_BITS)) | np.uint64(rows[j]))
    return np.int64(best & np.uint64(MAX_ROWS - 1))


@njit(**JIT_INNER)
def order_rows(order, rows, lo, hi, flags, x):
    """order (m,) int32: x's rows (m, k) in tiles of ``ROWS_PER_TILE`` whose zeros overlap (see the module
    docstring); rows (m,) int32, lo, hi (m,) uint64 and flags scratch (:func:`_parts`)."""
    m = x.shape[0]
    row_masks(lo, hi, flags, x)
    for i in range(m):
        rows[i] = i
    left = m
    placed = 0
    while left > 0:
        low = np.uint64(0)
        high = np.uint64(0)
        for _ in range(min(ROWS_PER_TILE, left)):
            row = _fewest_added(lo, hi, rows, low, high, left)
            j = 0
            while rows[j] != row:
                j += 1
            low |= lo[j]
            high |= hi[j]
            order[placed] = row
            placed += 1
            left -= 1  # the last remaining row takes its place
            lo[j], hi[j], rows[j] = lo[left], hi[left], rows[left]


@njit(**JIT_INNER)
def _grouped(out, x, W, room):
    """:func:`matmul_grouped`'s body when x has zeros."""
    m, k = x.shape
    lists, order, rows, lo, hi, flags, xs, grouped = _parts(room, x, W.shape[1])
    order_rows(order, rows, lo, hi, flags, x)
    for i in range(m):
        src, dst = x[order[i]], xs[i]
        for p in range(k):
            dst[p] = src[p]
    matmul_sparse(grouped, xs, W, lists)
    for i in range(m):
        src, dst = grouped[i], out[order[i]]
        for j in range(W.shape[1]):
            dst[j] = src[j]


@njit(**JIT_INNER_INLINE)
def matmul_grouped(out, x, W, room):
    """out = x @ W as ``matmul_sparse``, the rows grouped by their zeros first (see the module docstring) when x has
    zeros; ``room`` int32 of :func:`grouped_room` (m, k, n, itemsize) values; at most ``MAX_ROWS`` rows."""
    if has_zeros(x):
        _grouped(out, x, W, room)
    else:
        matmul(out, x, W)  # (``matmul_sparse``'s bits on such rows)


@kernel_only
def matmul_or_sparse(out, x, W, room, threads, partial=None):
    """out = x @ W, a layer's forward product by fastmlp's own: with a ``room`` that is not empty, over the nonzero
    inputs - the rows grouped (:func:`matmul_grouped`) when ``room`` holds :func:`grouped_room`'s values, else in
    their order (``matmul_sparse``), or cut over ``threads`` of Numba's threads (``matmul.matmul_sparse_cut``: the
    rows in their order, see the module docstring) unless ``threads`` is None; else by ``matmul``. ``room`` None
    compiles to ``matmul`` alone (a layer whose inputs are not a data set's), ``threads`` None nothing of the cut.
    ``partial``: the cut's scratch for its pieces along k (``split.forward_product``), or None."""


@overload(matmul_or_sparse, jit_options=JIT_INNER, inline="always")
def _matmul_or_sparse_impl(out, x, W, room, threads, partial=None):
    if cuts_nothing(room):
        return lambda out, x, W, room, threads, partial=None: matmul(out, x, W)
    if cuts_nothing(threads):
        def whole(out, x, W, room, threads, partial=None):
            if holds_grouped(room.size, x, W.shape[1]):
                matmul_grouped(out, x, W, room)
            elif room.size > 0:
                matmul_sparse(out, x, W, room)
            else:
                matmul(out, x, W)
        return whole

    def impl(out, x, W, room, threads, partial=None):
        if room.size > 0:
            matmul_sparse_cut(out, x, W, room, threads, partial)
        else:
            matmul(out, x, W)
    return impl
