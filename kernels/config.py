"""Numba flags, thresholds and the threading layer: the one place they are set.

Imported before any kernel is compiled. ``OMP_WAIT_POLICY=PASSIVE`` stops
libgomp's workers spinning after a parallel region while BLAS threads run
(8 ms instead of 0.2 ms per step when they fight over two cores). The
threading layer is pinned to a thread-safe one (tbb or omp): the workqueue
layer aborts when two Python threads enter parallel code at once.
"""
import contextlib
import importlib
import os
import threading

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402


def _cache_dir():
    """A cache folder per version of the kernel sources.

    Numba checks only a function's own file when it loads a cached version, so
    a change in a kernel it calls from another file would leave a stale (even
    crashing) binary in use. Keying the folder on a hash of every kernel file
    makes any change start a fresh cache. It also keeps the cache out of a
    read-only install folder.
    """
    import hashlib
    import pathlib
    here = pathlib.Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(here.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastmlp", "numba-" + digest.hexdigest()[:16])


if "NUMBA_CACHE_DIR" not in os.environ:
    numba.config.CACHE_DIR = _cache_dir()


def _available_layer():
    """'tbb' or 'omp' when their libraries load, else 'workqueue'."""
    for name in ("tbb", "omp"):
        try:
            importlib.import_module(f"numba.np.ufunc.{name}pool")
            return name
        except (ImportError, OSError):
            continue
    return "workqueue"


if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = _available_layer()

# Start the threading layer now: a process whose first call loads a cached
# parallel kernel before any parallel region has run can abort
# ("LLVM ERROR: Symbol not found: allocate_sched").
from numba.np.ufunc.parallel import _launch_threads  # noqa: E402

_launch_threads()

# workqueue aborts when two threads run parallel code at once: serialise the
# kernels' calls then (a no-op guard under tbb/omp).
GUARD = threading.RLock() if numba.config.THREADING_LAYER == "workqueue" else contextlib.nullcontext()

# Keep NaN/inf semantics (no 'nnan'/'ninf'): divergence checks must survive.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# Every kernel: compiled once, cached on disk, releases the GIL.
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
JIT_PARALLEL = dict(JIT, parallel=True)
# Helpers only kernels call: no Python or C entry wrappers to generate (each
# wrapper is machine code emitted at compile time; cold compile -0.4 s).
JIT_INNER = dict(JIT, no_cpython_wrapper=True, no_cfunc_wrapper=True)
# Glue (views, dispatch, the layer loops) is inlined into its caller before
# typing. Every compiled function's machine code includes all it calls, so each
# call level re-optimises and re-emits the levels below it; inlining the glue
# removes those levels (cold compile 6.5 s -> 4.2 s). Functions with real
# per-element work stay separate: inlining them measured slower to compile.
JIT_INLINE = dict(JIT, inline="always")
JIT_INNER_INLINE = dict(JIT_INNER, inline="always")

# A product out(m, n) = x(m, k) @ W(k, n) goes to BLAS when m*k*n reaches this;
# below it hand-written loops win (no call overhead, no thread wake-up).
BLAS_MIN_WORK = 4096
# dx = dout @ W.T is a row of dot products that loops do well: BLAS only from
# this many rows on (measured: 1x32x784 loop 2.4 us vs BLAS 3.4 us).
BLAS_MIN_ROWS_DX = 8

# Column sums (db) and optimizer updates run under prange from this many elements on;
# below it one region launch (~2 us) costs more than it saves.
PARALLEL_MIN_WORK = 1 << 17
