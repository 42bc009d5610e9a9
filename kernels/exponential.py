"""exp(x) of a float64 x <= 0 in straight-line arithmetic that vector loops take: the link's softmax, fast, numba.

Why: with no vector math library in Numba's reach (no SVML here), ``np.exp`` in a kernel is a libm call per value,
which no loop vectorises: the link's softmax over a block of 64 rows of the fashion net's 10 classes took 3.4 us,
about 4% of a 256-row call on one thread (Intel Xeon model 207 with AMX). Here the same exp in a dozen
multiply-adds, which the loop over a row's classes runs 4 at a time (LLVM's preferred 256-bit vectors): 1.80 us.

How (the classic reduction, as fdlibm's ``exp`` and Cody & Waite): x = n ln2 + r with n = round(x / ln2) and
|r| <= ln2 / 2, r computed in two steps (ln2 split into a part whose product with n is exact and the rest), then
e^r by its Taylor polynomial to degree 13 (the first term left out, r^14 / 14!, is under 2^-57 of the result),
then times 2^n, built from its bits in two halves so that results down to the smallest subnormal come out (n down
to -1075: each half a normal float64). Within 1 ulp of ``np.exp`` over [-745, 0] (tested), exactly 1 at 0, 0 below
-745.2 and at -inf, NaN for NaN. Compiled without 'reassoc' (``EXP_JIT``): reassociation would fold the two steps of
the reduction into one and lose the second part of ln2.
"""
import numpy as np
from numba import njit

from .config import JIT_INNER
from .intrinsics import float64_from_bits

# 'contract' only: multiply-adds fused (one rounding each), nothing reassociated, NaN kept (see the module docstring)
EXP_JIT = dict(JIT_INNER, fastmath={"contract"})

LOG2E = 1.4426950408889634  # 1 / ln 2
LN2_HI = 6.93147180369123816490e-01  # ln 2's first 32 bits (fdlibm's ln2HI): n * LN2_HI is exact for |n| < 2^20
LN2_LO = 1.90821492927058770002e-10  # ln 2 - LN2_HI (fdlibm's ln2LO)
LOWEST = -746.0  # below e^LOWEST every float64 result is 0 (the smallest subnormal is e^-744.4)
EXPONENT_BIAS = 1023
MANTISSA_BITS = 52
# 1 / k! for k = 13 down to 2: the Taylor coefficients of e^r, Horner's order
COEFFICIENTS = (1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5)


@njit(**EXP_JIT)
def _power_of_two(k):
    """2.0 ** k for an integer -1022 <= k <= 1023, from its exponent bits."""
    return float64_from_bits((k + EXPONENT_BIAS) << MANTISSA_BITS)


@njit(**EXP_JIT)
def exp_nonpositive(x):
    """e^x for a float64 x <= 0 (or NaN), branch-free (see the module docstring)."""
    y = max(x, LOWEST)  # (-inf too; a NaN x stays: Numba's max returns its first argument when they compare false)
    n = np.floor(y * LOG2E + 0.5)
    r = (y - n * LN2_HI) - n * LN2_LO
    p = COEFFICIENTS[0]
    for c in COEFFICIENTS[1:]:
        p = p * r + c
    p = (p * r + 1.0) * r + 1.0
    k = np.int64(n)  # -1077 <= k <= 0
    half = k >> 1
    return p * _power_of_two(half) * _power_of_two(k - half)  # (a NaN's p is NaN)
