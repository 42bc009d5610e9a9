"""Inference: the network's output and class probabilities, forward only: fast, numba.

Hidden layers ping-pong through the two halves of a ``scratch`` buffer (2 * rows * widest
hidden layer,): nothing is kept, nothing copied. Two paths, chosen by the number of rows m:

- many rows: each layer one product (``dense_forward``: BLAS for large products);
- up to ``ROW_PATH_MAX_ROWS`` rows (latency): each row alone, serially, no BLAS call and
  no thread woken. A row's product x @ W reads only the rows of W at the nonzero inputs
  (pixels at 0, ReLU zeros: they add nothing); ``nz`` (widest layer input,) int64 holds
  the nonzero positions. The outputs go by blocks of 16 AVX-512 registers (``stack_block``; the
  product compiled for them, ``wide_vectors``: at LLVM's preferred 256 bits the block took all 32
  registers and spilled, a one-row call 8.8-9.0 us against 7.3-7.4 on the Xeon model 207; with AVX2 the
  same, spilled: ``ROW_BLOCK_BYTES``), the positions of the nonzero inputs as unsigned indices (Numba tests a
  signed one for a negative value to wrap around: 5.17-5.31 us -> 4.77-5.23 a 784x256 row half zeros),
  that sum the rows in order: each W row is read once, each output written once, and the
  loop is bound by reading W (from L2: the 784-256 first layer of a ReLU net reads ~400 KB
  of its 800 KB per Fashion-MNIST row). Dense rows too: it matched BLAS's gemv on a fully
  nonzero 784-256 row (9.4 vs 9.7 us) and wins below that.

The ``screened`` kernel also looks at every input value on the way (``screen``), so that
the caller's value checks need no separate passes over X: ``flags[0]`` counts the values
that are NaN, inf or beyond ``limit`` in magnitude (``screen.screen``).

``screened_blocks`` is a third path for many rows, where fastmlp's own product (``matmul``) runs
about as fast as the BLAS on one thread or faster (``fastmlp.backends.products.inference_own``
measures it): the rows are cut into blocks of ``block`` rows (``fastmlp.backends.products.block_rows``:
as many blocks as threads or a multiple, all of one size but the last), and each of Numba's threads
takes whole blocks through every layer (screen, products, activations, probabilities), each product
on its own thread. No thread waits
for another between layers, a block's hidden layers stay in the core's cache, and with TBB a free
core takes more blocks than a busy one. Measured on the fashion net (784-256-128-64-10 relu,
float32, AMD EPYC Zen 5, 2 vCPUs): 10,000 rows 700-808k rows/s in blocks of 96 against 533-668k
by whole-layer products on the BLAS's two threads; calls of 256 rows 719-735k in blocks of 48
against 642-648k. A block's rows give the same outputs on whichever thread takes it (one
thread or several: bit for bit); with other blocks a row may round otherwise, as with the BLAS
(its place in ``matmul``'s tile of rows decides how fastmath contracts its sums).

Where the CPU has AMX and the process may run it, a layer's product in the blocks can go to its
tiles instead (``Net.own`` flag ``OWN_TILES``: ``tiles.tile_product``, float32 results from three
bfloat16 parts of each value), where it measured faster than ``matmul``
(``fastmlp.backends.products``). Its weights are packed into the calling thread's ``TileWork`` at
the start of a ``predict`` call, and packed again only when they changed (``refresh_tiles``, called only where the
model cannot tell them unchanged: ``fastmlp.aliases``). On the Xeon
(model 167, 2 vCPUs), the fashion net's 10,000 rows on two threads: 10.5-10.8 ms against 13.0-13.2
by ``matmul`` alone.

The first layer's product in the blocks sums over each block's nonzero inputs (``Net.own`` flag ``OWN_SPARSE``:
``matmul.matmul_sparse``, its lists in the calling thread's row of ``lists``) where the block's rows have zeros
enough, as images' dark pixels (AMD EPYC Zen 4, Fashion-MNIST's 10,000 test-size rows, the fashion net, two
threads, best of 30 calls in one process: 432k -> 463k rows/s), its rows grouped by their zeros first
(``groups.matmul_grouped``: tiles of rows with like zeros skip more; 478-488k -> 495-547k rows/s; calls of 256
rows with the other core busy, 203-256k -> 288k), its room in the calling thread's row of ``lists``. So does each
hidden layer's (the same flag), over the zeros of the layer below (ReLU's), its rows in their order
(``matmul.matmul_sparse``): grouping them cost what it saved there (the 256-128 layer of a 64-row block, one
thread: 36.2 us by ``matmul``, 30.0 us in order, 35.1 us grouped; calls of 256 rows with the other core busy, fresh
processes alternated, best of each: 265-267k -> 275-288k rows/s; 10,000 rows on two threads 534-540k -> 551k).
"""
import numba
import numpy as np
from numba import njit, prange

