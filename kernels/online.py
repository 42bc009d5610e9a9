"""Online (batch-1) plain SGD epoch, one compiled call: fast, numba.

With one sample per step the work is two passes over the first layer's
weights (the largest matrix): the forward product and the rank-1 update.
Both stream it from L2, and that traffic is the step's cost. Here the first
layer's weights live transposed for the epoch, WT (n_out, n_in), so each
output unit's weights are one contiguous row, and the update for sample s
and the forward product for sample s + 1 share a single pass over each row:

    row -= lr * dz[j] * x_s ;  z_next[j] = row . x_{s+1}

Same arithmetic as updating then multiplying (the sums run in another
order). Each sample is first copied into an aligned scratch row (the pass
runs 25% faster than on rows at arbitrary addresses), and the sample after
it is prefetched so that copy finds it in cache. Layers above the first
use the usual kernels. Shapes: WT (n_out, n_in) of layer 0 and xs (2, n_in),
scratch; X (n, n_in); y (n,) or empty; t (n, c) or empty.
``out`` as in ``epoch``: (loss sum, correct, samples seen, steps, diverged).
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .activations import bias_act
from .config import JIT, JIT_INNER
from .dense import _matmul_t_right
from .epoch import _record
from .losses import loss_grad
from .network import bias, block, forward_from, sgd_backward, weight
from .views import borrow


@intrinsic
def _prefetch(typingctx, arr, i):
    """Hint the cache line holding arr[i] into cache (llvm.prefetch: read, keep); changes no result."""
    def codegen(context, builder, sig, args):
        ptr = builder.gep(context.make_array(sig.args[0])(context, builder, args[0]).data, [args[1]])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.none(arr, i), codegen


@njit(**JIT_INNER)
def _prefetch_row(row):
    for p in range(0, row.shape[0], max(1, 64 // row.itemsize)):  # one hint per 64-byte line
        _prefetch(row, p)


@njit(**JIT_INNER)
def _copy_row(dst, src):
    for p in range(src.shape[0]):
        dst[p] = src[p]


@njit(**JIT_INNER)
def _transpose(dst, src):
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[j, i] = src[i, j]


@njit(**JIT_INNER)
def _update_and_next(z, WT, x, dz, lr, x_next):
    """WT -= lr * outer(dz, x); z = WT @ x_next, in one pass over WT's rows."""
    T = WT.dtype.type
    for j in range(WT.shape[0]):
        row = WT[j]
        c = T(lr) * dz[j]
        s = T(0)
        for p in range(row.shape[0]):
            v = row[p] - c * x[p]
            row[p] = v
            s += v * x_next[p]
        z[j] = s


@njit(**JIT)
def train_epoch_online(out, params, acts, deltas, stats, WT, xs, X, y, t, order, lay, kinds, alphas, loss, lr):
    """Plain SGD, one sample per step, over ``order``; stops at the first non-finite loss.
    The first layer's weights are copied into WT at the start and back at the end."""
    params, acts, deltas, WT, xs = borrow(params), borrow(acts), borrow(deltas), borrow(WT), borrow(xs)
    X, y, t, order = borrow(X), borrow(y), borrow(t), borrow(order)
    stats[:] = 0.0
    n = order.shape[0]
    last = lay.shape[0] - 1
    W0, b0 = weight(params, lay, 0), bias(params, lay, 0)
    _transpose(WT, W0)
    z0 = block(acts, lay, 0, 1)
    dz0 = block(deltas, lay, 0, 1)[0]
    if n > 0:
        _copy_row(xs[0], X[order[0]])
        _matmul_t_right(z0, xs[:1], WT)  # z0 = x WT.T
    for s in range(n):
        i = order[s]
        x = xs[s % 2:s % 2 + 1]
        bias_act(z0, b0, kinds[0], alphas[0])
        forward_from(acts, params, z0, lay, kinds, alphas, 1)
        loss_grad(block(deltas, lay, last, 1), stats, block(acts, lay, last, 1),
                  y[i:i + 1] if y.shape[0] else y, t[i:i + 1] if t.shape[0] else t, loss)
        sgd_backward(deltas, acts, params, x, lay, kinds, alphas, lr, 1)
        for j in range(b0.shape[0]):
            b0[j] -= b0.dtype.type(lr) * dz0[j]
        x_next = xs[(s + 1) % 2]
        if s + 1 < n:
            _copy_row(x_next, X[order[s + 1]])
        if s + 2 < n:
            _prefetch_row(X[order[s + 2]])
        _update_and_next(z0[0], WT, x[0], dz0, lr, x_next)
        if not _record(out, stats, 1):
            break
    _transpose(W0, WT)
