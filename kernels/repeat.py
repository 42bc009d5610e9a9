"""Products repeated for timing one way against another: fastmlp's own (``matmul``, ``groups``) against the BLAS.

``fastmlp.backends.products`` times them to choose where the own products are taken, and the benchmarks to show
them; each runs its product ``reps`` times in one call, so that a timing holds no Python between the products.
"""
from numba import njit

from .blas import gemm
from .config import JIT
from .groups import matmul_or_sparse
from .matmul import matmul_t, matmul_tn_or_sparse
from .split import _tile_forward, _tile_weight_step, forward_product, product


@njit(**JIT)
def repeat_product(out, x, W, own, reps, room=None, threads=None, partial=None):
    """out = x @ W, ``reps`` times: by ``matmul.matmul`` when ``own`` (over the nonzero inputs, the rows grouped,
    with a ``room`` that is not empty: ``groups.matmul_or_sparse``), else by the BLAS (``blas.gemm``); with
    ``threads``, each cut over that many of Numba's threads (``matmul.matmul_sparse_cut``, the rows in their order;
    the BLAS as ``kernels.split`` cuts it, one call on one thread a piece), along k with a ``partial`` (as a
    training's first layer: ``split.forward_product``); for timing one against the other
    (``fastmlp.backends.products``, the benchmarks)."""
    for _ in range(reps):
        if own:
            matmul_or_sparse(out, x, W, room, threads, partial)
        else:
            forward_product(out, x, W, partial, threads)


@njit(**JIT)
def repeat_dx(dx, dz, W, wt, own, reps):
    """dx = dz @ W.T, ``reps`` times: by ``matmul.matmul_t`` (W transposed into wt) when ``own``, else by the
    BLAS, for timing one against the other (``fastmlp.backends.products``)."""
    for _ in range(reps):
        if own:
            matmul_t(dx, dz, W, wt)
        else:
            gemm(dx, dz, False, W, True, 1, 0)


@njit(**JIT)
def repeat_dw(out, x, dout, own, reps, room=None, alpha=1.0, beta=1.0):
    """out = alpha * x.T @ dout + beta * out (by default a product into out as plain SGD's and momentum's are),
    ``reps`` times: by ``matmul.matmul_tn`` when ``own`` (``matmul.matmul_tn_sparse`` with a ``room`` that is not
    empty), else by the BLAS, for timing one against the other (``fastmlp.backends.products``, the benchmarks)."""
    for _ in range(reps):
        if own:
            matmul_tn_or_sparse(out, x, dout, alpha, beta, room)
        else:
            gemm(out, x, True, dout, False, alpha, beta)


@njit(**JIT)
def repeat_tile_forward(out, x, W, tiles, parts, reps):
    """out = x @ W on AMX tiles cut over ``parts`` threads, W packed on the way (``split._tile_forward``: a training's
    first layer), ``reps`` times, for timing it against the other ways (``fastmlp.backends.products``)."""
    for _ in range(reps):
        _tile_forward(out, x, W, tiles, parts)


@njit(**JIT)
def repeat_weight_product(dW, x, dz, tiles, parts, reps):
    """dW = x.T @ dz cut over ``parts`` threads, ``reps`` times: on AMX tiles when ``tiles`` is not empty, its
    operands packed on the way (``split._tile_weight_step`` without an update: a training's first layer), else by the
    BLAS, one call on one thread a piece (as ``split.split_step`` cuts it), for timing one against the other
    (``fastmlp.backends.products``)."""
    for _ in range(reps):
        if tiles.size:
            _tile_weight_step(dW, dz, x, None, 0, None, False, tiles, parts)
        else:
            product(dW, x, True, dz, False, 1.0, 0.0, parts)
