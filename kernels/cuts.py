"""How a cut product or range is shared out over Numba's threads: the pieces, the compile options of the
functions that cut (``kernels.split``: the BLAS's pieces; ``kernels.matmul``: fastmlp's own products' pieces).

Its own module so that both can use it and ``split`` can call ``matmul``'s pieces.
"""
from numba import njit, types

from .config import JIT_INNER, JIT_INNER_INLINE

JIT_SPLIT = dict(JIT_INNER, parallel=True)
ALIGN = 16  # a piece's first column is a multiple of this (whole 64-byte lines of float32)


@njit(**JIT_INNER_INLINE)
def piece(n, parts, t, align):
    """The range [lo, hi) of piece t of ``parts`` over n items, boundaries on multiples of ``align``
    (not min(): Numba compiles its min as a function of its own)."""
    units = -(-n // align)
    lo, hi = units * t // parts * align, units * (t + 1) // parts * align
    return (lo if lo < n else n), (hi if hi < n else n)


def cuts_nothing(parts):
    """Whether the ``parts`` argument's type says None (nothing split, nothing of it compiled)."""
    return parts is None or isinstance(parts, (types.NoneType, types.Omitted))
