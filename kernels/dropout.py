"""Dropout on hidden layers in a training forward and backward: fast, numba.

Inverted dropout: in training, each unit of a hidden layer with rate p is kept with
probability 1 - p and its output multiplied by 1 / (1 - p), or dropped (multiplied by 0);
inference never drops. Whether a unit is kept is a counter-based hash, with no state, of
(key, update step, layer, row in the batch, unit): splitmix64's output function applied
down that chain, ``h = stream(stream(stream(stream(key, step), layer), row), unit)`` with
``stream(base, k) = mix64(base + (k + 1) * GOLDEN)``. The unit is kept when its 53 top
bits reach the layer's ``cut = round(p * 2**53)``. The masks depend on nothing else:
not on threads, nor on how an epoch is cut into chunks (the step counts updates over
the fit, and over earlier fits as the optimizer's step does). The numpy backend
(``dropout_masks``, vectorised) and the loop backend (``keep_scale``, scalar) compute
the same hash, so the three backends drop the same units.

``drop`` is a ``DropoutWork`` (``structs``) or None. ``cut`` (L,) uint64 and ``scale``
(L,) (params dtype) per weight layer (cut 0: the layer's output is never dropped, always
so for the output layer); ``masks`` and ``kept`` (rows * sum(layers[1:]),) laid out as the
workspace's ``acts``: ``masks`` holds 0 or scale per unit, ``kept`` the output times its mask
(the next layer's input). ``ws.acts`` keeps the unmasked outputs, which the activation's
slope is computed from. With ``drop`` None the hooks below compile to nothing: the kernels
are exactly those without dropout.
"""
import numpy as np
from numba import njit

from .config import JIT_INNER, JIT_INNER_INLINE, JIT_INNER_VIEWS
from .intrinsics import matrix
from .structs import A_OFF

# splitmix64 (Steele, Lea, Flood 2014; Vigna's public-domain C): the increment and the mixer's multipliers.
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
MASK_BITS = 53  # a unit is kept when (h >> (64 - MASK_BITS)) >= cut
_SHIFT = np.uint64(64 - MASK_BITS)


@njit(**JIT_INNER)
def stream(base, k):
    """The k-th output of splitmix64 started at ``base`` (uint64 in, uint64 out)."""
    z = base + (np.uint64(k) + np.uint64(1)) * GOLDEN
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    return z ^ (z >> np.uint64(31))


@njit(**JIT_INNER)
def fill_masks(masks, kept, out, cut, scale, base):
    """masks[r, j] = scale if unit j of row r is kept else 0; kept = out * masks.
    masks, kept, out (m, n); ``base`` the hash of (key, step, layer)."""
    zero = masks.dtype.type(0)
    for r in range(out.shape[0]):
        row = stream(base, r)
        for j in range(out.shape[1]):
            s = scale if (stream(row, j) >> _SHIFT) >= cut else zero
            masks[r, j] = s
            kept[r, j] = out[r, j] * s


@njit(**JIT_INNER_VIEWS)
def _like(buf, rows, net, l, a):
    """Layer l's block of ``buf`` (laid out as the workspace's acts for ``rows`` rows), shaped as a (m, n)."""
    return matrix(buf, rows * net.lay[l, A_OFF], a.shape[0], a.shape[1])


# The three hooks below are glue, inlined into the kernels: with ``drop`` None (an argument typed
# None, left out, or the constant) Numba removes their ``drop is None`` branch's other side before
# typing, so nothing of dropout is compiled, not even a function that does nothing (each such
# level was a compile of its own: 0.02-0.03 s of every cold start).

@njit(**JIT_INNER_INLINE)
def dropped(out, drop, rows, net, l, step):
    """The input of layer l + 1 from layer l's output block ``out`` (m, n) of a workspace of
    ``rows`` rows: ``out`` itself, or its masked copy in ``drop.kept`` for update ``step``."""
    if drop is None:
        return out
    return _masked_output(out, drop, rows, net, l, step)


@njit(**JIT_INNER_VIEWS)
def _masked_output(out, drop, rows, net, l, step):
    """``dropped`` with dropout: ``out`` when layer l is never dropped, else its masked copy."""
    cut = drop.cut[l]
    if cut == 0:
        return out
    kept = _like(drop.kept, rows, net, l, out)
    base = stream(stream(drop.key, step), l)
    fill_masks(_like(drop.masks, rows, net, l, out), kept, out, cut, drop.scale[l], base)
    return kept


@njit(**JIT_INNER_INLINE)
def layer_input(a, drop, rows, net, l):
    """What layer l + 1 took as input in the training forward, given layer l's (unmasked)
    outputs ``a`` (m, n): ``a`` itself, or its masked copy in ``drop.kept``."""
    if drop is None:
        return a
    return _masked_input(a, drop, rows, net, l)


@njit(**JIT_INNER_VIEWS)
def _masked_input(a, drop, rows, net, l):
    """``layer_input`` with dropout."""
    return a if drop.cut[l] == 0 else _like(drop.kept, rows, net, l, a)


@njit(**JIT_INNER_INLINE)
def mask_backward(dx, drop, rows, net, l):
    """dx *= layer l's masks, in place: the gradient through the dropout of layer l's
    outputs (nothing without dropout). dx (m, n)."""
    if drop is not None:
        _mask_backward(dx, drop, rows, net, l)


@njit(**JIT_INNER)
def _mask_backward(dx, drop, rows, net, l):
    """``mask_backward`` with dropout."""
    if drop.cut[l] == 0:
        return
    mask = _like(drop.masks, rows, net, l, dx)
    for r in range(dx.shape[0]):
        for j in range(dx.shape[1]):
            dx[r, j] *= mask[r, j]
