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
from numba import njit, types
from numba.extending import overload

from .config import JIT_INNER, JIT_INNER_VIEWS
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


def _is_none(drop):
    return isinstance(drop, (types.NoneType, types.Omitted))


@njit(**JIT_INNER_VIEWS)
def _like(buf, rows, net, l, a):
    """Layer l's block of ``buf`` (laid out as the workspace's acts for ``rows`` rows), shaped as a (m, n)."""
    return matrix(buf, rows * net.lay[l, A_OFF], a.shape[0], a.shape[1])


def dropped(out, drop, rows, net, l, step):
    """The input of layer l + 1 from layer l's output block ``out`` (m, n) of a workspace of
    ``rows`` rows: ``out`` itself, or its masked copy in ``drop.kept`` for update ``step``."""


@overload(dropped, jit_options=JIT_INNER_VIEWS)
def _dropped_impl(out, drop, rows, net, l, step):
    if _is_none(drop):
        return lambda out, drop, rows, net, l, step: out

    def masked(out, drop, rows, net, l, step):
        cut = drop.cut[l]
        if cut == 0:
            return out
        kept = _like(drop.kept, rows, net, l, out)
        base = stream(stream(drop.key, step), l)
        fill_masks(_like(drop.masks, rows, net, l, out), kept, out, cut, drop.scale[l], base)
        return kept
    return masked


def layer_input(a, drop, rows, net, l):
    """What layer l + 1 took as input in the training forward, given layer l's (unmasked)
    outputs ``a`` (m, n): ``a`` itself, or its masked copy in ``drop.kept``."""


@overload(layer_input, jit_options=JIT_INNER_VIEWS)
def _layer_input_impl(a, drop, rows, net, l):
    if _is_none(drop):
        return lambda a, drop, rows, net, l: a

    def masked(a, drop, rows, net, l):
        return a if drop.cut[l] == 0 else _like(drop.kept, rows, net, l, a)
    return masked


def mask_backward(dx, drop, rows, net, l):
    """dx *= layer l's masks, in place: the gradient through the dropout of layer l's
    outputs (nothing without dropout). dx (m, n)."""


@overload(mask_backward, jit_options=JIT_INNER)
def _mask_backward_impl(dx, drop, rows, net, l):
    if _is_none(drop):
        return lambda dx, drop, rows, net, l: None

    def masked(dx, drop, rows, net, l):
        if drop.cut[l] == 0:
            return
        mask = _like(drop.masks, rows, net, l, dx)
        for r in range(dx.shape[0]):
            for j in range(dx.shape[1]):
                dx[r, j] *= mask[r, j]
    return masked
