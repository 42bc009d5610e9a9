"""Dense layer forward and backward: fast, numba.

Shapes: x (m, k) inputs, W (k, n), b (n,), out/dout (m, n), dx (m, k).
Large products go to BLAS through ``blas.gemm`` (no allocation, transposes
passed as flags); small ones run as loops that beat a BLAS call. ``loops`` (``Net.loops``):
True, small products run as loops; None, every product goes to BLAS and the loops are not
compiled at all (Numba prunes the ``loops is not None`` branches of a None argument before
typing): what a training whose full batches make only BLAS-sized products gets, saving a
third of its compile time (a shorter last batch then goes to BLAS too). ``parts`` (``Net.parts``):
None, each BLAS product is one call on the BLAS's threads; a count, large products are cut
into that many one-thread calls on Numba's threads (``split``). ``own`` (a layer's ``Net.own`` entry):
None, never ``matmul`` (nothing of it compiled); True, the forward product by fastmlp's own register-blocked
``matmul`` instead (one thread: chosen where measured faster, see ``matmul``). ``room``: None, or int32 scratch
for lists of x's nonzero inputs: not empty, the own products (forward, weight) sum over those only where x has
zeros (a first layer's, ``network.sparse_room``; the forward's rows grouped by their zeros first,
``groups.matmul_or_sparse``; the weight product's ``matmul.matmul_tn_sparse``). ``wt`` (the backward's): None,
dx never by ``matmul.matmul_t`` (nothing of it compiled); an array, scratch for W.T, dx by ``matmul_t`` when not
empty (the layer's ``Net.own`` has ``OWN_DX``: see ``network.dx_scratch``). ``own_dw`` (the backward's): None, the
weight product never by ``matmul.matmul_tn`` (nothing of it compiled); True, by it (``OWN_DW``: ``weight_product``).
Everything else here is serial.
Each kernel (``dense_forward``, ``dense_backward``, ``dense_sgd``) is its ``_body`` helper behind
a Python entry: the other kernels call the helper, compiled for linking into them only (no entry
wrappers or machine code of its own: ``intrinsics``).
"""
from numba import njit
from numba.extending import overload

from .activations import bias_act
from .blas import gemm
from .config import BLAS_MIN_ROWS_DX, BLAS_MIN_WORK, JIT, JIT_INLINE, JIT_INNER, JIT_INNER_INLINE
from .intrinsics import kernel_only, matrix, stack_block
from .groups import matmul_or_sparse
from .matmul import matmul_t, matmul_tn_or_sparse
from .split import cuts_nothing, forward_by_tiles, forward_product, product

NARROW_ROW_BYTES = 64  # a layer narrower than one AVX-512 vector of outputs is narrow (16 float32, 8 float64)
NARROW_BYTES = 8192  # the most bytes of W ``narrow_product`` transposes onto the stack (2,048 float32)


