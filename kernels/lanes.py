"""Whole vector registers as values in compiled kernels: a type and five operations, numba.

Why: on a CPU with 16 vector registers (AVX2: Zen 1, Haswell), LLVM did not turn
:mod:`kernels.matmul`'s register block, written one value at a time, into vector registers:
compiled for AVX2 it ran at 7-13 GFLOP/s. Written as whole vectors (a row of a block loaded,
multiplied and added as one value), the same block compiles to 12 accumulators that stay in
registers, the layout of BLIS's Haswell kernel (its inner loop: two loads of W, six broadcasts of
x, twelve fused multiply-adds).

A :class:`Lanes` value is ``lanes(dtype)`` values of ``dtype`` in one vector register: 8
float32 with AVX2, 16 with AVX-512 (``intrinsics.vector_bytes``). Loads and stores take a
1-D C-contiguous array and the index of the first value (no bounds check: the caller's
loop bounds keep it inside); nothing needs aligned memory.

Only Numba's public extension API (``numba.extending``) and ``llvmlite.ir``.
"""
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, models, register_model

from .intrinsics import vector_bytes

# LLVM's multiply then add fused into one (the kernels' own fast-math flags allow it) and
# +0 + x taken as x; NaN and infinity kept (no 'nnan'/'ninf').
_FLAGS = ("contract", "nsz")


def lanes(dtype):
    """How many values of ``dtype`` (a Numba type) fill one vector register."""
    return vector_bytes() // (dtype.bitwidth // 8)


class Lanes(types.Type):
    """``count`` values of ``dtype`` in one vector register."""

    def __init__(self, dtype):
        self.dtype, self.count = dtype, lanes(dtype)
        super().__init__(name=f"Lanes({dtype}, {self.count})")


@register_model(Lanes)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.count))


def _contiguous(arr):
    return isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C" and isinstance(arr.dtype, types.Float)


def _vector_pointer(context, builder, arr_type, arr, index, vector):
    data = context.make_array(arr_type)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [index]), vector.as_pointer())


@intrinsic
def lanes_load(typingctx, arr, i):
    """The vector arr[i:i + lanes]."""
    if not (_contiguous(arr) and isinstance(i, types.Integer)):
        return None
    vector = Lanes(arr.dtype)

    def codegen(context, builder, sig, args):
        ll = context.get_value_type(vector)
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        return builder.load(_vector_pointer(context, builder, sig.args[0], args[0], index, ll), align=1)
    return vector(arr, i), codegen


@intrinsic
def lanes_store(typingctx, arr, i, value):
    """arr[i:i + lanes] = value."""
    if not (_contiguous(arr) and isinstance(i, types.Integer) and value == Lanes(arr.dtype)):
        return None

    def codegen(context, builder, sig, args):
        ll = context.get_value_type(sig.args[2])
        index = context.cast(builder, args[1], sig.args[1], types.intp)
        builder.store(args[2], _vector_pointer(context, builder, sig.args[0], args[0], index, ll), align=1)
        return context.get_dummy_value()
    return types.none(arr, i, value), codegen


@intrinsic
def lanes_fill(typingctx, like, x):
    """A vector of ``like``'s dtype (an array) whose every value is x (0 for zeros, a scalar for a broadcast)."""
    if not (isinstance(like, types.Array) and isinstance(like.dtype, types.Float)
            and isinstance(x, (types.Number, types.Boolean))):
        return None
    vector = Lanes(like.dtype)

    def codegen(context, builder, sig, args):
        ll = context.get_value_type(vector)
        value = context.cast(builder, args[1], sig.args[1], like.dtype)
        one = builder.insert_element(ir.Constant(ll, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(ll, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), vector.count), [0] * vector.count))
    return vector(like, x), codegen


@intrinsic
def lanes_multiply_add(typingctx, c, a, b):
    """c + a * b, value by value (one fused multiply-add where the CPU has it)."""
    if not (isinstance(c, Lanes) and a == c and b == c):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], builder.fmul(args[1], args[2], flags=_FLAGS), flags=_FLAGS)
    return c(c, a, b), codegen


@intrinsic
def lanes_multiply(typingctx, a, b):
    """a * b, value by value."""
    if not (isinstance(a, Lanes) and b == a):
        return None

    def codegen(context, builder, sig, args):
        return builder.fmul(args[0], args[1], flags=_FLAGS)
    return a(a, b), codegen


@intrinsic
def lanes_count(typingctx, like):
    """How many values of ``like``'s dtype (an array) one vector holds: a constant of the compiled code."""
    if not (isinstance(like, types.Array) and isinstance(like.dtype, types.Float)):
        return None
    count = lanes(like.dtype)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, count)
    return types.intp(like), codegen
