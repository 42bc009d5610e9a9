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
ones on AVX-512 CPUs, and 24 accumulators do not fit 16 ymm registers), and offered only on CPUs
with AVX-512 (``AVAILABLE``): compiled for AVX2 (``NUMBA_CPU_NAME=haswell`` on this machine) its
register block did not form, with 4 or with 2 registers per tile row: 7-13 GFLOP/s against the
BLAS's 118-130 on 64x784x256. Where it is used is measured, not assumed
(``fastmlp.backends.products``: the products of a training on one thread, layer by layer, only
when faster than the BLAS there), and only float32 layers whose width is a multiple of the tile's
(``fits``) can take it.
Shapes: out (m, n), x (m, k), W (k, n), all C-contiguous, the same dtype; n a multiple of
``tile_columns``. Summation order: per output, the k products in pairs, in order.

The backward's weight product out = alpha * x.T @ dz + beta * out (:func:`matmul_tn`: dW, or plain SGD's
product into W) is the same register block summed over the batch instead of k. The backward's dx = dz @ W.T
(:func:`matmul_t`) is the same product once W is transposed into
scratch: the BLAS's form of it (W read transposed) ran at 126-136 GFLOP/s on one thread where its
plain form ran at 181-229 (Zen 5: 64x256x128 30.8 us; W transposed 7.7 us, then ``matmul`` 18.6 us).
Chosen by measurement too (``fastmlp.backends.products``), for dx widths that fit the tile.
"""
from numba import njit

from .blas import gemm
from .config import JIT, JIT_INNER, JIT_INNER_INLINE
from .intrinsics import matrix, stack_block, vector_bytes, wide_vectors

AVAILABLE = vector_bytes() == 64  # AVX-512 (see the module docstring)
ROWS_PER_TILE = 6  # 6 rows x 4 registers: 24 accumulators, 4 W loads and 6 broadcasts per k
REGISTERS_PER_ROW = 4
TILE_BYTES = REGISTERS_PER_ROW * vector_bytes()  # one tile row: 256 bytes with AVX-512, 128 with AVX2
BLOCK_BYTES = ROWS_PER_TILE * TILE_BYTES  # the accumulators of a whole tile


def tile_columns(itemsize):
    """Columns of one tile row for ``itemsize``-byte values (64 float32 with AVX-512)."""
    return TILE_BYTES // itemsize


def fits(n, itemsize):
    """Whether a layer of ``n`` outputs of ``itemsize`` bytes can go to :func:`matmul`: on a CPU with
    AVX-512, float32 (in float64 its register block did not form either: 14 GFLOP/s against the
    BLAS's 63 on 64x784x256) and a whole number of tile rows."""
    return AVAILABLE and itemsize == 4 and n > 0 and n % tile_columns(itemsize) == 0


@njit(**JIT_INNER_INLINE)
def _tile(out, x, W, i0, j0, acc, rows, width, alpha, beta):
    """out[i0:i0 + rows, j0:j0 + width] = alpha * x[i0:i0 + rows] @ W[:, j0:j0 + width] + beta * that block, summed
    in acc (rows * width,): registers, when ``rows`` and ``width`` are constants. With beta 0 out is only written
    (as the BLAS's: whatever it held, NaN included, is overwritten); alpha 1 and beta 0 as constants compile to a
    plain store of the sums."""
    k = x.shape[1]
    zero = acc.dtype.type(0)
    for t in range(rows * width):
        acc[t] = zero
    p = 0
    while p + 2 <= k:
        w0 = W[p, j0:j0 + width]
        w1 = W[p + 1, j0:j0 + width]
        for r in range(rows):
            a0 = x[i0 + r, p]
            a1 = x[i0 + r, p + 1]
            for j in range(width):
                acc[r * width + j] += a0 * w0[j] + a1 * w1[j]
        p += 2
    if p < k:
        w0 = W[p, j0:j0 + width]
        for r in range(rows):
            a0 = x[i0 + r, p]
            for j in range(width):
                acc[r * width + j] += a0 * w0[j]
    for r in range(rows):
        o = out[i0 + r, j0:j0 + width]
        if beta == 0:
            for j in range(width):
                o[j] = alpha * acc[r * width + j]
        else:
            for j in range(width):
                o[j] = beta * o[j] + alpha * acc[r * width + j]


@njit(**JIT_INNER_INLINE)
def _tiles(out, x, W, alpha, beta):
    """out = alpha * x @ W + beta * out by ``_tile``'s register blocks, for the function that inlines it (compiled
    for the widest vectors: :func:`matmul`, :func:`matmul_tn`). x C-ordered (``matmul``) or the F-ordered view x.T
    (``matmul_tn``); out (m, n), x (m, k), W (k, n), n a multiple of ``tile_columns``."""
    m = x.shape[0]
    n = W.shape[1]
    acc = stack_block(out, BLOCK_BYTES)
    width = acc.shape[0] // ROWS_PER_TILE  # a constant: the tiles below compile to register blocks
    a = out.dtype.type(alpha)
    b = out.dtype.type(beta)
    full = m - m % ROWS_PER_TILE
    for j0 in range(0, n, width):
        for i0 in range(0, full, ROWS_PER_TILE):
            _tile(out, x, W, i0, j0, acc, ROWS_PER_TILE, width, a, b)
        i0 = full  # the last m % 6 rows: by 4, 2 and 1 (constants too)
        if i0 + 4 <= m:
            _tile(out, x, W, i0, j0, acc, 4, width, a, b)
            i0 += 4
        if i0 + 2 <= m:
            _tile(out, x, W, i0, j0, acc, 2, width, a, b)
            i0 += 2
        if i0 < m:
            _tile(out, x, W, i0, j0, acc, 1, width, a, b)


@njit(**JIT_INNER)
def matmul(out, x, W):
    """out = x @ W (see the module docstring); n a multiple of ``tile_columns``."""
    wide_vectors()
    _tiles(out, x, W, 1, 0)


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
    Shapes: out (k, n), x (m, k), dout (m, n); n a multiple of ``tile_columns``. Summation order: per
    output, the m products in pairs, in order, then alpha and beta; with beta 0, out is only written."""
    wide_vectors()
    _tiles(out, x.T, dout, alpha, beta)


TRANSPOSE_ROWS = 16  # rows of W read per pass of ``_transpose``: each row of WT written 16 values at a time


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
    k * n values), then :func:`matmul`; k a multiple of ``tile_columns`` (so of ``TRANSPOSE_ROWS``)."""
    k, n = W.shape
    WT = matrix(wt, 0, n, k)
    _transpose(WT, W)
    matmul(out, x, WT)


@njit(**JIT)
def repeat_product(out, x, W, own, reps):
    """out = x @ W, ``reps`` times: by :func:`matmul` when ``own``, else by the BLAS (``blas.gemm``),
    for timing one against the other (``fastmlp.backends.products``)."""
    for _ in range(reps):
        if own:
            matmul(out, x, W)
        else:
            gemm(out, x, False, W, False, 1, 0)


@njit(**JIT)
def repeat_dx(dx, dz, W, wt, own, reps):
    """dx = dz @ W.T, ``reps`` times: by :func:`matmul_t` (W transposed into wt) when ``own``, else by the
    BLAS, for timing one against the other (``fastmlp.backends.products``)."""
    for _ in range(reps):
        if own:
            matmul_t(dx, dz, W, wt)
        else:
            gemm(dx, dz, False, W, True, 1, 0)


@njit(**JIT)
def repeat_dw(out, x, dout, own, reps):
    """out = x.T @ dout (alpha 1, beta 1: a product into out as plain SGD's and momentum's are), ``reps``
    times: by :func:`matmul_tn` when ``own``, else by the BLAS, for timing one against the other
    (``fastmlp.backends.products``)."""
    for _ in range(reps):
        if own:
            matmul_tn(out, x, dout, 1, 1)
        else:
            gemm(out, x, True, dout, False, 1, 1)
