"""fastmlp's own product out = x @ W on one thread, register-blocked: fast, numba.

Why: on one core the BLAS is the cost of a training step (87% of a one-core fashion-b64 step
in OpenBLAS's sgemm and its packing, ``perf``), and at these shapes OpenBLAS runs well below the
core's peak: a batch of 64 rows is too few for its blocking. Here each block of ``ROWS_PER_TILE`` rows
of out and one vector-register row of columns (``tile_columns``: 4 registers, 64 float32 with
AVX-512) is summed in registers over the whole of k: per k, 4 loads of a row of W, one broadcast
of x per row and 24 fused multiply-adds, with no packing (W's rows are contiguous, x's values
are read in order), and each output written once. k runs two at a time (half the loop's own
instructions per multiply-add). Measured on one thread (AVX-512 Xeon, two runs, best of 5 each):
64x784x256 157-165 GFLOP/s against OpenBLAS's 131-143, 64x256x128 176-194 against 131-139,
64x128x64 186-195 against 182-196.

It is compiled for 512-bit vectors (``intrinsics.wide_vectors``: LLVM otherwise keeps to 256-bit
ones on AVX-512 CPUs, and 24 accumulators do not fit 16 ymm registers). With AVX2 (16 vector
registers: Zen 1, Haswell) the block is 6 rows x 2 registers (16 float32 columns), k one position at a time,
written as whole vectors (:func:`_tile_lanes`, ``kernels.lanes``): written one value at a time it did not form
there (7-13 GFLOP/s compiled for AVX2). Compiled for Zen 1 (``NUMBA_CPU_NAME=znver1
NUMBA_CPU_FEATURES=-avx512f``) on an AVX-512 Xeon, one thread, best of 7: 64x784x256 86-98 GFLOP/s, 64x256x128
100-107, 64x128x64 92-106, against OpenBLAS's own AVX2 kernel's 91-100, 81-98 and 74-90 on the same core.
Positions of k are unsigned indices in both blocks: Numba wraps negative indices around, and with signed ones
each position paid for that test (AVX2 block 61-79 GFLOP/s before; AVX-512's 64x784x256 111-126 before,
127-150 after, in alternating processes). Where it is used is measured, not assumed
(``fastmlp.backends.products``: the products of a training on one thread, layer by layer, only
when faster than the BLAS there), and only float32 layers of at least one tile row of outputs (``fits``) can take
it, on any CPU. With AVX-512 a width that is not a whole number of tile rows ends in a tile row placed to end at the
last column, over columns the one before it stored, of which it stores none (``_tiles``, ``PLACES``): 96 x 784 x 300
143-158 GFLOP/s on one thread of the Xeon model 167 (96 x 784 x 320: 148-196; OpenBLAS 146-156 and 145-153). Before,
only whole tile rows fitted, and nets of 784-300-10 predicted by whole-layer BLAS products at 0.78x ONNX Runtime's
speed on 10,000 Fashion-MNIST rows (now 1.24x by blocks), where the fashion net's widths took the blocks of
``kernels.inference`` at 1.42x. With AVX2 the widths stay whole tile rows.
Shapes: out (m, n), x (m, k), W (k, n), all C-contiguous, the same dtype; n at least ``tile_columns``. Summation
order: per output, the k products in pairs, in order (AVX2: one by one), in whichever tile it is.

The backward's weight product out = alpha * x.T @ dz + beta * out (:func:`matmul_tn`: dW, or plain SGD's
product into W) is the same register block summed over the batch instead of k. The backward's dx = dz @ W.T
(:func:`matmul_t`) is the same product once W is transposed into
scratch: the BLAS's form of it (W read transposed) ran at 126-136 GFLOP/s on one thread where its
plain form ran at 181-229 (Zen 5: 64x256x128 30.8 us; W transposed 7.7 us, then ``matmul`` 18.6 us).
Chosen by measurement too (``fastmlp.backends.products``), for dx widths that fit the tile.

The first layer's two products can skip the zeros of a batch of images (:func:`matmul_sparse`,
:func:`matmul_tn_sparse`): the same tiles, each summing over a list of the positions where its x is not zero.
"""
import numpy as np
from numba import njit, prange
from numba.extending import overload, register_jitable

from .config import JIT_INNER, JIT_INNER_INLINE
from .intrinsics import kernel_only, matrix, stack_block, vector_bytes, wide_vectors
from .lanes import lanes_count, lanes_fill, lanes_load, lanes_multiply, lanes_multiply_add, lanes_store
from .split import ALIGN, JIT_SPLIT, add_partial, cuts_nothing, over_k, piece

