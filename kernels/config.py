"""Numba flags and thresholds: the one place they are set.

Importing this starts nothing and changes no environment variable: it only registers where
the kernels' compiled code is cached, has their helpers compiled for linking only and their
glue inlined without copies of its IR (``intrinsics``). The threading layer and thread pool
are chosen and started by the numba backend (``fastmlp.backends.numba``) when its first kernel
runs.
"""
from .intrinsics import (NO_REFCOUNTS, REFCOUNTS, compile_helpers_for_linking_only, inline_glue_without_copies,
                         register_cache_locator)

register_cache_locator()
compile_helpers_for_linking_only()
inline_glue_without_copies()

# Keep NaN/inf semantics (no 'nnan'/'ninf'): divergence checks must survive.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# Every kernel: compiled once, cached on disk, releases the GIL, counts no references
# (``intrinsics.NO_REFCOUNTS``: nothing a kernel holds outlives its call), called from
# Python only: no C entry wrapper (a kernel is never a C callback or a first-class function
# value; generating the epoch kernel's took 0.07 s of a cold Adam compile).
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", no_cfunc_wrapper=True, **NO_REFCOUNTS)
# Helpers only kernels call: no Python entry wrapper either (each
# wrapper is machine code emitted at compile time; cold compile -0.4 s).
JIT_INNER = dict(JIT, no_cpython_wrapper=True)
# Helpers that return a view they made (dropout's masked blocks): without reference counting
# Numba returns only arrays passed in, so these few count references (of borrowed views: none).
JIT_INNER_VIEWS = dict(JIT_INNER, **REFCOUNTS)
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
# With ``Net.parts`` (``split``): products from this many multiply-adds are cut into one
# one-thread BLAS call per thread, and updates from this many elements into one range per
# thread; smaller ones run whole (64x128x64, 0.5M: 10 us either way; 64x256x128: 29 us).
SPLIT_MIN_WORK = 1 << 20
SPLIT_MIN_UPDATE = 1 << 14