from .activations import bias_act
from .config import JIT, JIT_INNER, JIT_INNER_INLINE
from .dense import _matmul, dense_forward_body, is_narrow, narrow_product
from .intrinsics import borrow, matrix, stack_block, wide_vectors
from .losses import SIGMOID_BCE, SIGMOID_XENT
from .groups import holds_grouped, matmul_grouped
from .matmul import matmul, matmul_sparse, sparse_room
from .network import bias, weight
from .screen import screen
from .structs import N_IN, N_OUT, OWN_FORWARD, OWN_SPARSE, OWN_TILES, W_OFF
from .tiles import pack_weights, tile_product_screened

# Pieces of the comparison of a layer's weights with those its tiles were packed from (``refresh_tiles``).
REFRESH_PIECES = 16
# Values compared at a time (``_same_bits``): a comparison stops at the first chunk that differs.
SAME_BITS_CHUNK = 256
# Rows a call takes one at a time (see the module docstring); more go through whole-layer products.
ROW_PATH_MAX_ROWS = 4
# Bytes of outputs a row product sums at once: 16 AVX-512 registers. With AVX2 the same 1024 bytes, 32 ymm registers,
# 17 of them spilled to the stack (a load and a store at each of their multiply-adds): blocks of 12 registers, none
# spilled, took more passes over the nonzero positions and were slower (784x256, half zeros, compiled for Zen 1 on
# the Xeon model 167: 6.4-7.2 us against 5.9-6.4).
ROW_BLOCK_BYTES = 1024


@njit(**JIT_INNER)
def _nonzeros(nz, x):
    """nz[:c] = the positions of the nonzero values of x (k,), in order; returns c.
    Branch-free: a branch per value mispredicts on pixels that are half zero."""
    zero = x.dtype.type(0)
    c = 0
    for q in range(x.shape[0]):
        nz[c] = q  # c <= q < len(nz)
        c += x[q] != zero
    return c


@njit(**JIT_INNER_INLINE)
def _block_product(o, x, W, nz, c, j0, acc, width):
    """o[j0:j0 + width] = the sum over s < c of x[nz[s]] * W[nz[s], j0:j0 + width], the rows in
    order, summed in acc (width,) (registers when width is a constant)."""
    zero = acc.dtype.type(0)
    for j in range(width):
        acc[j] = zero
    for s in range(c):
        q = np.uint64(nz[s])  # (unsigned: no test for a negative index to wrap around)
        xv = x[q]
        w = W[q, j0:j0 + width]  # indexed from 0: plain loads (j0 + j compiles to gathers)
        for j in range(width):
            acc[j] += xv * w[j]
    for j in range(width):
        o[j0 + j] = acc[j]


@njit(**JIT_INNER)
def _row_product(o, x, W, nz, c):
    """o = x @ W for one row x (k,), W (k, n), o (n,), from the rows of W at x's c nonzero
    values nz[:c] (``_nonzeros``), by blocks of outputs whose sums stay in registers
    (``ROW_BLOCK_BYTES``, then a half and a quarter block, then the rest): each W row is
    read once and o written once."""
    wide_vectors()  # the block's sums in 16 AVX-512 registers, not 32 of 256 bits (all there are: spilled)
    n = W.shape[1]
    acc = stack_block(o, ROW_BLOCK_BYTES)
    wide = acc.shape[0]  # a constant: each call below compiles to its own register block
    half, quarter = wide // 2, wide // 4
    j0 = 0
    while j0 + wide <= n:
        _block_product(o, x, W, nz, c, j0, acc, wide)
        j0 += wide
    if j0 + half <= n:
        _block_product(o, x, W, nz, c, j0, acc, half)
        j0 += half
    if j0 + quarter <= n:
        _block_product(o, x, W, nz, c, j0, acc, quarter)
        j0 += quarter
    if j0 < n:
        _block_product(o, x, W, nz, c, j0, acc, n - j0)