WIDE = vector_bytes() == 64  # AVX-512: 32 vector registers (see the module docstring)
ROWS_PER_TILE = 6  # AVX-512: 6 rows x 4 registers, 24 accumulators; AVX2: 6 rows x 2 registers, 12 accumulators
REGISTERS_PER_ROW = 4 if WIDE else 2
TILE_BYTES = REGISTERS_PER_ROW * vector_bytes()  # one tile row: 256 bytes with AVX-512, 64 with AVX2
BLOCK_BYTES = ROWS_PER_TILE * TILE_BYTES  # the accumulators of a whole tile
# Whether a width that is not a whole number of tile rows fits (``_tiles`` places the last tile row over the one
# before): with AVX-512. Compiled for AVX2, the placed block kept some of its 12 sums on the stack (15 of the 16
# registers taken); there widths stay whole tile rows, as before, and nothing of the placed tile is compiled.
PLACES = WIDE


def tile_columns(itemsize):
    """Columns of one tile row for ``itemsize``-byte values (64 float32 with AVX-512)."""
    return TILE_BYTES // itemsize


def fits(n, itemsize):
    """Whether a layer of ``n`` outputs of ``itemsize`` bytes can go to :func:`matmul`: float32 (in float64 the
    AVX-512 register block did not form: 14 GFLOP/s against the BLAS's 63 on 64x784x256) and at least one tile row
    of columns (a width that is not a whole number of them ends in a tile row placed over the one before:
    ``_tiles``; with AVX-512 only, ``PLACES``)."""
    return itemsize == 4 and n >= tile_columns(itemsize) and (PLACES or n % tile_columns(itemsize) == 0)


@kernel_only
def _position(kept, start, q):
    """The q-th position of k a tile sums over: start + q when ``kept`` is None (every position from ``start`` on),
    else ``kept[start + q]`` (the tile's list of positions where its rows of x are not all zero)."""


@overload(_position, jit_options=JIT_INNER, inline="always")
def _position_impl(kept, start, q):
    if cuts_nothing(kept):
        return lambda kept, start, q: start + q
    return lambda kept, start, q: kept[start + q]


@njit(**JIT_INNER_INLINE)
def _tile(out, x, W, i0, j0, acc, rows, width, alpha, beta, kept, start, count, skip, placed):
    """out[i0:i0 + rows, j0:j0 + width] = alpha * x[i0:i0 + rows] @ W[:, j0:j0 + width] + beta * that block, summed
    in acc (rows * width,): registers, when ``rows`` and ``width`` are constants. With beta 0 out is only written
    (as the BLAS's: whatever it held, NaN included, is overwritten); alpha 1 and beta 0 as constants compile to a
    plain store of the sums. Summed over the ``count`` positions of k that ``_position`` gives: each from ``start``
    on (``kept`` None), or the listed ones, where a row of the tile's x is not zero. ``placed`` (a constant): the
    last tile row placed over ``skip`` columns the one before stored (``_tiles``), whose results go to a block of
    their own, then those past the first ``skip`` to out (``_store_past``); False compiles to the store into out."""
    zero = acc.dtype.type(0)
    for t in range(rows * width):
        acc[t] = zero
    q = 0
    while q + 2 <= count:
        p0 = np.uint64(_position(kept, start, q))  # (unsigned: no wraparound of negative indices)
        p1 = np.uint64(_position(kept, start, q + 1))
        w0 = W[p0, j0:j0 + width]
        w1 = W[p1, j0:j0 + width]
        for r in range(rows):
            a0 = x[i0 + r, p0]
            a1 = x[i0 + r, p1]
            for j in range(width):
                acc[r * width + j] += a0 * w0[j] + a1 * w1[j]
        q += 2
    if q < count:
        p0 = np.uint64(_position(kept, start, q))
        w0 = W[p0, j0:j0 + width]
        for r in range(rows):
            a0 = x[i0 + r, p0]
            for j in range(width):
                acc[r * width + j] += a0 * w0[j]
    done = stack_block(acc, BLOCK_BYTES)  # (``placed`` False, a constant: unused, nothing of it compiled)
    for r in range(rows):
        o = out[i0 + r, j0:j0 + width]
        if beta == 0:
            for j in range(width):
                if not placed:
                    o[j] = alpha * acc[r * width + j]
                else:
                    done[r * width + j] = alpha * acc[r * width + j]
        else:
            for j in range(width):
                if not placed:
                    o[j] = beta * o[j] + alpha * acc[r * width + j]
                else:
                    done[r * width + j] = beta * o[j] + alpha * acc[r * width + j]
    _store_past(out, done, i0, j0, rows, width, skip, placed)


