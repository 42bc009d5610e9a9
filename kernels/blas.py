"""BLAS gemm with alpha and beta, callable from numba: fast, numba.

Every large product in the kernels is one call of :func:`gemm`: the forward
product (alpha 1, beta 0), dx and dW, and the plain SGD step
W = W - lr * x.T @ dout in one pass with no gradient buffer (alpha = -lr,
beta = 1), which ``np.dot(a, b, out)`` cannot do. It calls the BLAS entry
point numba's np.dot uses (``numba_xxgemm``, scipy's BLAS behind it), so it
caches like any kernel, and compiles in a fraction of np.dot's time (one
small function instead of np.dot's checks and gemv/gemm/dot dispatch).
Scalars go by reference through stack slots: nothing is allocated.
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
def gemm(C, A, ta, B, tb, alpha, beta):
    """C = alpha * op(A) @ op(B) + beta * C; op transposes when ta / tb is True.

    C (m, n), op(A) (m, k), op(B) (k, n); all C-contiguous, same dtype. Row-major
    storage read column-major is the transpose, so BLAS computes
    C.T = op(B).T @ op(A).T: gemm(tb, ta, n, m, k, alpha, B, ldb, A, lda, beta, C, n).
    """
    m, n = C.shape
    k = A.shape[0] if ta else A.shape[1]
    T = C.dtype.type
    _gemm(_T if tb else _N, _T if ta else _N, n, m, k, _ref(T(alpha)), _data(B), B.shape[1],
          _data(A), A.shape[1], _ref(T(beta)), _data(C), n)
