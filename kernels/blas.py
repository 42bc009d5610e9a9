"""BLAS gemm with alpha and beta, callable from numba: fast, numba.

Every large product in the kernels is one call of :func:`gemm`: the forward
product (alpha 1, beta 0), dx and dW, and the plain SGD step
W = W - lr * x.T @ dout in one pass with no gradient buffer (alpha = -lr,
beta = 1), which ``np.dot(a, b, out)`` cannot do. It calls NumPy's own BLAS
when NumPy links a 64-bit-integer OpenBLAS (its wheels do; 7-23% faster here than
SciPy's on most of these products, see the README), else the entry point numba's np.dot uses
(``numba_xxgemm``, SciPy's BLAS behind it): ``intrinsics.kernel_blas``. Either way
it caches like any kernel, and compiles in a fraction of np.dot's time (one
small function instead of np.dot's checks and gemv/gemm/dot dispatch).
Scalars go by reference through stack slots: nothing is allocated. ``gemm`` is inlined
into its callers (each call passes constant transposes: as a function of its own it
compiled once per combination, three times in a training).
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from .config import JIT_INLINE, JIT_INNER
from .intrinsics import by_reference, data_pointer, kernel_only, xxgemm

# BLAS flags are chars; as int8 constants so no string code compiles.
_N, _T = np.int8(ord("n")), np.int8(ord("t"))


@kernel_only
def _gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major gemm: c = alpha * op(a) @ op(b) + beta * c, dtype chosen at compile time."""


@overload(_gemm, jit_options=JIT_INNER)
def _gemm_impl(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    dtype = c.dtype
    fn, fortran = xxgemm(dtype)
    if fortran:  # NumPy's BLAS: every argument by reference, 64-bit integers
        def impl(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
            fn(by_reference(transa), by_reference(transb), by_reference(np.int64(m)), by_reference(np.int64(n)),
               by_reference(np.int64(k)), alpha, a, by_reference(np.int64(lda)), b, by_reference(np.int64(ldb)), beta,
               c, by_reference(np.int64(ldc)))
        return impl
    kind = np.int8(ord("s" if dtype == types.float32 else "d"))

    def impl(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        fn(kind, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    return impl


@njit(**JIT_INLINE)
def gemm(C, A, ta, B, tb, alpha, beta):
    """C = alpha * op(A) @ op(B) + beta * C; op transposes when ta / tb is True.

    C (m, n), op(A) (m, k), op(B) (k, n); all C-contiguous, same dtype. Row-major
    storage read column-major is the transpose, so BLAS computes
    C.T = op(B).T @ op(A).T: gemm(tb, ta, n, m, k, alpha, B, ldb, A, lda, beta, C, n).
    """
    m, n = C.shape
    k = A.shape[0] if ta else A.shape[1]
    T = C.dtype.type
    _gemm(_T if tb else _N, _T if ta else _N, n, m, k, by_reference(T(alpha)), data_pointer(B), B.shape[1],
          data_pointer(A), A.shape[1], by_reference(T(beta)), data_pointer(C), n)