@njit(**JIT_INNER_INLINE)
def _add_position(acc, x, W, i0, j0, rows, width, p):
    """acc (rows * width,) += x[i0:i0 + rows, p] (a column) times W[p, j0:j0 + width] (a row), vector by vector."""
    step = lanes_count(acc)
    u = np.uint64(p)  # (an unsigned index: no wraparound for negative ones, which p never is)
    w = W[u, j0:j0 + width]
    for r in range(rows):
        a = lanes_fill(acc, x[i0 + r, u])
        for j in range(0, width, step):
            t = r * width + j
            lanes_store(acc, t, lanes_multiply_add(lanes_load(acc, t), a, lanes_load(w, j)))


@njit(**JIT_INNER_INLINE)
def _tile_lanes(out, x, W, i0, j0, acc, rows, width, alpha, beta, kept, start, count, skip, placed):
    """``_tile`` for 16 vector registers (AVX2): the same block and arguments, its accumulators read and written as
    whole vectors (``lanes``), which LLVM keeps in registers where it did not keep ``_tile``'s (7-13 GFLOP/s
    compiled for AVX2), and k one position at a time (12 accumulators, 2 rows of W and a broadcast: 15 registers;
    in pairs they would not fit). Summation order: per output, the k products one by one, in order. ``skip`` and
    ``placed`` as in ``_tile``."""
    step = lanes_count(acc)  # a constant: 8 float32 with AVX2
    for t in range(0, rows * width, step):
        lanes_store(acc, t, lanes_fill(acc, 0))
    q = 0
    while q + 2 <= count:  # two positions a pass (fewer of the loop's own instructions), each added in turn
        _add_position(acc, x, W, i0, j0, rows, width, _position(kept, start, q))
        _add_position(acc, x, W, i0, j0, rows, width, _position(kept, start, q + 1))
        q += 2
    if q < count:
        _add_position(acc, x, W, i0, j0, rows, width, _position(kept, start, q))
    scale = lanes_fill(acc, alpha)
    done = stack_block(acc, BLOCK_BYTES)  # (``placed`` False, a constant: unused, nothing of it compiled)
    for r in range(rows):
        o = out[i0 + r, j0:j0 + width]
        for j in range(0, width, step):
            total = lanes_multiply(scale, lanes_load(acc, r * width + j))
            if beta != 0:
                total = lanes_multiply_add(total, lanes_fill(acc, beta), lanes_load(o, j))
            if not placed:
                lanes_store(o, j, total)
            else:
                lanes_store(done, r * width + j, total)
    _store_past(out, done, i0, j0, rows, width, skip, placed)


@njit(**JIT_INNER_INLINE)
def _store_past(out, done, i0, j0, rows, width, skip, placed):
    """A tile's block of results ``done`` (rows * width,) into out[i0:i0 + rows, j0 + skip:j0 + width] when ``placed``
    (the last tile row placed over ``skip`` columns the one before stored: ``_tiles``); else nothing. A placed tile
    puts its results there, not into out, all of them (``placed`` a constant: each tile's store loop as simple as the
    others', unrolled, acc's indices constants): read from acc here, value by value, or stored under a test of skip,
    the accumulators left their registers (compiled for AVX2, each sum moved to the stack at each k)."""
    if placed:
        for r in range(rows):
            o = out[i0 + r, j0:j0 + width]
            for j in range(skip, width):
                o[j] = done[r * width + j]


# The register block the kernels below inline: as written (AVX-512), or as whole vectors (AVX2).
TILE = _tile if WIDE else _tile_lanes


