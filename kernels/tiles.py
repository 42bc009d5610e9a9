"""Products on AMX tiles with float32 accuracy, for inference by blocks and a training's first layer: fast, numba.

Why: predicting many rows is the products, and on one core fastmlp's own float32 product (``matmul``)
and the BLAS both run near the core's float32 peak (the fashion net's 10,000 rows at 93% of the sgemm
ceiling, ONNX Runtime at 91%): nothing more is to be had in float32. Intel CPUs since Sapphire Rapids
also have AMX, whose bfloat16 tile product ran about 8x the float32 peak here (PyTorch's oneDNN,
2048x784x256 on one thread: 1,506 GFLOP/s against 187). bfloat16 alone would change the predictions
(8 significant bits); three bfloat16 parts of each float32 keep them.

How: every float32 value v is cut into three bfloat16 parts, v = hi + mid + lo exactly: hi is v's top
16 bits, mid the rest rounded to 8 significant bits, lo what then remains (at most 8 bits: exact).
x @ W is summed from the six products of parts at or above float32's precision, for each 32 inputs
in this order: hi.hi, hi.mid, hi.lo, mid.hi, mid.mid and lo.hi (those left out, mid.lo, lo.mid and
lo.lo, are below 2^-23 of |x_i W_ij| each). The tile unit multiplies bfloat16 exactly and sums in
float32, rounding to nearest, as a float32 product does. Measured on 10,016 x 784 @ 784 x 256 (random
weights, half-zero inputs): the largest error against float64 1.63e-6, float32's own product 1.54e-6;
one thread 12.1 ms, of which 1.5 ms cut the rows into parts (NumPy's float32 product: about 19.6 ms).

Layout (``TILE_ELEMENTS`` uint16 per tile, 16 rows of 64 bytes):
- a layer's W (k, n) packed by :func:`pack_weights`: (3 parts, ``n_tiles(n)`` column tiles, ``k_tiles(k)``
  input tiles, 16, 32): the tile of a part for columns 16c..16c+15 and inputs 32t..32t+31 holds in row r
  the pairs (W[32t + 2r, j], W[32t + 2r + 1, j]) for its 16 columns j, the layout the tile product reads
  (inputs beyond k and columns beyond n are 0; ``n_tiles`` is even: columns go by pairs of tiles);
- a block of ``ROWS`` rows of x (m, k) packed by :func:`pack_rows`: (3 parts, ``ROWS``, 32 * ``k_tiles(k)``),
  each part of each row in order (inputs beyond k and rows beyond m 0), a tile's 16 rows read each a row
  apart; :func:`pack_transposed` packs a block of ``ROWS`` columns of a matrix so, as rows of its transpose.

:func:`tile_product` takes each block of 32 rows and each pair of column tiles with its 2 x 2 tiles of
sums in tile registers over all of k (tiles 0-3; 4-5 a part of the rows, loaded once for the products
it takes, 6-7 a part of W), and writes each output once. A row's outputs do not depend on the other
rows of its block: the same bits in any block, on any thread. :func:`tile_weight_product` runs the same sums for
a training's weight product dW = x.T @ dz (summed over the batch's m rows): x packed as a (m, k) W, dz's columns
packed as rows, dW.T's tiles written transposed: the bits ``tile_product`` gives dz.T @ x. Tile loads want 64-byte
aligned rows (misaligned, the product ran 1.4-2.4x slower): the packed buffers are allocated aligned
(``fastmlp.buffers``). Only a CPU with AMX may run these kernels, in a process that asked the kernel for AMX's
state (``fastmlp.backends.tiles``); every CPU compiles them (``intrinsics.tile_target``).
"""
import numpy as np
from numba import njit

from .config import JIT, JIT_INNER
from .intrinsics import (TILE_ROWS, float32_from_bits, stack_block, tile_configure, tile_dot_bf16, tile_load,
                         tile_release, tile_store, tile_target, tile_zero, wide_vectors)
from .screen import count_row

