"""How long OpenBLAS's idle threads spin: briefly in a process that uses fastmlp (NumPy imported by it, or restarted).

Why: after each call on several threads, OpenBLAS's worker threads spin, waiting for the next call, for 2^28 CPU
cycles (about 0.1 s at 2.6 GHz) before they sleep. fastmlp's other parallel code runs on Numba's threads: the cut
training kernels (every optimizer but plain SGD) and inference by blocks. On a 2-vCPU machine a spinning OpenBLAS
thread took the core Numba's second thread needed, and Linux then kept that thread beside the main one for up to
a second more. Measured on Intel Xeon model 167 (2 vCPUs), fashion net: Adam at batch 64 ran 2 epochs of 8,192
samples at 103-106k samples/s right after a plain SGD epoch, an ``evaluate`` of 10,000 rows or a NumPy product
(all on the BLAS's two threads), against 134-138k after a ``predict`` (Numba's threads) or nothing; ``predict`` of
10,000 rows took 24-26 ms for the first second after such a call, against 12 ms. With the spin at 2^24 cycles
(about 6.5 ms), every case ran at 129-133k and 12 ms, and plain SGD, whose many products a step keep OpenBLAS's
threads busy, ran as fast as before (fashion-b64 and fashion-b1024, three processes each way: within their spread).

How: OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` (the spin, as a power of two of cycles) when its library loads,
which is when NumPy is imported (SciPy's own OpenBLAS: when ``scipy.linalg`` is, which the numba backend does when
it starts: :func:`short_spin` is held there too). So fastmlp sets it while it imports NumPy, unless the user set it,
then removes it again: the user's child processes do not inherit it. When NumPy was imported first, the numba
backend, as it starts (its first kernel), has NumPy's OpenBLAS, which then read no setting, read it again and restart
its threads (:func:`shorten_loaded`, through OpenBLAS's exported ``openblas_read_env`` and ``blas_thread_shutdown_``:
its next call on several threads starts them anew, about 1 ms once), only while no other Python thread runs: none
can be inside a BLAS call then, and a restart under a running call would hang it. ``spin()`` says which applies.
"""
import contextlib
import os
import sys
import threading

VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
SHORT = "24"  # 2^24 cycles: about 6.5 ms at 2.6 GHz (OpenBLAS's default is 28)

_state = None  # what NumPy's OpenBLAS read when it loaded, as ``spin()`` tells it


@contextlib.contextmanager
def short_spin():
    """Within: a BLAS library that loads reads the short spin, unless the user set one; the variable is removed on
    exit when it was set here."""
    set_here = VARIABLE not in os.environ
    if set_here:
        os.environ[VARIABLE] = SHORT
    try:
        yield
    finally:
        if set_here:
            del os.environ[VARIABLE]


def load_numpy():
    """Import NumPy with the short spin (see the module docstring), once, before anything else imports it."""
    global _state
    if _state is not None:
        return
    if "numpy" in sys.modules:  # loaded already: nothing to set (``shorten_loaded`` may restart it later)
        _state = "OpenBLAS's default (NumPy was imported before fastmlp)"
        return
    if VARIABLE in os.environ:
        _state = f"the user's ({VARIABLE}={os.environ[VARIABLE]})"
    else:
        _state = f"short ({VARIABLE}={SHORT}, set by fastmlp while NumPy loaded)"
    with short_spin():
        import numpy  # noqa: F401


def numpy_openblas():
    """NumPy's OpenBLAS (a ``ctypes`` library) when it tells the spin it read (``openblas_thread_timeout``) and can
    read it again and restart its threads, else None."""
    from .kernels.intrinsics import numpy_blas_library  # (NumPy is loaded by then: not at this module's import)
    library = numpy_blas_library()
    names = ("openblas_thread_timeout", "openblas_read_env", "blas_thread_shutdown_")
    return library if library is not None and all(hasattr(library, name) for name in names) else None


def shorten_loaded():
    """Give NumPy's OpenBLAS the short spin now if it read no setting (NumPy imported before fastmlp), when no other
    Python thread runs and the user set no spin (see the module docstring); whether it did."""
    global _state
    if VARIABLE in os.environ or threading.active_count() > 1:
        return False
    library = numpy_openblas()
    if library is None or library.openblas_thread_timeout() != 0:  # not OpenBLAS, or it read a setting
        return False
    with short_spin():
        library.openblas_read_env()
    library.blas_thread_shutdown_()  # its threads end; its next call on several threads starts them anew
    _state = f"short ({VARIABLE}={SHORT}, read again by OpenBLAS as fastmlp's first kernel started: NumPy was " \
             "imported before fastmlp)"
    return True


def spin():
    """How long NumPy's OpenBLAS threads spin when idle, as set when NumPy loaded: fastmlp's short spin, the user's
    setting, or OpenBLAS's default."""
    return _state


DEFAULT_EXPONENT = 28  # OpenBLAS's spin where it read no setting: 2^28 cycles
SLOWEST_TICKS = 1e9  # ticks a second of the counter OpenBLAS's spin counts (the TSC), at the least


def spin_seconds():
    """At most how long NumPy's OpenBLAS threads spin after a call on several threads before they sleep (its
    setting as OpenBLAS read it, else its default; counted at ``SLOWEST_TICKS``): 17 ms with the short spin. A
    product timed meanwhile on Numba's threads shares a core with a spinning thread: the first layer's weight product
    of the fashion net cut over two threads (BLAS at one thread a piece, Intel Xeon model 207 with AMX) took 160 us
    for 0.1 s after an OpenBLAS call on two threads at OpenBLAS's default spin, 85 us from 0.2 s on."""
    library = numpy_openblas()  # (NumPy is loaded: this module loads it as fastmlp is imported)
    exponent = library.openblas_thread_timeout() if library is not None else 0
    return 2.0 ** (exponent or DEFAULT_EXPONENT) / SLOWEST_TICKS


load_numpy()  # as fastmlp is imported: this module is its first import
