"""Products and optimizer updates cut over Numba's threads: fast, numba.

Why: with the BLAS's own threads (OpenBLAS: two on two cores), every optimizer but plain SGD
(whose update rides inside its dW product) runs its update pass over every parameter on one
core while the BLAS's other thread spins, and a parallel update beside those spinning threads
measured slower still. Here the kernels own the threads instead: each large product is cut
into ``parts`` pieces along its larger output dimension, each piece one BLAS call on one
thread (the numba backend holds the BLAS to one thread for the call), and each large layer's
update is cut the same way. Measured on 784-256-128-64-10 at batch 64 (2 vCPUs, Zen 4, each
case in fresh processes): an Adam step 628-671 -> 582-612 us; the 64x784x256 product alone
156 us cut against 161 us on the BLAS's two threads.

``split_step`` goes further for a large layer whose update needs nothing of the whole layer
(a static optimizer choice, no penalty or clipping: ``network.layer_step``): one parallel
region per layer in the backward, each thread computing its rows of W's gradient (and its
columns of dx, read from W before the change) and then updating those rows while they are in
its cache. Best of 15 fits in fresh processes, same session: Adam 597 -> 563 us a step,
momentum 570 -> 521 us.

On two threads the first layer's forward product is cut along k at the same rows of W as its ``split_step``
(``forward_product``): each thread sums over its rows, the second thread's sums go into the layer's delta block
(unused until the backward), then the two are added. A core then reads forward only the rows of W it updates
backward, and their p, m and v stay in its cache from step to step (cut by columns, each core read half of every
row). Fashion net, batch 64, Intel Xeon model 167, ``fastmlp bench`` in fresh processes, three rounds alternated:
Adam 133-149k -> 148-164k samples/s, momentum 141-148k -> 158-175k.

Where the numba backend measured it faster (``Net.own`` flags the first layer ``OWN_TILES``: a CPU with AMX, float32,
``fastmlp.backends.products``), the first layer's forward product runs on AMX tiles instead (``forward_by_tiles``):
its W packed into three bfloat16 parts at every step (each thread its share of the column tiles), then each thread
the product of its rows (``tiles.tile_product``: float32 results, other bits than the BLAS's). Fashion net at batch
1,024, Intel Xeon model 167, two threads: the product 1,466 us by the BLAS, about 650 us on the tiles, the packing
included; Adam 197-200k -> 228-229k samples/s, plain SGD (then trained by this cut kernel: ``fastmlp.backends.numba``'s
``plain_takes_tiles``) 191-198k -> 204-221k. Its weight product can go to the tiles too (``weight_step_by_tiles``,
``Net.own`` flag ``OWN_DW_TILES``, chosen by timing on its own): dz's columns packed as rows, then each thread its
column tiles of the batch packed, its rows of dW on the tiles and their update (``tiles.tile_weight_product``).

``parts`` (``Net.parts``) is None (every product one call: nothing here is compiled) or the
number of pieces, Numba's thread count when the epoch runs. Only products from
``SPLIT_MIN_WORK`` multiply-adds and updates from ``SPLIT_MIN_UPDATE`` elements are cut: a
parallel region of two pieces costs about 12 us here (TBB), more than a smaller one saves.
Each output element is one piece's (no two threads write the same element), computed by the
same one-thread BLAS over the same k as in one call: bit-identical to one one-thread call on the
fashion net's products with OpenBLAS's AVX-512 kernels, not with its Haswell kernel (AVX2 CPUs such as
Zen 1; ``OPENBLAS_CORETYPE=Zen`` on an AVX-512 Xeon: other last bits, whether cut in two or three, along
rows or columns), so the pieces' bits are the BLAS's to give. Each piece runs in its caller's floating-point
mode (``intrinsics.enter_fp_mode``), whichever thread takes it: a training epoch flushes
denormals on every thread it computes on (``epoch``).
"""
from numba import njit, prange
from numba.extending import overload

