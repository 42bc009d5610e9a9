"""BLAS gemm with alpha and beta, callable from numba: fast, numba.

``np.dot(a, b, out)`` only computes out = a @ b. A plain SGD step wants
W = W - lr * x.T @ dout in one pass, with no gradient buffer: that is gemm
with alpha = -lr, beta = 1. This calls the same BLAS entry point numba's
np.dot uses (``numba_xxgemm``, scipy's BLAS behind it), so it caches like any
kernel; scalars go by reference through stack slots: nothing is allocated.
"""
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.linalg import _BLAS, ensure_blas

from .config import JIT

ensure_blas()  # scipy present, or a clear error now

# BLAS flags are chars; as int8 constants so no string code compiles.
_N, _T = np.int8(ord("n")), np.int8(ord("t"))


def _gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major gemm: c = alpha * op(a) @ op(b) + beta * c, dtype chosen at compile time."""


@overload(_gemm, jit_options=JIT)
def _gemm_impl(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    dtype = c.dtype
    fn = _BLAS().numba_xxgemm(dtype)
    kind = np.int8(ord("s" if dtype == types.float32 else "d"))

    def impl(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        fn(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    return impl


@intrinsic
def _data(typingctx, arr):
    """The data pointer of a contiguous array."""
    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, args[0]).data
    return types.CPointer(arr.dtype)(arr), codegen


@intrinsic
def _ref(typingctx, value):
    """A pointer to a stack slot holding ``value`` (BLAS takes scalars by reference)."""
    def codegen(context, builder, sig, args):
        return cgutils.alloca_once_value(builder, args[0])
    return types.CPointer(value)(value), codegen


@njit(**JIT)
def gemm_xt_d(W, x, d, alpha):
    """W += alpha * x.T @ d. W (k, n), x (m, k), d (m, n), all C-contiguous, same dtype.

    Column-major view: W.T (n, k) += alpha * d.T (n, m) @ x (m, k), i.e.
    gemm('n', 't', n, k, m, alpha, d, n, x, k, 1, W, n).
    """
    m, k = x.shape
    n = d.shape[1]
    T = W.dtype.type
    _gemm(_N, _T, n, k, m, _ref(T(alpha)), _data(d), n, _data(x), k,
          _ref(T(1)), _data(W), n)