@njit(**JIT_INNER)
def _matmul(out, x, W):
    """out = x @ W by loops; the inner loop runs along contiguous rows of W,
    four of them per pass (one dependent add into o per four products)."""
    m, k = x.shape
    n = W.shape[1]
    zero = out.dtype.type(0)
    for i in range(m):
        o = out[i]
        for j in range(n):
            o[j] = zero
        p = 0
        while p + 4 <= k:  # four rows of W per pass: a quarter of the dependent adds into o
            x0, x1, x2, x3 = x[i, p], x[i, p + 1], x[i, p + 2], x[i, p + 3]
            w0, w1, w2, w3 = W[p], W[p + 1], W[p + 2], W[p + 3]
            for j in range(n):
                o[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
            p += 4
        for q in range(p, k):
            xv = x[i, q]
            w = W[q]
            for j in range(n):
                o[j] += xv * w[j]


@njit(**JIT_INNER)
def _matmul_t_right(dx, dout, W):
    """dx = dout @ W.T by loops (dot products along rows of W)."""
    m, n = dout.shape
    k = W.shape[0]
    for i in range(m):
        d = dout[i]
        for p in range(k):
            w = W[p]
            s = dx.dtype.type(0)
            for j in range(n):
                s += d[j] * w[j]
            dx[i, p] = s


@njit(**JIT_INNER)
def narrow_product(out, x, W):
    """out = x @ W by loops for a narrow W (k, n) (``is_narrow``: a classifier's last layer, 64x10),
    where ``_matmul`` runs scalar: its loop along W's rows is too short for the vectoriser's (16
    values with AVX-512, unrolled), so each output's k products go one at a time. Here W.T goes onto
    the stack (n, k) and each output is a dot product along k (``_matmul_t_right``), which vectorises.
    Measured on the fashion net's 64x10 layer in inference by blocks (Zen 5, 9,984 rows): the call
    4-5% faster on one thread, 3-4% on two (the layer took ~5% of the call, 0.3% of its work)."""
    k, n = W.shape
    WT = matrix(stack_block(out, NARROW_BYTES), 0, n, k)
    for p in range(k):
        for j in range(n):
            WT[j, p] = W[p, j]
    _matmul_t_right(out, x, WT)


@njit(**JIT_INNER_INLINE)
def is_narrow(W):
    """Whether ``narrow_product`` takes W (k, n): n outputs fill less than ``NARROW_ROW_BYTES`` and W
    fits its ``NARROW_BYTES`` on the stack."""
    k, n = W.shape
    return n * W.itemsize < NARROW_ROW_BYTES and k * n * W.itemsize <= NARROW_BYTES


@njit(**JIT_INNER)
def _outer_sum(dW, x, dout):
    """dW = x.T @ dout by loops: dW[p] = sum over samples i of x[i, p] * dout[i] (rows of dout
    added along contiguous rows of dW). Its own loop, not _matmul(dW, x.T, dout): x.T is
    another array layout, so _matmul would compile a second time."""
    m, k = x.shape
    n = dout.shape[1]
    zero = dW.dtype.type(0)
    for p in range(k):
        for j in range(n):
            dW[p, j] = zero
    for i in range(m):
        d = dout[i]
        for p in range(k):
            c = x[i, p]
            w = dW[p]
            for j in range(n):
                w[j] += c * d[j]


@njit(**JIT_INNER)
def col_sums(db, dout):
    """db = dout.sum(axis=0), row by row: the inner loop runs along contiguous rows and
    vectorises. Serial at every size: a parallel loop over columns (each owning its sum)
    reads dout with a stride and measured 10-25x slower (1024x256: 18 us serial, 500 us
    in prange), and compiling it cost 0.6 s of every cold start that trains with a gradient."""
    m, n = dout.shape
    zero = db.dtype.type(0)
    for j in range(n):
        db[j] = zero
    for i in range(m):
        for j in range(n):
            db[j] += dout[i, j]


@njit(**JIT_INNER)
def dense_forward_body(out, x, W, b, act, alpha, used, loops, parts, own, room=None, threads=None, partial=None,
                       tiles=None):
    """``dense_forward``'s body, the one the other kernels call; ``threads`` as ``groups.matmul_or_sparse``'s;
    ``partial``: None, or the scratch of a product cut along k (``split.forward_product``); ``tiles``: None, or
    the room of a product on AMX tiles (``split.forward_by_tiles``: there when not empty)."""
    m, k = x.shape
    n = W.shape[1]
    if forward_by_tiles(out, x, W, tiles, parts):
        pass
    elif own is not None and own:
        matmul_or_sparse(out, x, W, room, threads, partial)
    elif loops is not None and m * k * n < BLAS_MIN_WORK:
        _matmul(out, x, W)
    else:
        forward_product(out, x, W, partial, parts)
    bias_act(out, b, act, alpha, used)


@njit(**JIT)
def dense_forward(out, x, W, b, act, alpha, used=None, loops=True, parts=None):
    """out = act(x @ W + b); ``used`` as in ``activations.bias_act``."""
    dense_forward_body(out, x, W, b, act, alpha, used, loops, parts, None)


@kernel_only
def _dx_by_matmul_t(dx, dout, W, wt):
    """dx = dout @ W.T by ``matmul_t`` when ``wt`` is not empty (True), else nothing (False); for a
    ``wt`` typed None, False and nothing of ``matmul_t`` compiled (also where ``wt`` comes from a call
    in an inlined caller, which Numba's pruning of None arguments does not see)."""


@overload(_dx_by_matmul_t, jit_options=JIT_INNER)
def _dx_by_matmul_t_impl(dx, dout, W, wt):
    if cuts_nothing(wt):
        return lambda dx, dout, W, wt: False

    def impl(dx, dout, W, wt):
        if wt.size == 0:
            return False
        matmul_t(dx, dout, W, wt)
        return True
    return impl


@njit(**JIT_INLINE)
def dense_dx(dx, dout, W, loops, parts, wt):
    """dx = dout @ W.T: the gradient for the layer below (before its activation); ``wt`` as above."""
    m, n = dout.shape
    if _dx_by_matmul_t(dx, dout, W, wt):
        return
    if loops is not None and (m * W.shape[0] * n < BLAS_MIN_WORK or m < BLAS_MIN_ROWS_DX):
        _matmul_t_right(dx, dout, W)
    else:
        product(dx, dout, False, W, True, 1, 0, parts)


@njit(**JIT_INNER_INLINE)
def _weight_gemm(out, x, dout, alpha, beta, parts):
    """``weight_product`` by one BLAS call (``parts`` None)."""
    gemm(out, x, True, dout, False, alpha, beta)


@njit(**JIT_INNER_INLINE)
def _weight_cut(out, x, dout, alpha, beta, parts):
    """``weight_product`` by the BLAS, cut into ``parts`` pieces when large (``split.product``)."""
    product(out, x, True, dout, False, alpha, beta, parts)


@kernel_only
def weight_product(out, x, dout, alpha, beta, parts, own_dw, room=None):
    """out = alpha * x.T @ dout + beta * out, a layer's weight product (dW; plain SGD's W; momentum's
    velocity): by ``matmul.matmul_tn`` where ``own_dw`` says (``OWN_DW``; over x's nonzero inputs with a
    ``room`` that is not empty: ``matmul.matmul_tn_sparse``), else by the BLAS (``split.product``, cut by
    ``parts``). Shapes: out (k, n), x (m, k), dout (m, n)."""


@overload(weight_product, jit_options=JIT_INNER)
def _weight_product_impl(out, x, dout, alpha, beta, parts, own_dw, room=None):
    # chosen by the argument types, so that nothing unused is compiled: with ``parts`` None one ``gemm`` call (not
    # ``product``, which would compile again for these alpha and beta types); with ``own_dw`` None no ``matmul_tn``
    blas = _weight_gemm if cuts_nothing(parts) else _weight_cut
    if cuts_nothing(own_dw):
        return lambda out, x, dout, alpha, beta, parts, own_dw, room=None: blas(out, x, dout, alpha, beta, parts)

    def impl(out, x, dout, alpha, beta, parts, own_dw, room=None):
        if own_dw:
            matmul_tn_or_sparse(out, x, dout, alpha, beta, room)
        else:
            blas(out, x, dout, alpha, beta, parts)
    return impl


@njit(**JIT_INNER)
def dense_backward_body(dx, dW, db, dout, x, W, loops, parts, wt, own_dw=None, room=None):
    """``dense_backward``'s body, the one the other kernels call."""
    m, k = x.shape
    n = W.shape[1]
    if loops is not None and m * k * n < BLAS_MIN_WORK and not (own_dw is not None and own_dw):
        _outer_sum(dW, x, dout)
    else:
        weight_product(dW, x, dout, 1, 0, parts, own_dw, room)
    col_sums(db, dout)
    if dx.size > 0:
        dense_dx(dx, dout, W, loops, parts, wt)


@njit(**JIT)
def dense_backward(dx, dW, db, dout, x, W, loops=True, parts=None, wt=None, own_dw=None, room=None):
    """dW = x.T @ dout, db = sum of dout's rows, dx = dout @ W.T (skipped if dx is empty)."""
    dense_backward_body(dx, dW, db, dout, x, W, loops, parts, wt, own_dw, room)


@njit(**JIT_INNER)
def dense_sgd_body(dx, W, b, x, dout, lr, loops, wt, own_dw=None, room=None):
    """``dense_sgd``'s body, the one the other kernels call."""
    m, k = x.shape
    n = W.shape[1]
    T = W.dtype.type
    if dx.size > 0:
        dense_dx(dx, dout, W, loops, None, wt)
    if loops is None or m * k * n >= BLAS_MIN_WORK or (own_dw is not None and own_dw):
        weight_product(W, x, dout, -lr, 1, None, own_dw, room)
    else:
        for i in range(m):
            for p in range(k):
                c = T(lr) * x[i, p]
                if c != 0:
                    for j in range(n):
                        W[p, j] -= c * dout[i, j]
    for i in range(m):
        for j in range(n):
            b[j] -= T(lr) * dout[i, j]


@njit(**JIT)
def dense_sgd(dx, W, b, x, dout, lr, loops=True, wt=None, own_dw=None, room=None):
    """Plain SGD in place, no gradient buffer: first dx = dout @ W.T (skipped if dx is empty)
    with the W not yet updated, then W -= lr * x.T @ dout, b -= lr * sum of dout's rows.

    BLAS gemm (alpha = -lr, beta = 1) for large products; for small ones a loop
    that skips zero inputs (sparse pixels, ReLU zeros) since they change nothing; by
    ``matmul.matmul_tn`` instead at any size with ``own_dw``.
    """
    dense_sgd_body(dx, W, b, x, dout, lr, loops, wt, own_dw, room)