from .batches import gather_ahead
from .blas import _N, _T, _gemm, gemm
from .config import JIT_INNER, JIT_INNER_INLINE, SPLIT_MIN_UPDATE, SPLIT_MIN_WORK
from .intrinsics import (by_reference, data_pointer, enter_fp_mode, flush_denormals, kernel_only, matrix,
                         restore_fp_mode)
from .optimizers import (after_velocity_product, apply_update, before_velocity_product, step_coeffs, update_range,
                         velocity_fused)
from .static import absent, static_value
from .tiles import (N_TILE, ROWS, n_tiles, pack_transposed, pack_weight_tiles, tile_product, tile_weight_product,
                    tiles_sizes, weight_sizes)

JIT_SPLIT = dict(JIT_INNER, parallel=True)
ALIGN = 16  # a piece's first column is a multiple of this (whole 64-byte lines of float32)


@njit(**JIT_INNER_INLINE)
def piece(n, parts, t, align):
    """The range [lo, hi) of piece t of ``parts`` over n items, boundaries on multiples of ``align``
    (not min(): Numba compiles its min as a function of its own)."""
    units = -(-n // align)
    lo, hi = units * t // parts * align, units * (t + 1) // parts * align
    return (lo if lo < n else n), (hi if hi < n else n)


@njit(**JIT_INNER)
def _gemm_piece(C, A, ta, B, tb, alpha, beta, lo, hi, rows):
    """Rows lo..hi of C (``rows``; and of op(A)) or its columns lo..hi (and of op(B)):
    one BLAS call on the calling thread. Shapes as in ``blas.gemm``."""
    m, n = C.shape
    k = A.shape[0] if ta else A.shape[1]
    T = C.dtype.type
    fa, fb = _T if ta else _N, _T if tb else _N
    if rows:
        a = A[:, lo:] if ta else A[lo:]
        _gemm(fb, fa, n, hi - lo, k, by_reference(T(alpha)), data_pointer(B), B.shape[1], data_pointer(a), A.shape[1],
              by_reference(T(beta)), data_pointer(C[lo:]), n)
    else:
        b = B[lo:] if tb else B[:, lo:]
        _gemm(fb, fa, hi - lo, m, k, by_reference(T(alpha)), data_pointer(b), B.shape[1], data_pointer(A), A.shape[1],
              by_reference(T(beta)), data_pointer(C[:, lo:]), n)


@njit(**JIT_SPLIT)
def _split_gemm(C, A, ta, B, tb, alpha, beta, parts):
    """C = alpha * op(A) @ op(B) + beta * C in ``parts`` pieces, one BLAS call per thread:
    along C's rows when it has more rows than columns, else along its columns (each piece then
    reads a slice of op(B) and writes a strided block of C). Shapes as in ``blas.gemm``."""
    m, n = C.shape
    rows = m > n
    mode = flush_denormals(False)  # the caller's floating-point mode, unchanged, for every piece
    for t in prange(parts):
        old = enter_fp_mode(mode)
        lo, hi = piece(m, parts, t, 1) if rows else piece(n, parts, t, ALIGN)
        if lo < hi:
            _gemm_piece(C, A, ta, B, tb, alpha, beta, lo, hi, rows)
        restore_fp_mode(old)


@njit(**JIT_INNER_INLINE)
def over_k(C, k, partial, parts):
    """Whether the first layer's forward product C = x @ W (W with k rows) is cut along k (``forward_product``):
    two pieces, room for one piece's sums in ``partial`` (flat), W taller than wide, and work enough to cut."""
    m, n = C.shape
    return parts == 2 and partial.shape[0] >= m * n and k >= n and m * n * k >= SPLIT_MIN_WORK


@njit(**JIT_INNER)
def add_partial(C, partial):
    """C += partial (its first C.size values as C's shape): the k-cut product's second piece added to the first."""
    m, n = C.shape
    P = matrix(partial, 0, m, n)
    for i in range(m):
        c, p = C[i], P[i]
        for j in range(n):
            c[j] += p[j]


@njit(**JIT_SPLIT)
def _gemm_over_k(C, A, B, partial, parts):
    """C = A @ B in ``parts`` (two) pieces along k, cut as ``split_step`` cuts B's rows: piece 0's sums into C,
    piece 1's into ``partial``, one BLAS call each on its thread; then C += partial. Shapes: C (m, n), A (m, k),
    B (k, n), partial (m * n,) or more."""
    m, n = C.shape
    k = A.shape[1]
    T = C.dtype.type
    P = matrix(partial, 0, m, n)
    mode = flush_denormals(False)  # the caller's floating-point mode, unchanged, for every piece
    for t in prange(parts):
        old = enter_fp_mode(mode)
        lo, hi = piece(k, parts, t, ALIGN)
        if lo < hi:
            dst = C if t == 0 else P
            _gemm(_N, _N, n, m, hi - lo, by_reference(T(1)), data_pointer(B[lo:]), n, data_pointer(A[:, lo:]), k,
                  by_reference(T(0)), data_pointer(dst), n)
        restore_fp_mode(old)
    add_partial(C, partial)


@kernel_only
def forward_product(C, A, B, partial, parts):
    """A layer's forward product C = A @ B: ``product`` (cut along C's columns when large), or, for the first layer
    of a training cut over two threads (``partial`` its scratch, see ``over_k``), cut along k instead: each thread
    then reads only the rows of W that its piece of ``split_step`` updates in the backward, and a core keeps its
    rows' p, m and v in its cache from step to step (the cut by columns had each core read half of every row).
    Adam on the fashion net at batch 64 in one process against the cut by columns (Intel Xeon model 167, random
    inputs, 16 rounds alternated): 1.065x. The sums: each piece's over its k, then their sum (other bits than one
    call). ``partial`` None: exactly ``product``."""


@overload(forward_product, jit_options=JIT_INNER)
def _forward_product_impl(C, A, B, partial, parts):
    if cuts_nothing(partial):
        return lambda C, A, B, partial, parts: product(C, A, False, B, False, 1, 0, parts)

    def impl(C, A, B, partial, parts):
        if over_k(C, A.shape[1], partial, parts):
            _gemm_over_k(C, A, B, partial, parts)
        else:
            product(C, A, False, B, False, 1, 0, parts)
    return impl


@njit(**JIT_SPLIT)
def _tile_forward(C, A, W, tiles, parts):
    """C = A @ W on AMX tiles (``tiles.tile_product``), cut over ``parts`` threads: W packed into the start of
    ``tiles`` (each thread its share of the column tiles), then each thread the product of its rows of A (whole
    blocks of ``tiles.ROWS``), its packed rows in its own room after the packed W (as many pieces as ``tiles`` has
    rooms for, at most). Shapes: C (m, n), A (m, k), W (k, n); tiles (the packed W's size and ``parts`` rooms,
    ``tiles.tiles_sizes``,) uint16, 64-byte aligned."""
    m, n = C.shape
    k = A.shape[1]
    size, room = tiles_sizes(k, n)
    packed = tiles[:size]
    rooms = (tiles.shape[0] - size) // room
    pieces = parts if parts < rooms else rooms  # (a room for each piece's packed rows)
    mode = flush_denormals(False)  # the caller's floating-point mode, unchanged, for every piece
    for t in prange(pieces):
        old = enter_fp_mode(mode)
        c0, c1 = piece(n_tiles(n), pieces, t, 2)
        pack_weight_tiles(packed, W, c0, c1)
        restore_fp_mode(old)
    for t in prange(pieces):
        old = enter_fp_mode(mode)
        lo, hi = piece(m, pieces, t, ROWS)
        if lo < hi:
            at = size + t * room
            tile_product(C[lo:hi], A[lo:hi], packed, tiles[at:at + room])
        restore_fp_mode(old)


@kernel_only
def forward_by_tiles(C, A, W, tiles, parts):
    """C = A @ W on AMX tiles cut over ``parts`` threads (``_tile_forward``) when ``tiles`` is not empty (True),
    else nothing (False): a training's first layer where ``Net.own`` flags it ``OWN_TILES`` (the numba backend
    chose it by timing, on a CPU and in a process that may run AMX: ``fastmlp.backends.tiles``). For a ``tiles``
    typed None, False and nothing of the tiles compiled."""


@overload(forward_by_tiles, jit_options=JIT_INNER)
def _forward_by_tiles_impl(C, A, W, tiles, parts):
    if cuts_nothing(tiles):
        return lambda C, A, W, tiles, parts: False

    def impl(C, A, W, tiles, parts):
        if tiles.size == 0:
            return False
        _tile_forward(C, A, W, tiles, parts)
        return True
    return impl


@njit(**JIT_SPLIT)
def _tile_weight_step(dW, dz, a_in, weights, kind, c, nesterov, tiles, parts, ahead=None):
    """``split_step`` for a first layer (no dx) with its weight product dW = a_in.T @ dz on AMX tiles
    (``tiles.tile_weight_product``), in two parallel regions: dz's columns packed as rows (each thread its share of
    the blocks, every thread reads them all), then each thread its pairs of column tiles of a_in packed, its rows of
    dW on the tiles, their update while they are in its cache (``optimizers.apply_update``, the gradient spent: its
    rows left at 0, as ``split_step`` leaves them; momentum's gradient through the buffer, not fused), and its share
    of the next batch's copy. Shapes: dW (k, n), dz (m, n), a_in (m, k); ``weights`` an ``UpdateRange`` of W's flat
    ranges (k * n,), or None: the product alone, no update (for timing it); ``tiles`` (at least
    ``tiles.weight_sizes(m, k, n)`` in all,) uint16, 64-byte aligned."""
    m, k = a_in.shape
    n = dz.shape[1]
    x_size, dz_size = weight_sizes(m, k, n)
    packed_x, dz_blocks = tiles[:x_size], tiles[x_size:x_size + dz_size]
    mode = flush_denormals(False)  # the caller's floating-point mode, unchanged, for every piece
    for t in prange(parts):
        old = enter_fp_mode(mode)
        b0, b1 = piece(-(-n // ROWS), parts, t, 1)
        pack_transposed(dz_blocks, dz, b0, b1)
        restore_fp_mode(old)
    for t in prange(parts):
        old = enter_fp_mode(mode)
        c0, c1 = piece(n_tiles(k), parts, t, 2)
        if c0 < c1:
            pack_weight_tiles(packed_x, a_in, c0, c1)
            tile_weight_product(dW, packed_x, dz_blocks, m, c0, c1)
            if weights is not None:
                r0, r1 = c0 * N_TILE * n, min(c1 * N_TILE, k) * n  # W's rows 16 c0 .. 16 c1: one range of the buffers
                g = weights.grads[r0:r1]
                apply_update(weights.params[r0:r1], weights.first[r0:r1], weights.second[r0:r1], g, kind, c, nesterov,
                             g)
        gather_ahead(ahead, parts, t)
        restore_fp_mode(old)


@kernel_only
def weight_step_by_tiles(dW, dz, a_in, weights, kind, c, nesterov, tiles, parts, ahead=None):
    """A first layer's ``split_step`` with its weight product on AMX tiles (``_tile_weight_step``) when ``tiles`` is
    not empty (True), else nothing (False): where ``Net.own`` flags the layer ``OWN_DW_TILES`` (the numba backend
    chose it by timing, as it chose ``OWN_TILES``). For a ``tiles`` typed None, False and nothing of it compiled."""


@overload(weight_step_by_tiles, jit_options=JIT_INNER)
def _weight_step_by_tiles_impl(dW, dz, a_in, weights, kind, c, nesterov, tiles, parts, ahead=None):
    if cuts_nothing(tiles):
        return lambda dW, dz, a_in, weights, kind, c, nesterov, tiles, parts, ahead=None: False

    def impl(dW, dz, a_in, weights, kind, c, nesterov, tiles, parts, ahead=None):
        if tiles.size == 0:
            return False
        _tile_weight_step(dW, dz, a_in, weights, kind, c, nesterov, tiles, parts, ahead)
        return True
    return impl


def cuts_nothing(parts):
    """Whether the ``parts`` argument's type says None (nothing split, nothing of it compiled)."""
    return absent(parts)


@kernel_only
def product(C, A, ta, B, tb, alpha, beta, parts):
    """``blas.gemm``, cut into ``parts`` pieces on as many threads when large (see the module
    docstring); with ``parts`` None exactly ``gemm``, and nothing of the split compiled."""


@overload(product, jit_options=JIT_INNER)
def _product_impl(C, A, ta, B, tb, alpha, beta, parts):
    if cuts_nothing(parts):
        return lambda C, A, ta, B, tb, alpha, beta, parts: gemm(C, A, ta, B, tb, alpha, beta)

    def impl(C, A, ta, B, tb, alpha, beta, parts):
        m, n = C.shape
        k = A.shape[0] if ta else A.shape[1]
        if parts > 1 and m * n * k >= SPLIT_MIN_WORK:
            _split_gemm(C, A, ta, B, tb, float(alpha), float(beta), parts)
        else:
            gemm(C, A, ta, B, tb, alpha, beta)
    return impl


@njit(**JIT_SPLIT)
def _split_update(params, first, second, grads, hyper, step, parts):
    """``optimizers.update_range`` in ``parts`` pieces of the range, one per thread: each
    element's update depends only on itself."""
    n = params.shape[0]
    c = step_coeffs(hyper, step, params)
    nesterov = hyper.nesterov != 0
    mode = flush_denormals(False)  # the caller's floating-point mode, unchanged, for every piece
    for t in prange(parts):
        old = enter_fp_mode(mode)
        lo, hi = piece(n, parts, t, ALIGN)
        apply_update(params[lo:hi], first[lo:hi], second[lo:hi], grads[lo:hi], hyper.kind, c, nesterov)
        restore_fp_mode(old)


@kernel_only
def split_update(params, first, second, grads, hyper, step, parts):
    """``optimizers.update_range``, cut into ``parts`` pieces on as many threads when the range is
    large; with ``parts`` None exactly ``update_range``, and nothing of the split compiled."""


@overload(split_update, jit_options=JIT_INNER)
def split_update_impl(params, first, second, grads, hyper, step, parts):
    """``split_update``'s implementation for these (Numba) argument types; also what an overload
    with the same arguments that does exactly this returns (``network.layer_update``), so that
    Numba compiles one function, not one that only calls another."""
    if cuts_nothing(parts):
        return lambda params, first, second, grads, hyper, step, parts: update_range(params, first, second, grads,
                                                                                      hyper, step)

    def impl(params, first, second, grads, hyper, step, parts):
        if parts > 1 and params.shape[0] >= SPLIT_MIN_UPDATE:
            _split_update(params, first, second, grads, hyper, step, parts)
        else:
            update_range(params, first, second, grads, hyper, step)
    return impl


@kernel_only
def _rows_step(dW, dz, a_in, weights, kind, c, nesterov, lo, hi):
    """Rows lo..hi of W's gradient dW = a_in.T @ dz (added into those rows of dW, which hold 0, and left at 0 by the
    update that reads them), then their update (``_step_piece``)."""


@overload(_rows_step, jit_options=JIT_INNER)
def _rows_step_impl(dW, dz, a_in, weights, kind, c, nesterov, lo, hi):
    if velocity_fused(static_value(kind)):  # the product goes straight into the velocity (beta = momentum)
        def impl(dW, dz, a_in, weights, kind, c, nesterov, lo, hi):
            n = dW.shape[1]
            r0, r1 = lo * n, hi * n
            velocity = matrix(weights.first, 0, dW.shape[0], n)
            before_velocity_product(weights.first[r0:r1], weights.second[r0:r1], kind)
            _gemm_piece(velocity, a_in, True, dz, False, 1.0, float(c.momentum), lo, hi, True)
            after_velocity_product(weights.params[r0:r1], weights.first[r0:r1], weights.second[r0:r1], c, kind)
        return impl

    def impl(dW, dz, a_in, weights, kind, c, nesterov, lo, hi):
        n = dW.shape[1]
        r0, r1 = lo * n, hi * n  # W's rows lo..hi are one range of the flat buffers
        g = weights.grads[r0:r1]
        # added into rows that hold 0 (beta 1: the BLAS's pass that would clear them first is skipped), and set
        # back to 0 by the update as it reads them (see ``split_step``)
        _gemm_piece(dW, a_in, True, dz, False, 1.0, 1.0, lo, hi, True)
        apply_update(weights.params[r0:r1], weights.first[r0:r1], weights.second[r0:r1], g, kind, c, nesterov, g)
    return impl


@njit(**JIT_INNER)
def _step_piece(dx, dW, dz, a_in, W, weights, kind, c, nesterov, lo, hi):
    """Piece [lo, hi) of ``split_step``'s rows of W, on the calling thread."""
    if dx.shape[0] > 0:  # before W changes
        _gemm_piece(dx, dz, False, W, True, 1.0, 0.0, lo, hi, False)
    _rows_step(dW, dz, a_in, weights, kind, c, nesterov, lo, hi)


@njit(**JIT_SPLIT)
def split_step(dx, dW, dz, a_in, W, weights, kind, c, nesterov, parts, ahead=None):
    """A layer's backward products and its weights' update in one parallel region, cut along
    the rows of W (k, n) into ``parts`` pieces: piece [lo, hi) computes dx[:, lo:hi] =
    dz @ W[lo:hi].T (skipped when dx is empty: the first layer), then dW[lo:hi] =
    a_in[:, lo:hi].T @ dz, then the update of W's rows lo..hi while they are in that core's
    cache (``kind``, ``c``, ``nesterov`` as in ``optimizers.apply_update``). Each piece touches
    only its own rows of W and dW and columns of dx, and reads W before it changes it. For SGD
    with momentum (``optimizers.velocity_fused``) the rows of W's gradient go straight into
    the velocity (beta = momentum) instead of dW, between ``optimizers.before_velocity_product`` and
    ``optimizers.after_velocity_product``.
    The gradient's rows are added into dW, which must hold 0 there (as the epoch kernel keeps it:
    ``network.clear_cut_gradients``), and each is set back to 0 by the update as it reads it for the last time
    (``optimizers.spend``): with beta 0 the BLAS (OpenBLAS's level-3 driver) first clears C in a pass of its own,
    which this skips. The same bits (0 + a sum is the sum); one piece of the fashion net's first layer (392 x 256
    of W, batch 64, one thread, Intel Xeon model 167, two runs): the product and Adam's update 94.2 and 89.4 us
    with beta 0, 85.3 and 82.6 us so.
    ``ahead``: None, or the next batch's copy (a ``batches.NextBatch``, the first layer's step in a kernel that
    copies each next batch ahead: ``network.first_layer_step``): each piece then copies its share of the batch's
    rows after its rows of W (``batches.gather_ahead``), instead of one thread copying them all between steps
    while the other waits. Adam at batch 64 on the fashion net (Intel Xeon model 167, 2 vCPUs, timestamps in the
    step): each piece's 32 rows took 13.4 us, and the 24.5 us copy between steps is gone (the serial gap after
    the region 28.0 -> 2.8 us).
    Shapes: dx (m, k) or empty, dW and W (k, n), dz (m, n), a_in (m, k); ``weights`` an
    ``UpdateRange`` of W's flat ranges (k * n,)."""
    mode = flush_denormals(False)  # the caller's floating-point mode, unchanged, for every piece
    for t in prange(parts):
        old = enter_fp_mode(mode)
        lo, hi = piece(W.shape[0], parts, t, ALIGN)
        if lo < hi:
            _step_piece(dx, dW, dz, a_in, W, weights, kind, c, nesterov, lo, hi)
        gather_ahead(ahead, parts, t)
        restore_fp_mode(old)

