"""Hidden-layer activations and their derivatives: fast, numba.

Activation ids are small ints so one compiled kernel serves every layer. The kernels
compile every activation, or, given a static ``ActChoice`` (``used``, the ids a network
uses; what the numba backend passes to the epoch kernels), only those.
Derivatives are taken from the activation's output ``a`` (not from ``z``),
so the forward pass stores one buffer per layer.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from .config import JIT_INLINE, JIT_INNER, JIT_INNER_INLINE
from .intrinsics import float32_from_bits, kernel_only
from .static import static_value

IDENTITY, TANH, SIGMOID, RELU, LEAKY_RELU, STEP = 0, 1, 2, 3, 4, 5
ALL = frozenset(range(6))


@njit(**JIT_INNER)
def _tanh_f32(x):
    """tanh for float32 as a rational minimax fit (the one Eigen and XLA use):
    2.6e-7 max relative error, only multiply/add/divide, so loops vectorise
    (50x faster than the scalar libm call). NaN passes through the clamp."""
    T = np.float32
    c = T(7.90531110763549805)
    if x > c:
        x = c
    elif x < -c:
        x = -c
    x2 = x * x
    p = T(-2.76076847742355e-16)
    p = p * x2 + T(2.00018790482477e-13)
    p = p * x2 + T(-8.60467152213735e-11)
    p = p * x2 + T(5.12229709037114e-08)
    p = p * x2 + T(1.48572235717979e-05)
    p = p * x2 + T(6.37261928875436e-04)
    p = p * x2 + T(4.89352455891786e-03)
    q = T(1.19825839466702e-06)
    q = q * x2 + T(1.18534705686654e-04)
    q = q * x2 + T(2.26843463243900e-03)
    q = q * x2 + T(4.89352518554385e-03)
    return p * x / q


@njit(**JIT_INNER)
def _exp_neg_f32(x):
    """exp(-x) for float32 x >= 0 (NaN passes through): Cody-Waite range reduction and a
    degree-6 polynomial, 2^k built from its bits. Relative error below 3e-7 while the
    result is a normal float32 (x <= 126 ln 2); 0 beyond (the denormal range). Only multiply/add/compare and a bit
    cast, so loops vectorise (the libm call does not)."""
    T = np.float32
    cutoff = T(87.33654)  # 126 ln 2: exp(-cutoff) is the smallest normal float32
    y = -x
    if y < -cutoff:
        y = -cutoff
    k = np.floor(y * T(1.44269504088896341) + T(0.5))  # round(y / ln 2)
    r = y - k * T(0.693359375) + k * T(2.12194440e-4)  # y - k ln 2 in two parts (exact first)
    p = T(1.0 / 720)
    p = p * r + T(1.0 / 120)
    p = p * r + T(1.0 / 24)
    p = p * r + T(1.0 / 6)
    p = p * r + T(0.5)
    p = p * r + T(1.0)
    p = p * r + T(1.0)
    e = p * float32_from_bits((np.int64(k) + 127) << 23)
    return T(0) if x > cutoff else e  # NaN compares false: it stays NaN


@kernel_only
def tanh(z):
    """np.tanh, but the fast rational form for float32 (chosen at compile time)."""


@overload(tanh, jit_options=JIT_INNER)
def _tanh_impl(z):
    if z == types.float32:
        return lambda z: _tanh_f32(z)
    return lambda z: np.tanh(z)


@kernel_only
def sigmoid(z):
    """1 / (1 + exp(-z)), stable; float32 through the vectorising exp (chosen at compile time)."""


@overload(sigmoid, jit_options=JIT_INNER)
def _sigmoid_impl(z):
    if z == types.float32:
        one = np.float32(1)

        def fast(z):  # e = exp(-|z|) in (0, 1]: no cancellation on either side
            e = _exp_neg_f32(abs(z))
            return one / (one + e) if z >= 0 else e / (one + e)
        return fast

    def exact(z):
        if z >= 0:
            return 1.0 / (1.0 + np.exp(-z))
        e = np.exp(z)
        return e / (1.0 + e)
    return exact


def _used(used):
    """The activation ids a static ``ActChoice`` (``structs``, passed as ``static.Static``) names, or every id
    (None: a runtime value, or no choice given)."""
    choice = None if isinstance(used, (types.NoneType, types.Omitted)) else static_value(used)
    return ALL if choice is None else frozenset(choice.kinds) | {IDENTITY}


@kernel_only
def act_value(z, kind, alpha, one, used):
    """act(z) for activation id ``kind``; only the ids ``used`` allows are compiled."""


@overload(act_value, jit_options=JIT_INNER)
def _act_value_impl(z, kind, alpha, one, used):
    ids = _used(used)
    has_tanh, has_sigmoid, has_relu = TANH in ids, SIGMOID in ids, RELU in ids  # constants: the
    has_leaky, has_step = LEAKY_RELU in ids, STEP in ids  # branches of unused ids are pruned before typing

    def impl(z, kind, alpha, one, used):
        if has_tanh and kind == TANH:
            return tanh(z)
        if has_sigmoid and kind == SIGMOID:
            return sigmoid(z)
        if has_relu and kind == RELU:
            return one - one if z <= 0 else z  # NaN stays NaN, as np.maximum(z, 0)
        if has_leaky and kind == LEAKY_RELU:
            return z if z > 0 else alpha * z
        if has_step and kind == STEP:
            return one if z >= 0 else one - one
        return z
    return impl


@kernel_only
def act_slope(a, kind, alpha, one, used):
    """d act / d z, written in terms of the output a = act(z); only the ids ``used`` allows are compiled."""


@overload(act_slope, jit_options=JIT_INNER)
def _act_slope_impl(a, kind, alpha, one, used):
    ids = _used(used)
    has_tanh, has_sigmoid, has_relu = TANH in ids, SIGMOID in ids, RELU in ids
    has_leaky, has_step = LEAKY_RELU in ids, STEP in ids

    def impl(a, kind, alpha, one, used):
        if has_tanh and kind == TANH:
            return one - a * a
        if has_sigmoid and kind == SIGMOID:
            return a * (one - a)
        if has_relu and kind == RELU:
            return one if a > 0 else one - one
        if has_leaky and kind == LEAKY_RELU:
            return one if a > 0 else alpha
        if has_step and kind == STEP:
            return one - one
        return one
    return impl


@njit(**JIT_INNER_INLINE)
def _bias_act_loop(row, b, kind, alpha, one, used):
    for j in range(row.shape[0]):
        row[j] = act_value(row[j] + b[j], kind, alpha, one, used)


@njit(**JIT_INNER)
def _bias_act_row(row, b, kind, alpha, one, used):
    """row = act(row + b). ReLU has its own copy of the loop, compiled with the kind a
    constant so that it vectorises (256 values: 123 -> 23 ns, a one-row prediction's
    hidden layers); the other kinds share one loop (one more copy of each would cost
    compile time for little: their activations cost more than the call per value)."""
    if kind == RELU:
        _bias_act_loop(row, b, RELU, alpha, one, used)
    else:
        _bias_act_loop(row, b, kind, alpha, one, used)


@njit(**JIT_INLINE)
def bias_act(out, b, kind, alpha, used=None):
    """out[i, :] = act(out[i, :] + b), in place. out (m, n), b (n,). Serial: the
    activations vectorise, so this pass costs well under 1% of the product before
    it even for the largest batches, less than a parallel region would save.
    ``used``: a static ``ActChoice`` (only its activations compiled) or None (all)."""
    one = out.dtype.type(1)
    alpha = out.dtype.type(alpha)
    for i in range(out.shape[0]):
        _bias_act_row(out[i], b, kind, alpha, one, used)


@njit(**JIT_INNER)
def _slope_row(dz, a, kind, alpha, one, used):
    for j in range(dz.shape[0]):
        dz[j] *= act_slope(a[j], kind, alpha, one, used)


@njit(**JIT_INLINE)
def act_backward(dz, a, kind, alpha, used=None):
    """dz *= act'(z), in place, from the outputs a. dz, a (m, n). Serial: a few
    flops per element, memory-bound; a parallel region would cost more than it saves.
    ``used`` as in bias_act."""
    if kind == IDENTITY:
        return
    one = dz.dtype.type(1)
    alpha = dz.dtype.type(alpha)
    for i in range(dz.shape[0]):
        _slope_row(dz[i], a[i], kind, alpha, one, used)
