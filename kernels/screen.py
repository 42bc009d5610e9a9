"""Screening input values: how many are NaN, inf or too large, counted in one pass: fast, numba.

The model's input checks (``fastmlp.checks.check_X``) refuse X with NaN or inf and warn when its
values reach beyond ``UNSCALED_LIMIT`` in magnitude. NumPy decides both with two passes over X
(``X.max()``, ``X.min()``), on one core: 7.0 ms of every fit on 16,384 x 784 float32 rows measured
inside a training loop (an epoch at batch 1024 takes about 75 ms). Here one pass counts the values
that fail either test, so that the checks look closer (and report with their own messages) only
when the count is not 0:

- ``screen``: serially, what ``inference.screened`` runs on its way through the rows it predicts (inference by blocks
  whose first layer is on AMX tiles counts each row as its product packs it instead: ``count_row``,
  ``tiles.pack_rows``);
- ``screen_rows``: the same over a piece of a whole training set, with a Python entry: the numba backend's
  ``count_flagged`` cuts the rows into one piece per Numba thread and runs each piece on a thread of its own
  (the kernel releases the GIL). Not a parallel kernel: ``prange`` cut the same pieces over Numba's threads, but
  compiling a parallel kernel took 0.8-0.9 s of a machine's first fit on a real training set, before its first
  batch (this one 0.4 s; a cold fit of 4,096 rows with momentum 5.5-6.2 s -> 4.8-5.3 s). Counting the 60,000
  Fashion-MNIST images: 11.3-11.8 ms on two threads (the parallel kernel 10.7-11.5), 20-24 on one; 16,384 of
  them 1.5-1.9 ms (1.2-1.3: a thread's start). Intel Xeon model 207, 2 vCPUs.

A value v passes when |v| <= limit, a comparison that NaN fails; the limit is taken in x's dtype.
Each row's count is an int32 (a row holds fewer than 2**31 values), which lets the loop run on
whole vector registers: 3.8 -> 2.1 ms on one core for 16,384 x 784 float32 values.
"""
import numpy as np
from numba import njit

from .config import JIT, JIT_INNER, JIT_INNER_INLINE


@njit(**JIT_INNER_INLINE)
def count_row(r, lim):
    """How many values of the row r (k,) are NaN, inf or beyond ``lim`` (r's dtype) in magnitude."""
    row = np.int32(0)
    for j in range(r.shape[0]):
        row += np.int32(not (abs(r[j]) <= lim))  # NaN compares false
    return row


@njit(**JIT_INNER)
def screen(flags, x, limit):
    """flags[0] = how many values of x (m, k) are NaN, inf or beyond ``limit`` in magnitude."""
    lim = x.dtype.type(limit)
    bad = 0
    for i in range(x.shape[0]):
        bad += count_row(x[i], lim)
    flags[0] = bad


@njit(**JIT)
def screen_rows(flags, x, limit):
    """flags[0] = ``screen``'s count over x (m, k): a piece of a training set's rows, on the calling thread."""
    screen(flags, x, limit)
