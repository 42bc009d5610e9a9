"""Thread control: Numba's threads and the BLAS threads, set together so they never
oversubscribe the cores (both get the same count), and the deterministic mode.

The kernels' own loops run on one thread, so what makes results depend on the thread count is
how products are cut: OpenBLAS splits a product differently on 1 and 2 threads and rounds
differently (one 64x784x256 product by up to 7e-5), and so may the kernels' own cut of an
epoch's products over Numba's threads (``kernels.split``: every optimizer but plain SGD on large
products, the BLAS then on one thread during the call). The deterministic mode runs the BLAS on
one thread and cuts nothing.

By default training adapts its thread count: all threads, or one when threads stop paying
(another process on a core; :mod:`fastmlp.backends.thread_choice`). ``set_num_threads(n)``
fixes the count (never overridden); ``set_num_threads('auto')`` goes back to adapting.
"""
import os

import numba

from . import blas_spin
from .backends import thread_choice
from .backends.numba import start_runtime
from .checks import check_bool, check_int
from .kernels.intrinsics import kernel_blas, load_scipy_blas

KERNEL_BLAS_NAMES = {"numpy": "NumPy", "scipy": "SciPy"}  # whose BLAS each thread_info()["kernel_blas"] is
_blas_limit = None  # threadpoolctl's limit in force, if any
_threads = None  # the count given to set_num_threads, if any


def _limit_blas(n):
    """Limit every loaded BLAS to ``n`` threads (None: back to the original counts)."""
    global _blas_limit
    load_scipy_blas()  # SciPy's BLAS (the kernels' unless NumPy has one), loaded before it is limited
    import scipy.linalg.cython_blas  # noqa: F401  (already loaded, or SciPy's usual import)
    from threadpoolctl import threadpool_limits
    if _blas_limit is not None:
        _blas_limit.restore_original_limits()
        _blas_limit = None
    if n is not None:
        _blas_limit = threadpool_limits(limits=n, user_api="blas")


def set_num_threads(n):
    """Use ``n`` threads for Numba's parallel loops and for BLAS (one BLAS thread in deterministic mode).

    Parameters
    ----------
    n : int in [1, numba.config.NUMBA_NUM_THREADS], or 'auto'
        An int fixes the count: training never adapts it. 'auto' (the default state) uses
        every thread and lets training step down to one thread while threads do not pay
        (another process busy on a core), measured as it trains.

    Numba keeps this count per Python thread (it applies to the calling
    thread and the threads it starts later); the BLAS limit is process-wide.
    A refused value changes nothing.
    """
    global _threads
    if isinstance(n, str) and n == "auto":
        start_runtime()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        _threads = None
        _limit_blas(1 if thread_choice.is_deterministic() else None)
        thread_choice.fix(False)
        return
    n = check_int(n, "threads", low=1, high=numba.config.NUMBA_NUM_THREADS)
    start_runtime()  # numba.set_num_threads starts the pool: start it the backend's way first
    numba.set_num_threads(n)
    _threads = n
    _limit_blas(1 if thread_choice.is_deterministic() else n)
    thread_choice.fix(True)


def one_blas_thread():
    """A context in which NumPy's BLAS runs on the calling thread only (about 10 us).

    For small NumPy products beside the kernels: woken by a product, NumPy's own OpenBLAS
    threads spin beside the kernels' BLAS threads for about 0.1 s afterwards, on the same
    two cores (measured: fashion-b64 at 93k instead of 128k samples/s over 8192 samples).
    """
    return thread_choice.blas_controller().limit(limits=1)


def get_num_threads():
    """Numba's thread count now (the BLAS follows the same count, see ``set_num_threads``)."""
    return numba.get_num_threads()


def set_deterministic(flag=True):
    """Deterministic mode: bit-identical trained weights for any thread count.

    On: the BLAS runs on one thread (Numba's loops already give the same result for any
    thread count), so training, evaluation and prediction repeat bit for bit whatever
    ``set_num_threads`` or the machine's core count says. Costs the BLAS's second thread:
    the README gives the measured figure. Off: back to ``set_num_threads``'s count (or the
    BLAS's own default).
    """
    thread_choice.set_deterministic(check_bool(flag, "flag"))
    _limit_blas(1 if thread_choice.is_deterministic() else _threads)


def is_deterministic():
    """Whether the deterministic mode is on."""
    return thread_choice.is_deterministic()


def thread_info():
    """Numba threads and threading layer, BLAS libraries with their thread counts, the one the kernels call
    ('kernel_blas': 'numpy' or 'scipy', see ``FASTMLP_BLAS`` in the README), deterministic mode,
    whether training adapts the thread count ('adaptive': no count fixed by set_num_threads), and whether
    inference may put products on AMX tiles ('amx_tiles', see ``FASTMLP_TILES``; asks Linux the first time), and how
    long NumPy's OpenBLAS threads spin when idle ('blas_spin', see ``fastmlp.blas_spin``)."""
    info = {"numba_threads": numba.get_num_threads(), "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
            "cores": os.cpu_count(), "deterministic": thread_choice.is_deterministic(), "adaptive": not thread_choice.is_fixed()}
    try:
        info["threading_layer"] = numba.threading_layer()
    except ValueError:
        info["threading_layer"] = "not started yet (starts with the first kernel)"
    from threadpoolctl import threadpool_info
    info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
                    for d in threadpool_info() if d.get("user_api") == "blas"]
    info["kernel_blas"] = kernel_blas()
    from .backends import tiles
    info["amx_tiles"] = tiles.available()
    info["blas_spin"] = blas_spin.spin()
    return info
