"""Numba flags, thresholds and the threading layer: the one place they are set.

Imported before any kernel is compiled. ``OMP_WAIT_POLICY=PASSIVE`` stops
libgomp's workers spinning after a parallel region while BLAS threads run
(8 ms instead of 0.2 ms per step when they fight over two cores). The
threading layer is pinned to a thread-safe one (tbb or omp): the workqueue
layer aborts when two Python threads enter parallel code at once.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "threadsafe"

# Keep NaN/inf semantics (no 'nnan'/'ninf'): divergence checks must survive.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# Every kernel: compiled once, cached on disk, releases the GIL.
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
JIT_PARALLEL = dict(JIT, parallel=True)

# A product out(m, n) = x(m, k) @ W(k, n) goes to BLAS when m*k*n reaches this;
# below it hand-written loops win (no call overhead, no thread wake-up).
BLAS_MIN_WORK = 32768

# Element-wise passes over m*n elements run under prange from this size on;
# below it one region launch (~2 us) costs more than it saves.
PARALLEL_MIN_WORK = 1 << 17