@njit(**JIT_INNER)
def output_rows(out, scratch, nz, params, x, net):
    """``output`` one row at a time, serially (few rows: see the module docstring)."""
    m = x.shape[0]
    last = net.lay.shape[0] - 1
    half = scratch.shape[0] // 2
    out = borrow(out)
    x = borrow(x)
    for i in range(m):
        a_in = x[i:i + 1]
        for l in range(last + 1):
            n = net.lay[l, N_OUT]
            dst = out[i:i + 1] if l == last else matrix(scratch, (l % 2) * half, 1, n)
            c = _nonzeros(nz, a_in[0])
            _row_product(dst[0], a_in[0], weight(params, net, l), nz, c)
            bias_act(dst, bias(params, net, l), net.kinds[l], net.alphas[l], net.acts)
            a_in = dst


@njit(**JIT_INNER)
def output_layers(out, scratch, params, x, net):
    """``output`` by whole-layer products (many rows)."""
    m = x.shape[0]
    last = net.lay.shape[0] - 1
    half = scratch.shape[0] // 2
    a_in = x
    for l in range(last + 1):
        dst = out if l == last else matrix(scratch, (l % 2) * half, m, net.lay[l, N_OUT])
        dense_forward_body(dst, a_in, weight(params, net, l), bias(params, net, l), net.kinds[l], net.alphas[l],
                           net.acts, True, None, None)
        a_in = dst


@njit(**JIT_INNER_INLINE)
def _output(out, scratch, nz, params, x, net):
    if x.shape[0] <= ROW_PATH_MAX_ROWS and nz.shape[0] > 0:
        output_rows(out, scratch, nz, params, x, net)
    else:
        output_layers(out, scratch, params, x, net)


@njit(**JIT_INNER)
def link(proba, logits, loss):
    """Class probabilities (m, classes) as float64 into ``proba`` from the logits (m, n_out):
    the softmax (cross-entropy, softmax + squared error), [1 - p, p] with p = sigmoid(z)
    (bce), or each output's sigmoid (multi-label), computed in float64."""
    for i in range(logits.shape[0]):
        z = logits[i]
        if loss == SIGMOID_BCE:
            p = 0.5 * (1.0 + np.tanh(0.5 * np.float64(z[0])))
            proba[i, 0] = 1.0 - p
            proba[i, 1] = p
        elif loss == SIGMOID_XENT:
            for j in range(z.shape[0]):
                proba[i, j] = 0.5 * (1.0 + np.tanh(0.5 * np.float64(z[j])))
        else:
            zmax = np.float64(z[0])
            for j in range(1, z.shape[0]):
                zmax = max(zmax, np.float64(z[j]))
            s = 0.0
            for j in range(z.shape[0]):
                e = np.exp(np.float64(z[j]) - zmax)
                proba[i, j] = e
                s += e
            for j in range(z.shape[0]):
                proba[i, j] /= s


@njit(**JIT)
def output(out, scratch, params, x, net):
    """The last layer's output only, into out (m, n_out), for the m rows of x (m, n_in),
    by whole-layer products (what ``predict`` needs)."""
    output_layers(out, scratch, params, x, net)


@njit(**JIT)
def probabilities(proba, logits, scratch, params, x, net):
    """Class probabilities (m, classes) as float64 into ``proba`` for the m rows of x
    (``link`` of the network's output ``logits`` (m, n_out), ``output``'s scratch)."""
    output_layers(logits, scratch, params, x, net)
    link(proba, logits, net.loss)


@njit(**JIT)
def screened(proba, out, flags, scratch, nz, params, x, net, limit):
    """The network's output for the m rows of x into out's first m rows (the row path for few
    rows, given ``nz``; empty ``nz``: whole layers), then, unless ``proba`` is empty, the class
    probabilities into proba (m, classes) (``link``); flags[0] = the count of values of x that
    are not finite or beyond ``limit`` (``screen``). One kernel for both, compiled once."""
    screen(flags, x, limit)
    out = out[:x.shape[0]]
    _output(out, scratch, nz, params, x, net)
    if proba.size > 0:  # empty (no rows, or no classes: mse): the output only
        link(proba, out, net.loss)


