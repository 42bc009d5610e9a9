"""Thread control: Numba's threads and the BLAS threads, set together so they never
oversubscribe the cores (Numba's parallel loops and BLAS calls never overlap in
the kernels; both get the same count)."""
import numbers
import os

import numba

from .backends.numba import start_runtime

_blas_limit = None


def set_num_threads(n):
    """Use ``n`` threads for Numba's parallel loops and for BLAS (via threadpoolctl if installed).

    Parameters
    ----------
    n : int in [1, numba.config.NUMBA_NUM_THREADS]

    Numba keeps this count per Python thread (it applies to the calling
    thread and the threads it starts later); the BLAS limit is process-wide.
    A refused value changes nothing.
    """
    global _blas_limit
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads must be an integer in [1, {numba.config.NUMBA_NUM_THREADS}]; got {n!r}")
    n = int(n)
    start_runtime()  # numba.set_num_threads starts the pool: start it the backend's way first
    numba.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    if _blas_limit is not None:
        _blas_limit.restore_original_limits()
    _blas_limit = threadpool_limits(limits=n, user_api="blas")


def get_num_threads():
    """Threads Numba's parallel loops use now."""
    return numba.get_num_threads()


def thread_info():
    """Numba threads and threading layer, and BLAS libraries with their thread counts."""
    info = {"numba_threads": numba.get_num_threads(), "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
            "cores": os.cpu_count()}
    try:
        info["threading_layer"] = numba.threading_layer()
    except ValueError:
        info["threading_layer"] = f"not started yet (will use {numba.config.THREADING_LAYER})"
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "filepath")}
                        for d in threadpool_info() if d.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    return info