@njit(**JIT_INNER)
def _first_from(kept, lo, hi, p):
    """The first index in lo..hi of the sorted ``kept`` whose position is p or more (hi if none is). Not inlined
    by Numba (its loop's variables, inlined into ``_span``, raised NumbaIRAssumptionWarning at every compile)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if kept[mid] < p:
            lo = mid + 1
        else:
            hi = mid
    return lo


@kernel_only
def _span(kept, counts, t, k, k_lo, k_hi):
    """(start, count) of the positions k_lo..k_hi of k tile t sums over, for ``_position``: (k_lo, k_hi - k_lo)
    when ``kept`` is None, else those of its list (``counts[t]`` positions from ``kept[t * k]`` on) in that range."""


@overload(_span, jit_options=JIT_INNER, inline="always")
def _span_impl(kept, counts, t, k, k_lo, k_hi):
    if cuts_nothing(kept):
        return lambda kept, counts, t, k, k_lo, k_hi: (k_lo, k_hi - k_lo)

    def impl(kept, counts, t, k, k_lo, k_hi):
        first, end = t * k, t * k + counts[t]
        start = _first_from(kept, first, end, k_lo)
        return start, _first_from(kept, start, end, k_hi) - start
    return impl


@njit(**JIT_INNER_INLINE)
def _tiles(out, x, W, alpha, beta, kept, counts, j_lo, j_hi, k_lo, k_hi):
    """out = alpha * x[:, k_lo:k_hi] @ W[k_lo:k_hi] + beta * out by ``_tile``'s register blocks, for the function
    that inlines it (compiled for the widest vectors: :func:`_columns`, :func:`_columns_listed`, :func:`matmul_tn`,
    :func:`matmul_tn_sparse`), over out's columns
    j_lo..j_hi (all of them, or a piece of :func:`matmul_sparse_cut`, whose sums are then the same; a piece's
    start a multiple of ``tile_columns``) and the positions k_lo..k_hi of k (all of them, or a piece of its cut
    along k). x C-ordered (``matmul``) or the F-ordered view x.T (``matmul_tn``); out (m, n), x (m, k), W (k, n),
    n at least ``tile_columns`` (``fits``). Tile rows of columns; where the last would pass j_hi it is placed to end at
    j_hi instead, over columns the tile row before it stored, of which it stores none (``skip``): each output is
    stored once, its sum the same in either tile (a column's sums do not depend on the others). ``kept`` None: each
    tile sums over all positions of the range; else tile t (numbered as ``_tile_at`` numbers them) over those of its
    ``counts[t]`` positions listed from ``kept[t * k]`` on (``list_rows``, ``list_columns``) in the range."""
    acc = stack_block(out, BLOCK_BYTES)
    width = acc.shape[0] // ROWS_PER_TILE  # a constant: the tiles below compile to register blocks
    a = out.dtype.type(alpha)
    b = out.dtype.type(beta)
    for j0 in range(j_lo, j_hi - width + 1, width):
        _column_tiles(out, x, W, acc, j0, width, a, b, kept, counts, k_lo, k_hi, 0, False)
    left = (j_hi - j_lo) % width
    if PLACES and left > 0:  # the last tile row placed to end at j_hi, its sums in a block of their own
        own_acc = stack_block(out, BLOCK_BYTES)
        _column_tiles(out, x, W, own_acc, j_hi - width, width, a, b, kept, counts, k_lo, k_hi, width - left, True)


@njit(**JIT_INNER_INLINE)
def _column_tiles(out, x, W, acc, j0, width, a, b, kept, counts, k_lo, k_hi, skip, placed):
    """``_tiles``' register blocks for out's columns j0..j0 + width (``width`` a constant), over all of out's rows:
    tiles of ``ROWS_PER_TILE`` rows, then the last m % 6 rows by 4, 2 and 1 (constants too); their first ``skip``
    columns not stored (``_tile``)."""
    m, k = x.shape
    full = m // ROWS_PER_TILE
    for t in range(full):
        start, count = _span(kept, counts, t, k, k_lo, k_hi)
        TILE(out, x, W, t * ROWS_PER_TILE, j0, acc, ROWS_PER_TILE, width, a, b, kept, start, count, skip, placed)
    i0 = full * ROWS_PER_TILE
    t = full
    if i0 + 4 <= m:
        start, count = _span(kept, counts, t, k, k_lo, k_hi)
        TILE(out, x, W, i0, j0, acc, 4, width, a, b, kept, start, count, skip, placed)
        i0 += 4
        t += 1
    if i0 + 2 <= m:
        start, count = _span(kept, counts, t, k, k_lo, k_hi)
        TILE(out, x, W, i0, j0, acc, 2, width, a, b, kept, start, count, skip, placed)
        i0 += 2
        t += 1
    if i0 < m:
        start, count = _span(kept, counts, t, k, k_lo, k_hi)
        TILE(out, x, W, i0, j0, acc, 1, width, a, b, kept, start, count, skip, placed)


@njit(**JIT_INNER)
def matmul(out, x, W):
    """out = x @ W (see the module docstring); n at least ``tile_columns`` (``fits``)."""
    first = np.int64(0)  # (``_columns``: its ranges' starts not literal)
    _columns(out, x, W, first, W.shape[1], first, x.shape[1])


@njit(**JIT_INNER)
def _columns(out, x, W, j_lo, j_hi, k_lo, k_hi):
    """out[:, j_lo:j_hi] = x[:, k_lo:k_hi] @ W[k_lo:k_hi, j_lo:j_hi] by ``_tiles``: :func:`matmul`, and the pieces of
    :func:`matmul_sparse_cut` that sum over every position. One function for both (Numba compiles the register
    blocks once; inlined into each, as before, they took 3.3 s of a cold compile each time, Intel Xeon model 207).
    Callers pass the ranges as int64 variables, never the literal 0: Numba compiles a function once per literal
    argument."""
    wide_vectors()
    _tiles(out, x, W, 1, 0, None, None, j_lo, j_hi, k_lo, k_hi)


@njit(**JIT_INNER)
def _columns_listed(out, x, W, kept, counts, j_lo, j_hi, k_lo, k_hi):
    """:func:`_columns` with the tiles' lists of positions (``list_rows``): :func:`matmul_sparse` and the pieces of
    :func:`matmul_sparse_cut` that sum by them."""
    wide_vectors()
    _tiles(out, x, W, 1, 0, kept, counts, j_lo, j_hi, k_lo, k_hi)


@njit(**JIT_INNER)
def matmul_tn(out, x, dout, alpha, beta):
    """out = alpha * x.T @ dout + beta * out: a layer's weight product (its gradient dW = x.T @ dz with
    alpha 1, beta 0; plain SGD's W -= lr x.T @ dz with -lr, 1; momentum's velocity with 1, momentum).
    :func:`matmul`'s register blocks on x.T (a view: x is not copied), summed over the batch: each tile
    of ``ROWS_PER_TILE`` rows of out (inputs of the layer) and one tile row of columns, two samples at a time,
    per sample ``REGISTERS_PER_ROW`` loads of a row of dout and a broadcast of x per row of the tile. The batch is
    short (64 rows at batch 64), so each tile's start and its pass over out weigh more than in
    :func:`matmul`. Measured on one thread (AMD EPYC Zen 4, AVX-512, SGD's form, best of 5 each):
    64x784x256 108.6-110.0 GFLOP/s against OpenBLAS's 102.4-102.5, 64x256x128 110.6-113.6 against
    99.6-100.9, 64x128x64 112.9-113.7 against 113.7-114.0 (the core's peak: 117).
    Shapes: out (k, n), x (m, k), dout (m, n); n at least ``tile_columns``. Summation order: per
    output, the m products in pairs, in order, then alpha and beta; with beta 0, out is only written."""
    wide_vectors()
    _tiles(out, x.T, dout, alpha, beta, None, None, 0, dout.shape[1], 0, x.shape[0])


# -- the products over a data layer's nonzero inputs ------------------------------------------------
# Images leave many inputs zero (Fashion-MNIST's pixels: 50%; MNIST's: 81%), and a zero input adds nothing to
# a product. A tile of ``ROWS_PER_TILE`` rows skips a position of k where all its rows of x are zero: in the forward
# product a pixel dark in all 6 of a tile's samples (16% of them on Fashion-MNIST at batch 64), in the weight
# product a sample whose 6 pixels of the tile are all dark (32%). Each tile sums over a list of the positions
# it keeps, made once per product (``list_rows``, ``list_columns``) and read by ``_tile`` (``_position``).
# Measured on one thread (AMD EPYC Zen 4, best of 7, a Fashion-MNIST batch of 64): 64x784x256 forward 220.5 us
# -> 190.0 us (lists included), SGD's weight product 238.2 -> 193.1 us. The lists cost about 4 and 7 us there and
# the listed sums run a few % slower for each position they keep, so a product makes them only for a batch that
# has zeros (``SPARSE_MIN_ZEROS``, counted in its first rows) and sums by them only when they keep at most
# ``LISTED_MAX_KEPT`` of the positions; otherwise by :func:`matmul` or :func:`matmul_tn`. A batch without zeros
# pays the count (221.5 and 237.9 us against 220.8 and 238.2); one with zeros scattered at random (half of them,
# where 6 rows are rarely all zero) the lists too (226.7 and 245.8 us against 220.6 and 238.4).
# Skipping a zero changes no sum but its pairing (positions run two at a time, the listed ones in order), and
# a NaN or infinity in W or dout met only by zero inputs is not spread (0 * inf would have been NaN).
SPARSE_MIN_ZEROS = 4  # lists only for a batch whose inputs are zero at least 1 in this many
# and only used when they keep at most this share of the tiles' positions: the listed loop runs about 1% slower
# per position it keeps and the lists cost about 2% of the product (break-even near 0.97); on Fashion-MNIST they keep
# 84% on average, more than 85% in 18% of predict-10k's blocks of 96 rows and 30% of shuffled batches of 64, none 92%
LISTED_MAX_KEPT = 0.92


@register_jitable
def _tiles_of(m):
    """At most how many tiles ``_tiles`` cuts m rows into: full ones of ``ROWS_PER_TILE``, then pieces of 4, 2, 1."""
    return m // ROWS_PER_TILE + 3


@register_jitable
def sparse_room(m, k):
    """int32 values :func:`matmul_sparse` and :func:`matmul_tn_sparse` need for x (m, k): a tile's list (up to
    k positions, or m samples) and its count for each tile, and the bytes they are made from (a mask of k, or
    a flag for each sample and tile)."""
    return max(_tiles_of(m) * (k + 1) + _int32s(k), _tiles_of(k) * (m + 1) + _int32s(m * _tiles_of(k)))


@register_jitable
def _int32s(nbytes):
    """int32 values that hold ``nbytes`` bytes."""
    return (nbytes + 3) // 4


@njit(**JIT_INNER_INLINE)
def _bytes(room, start, n):
    """n bytes of the int32 scratch ``room`` from its value ``start`` on."""
    return room[start:start + _int32s(n)].view(np.uint8)[:n]


@njit(**JIT_INNER_INLINE)
def _tile_at(m, t):
    """(first row, rows) of tile t of m rows, numbered as ``_tiles`` takes them."""
    full = m // ROWS_PER_TILE
    if t < full:
        return t * ROWS_PER_TILE, ROWS_PER_TILE
    i0 = full * ROWS_PER_TILE
    for rows in (4, 2):
        if i0 + rows <= m:
            if t == full:
                return i0, rows
            i0 += rows
            t -= 1
    return i0, 1


@njit(**JIT_INNER_INLINE)
def _tile_total(m):
    """How many tiles ``_tiles`` cuts m rows into."""
    left = m % ROWS_PER_TILE
    return m // ROWS_PER_TILE + left // 4 + (left % 4) // 2 + left % 2


SAMPLED_ROWS = 8  # the rows of x ``has_zeros`` counts in


@njit(**JIT_INNER_INLINE)
def has_zeros(x):
    """Whether at least 1 in ``SPARSE_MIN_ZEROS`` of the values in x's first ``SAMPLED_ROWS`` rows are zero (a
    gate only: the lists decide)."""
    m, k = x.shape
    rows = min(m, SAMPLED_ROWS)
    zeros = 0
    for i in range(rows):
        for p in range(k):
            zeros += x[i, p] == 0
    return zeros * SPARSE_MIN_ZEROS >= rows * k


@njit(**JIT_INNER_INLINE)
def _any6(a, b, c, d, e, f):
    """Whether one of six values is not zero."""
    return (a != 0) | (b != 0) | (c != 0) | (d != 0) | (e != 0) | (f != 0)


@njit(**JIT_INNER_INLINE)
def list_rows(kept, counts, mask, x):
    """For each tile t of x's rows (``_tile_at``): the positions p of k where one of its rows of x is not zero,
    in order, into kept[t * k:], their number into counts[t]; mask (k,) bytes of scratch. Returns the total."""
    m, k = x.shape
    total = 0
    for t in range(_tile_total(m)):
        i0, rows = _tile_at(m, t)
        if rows == ROWS_PER_TILE:
            for p in range(k):
                mask[p] = _any6(x[i0, p], x[i0 + 1, p], x[i0 + 2, p], x[i0 + 3, p], x[i0 + 4, p], x[i0 + 5, p])
        else:
            for p in range(k):
                mask[p] = x[i0, p] != 0
            for r in range(1, rows):
                for p in range(k):
                    mask[p] |= x[i0 + r, p] != 0
        c = 0
        for p in range(k):
            kept[t * k + c] = p
            c += mask[p]
        counts[t] = c
        total += c
    return total


@njit(**JIT_INNER_INLINE)
def list_columns(kept, counts, flags, x):
    """For each tile t of x's columns (``_tile_at``: the tiles of :func:`matmul_tn`'s x.T): the samples i where
    one of its columns of x is not zero, in order, into kept[t * m:], their number into counts[t]; flags
    (m * tiles,) bytes of scratch, a sample's flags (one per tile) side by side. Returns the total."""
    m, k = x.shape
    tiles = _tile_total(k)
    full = k // ROWS_PER_TILE
    F = flags.reshape((m, tiles))
    for i in range(m):
        for t in range(full):
            p0 = t * ROWS_PER_TILE
            F[i, t] = _any6(x[i, p0], x[i, p0 + 1], x[i, p0 + 2], x[i, p0 + 3], x[i, p0 + 4], x[i, p0 + 5])
    for t in range(full, tiles):
        p0, rows = _tile_at(k, t)
        for i in range(m):
            F[i, t] = x[i, p0] != 0
            for r in range(1, rows):
                F[i, t] |= x[i, p0 + r] != 0
    total = 0
    for t in range(tiles):
        c = 0
        for i in range(m):
            kept[t * m + c] = i
            c += F[i, t]
        counts[t] = c
        total += c
    return total