@njit(**JIT_INNER)
def _same_bits(a, b):
    """Whether the float32 arrays a and b (n,) hold the same bits (NaN equal to itself), by chunks of
    ``SAME_BITS_CHUNK`` that vectorise: each chunk a slice, its loop over range(len) (a loop over range(s, e)
    keeps Numba's index checks and did not vectorise: the fashion net's 233k weights 139-140 us on one thread of
    the Xeon model 167, sliced 29-30 us)."""
    a, b = a.view(np.uint32), b.view(np.uint32)
    n = a.shape[0]
    for s in range(0, n, SAME_BITS_CHUNK):
        x, y = a[s:s + SAME_BITS_CHUNK], b[s:s + SAME_BITS_CHUNK]
        differ = np.uint32(0)
        for i in range(x.shape[0]):
            differ |= x[i] ^ y[i]
        if differ:
            return False
    return True


@njit(**dict(JIT, parallel=True))
def refresh_tiles(tiles, params, net):
    """Pack the weights of each layer flagged ``OWN_TILES`` into tiles.packed (``tiles.pack_weights``) unless
    those packed were packed from the same values (``TileWork``: its ``source`` and ``packed_ok``). The
    params are the model's own buffer, which users and fits may change between calls: one pass over the
    weights and the copy per ``predict`` call that cannot tell them unchanged (``fastmlp.aliases``), in
    ``REFRESH_PIECES`` pieces over Numba's threads (the fashion net's 233k weights on tiles, 1.9 MB: on one thread
    of the Xeon 42 us from cache, 82 us after 8 MB of other data, about 130 us in a 256-row call), a packing (about
    0.45 ms) only after a change. Called before ``screened_blocks``."""
    for l in range(net.lay.shape[0]):
        if net.own[l] & OWN_TILES:
            off, size = net.lay[l, W_OFF], net.lay[l, N_IN] * net.lay[l, N_OUT]
            now, before = params[off:off + size], tiles.source[off:off + size]
            piece = -(-size // REFRESH_PIECES)
            flags = tiles.changed  # a local: writes through a namedtuple's array in a prange body are lost (numba#5872)
            for p in prange(REFRESH_PIECES):  # each piece writes its own flag
                lo, hi = min(p * piece, size), min((p + 1) * piece, size)
                flags[p] = 0 if _same_bits(now[lo:hi], before[lo:hi]) else 1
            changed = tiles.packed_ok[l] == 0
            for p in range(REFRESH_PIECES):
                changed |= flags[p] != 0
            if changed:
                pack_weights(tiles.packed[tiles.offsets[l]:], weight(params, net, l))
                for i in range(size):
                    before[i] = now[i]
                tiles.packed_ok[l] = 1


@njit(**JIT_INNER_INLINE)
def _lists_fit(lists, x, n):
    """Whether the calling thread has a row of ``lists`` and it holds the room of a block's rows x (rows, k) grouped
    for a product of n columns (``groups.grouped_room``)."""
    return numba.get_thread_id() < lists.shape[0] and holds_grouped(lists.shape[1], x, n)


@njit(**JIT_INNER_INLINE)
def _sparse_lists_fit(lists, x):
    """Whether the calling thread has a row of ``lists`` and it holds the lists of a block's rows x (rows, k) in their
    order (``matmul.sparse_room``: a hidden layer's product over its nonzero inputs)."""
    return numba.get_thread_id() < lists.shape[0] and sparse_room(x.shape[0], x.shape[1]) <= lists.shape[1]


@njit(**JIT_INNER)
def _block_layers(out, scratch, params, x, net, i0, i1, tiles, lists, limit):
    """``output_layers`` for rows i0..i1 of x (m, n_in) alone, on the calling thread: each layer's
    product on AMX tiles or by ``matmul`` where ``Net.own`` says (``OWN_TILES``: ``tiles.tile_product``,
    the weights packed in ``tiles``, the thread's own room for rows; the first layer's over the block's nonzero
    inputs with ``OWN_SPARSE``, its rows grouped by their zeros: ``groups.matmul_grouped``, its room in the thread's
    row of ``lists``, (threads, room) int32, when the block's fit; a hidden layer's with ``OWN_SPARSE`` over its
    nonzero inputs in their order, ``matmul.matmul_sparse``, its lists in that row when they fit), else by loops (no
    BLAS call inside a parallel
    region: ``dense.narrow_product`` for a narrow layer, such as the last), into out (m, n_out).
    The block's hidden layers ping-pong in its own slab of each half of scratch, elements
    [i0 * width, i1 * width) with width = half // m >= the widest layer: the blocks run through the
    layers at their own pace, and a (m, n) view per layer, as in ``output_layers``, would lay one
    block's deeper, narrower layer over another's wider one. Returns, where the first layer is on the tiles, how many
    of the block's input values are NaN, inf or beyond ``limit`` in magnitude, counted as the tile product packs its
    rows (``tiles.tile_product_screened``), else -1 (the caller's ``screen`` counts them)."""
    m = x.shape[0]
    bad = -1
    last = net.lay.shape[0] - 1
    half = scratch.shape[0] // 2
    width = half // m
    a_in = x[i0:i1]
    for l in range(last + 1):
        dst = out[i0:i1] if l == last else matrix(scratch, (l % 2) * half + i0 * width, i1 - i0, net.lay[l, N_OUT])
        W = weight(params, net, l)
        if net.own[l] & OWN_TILES:
            room = tiles.room
            me = numba.get_thread_id()
            count = tile_product_screened(dst, a_in, tiles.packed[tiles.offsets[l]:],
                                          tiles.rows[me * room:(me + 1) * room], l == 0, limit)
            if l == 0:
                bad = count
        elif net.own[l] & OWN_SPARSE and l == 0 and _lists_fit(lists, a_in, W.shape[1]):
            matmul_grouped(dst, a_in, W, lists[numba.get_thread_id()])
        elif net.own[l] & OWN_SPARSE and l > 0 and _sparse_lists_fit(lists, a_in):
            matmul_sparse(dst, a_in, W, lists[numba.get_thread_id()])
        elif net.own[l] & OWN_FORWARD:
            matmul(dst, a_in, W)
        elif is_narrow(W):
            narrow_product(dst, a_in, W)
        else:
            _matmul(dst, a_in, W)
        bias_act(dst, bias(params, net, l), net.kinds[l], net.alphas[l], net.acts)
        a_in = dst
    return bad


@njit(**dict(JIT, parallel=True))
def screened_blocks(proba, out, flags, counts, scratch, params, x, net, limit, block, tiles, lists):
    """``screened`` by blocks of ``block`` rows over Numba's threads (see the module docstring):
    ``Net.own`` (L,) int64 says which layers' products go to ``matmul`` (widths that fit it) or to AMX
    tiles, their weights packed into ``tiles`` (``TileWork``, empty arrays when none is) by
    ``refresh_tiles`` before the call, and those flagged ``OWN_SPARSE`` over the nonzero inputs of each block (the
    first layer's rows grouped, ``groups.matmul_grouped``; a hidden layer's in order), their room in ``lists``
    (threads, room) int32, a row for each of Numba's threads;
    counts (at least the number of blocks,) int64 takes each block's ``screen`` count (no two
    threads add into one element; where the first layer is on the tiles, counted as its product packs the block's
    rows: no pass over them of its own), summed in order into flags[0]."""
    m = x.shape[0]
    out = out[:m]
    blocks = -(-m // block)
    for t in prange(blocks):
        i0 = t * block
        i1 = i0 + block if i0 + block < m else m
        counted = _block_layers(out, scratch, params, x, net, i0, i1, tiles, lists, limit)
        if counted >= 0:  # on the way (the first layer's tile product packing its rows)
            counts[t] = counted
        else:
            screen(counts[t:t + 1], x[i0:i1], limit)
        if proba.size > 0:
            link(proba[i0:i1], out[i0:i1], net.loss)
    bad = 0
    for t in range(blocks):
        bad += counts[t]
    flags[0] = bad