PARTS = 3
K_TILE = 32  # inputs per tile: 32 bfloat16 = 64 bytes a row
N_TILE = 16  # outputs per tile: 16 float32 = 64 bytes a row
TILE_ELEMENTS = TILE_ROWS * K_TILE  # uint16 per tile
ROWS = 2 * TILE_ROWS  # rows of x per block
ROW_BYTES = 64
EDGE_BYTES = ROWS * 2 * N_TILE * 4  # a block's sums for one pair of column tiles, in float32
PAIR_BYTES = 2 * N_TILE * 4  # a tile row's two inputs for its columns, in float32
SQUARE_BYTES = TILE_ROWS * TILE_ROWS * 4  # 16 x 16 float32, transposed on the way (``pack_transposed``)

# The cuts are exact only without fastmath (reassociation would fold v - hi - mid into v - (hi + mid)).
JIT_EXACT = dict(JIT_INNER, fastmath=False)
SIZES = dict(JIT, fastmath=False, inline="always")  # called from Python too
HIGH = 0xFFFF0000
HALF = 0x7FFF


@njit(**SIZES)
def n_tiles(n):
    """Column tiles of a layer of n outputs: an even count."""
    return 2 * -(-n // (2 * N_TILE))


@njit(**SIZES)
def k_tiles(k):
    """Input tiles of a layer of k inputs."""
    return -(-k // K_TILE)


@njit(**SIZES)
def packed_size(k, n):
    """uint16 elements of a (k, n) layer's packed W (:func:`pack_weights`)."""
    return PARTS * n_tiles(n) * k_tiles(k) * TILE_ELEMENTS


@njit(**SIZES)
def rows_size(k):
    """uint16 elements of a block of ``ROWS`` rows of k inputs, packed (:func:`pack_rows`)."""
    return PARTS * 2 * k_tiles(k) * TILE_ELEMENTS


@njit(**SIZES)
def weight_sizes(m, k, n):
    """(uint16 elements of x (m, k) packed as a (m, k) W, of dz (m, n)'s columns packed as rows): the operands of a
    (k, n) weight product x.T @ dz over m rows on tiles (:func:`tile_weight_product`)."""
    return packed_size(m, k), -(-n // ROWS) * rows_size(m)


@njit(**SIZES)
def tiles_sizes(k, n):
    """(uint16 elements of a (k, n) layer's packed W, of one thread's room for a block of packed rows): what a
    training's first layer on tiles needs (``kernels.split``: a room for each thread after the packed W)."""
    return packed_size(k, n), rows_size(k)


@njit(**dict(JIT_EXACT, inline="always"))
def _round_high(u):
    """The float32 bits u rounded to their top 16 bits (to nearest, ties to even), as uint32."""
    return np.uint32((u + HALF + ((u >> 16) & 1)) & HIGH)


@njit(**dict(JIT_EXACT, inline="always"))
def _high_parts(v):
    """The three bfloat16 parts of the float32 v (hi + mid + lo == v), each in the top 16 bits of a uint32."""
    u = np.uint32(np.float32(v).view(np.uint32))
    hi = np.uint32(u & HIGH)  # truncated: no carry can reach the exponent (v near the float32 maximum stays finite)
    rest = v - float32_from_bits(hi)  # exact
    mid = _round_high(np.uint32(np.float32(rest).view(np.uint32)))
    lo = np.uint32(np.float32(rest - float32_from_bits(mid)).view(np.uint32)) & np.uint32(HIGH)  # fits 8 bits
    return hi, mid, lo


@njit(**dict(JIT_EXACT, inline="always"))
def _parts(v):
    """The three bfloat16 parts of the float32 v (:func:`_high_parts`), as uint16 bits."""
    hi, mid, lo = _high_parts(v)
    return np.uint16(hi >> 16), np.uint16(mid >> 16), np.uint16(lo >> 16)


@njit(**dict(JIT_EXACT, inline="always"))
def _pair_words(hi, mid, lo, first, second):
    """hi, mid, lo (N_TILE,) uint32 = each part of first[j] in its low half, of second[j] in its high half: a tile
    row's pairs of inputs for N_TILE columns (16 lanes: one vector operation each)."""
    for j in range(N_TILE):
        h0, m0, l0 = _high_parts(first[j])
        h1, m1, l1 = _high_parts(second[j])
        hi[j] = (h0 >> 16) | h1
        mid[j] = (m0 >> 16) | m1
        lo[j] = (l0 >> 16) | l1


@njit(**JIT_EXACT)
def pack_weight_tiles(packed, W, c0, c1):
    """Column tiles c0..c1 of ``pack_weights``: packed[:packed_size(k, n)] gets W (k, n) float32's columns
    16 c0 .. 16 c1 cut into parts, in tiles (the module docstring). A tile row holds pairs of inputs, written as
    uint32 words (first input low), 16 columns a vector operation: 90 us for the fashion net's 784 x 256 on
    one thread of the Xeon model 167, where writing each bfloat16 alone took 415 us."""
    wide_vectors()
    k, n = W.shape
    nt, kt = n_tiles(n), k_tiles(k)
    words = packed.view(np.uint32)
    part = nt * kt * TILE_ELEMENTS // 2
    edge = stack_block(W, PAIR_BYTES)  # a tile row's two inputs where W ends within it
    zero = W.dtype.type(0)
    # tile by tile in the order they lie in packed, its writes in order: on one thread of the Xeon model 167, a
    # weight product's x (1024 x 784) 341 us, by input tiles first 520 us; the fashion net's W 90 us against 56
    for c in range(c0, c1):
        j0 = c * N_TILE
        for t in range(kt):
            for r in range(TILE_ROWS):
                q = t * K_TILE + 2 * r
                o = (c * kt + t) * TILE_ELEMENTS // 2 + r * N_TILE
                lo_at = 2 * part + o
                hi, mid, lo = words[o:o + N_TILE], words[part + o:part + o + N_TILE], words[lo_at:lo_at + N_TILE]
                if q + 1 < k and j0 + N_TILE <= n:
                    _pair_words(hi, mid, lo, W[q, j0:], W[q + 1, j0:])
                else:
                    for j in range(2 * N_TILE):
                        edge[j] = zero
                    for j in range(max(0, min(N_TILE, n - j0))):
                        if q < k:
                            edge[j] = W[q, j0 + j]
                        if q + 1 < k:
                            edge[N_TILE + j] = W[q + 1, j0 + j]
                    _pair_words(hi, mid, lo, edge, edge[N_TILE:])


@njit(**dict(JIT, fastmath=False))
def pack_weights(packed, W):
    """packed[:packed_size(k, n)] = W (k, n) float32 cut into parts, in tiles (the module docstring)."""
    pack_weight_tiles(packed, W, 0, n_tiles(W.shape[1]))


@njit(**dict(JIT_EXACT, inline="always"))
def _cut(hi, mid, lo, values):
    """hi, mid, lo = the parts of each of values (n,) (slices: indices from 0, and the loop vectorises)."""
    for j in range(values.shape[0]):
        hi[j], mid[j], lo[j] = _parts(values[j])


@njit(**JIT_EXACT)
def pack_rows(rows_buf, x, i0, rows, screened, lim):
    """rows_buf[:rows_size(k)] = rows i0..i0 + rows of x (m, k) float32 cut into parts (the module
    docstring), inputs beyond k and rows beyond ``rows`` (up to ``ROWS``) 0. Returns, where ``screened``, how many
    of those rows' values are NaN, inf or beyond ``lim`` (float32) in magnitude (``screen.count_row``: each row
    counted as it is cut, from the cache; a pass of ``screen`` first cost 28-30 us of a 256-row call of the fashion
    net on one thread of the Xeon model 207, this 4-5), else 0."""
    wide_vectors()
    k = x.shape[1]
    width = k_tiles(k) * K_TILE
    part = ROWS * width
    bad = 0
    for r in range(ROWS):
        o = r * width
        filled = 0
        if r < rows:
            filled = k
            _cut(rows_buf[o:o + k], rows_buf[part + o:part + o + k], rows_buf[2 * part + o:2 * part + o + k],
                 x[i0 + r])
            if screened:
                bad += count_row(x[i0 + r], lim)
        for q in range(o + filled, o + width):
            rows_buf[q] = 0
            rows_buf[part + q] = 0
            rows_buf[2 * part + q] = 0
    return bad


@njit(**dict(JIT_INNER, inline="always"))
def _block_sums(rows_buf, rows_part, row_tile, rows_stride, packed, part, first, col_tile, kt):
    """Tiles 0-3 = a block of ``ROWS`` packed rows times a pair of packed column tiles, summed over kt input tiles:
    the six products of parts (the module docstring). The rows' parts ``rows_part`` apart in rows_buf, their second
    tile ``row_tile`` on, each row ``rows_stride`` bytes on; the pair's first tile at packed[first], its parts
    ``part`` apart, its second tile ``col_tile`` on. Tile 0 holds rows 0-15 by the first tile, 1 rows 0-15 by the
    second, 2 and 3 rows 16-31 by each."""
    tile_zero(0)
    tile_zero(1)
    tile_zero(2)
    tile_zero(3)
    for t in range(kt):
        for pa in range(PARTS):  # the six products: the rows' part pa with the columns' parts 0 .. 2 - pa
            a = pa * rows_part + t * K_TILE
            tile_load(4, rows_buf, a, rows_stride)
            tile_load(5, rows_buf, a + row_tile, rows_stride)
            for pb in range(PARTS - pa):
                b = pb * part + first + t * TILE_ELEMENTS
                tile_load(6, packed, b, ROW_BYTES)
                tile_load(7, packed, b + col_tile, ROW_BYTES)
                tile_dot_bf16(0, 4, 6)
                tile_dot_bf16(1, 4, 7)
                tile_dot_bf16(2, 5, 6)
                tile_dot_bf16(3, 5, 7)


@njit(**dict(JIT_INNER, inline="always"))
def _store_block(edge):
    """edge (``ROWS`` * 2 * ``N_TILE``,) float32 = tiles 0-3 (``_block_sums``): the block's sums, row by row."""
    w = 2 * N_TILE
    tile_store(0, edge, 0, w * 4)
    tile_store(1, edge, N_TILE, w * 4)
    tile_store(2, edge, TILE_ROWS * w, w * 4)
    tile_store(3, edge, TILE_ROWS * w + N_TILE, w * 4)


@njit(**JIT)
def tile_product(out, x, packed, rows_buf):
    """out (m, n) = x (m, k) @ W, both float32 and C-contiguous, for the W (k, n) packed into ``packed``
    (:func:`pack_weights`); rows_buf (at least ``rows_size(k)``,) uint16, 64-byte aligned: the calling
    thread's room for a block's packed rows. Run only where AMX may be (the module docstring)."""
    tile_product_screened(out, x, packed, rows_buf, False, np.float32(0))


@njit(**JIT)
def tile_product_screened(out, x, packed, rows_buf, screened, limit):
    """:func:`tile_product`; returns, where ``screened``, how many values of x are NaN, inf or beyond ``limit`` in
    magnitude, counted as its rows are packed (:func:`pack_rows`), else 0: inference by blocks counts its inputs so
    where the first layer is on the tiles (``kernels.inference``)."""
    tile_target()
    lim = np.float32(limit)
    bad = 0
    m, k = x.shape
    n = out.shape[1]
    nt, kt = n_tiles(n), k_tiles(k)
    part, rows_part = nt * kt * TILE_ELEMENTS, 2 * kt * TILE_ELEMENTS
    col_tile = kt * TILE_ELEMENTS  # from a column tile of W to the next
    row_tile = TILE_ROWS * kt * K_TILE  # from the first row tile of the packed rows to the second
    rows_stride = kt * K_TILE * 2  # bytes from one packed row to the next
    edge = stack_block(out, EDGE_BYTES)  # 64-byte aligned: a block's sums where they do not fill out's tiles
    stride = n * 4
    tile_configure()
    for i0 in range(0, m, ROWS):
        rows = min(ROWS, m - i0)
        bad += pack_rows(rows_buf, x, i0, rows, screened, lim)
        for c in range(0, nt, 2):
            _block_sums(rows_buf, rows_part, row_tile, rows_stride, packed, part, c * col_tile, col_tile, kt)
            j0 = c * N_TILE
            if rows == ROWS and j0 + 2 * N_TILE <= n:
                o = i0 * n + j0
                tile_store(0, out, o, stride)
                tile_store(1, out, o + N_TILE, stride)
                tile_store(2, out, o + TILE_ROWS * n, stride)
                tile_store(3, out, o + TILE_ROWS * n + N_TILE, stride)
            else:
                _store_block(edge)
                w = 2 * N_TILE
                for r in range(rows):
                    for j in range(min(w, n - j0)):
                        out[i0 + r, j0 + j] = edge[r * w + j]
    tile_release()
    return bad


@njit(**JIT_EXACT)
def pack_transposed(blocks_buf, x, b0, b1):
    """Blocks b0..b1 of ``ROWS`` columns of x (m, n) float32, each packed as :func:`pack_rows` packs a block of x.T's
    rows (the rows of a weight product x.T @ ..., summed over x's m rows): block b at
    blocks_buf[b * rows_size(m):], columns beyond n and rows beyond m 0. Through 16 x 16 blocks transposed on the
    stack, each of their rows cut into parts 16 values a vector operation."""
    wide_vectors()
    m, n = x.shape
    width = k_tiles(m) * K_TILE
    part = ROWS * width
    square = stack_block(x, SQUARE_BYTES)
    for b in range(b0, b1):
        out = blocks_buf[b * PARTS * part:]
        for h in range(ROWS // TILE_ROWS):
            j0 = b * ROWS + h * TILE_ROWS
            for q0 in range(0, width, TILE_ROWS):
                if q0 + TILE_ROWS <= m and j0 + TILE_ROWS <= n:
                    for a in range(TILE_ROWS):
                        row = x[q0 + a, j0:j0 + TILE_ROWS]
                        for j in range(TILE_ROWS):
                            square[j * TILE_ROWS + a] = row[j]
                else:
                    for a in range(TILE_ROWS):
                        for j in range(TILE_ROWS):
                            inside = q0 + a < m and j0 + j < n
                            square[j * TILE_ROWS + a] = x[q0 + a, j0 + j] if inside else x.dtype.type(0)
                for j in range(TILE_ROWS):
                    o = (h * TILE_ROWS + j) * width + q0
                    _cut(out[o:o + TILE_ROWS], out[part + o:part + o + TILE_ROWS],
                         out[2 * part + o:2 * part + o + TILE_ROWS], square[j * TILE_ROWS:(j + 1) * TILE_ROWS])


@njit(**JIT)
def tile_weight_product(dW, packed_x, dz_blocks, m, c0, c1):
    """Rows 16 c0 .. 16 c1 of dW (k, n) float32 = x.T @ dz over the m rows of x (m, k) and dz (m, n), from x packed
    as a (m, k) W (:func:`pack_weight_tiles`: its column tiles c0..c1 at least) and dz's columns packed as rows
    (:func:`pack_transposed`, every block): dW.T's tiles, written transposed (each element once). Run only where
    AMX may be (the module docstring)."""
    tile_target()
    k, n = dW.shape
    kt = k_tiles(m)  # tiles of the sum over m
    part, rows_part = n_tiles(k) * kt * TILE_ELEMENTS, 2 * kt * TILE_ELEMENTS
    col_tile, row_tile, rows_stride = kt * TILE_ELEMENTS, TILE_ROWS * kt * K_TILE, kt * K_TILE * 2
    edge = stack_block(dW, EDGE_BYTES)
    w = 2 * N_TILE
    tile_configure()
    for c in range(c0, c1, 2):  # each pair of x's column tiles: dz's blocks cycle through the cache, not x's
        i0 = c * N_TILE
        for b in range(-(-n // ROWS)):
            _block_sums(dz_blocks[b * PARTS * rows_part:], rows_part, row_tile, rows_stride, packed_x, part,
                        c * col_tile, col_tile, kt)
            _store_block(edge)
            j0 = b * ROWS
            columns = min(ROWS, n - j0)
            for i in range(min(w, k - i0)):
                row = dW[i0 + i, j0:j0 + columns]
                for j in range(columns):
                    row[j] = edge[j * w + i]
    tile_release()


@njit(**JIT)
def repeat_tile_product(out, x, packed, rows_buf, reps):
    """:func:`tile_product` ``reps`` times, for timing it against ``matmul`` (``fastmlp.backends.products``)."""
    for _ in range(reps):
        tile_product(out, x, packed, rows_buf)