@njit(**JIT_INNER)
def matmul_sparse(out, x, W, room):
    """out = x @ W as :func:`matmul`, each tile of rows summing only over the positions of k where one of its
    rows of x is not zero, when that skips enough (see above); ``room`` int32 scratch of ``sparse_room(m, k)``."""
    wide_vectors()  # (the lists are made here, at the widest vectors)
    kept, counts, listed = _row_lists(x, room)
    first = np.int64(0)  # (``_sparse_columns``: its ranges' starts not literal)
    _sparse_columns(out, x, W, kept, counts, listed, first, W.shape[1], first, x.shape[1])


@njit(**JIT_INNER)
def _row_lists(x, room):
    """(kept, counts, listed): the lists of :func:`matmul_sparse`'s tiles in ``room`` (``list_rows``), made when x
    has zeros, and whether it sums by them (x has zeros and they keep at most ``LISTED_MAX_KEPT``). A function of
    its own, not inlined: inlined into :func:`matmul_sparse_cut` (a parallel function) its loops ran slower, the cut
    product on two threads 125-129 us instead of 105-106 (64x784x256, a Fashion-MNIST batch, AMD EPYC Zen 4)."""
    m, k = x.shape
    tiles = _tiles_of(m)
    kept, counts, mask = room[:tiles * k], room[tiles * k:tiles * (k + 1)], _bytes(room, tiles * (k + 1), k)
    listed = has_zeros(x) and list_rows(kept, counts, mask, x) <= LISTED_MAX_KEPT * _tile_total(m) * k
    return kept, counts, listed


