"""Borrowed views of the caller's buffers: fast, numba.

Every numba array view carries a reference to its owner's memory, and making
or dropping one is an atomic increment or decrement (a locked instruction);
``reshape`` also calls a C helper. A batch-1 step makes a few dozen views,
and those counts were a fifth of its time. Kernels instead borrow: the epoch
kernels take their arguments with :func:`borrow` (the same array without an
owner reference), so every view made from them counts nothing, and
:func:`matrix` builds an (rows, cols) view of a flat buffer directly.

Safe because the caller (Python) holds the arrays for the whole call and no
kernel returns or stores a view.
"""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


@intrinsic
def borrow(typingctx, arr):
    """``arr`` without its owner reference: views of it are not reference-counted."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        dst = make_array(sig.return_type)(context, builder)
        populate_array(dst, data=src.data, shape=src.shape, strides=src.strides,
                       itemsize=src.itemsize, meminfo=None)
        return dst._getvalue()
    return arr(arr), codegen


@intrinsic
def matrix(typingctx, buf, offset, rows, cols):
    """``buf[offset:offset + rows * cols]`` as a C-contiguous (rows, cols) view, borrowed.

    ``buf`` is a contiguous 1-D array; the range must lie inside it (not checked).
    """
    if not (isinstance(buf, types.Array) and buf.ndim == 1 and buf.layout == "C"):
        return None
    ret = types.Array(buf.dtype, 2, "C")

    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        off, m, n = (context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:]))
        itemsize = src.itemsize
        dst = make_array(ret)(context, builder)
        populate_array(dst, data=builder.gep(src.data, [off]),
                       shape=cgutils.pack_array(builder, [m, n]),
                       strides=cgutils.pack_array(builder, [builder.mul(n, itemsize), itemsize]),
                       itemsize=itemsize, meminfo=None)
        return dst._getvalue()
    return ret(buf, offset, rows, cols), codegen
