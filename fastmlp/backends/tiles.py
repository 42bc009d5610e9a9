"""Whether this process may run the AMX tile products of inference by blocks (``kernels.tiles``), and
their buffers.

AMX (Intel Xeon since Sapphire Rapids) needs three things: the CPU's tiles and bfloat16 products, the
kernels compiled for this very CPU (``kernels.intrinsics.tiles_compile_here``), and the operating
system's leave: Linux (5.16 and later) gives a process AMX's large register state only when asked
(``arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)``), and a tile instruction before that kills the
process. It is asked once, by :func:`available`, at the first inference call that could take tiles
(never at import); a forked child keeps the leave its parent was given.

``FASTMLP_TILES=off`` in the environment keeps every product in float32 on the vector units (to
compare, or where the float32 product's own rounding is wanted). Where the tiles are taken is measured
(``fastmlp.backends.products``), not assumed.
"""
import ctypes
import os
import platform
import threading

import numba
import numpy as np

from .. import buffers
from ..kernels import intrinsics, tiles
from ..kernels.inference import REFRESH_PIECES
from ..kernels.structs import OWN_TILES, TileWork

TILES_VARIABLE = "FASTMLP_TILES"
TILES_CHOICES = ("auto", "off")
SYS_ARCH_PRCTL = 158  # x86-64 Linux
ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_XTILEDATA = 18

_available = None
_lock = threading.Lock()


def setting():
    """``FASTMLP_TILES`` ('auto' when unset); another value is refused with what it may be."""
    value = os.environ.get(TILES_VARIABLE, "auto").strip().lower() or "auto"
    if value not in TILES_CHOICES:
        raise ValueError(f"{TILES_VARIABLE} must be one of {list(TILES_CHOICES)}; got {value!r}: unset it, or set "
                         f"it to 'off' to keep inference off the AMX tiles")
    return value


def available():
    """Whether the tile products may run in this process (asked of Linux once; see the module docstring)."""
    global _available
    if setting() == "off":
        return False
    with _lock:
        if _available is None:
            _available = _ask_linux() if intrinsics.tiles_compile_here() else False
        return _available


def _ask_linux():
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0
    except (OSError, AttributeError):
        return False


def _tile_layers(own):
    return [] if own is None else [l for l, flags in enumerate(own) if flags & OWN_TILES]


def work(arch, own):
    """A ``TileWork`` for inference by blocks of ``arch`` with ``Net.own`` flags ``own`` (None: no layer
    takes tiles): room for the packed weights of each layer flagged ``OWN_TILES``, for a copy of the
    params they were packed from, and for each of Numba's threads' packed rows; empty arrays when no layer
    takes tiles. One per calling thread (``kernels.inference.refresh_tiles`` writes it)."""
    layers = _tile_layers(own)
    L = len(arch.layers) - 1
    if layers and not available():  # a tile instruction without Linux's leave would kill the process
        raise RuntimeError(f"layers {layers} are flagged for AMX tiles (OWN_TILES), but this process may not run them "
                           f"(tiles.available() is False): flag them only where products.inference_own chose them")
    if not layers:
        return TileWork(buffers.empty(0, np.uint16), np.zeros(L, np.int64), buffers.empty(0, arch.dtype),
                        np.zeros(L, np.int64), np.zeros(0, np.int64), buffers.empty(0, np.uint16), 0)
    offsets, total = np.zeros(L, np.int64), 0
    for l in layers:  # each a multiple of a tile: every layer's packed weights start 64-byte aligned
        offsets[l] = total
        total += tiles.packed_size(arch.layers[l], arch.layers[l + 1])
    room = max(tiles.rows_size(arch.layers[l]) for l in layers)
    return TileWork(buffers.zeros(total, np.uint16), offsets, buffers.zeros(arch.n_params, arch.dtype),
                    np.zeros(L, np.int64), np.zeros(REFRESH_PIECES, np.int64),
                    buffers.zeros(numba.config.NUMBA_NUM_THREADS * room, np.uint16), room)