@njit(**JIT_INNER_INLINE)
def _sparse_columns(out, x, W, kept, counts, listed, j_lo, j_hi, k_lo, k_hi):
    """Columns j_lo..j_hi of :func:`matmul_sparse`'s out, summed over the positions k_lo..k_hi of k: by the lists
    ``_row_lists`` made when ``listed``, else over every position (:func:`matmul`'s tiles). All of them, or a
    piece of :func:`matmul_sparse_cut`. The ranges int64 variables, never the literal 0 (:func:`_columns`): with
    literal starts, its three calls in :func:`matmul_sparse_cut` compiled three times, 18 s of a cold 31 s compile
    of ``repeat.repeat_product`` (Intel Xeon model 207)."""
    if listed:
        _columns_listed(out, x, W, kept, counts, j_lo, j_hi, k_lo, k_hi)
    else:
        _columns(out, x, W, j_lo, j_hi, k_lo, k_hi)


@njit(**JIT_SPLIT)
def matmul_sparse_cut(out, x, W, room, threads, partial=None):
    """out = x @ W as :func:`matmul_sparse`, its blocks of ``tile_columns`` columns shared out among ``threads`` of
    Numba's threads (the calling thread's count, from ``Net.threads``: on one, the call is :func:`matmul_sparse`'s):
    the lists made once, then each thread its columns of every tile. Each output is the same sum in the same
    order as in one call, bit for bit, on any number of threads: the training's first layer in the cut kernels
    (``kernels.split``: every optimizer but plain SGD, in a process of several threads), whose calls on one
    thread (the thread choice's pieces on one, the calls before the cut kernel is ready) round as the cut ones
    do. Measured on a Fashion-MNIST batch, 64x784x256, two threads, the BLAS on one (AMD EPYC Zen 4): 100 us
    against the BLAS's 136 us cut the same way (``kernels.split.product``); adam-b64 129k -> 134k samples/s.
    With ``partial`` (the scratch of ``split.forward_product``) and two threads, cut along k instead, as
    ``split.forward_product`` cuts the BLAS's product (each thread the rows of W its piece of the backward
    updates): each tile's listed positions in a thread's rows, piece 1's sums into ``partial``, then added (other
    bits than one call)."""
    m, k = x.shape
    n = W.shape[1]
    width = TILE_BYTES // out.itemsize  # ``tile_columns``
    kept, counts, listed = _row_lists(x, room)
    first = np.int64(0)  # (``_sparse_columns``: its ranges' starts not literal)
    if partial is not None and over_k(out, k, partial, threads):
        P = matrix(partial, 0, m, n)
        for p in prange(threads):
            lo, hi = piece(k, threads, p, ALIGN)
            _sparse_columns(out if p == 0 else P, x, W, kept, counts, listed, first, n, lo, hi)
        add_partial(out, partial)
        return
    if threads < 2 or n <= width:
        _sparse_columns(out, x, W, kept, counts, listed, first, n, first, k)
        return
    for p in prange(threads):
        lo, hi = piece(n, threads, p, width)
        if lo < hi:
            _sparse_columns(out, x, W, kept, counts, listed, lo, hi, first, k)


