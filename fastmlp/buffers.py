"""Buffers aligned to a cache line: allocation helpers.

NumPy only promises 16-byte alignment. A weight row of 32 float32 (128 bytes)
that starts 16 bytes into a cache line spans three lines instead of two, and
batch-1 training, which streams the first layer's weights through L2 twice
per sample, ran 15% slower in processes where the buffer happened to land so.
Every flat buffer the kernels stream (parameters, gradients, optimizer state,
activations, batch rows) is allocated here, 64-byte aligned. Arrays that one loop streams
side by side are laid out one after another in one allocation (:func:`staggered`), at
distances that do not change from model to model.
"""
import numpy as np

ALIGN = 64
# Bytes between arrays laid out together (:func:`staggered`): a line past 1 KiB, neither a multiple of a
# page nor a power of two, so that streams side by side do not start at the same place in a page.
STAGGER = 1024 + ALIGN


def empty(shape, dtype):
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    raw = np.empty(n * dtype.itemsize + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + n * dtype.itemsize].view(dtype).reshape(shape)


def zeros(shape, dtype):
    """Like :func:`empty`, filled with zeros."""
    out = empty(shape, dtype)
    out[...] = 0
    return out


def copy(a):
    """An aligned, writable, C-contiguous copy of ``a`` (same dtype and shape)."""
    a = np.asarray(a)
    out = empty(a.shape, a.dtype)
    out[...] = a
    return out


def staggered(shapes, dtype, gap=STAGGER):
    """Uninitialised C-contiguous arrays of ``shapes`` (a list), views into one allocation: each starts
    on a 64-byte boundary, ``gap`` bytes (rounded up to 64) after the previous one ends.

    Why: the batch-1 kernel streams its transposed weights and their optimizer state side by side
    (``kernels.structs.OnlineScratch``); allocated one by one, their distances were whatever the
    allocator gave, and a model trained adam-b1 at 61-87k samples/s by where its arrays had landed
    (three models of one process, trained in turn: 79-82k, 74-76k and 62-65k, each steady; swapping
    the arrays between models moved the speed with them). Laid out here: 72-88k (24 models in 6
    processes each way, AMD EPYC Zen 4; gaps of 0, 64, 2112, 4160, 8256 bytes: 67-87k, 8-12 models each).
    """
    dtype = np.dtype(dtype)
    step = -(-int(gap) // ALIGN) * ALIGN
    sizes = [int(np.prod(shape)) * dtype.itemsize for shape in shapes]
    starts, at = [], 0
    for size in sizes:
        starts.append(at)
        at += -(-size // ALIGN) * ALIGN + step
    raw = empty(max(at, 1), np.uint8)
    return [raw[start:start + size].view(dtype).reshape(shape) for start, size, shape in zip(starts, sizes, shapes)]