@njit(**JIT_INNER)
def matmul_tn_sparse(out, x, dout, alpha, beta, room):
    """out = alpha * x.T @ dout + beta * out as :func:`matmul_tn`, each tile (of x's columns) summing only over
    the samples where one of its columns of x is not zero, when that skips enough (see above); ``room`` int32
    scratch of ``sparse_room(m, k)``. Without lists, :func:`matmul_tn` itself (its register blocks inlined here
    too, they took 3 s more of a cold compile; Intel Xeon model 207)."""
    wide_vectors()
    m, k = x.shape
    if has_zeros(x):
        tiles = _tiles_of(k)
        flags = _bytes(room, tiles * (m + 1), m * _tile_total(k))
        kept, counts = room[:tiles * m], room[tiles * m:tiles * (m + 1)]
        if list_columns(kept, counts, flags, x) <= LISTED_MAX_KEPT * _tile_total(k) * m:
            _tiles(out, x.T, dout, alpha, beta, kept, counts, 0, dout.shape[1], 0, m)
            return
    matmul_tn(out, x, dout, alpha, beta)


@kernel_only
def matmul_tn_or_sparse(out, x, dout, alpha, beta, room):
    """out = alpha * x.T @ dout + beta * out by :func:`matmul_tn_sparse` when ``room`` is not empty, else by
    :func:`matmul_tn`; ``room`` None compiles to :func:`matmul_tn` alone."""


@overload(matmul_tn_or_sparse, jit_options=JIT_INNER, inline="always")
def _matmul_tn_or_sparse_impl(out, x, dout, alpha, beta, room):
    # alpha and beta as float64 whatever the caller passed (a gradient's 1 and 0, SGD's -lr and 1, the timing's 1.0):
    # the same values to ``_tiles``, one compile of each product, not one per pair of types (the int64 pair and the
    # float64 one took 5.4 s of a training's cold compile on one thread; Intel Xeon model 207)
    if cuts_nothing(room):
        return lambda out, x, dout, alpha, beta, room: matmul_tn(out, x, dout, float(alpha), float(beta))

    def impl(out, x, dout, alpha, beta, room):
        if room.size > 0:
            matmul_tn_sparse(out, x, dout, float(alpha), float(beta), room)
        else:
            matmul_tn(out, x, dout, float(alpha), float(beta))
    return impl


TRANSPOSE_ROWS = 16  # rows of W read per pass of ``_transpose``: each row of WT written 16 values at a time


def transposes(k, itemsize):
    """Whether :func:`matmul_t` can take a dx of ``k`` columns of ``itemsize`` bytes: ``fits`` and whole passes of
    ``_transpose``."""
    return fits(k, itemsize) and k % TRANSPOSE_ROWS == 0


@njit(**JIT_INNER)
def _transpose(WT, W):
    """WT (n, k) = W (k, n).T for k a multiple of ``TRANSPOSE_ROWS`` (as :func:`matmul_t`'s k is), that many rows
    of W at a time: a gather of 16 values down a column of W, one contiguous store into WT (32K values
    7.7 us on Zen 5, against 13.1 us by 16x16 blocks one value at a time)."""
    k, n = W.shape
    for p0 in range(0, k, TRANSPOSE_ROWS):
        for j in range(n):
            for p in range(TRANSPOSE_ROWS):
                WT[j, p0 + p] = W[p0 + p, j]


@njit(**JIT_INNER)
def matmul_t(out, x, W, wt):
    """out = x @ W.T for W (k, n), x (m, n), out (m, k): W transposed into the scratch wt (at least
    k * n values), then :func:`matmul`; k a multiple of ``TRANSPOSE_ROWS`` (``transposes``)."""
    k, n = W.shape
    WT = matrix(wt, 0, n, k)
    _transpose(WT, W)
    matmul(out, x, WT)
