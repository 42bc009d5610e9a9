"""A whole MLP forward and backward over flat buffers: fast, numba.

The network comes as a ``Net`` and the scratch as a ``Workspace`` (``structs``). W is
(n_in, n_out) row-major, so z = x @ W + b. ``ws.acts`` holds each layer's output
a = act(z) for the first m rows; ``ws.deltas`` the same layout for dL/dz. Gradients use
the params layout. Nothing here allocates. Training forwards and backwards take ``drop``,
dropout's ``DropoutWork`` or None (``dropout``: None compiles to the kernels without it).
"""
from numba import njit, types
from numba.extending import overload

from .activations import act_backward
from .batches import gather_ahead
from .config import (BLAS_MIN_ROWS_DX, BLAS_MIN_WORK, JIT, JIT_INLINE, JIT_INNER, JIT_INNER_INLINE, JIT_INNER_VIEWS,
                     SPLIT_MIN_UPDATE, SPLIT_MIN_WORK)
from .dense import col_sums, dense_backward_body, dense_dx, dense_forward_body, dense_sgd_body, weight_product
from .dropout import dropped, layer_input, mask_backward
from .intrinsics import entry, kernel_only, matrix, rows, tiles_compile_here
from .losses import fused_loss
from .optimizers import (after_velocity_product, apply_update, before_velocity_product, step_coeffs,
                         velocity_fused)
from .regularisation import clip_global_norm, regularise_layer
from .split import cuts_nothing, split_step, split_update, split_update_impl, weight_step_by_tiles
from .static import absent, field_type, static_field
from .structs import (A_OFF, B_OFF, N_IN, N_OUT, OWN_DW, OWN_DW_TILES, OWN_DX, OWN_FORWARD, OWN_SPARSE, OWN_TILES,
                      W_OFF, UpdateRange)
from .tiles import tiles_sizes, weight_sizes


@njit(**JIT_INNER_INLINE)
def weight(params, net, l):
    """Layer l's W (n_in, n_out), a view of a flat buffer in the params layout. ``entry(net.lay, l, k)`` reads
    ``net.lay[l, k]`` with less code to compile (this glue is inlined many times, as are ``bias`` and ``block``)."""
    return matrix(params, entry(net.lay, l, W_OFF), entry(net.lay, l, N_IN), entry(net.lay, l, N_OUT))


@njit(**JIT_INNER_INLINE)
def bias(params, net, l):
    """Layer l's b (n_out,), a view of a flat buffer in the params layout."""
    return rows(params, entry(net.lay, l, B_OFF), entry(net.lay, l, N_OUT))


@njit(**JIT_INNER_INLINE)
def block(buf, rows, net, l, m):
    """Layer l's (m, n_out) block of a workspace buffer (acts or deltas) sized for ``rows`` rows."""
    return matrix(buf, rows * entry(net.lay, l, A_OFF), m, entry(net.lay, l, N_OUT))


@kernel_only
def own_product(net, l):
    """Whether layer l's forward product goes to ``matmul`` (``Net.own`` has ``OWN_FORWARD``), or None when
    ``Net.own`` is None (no layer's does: nothing of ``matmul`` is compiled)."""


def _own_flag(net, flag, one_thread=False):
    """The implementation of a ``Net.own`` flag's getter: None when ``Net.own`` is None, or for a flag of a process
    of one thread only (``one_thread``) when ``Net.threads`` is set (a process of several), else layer l's
    ``flag``."""
    if cuts_nothing(field_type(net, "own")) or (one_thread and not cuts_nothing(field_type(net, "threads"))):
        return lambda net, l: None
    return lambda net, l: net.own[l] & flag != 0


@overload(own_product, jit_options=JIT_INNER)
def _own_product_impl(net, l):
    return _own_flag(net, OWN_FORWARD)


@kernel_only
def own_weight_product(net, l):
    """Whether layer l's weight product (``dense.weight_product``) goes to ``matmul_tn`` (``Net.own`` has
    ``OWN_DW``), or None when ``Net.own`` is None or ``Net.threads`` is set (nothing of ``matmul_tn`` is compiled):
    in a process of several threads, a training's own products are its first layer's forward alone (or on AMX
    tiles), never ``OWN_DW`` (``fastmlp.backends.products``), and ``matmul_tn`` compiled into every cut kernel for
    nothing (10.7 s of a cold compile; Intel Xeon model 207)."""


@overload(own_weight_product, jit_options=JIT_INNER)
def _own_weight_product_impl(net, l):
    return _own_flag(net, OWN_DW, one_thread=True)


@kernel_only
def dx_scratch(ws, net, l):
    """``dense``'s ``wt`` for layer l's dx: the first n_in * n_out values of ``ws.wt`` when ``Net.own`` has
    ``OWN_DX`` for it (dx by ``matmul.matmul_t``), else none of them (by the BLAS or loops); None when
    ``Net.own`` is None or ``Net.threads`` is set (nothing of ``matmul_t`` is compiled: as ``OWN_DW``, a flag of a
    process of one thread only, see :func:`own_weight_product`)."""


@overload(dx_scratch, jit_options=JIT_INNER_VIEWS)  # it returns a view it makes
def _dx_scratch_impl(ws, net, l):
    if cuts_nothing(field_type(net, "own")) or not cuts_nothing(field_type(net, "threads")):
        return lambda ws, net, l: None

    def impl(ws, net, l):
        n = entry(net.lay, l, N_IN) * entry(net.lay, l, N_OUT) if net.own[l] & OWN_DX else 0
        return rows(ws.wt, 0, n)
    return impl


@kernel_only
def sparse_room(ws, net, l):
    """``dense``'s ``room`` for layer l: ``ws.room`` when ``Net.own`` has ``OWN_SPARSE`` for it (its own products
    over the batch's nonzero inputs, ``matmul.matmul_sparse``), else none of it; None when ``Net.own`` is None
    (nothing of those products is compiled)."""


@overload(sparse_room, jit_options=JIT_INNER_VIEWS)  # it returns a view it makes
def _sparse_room_impl(ws, net, l):
    if cuts_nothing(field_type(net, "own")):
        return lambda ws, net, l: None

    def impl(ws, net, l):
        return rows(ws.room, 0, ws.room.size if net.own[l] & OWN_SPARSE else 0)
    return impl


@kernel_only
def forward_partial(ws, net, l):
    """The scratch of layer l's forward product cut along k (``split.forward_product``): in a training cut over
    threads (``Net.parts``), the first layer's own delta block, unused until the backward writes it (flat); an
    empty view for the other layers; None when nothing is cut (nothing of that cut compiled)."""


@overload(forward_partial, jit_options=JIT_INNER_VIEWS)  # it returns a view it makes
def _forward_partial_impl(ws, net, l):
    if cuts_nothing(field_type(net, "parts")):
        return lambda ws, net, l: None

    def impl(ws, net, l):
        start, n = ws.rows * entry(net.lay, 0, A_OFF), ws.rows * entry(net.lay, 0, N_OUT)
        if l > 0 or ws.deltas.size < start + n:  # (an inference's workspace has no deltas)
            return rows(ws.deltas, 0, 0)
        return rows(ws.deltas, start, n)
    return impl


def _no_tiles(net):
    """Whether a training compiles nothing of AMX's tiles: nothing cut (``Net.parts`` None), ``Net.own`` None, or
    kernels not compiled for a CPU with the tiles (``intrinsics.tiles_compile_here``: there ``OWN_TILES`` and
    ``OWN_DW_TILES`` are never chosen, and the tiles' code took 11 s of a cut kernel's cold compile for nothing;
    Intel Xeon model 207 without AMX)."""
    return (cuts_nothing(field_type(net, "parts")) or cuts_nothing(field_type(net, "own"))
            or not tiles_compile_here())


@kernel_only
def tile_room(ws, net, l):
    """The room of layer l's forward product on AMX tiles (``split.forward_by_tiles``): in a training cut over
    threads (``Net.parts``) whose ``Net.own`` flags the first layer ``OWN_TILES``, ``ws.tiles`` for that layer; an
    empty view otherwise; None where a training compiles nothing of the tiles (:func:`_no_tiles`)."""


@overload(tile_room, jit_options=JIT_INNER_VIEWS)  # it returns a view it makes
def _tile_room_impl(ws, net, l):
    if _no_tiles(net):
        return lambda ws, net, l: None

    def impl(ws, net, l):
        return rows(ws.tiles, 0, ws.tiles.size if l == 0 and net.own[0] & OWN_TILES else 0)
    return impl


@kernel_only
def weight_tile_room(ws, net, l):
    """The room of layer l's weight product on AMX tiles (``split.weight_step_by_tiles``): in a training cut over
    threads whose ``Net.own`` flags the first layer ``OWN_DW_TILES``, ``ws.tiles`` after the forward's room if it
    has one (``tile_room``: its packed W and a room for each piece) when it holds the product's operands at the
    workspace's rows (``tiles.weight_sizes``); an empty view otherwise; None where a training compiles nothing of the
    tiles (:func:`_no_tiles`)."""


@overload(weight_tile_room, jit_options=JIT_INNER_VIEWS)  # it returns a view it makes
def _weight_tile_room_impl(ws, net, l):
    if _no_tiles(net):
        return lambda ws, net, l: None

    def impl(ws, net, l):
        k, n = entry(net.lay, 0, N_IN), entry(net.lay, 0, N_OUT)
        size, room = tiles_sizes(k, n)
        start = size + net.parts * room if net.own[0] & OWN_TILES else 0
        x_size, dz_size = weight_sizes(ws.rows, k, n)
        fits = l == 0 and net.own[0] & OWN_DW_TILES and ws.tiles.size >= start + x_size + dz_size
        return rows(ws.tiles, start if fits else 0, x_size + dz_size if fits else 0)
    return impl


@njit(**JIT_INNER_INLINE)
def forward_from(ws, params, a_in, net, first, drop, step):
    """Layers first.. on the m rows of a_in (the input to layer ``first``), outputs into ws.acts;
    with ``drop``, each hidden output masked for update ``step`` before the next layer."""
    m = a_in.shape[0]
    for l in range(first, net.lay.shape[0]):
        out = block(ws.acts, ws.rows, net, l, m)
        dense_forward_body(out, a_in, weight(params, net, l), bias(params, net, l), net.kinds[l], net.alphas[l],
                           net.acts, net.loops, net.parts, own_product(net, l), sparse_room(ws, net, l),
                           net.threads, forward_partial(ws, net, l), tile_room(ws, net, l))
        a_in = dropped(out, drop, ws.rows, net, l, step)


@njit(**JIT_INLINE)
def forward(ws, params, x, net):
    """Each layer's output into ws.acts, for the m = len(x) rows of x (m, n_in)."""
    forward_from(ws, params, x, net, 0, None, 0)


@njit(**JIT_INNER_INLINE)
def train_forward(ws, params, x, net, drop, step):
    """``forward`` in training: with ``drop``, the dropout masks of update ``step``."""
    forward_from(ws, params, x, net, 0, drop, step)


@njit(**JIT_INNER_INLINE)
def layer_blocks(ws, x, net, l, drop):
    """Layer l's arrays in the backward, for the m = len(x) rows of the batch x: (dz, a, a_in,
    dx) = its delta, the output a of layer l - 1 (x for the first layer), what the layer took
    as input (a after the dropout mask), and the delta of layer l - 1 to fill (empty for the first layer)."""
    m = x.shape[0]
    dz = block(ws.deltas, ws.rows, net, l, m)
    a_in = x
    if l > 0:
        a = block(ws.acts, ws.rows, net, l - 1, m)
        a_in = layer_input(a, drop, ws.rows, net, l - 1)
        dx = block(ws.deltas, ws.rows, net, l - 1, m)
    else:
        a = x
        dx = rows(x, 0, 0)
    return dz, a, a_in, dx


@njit(**JIT_INNER_INLINE)
def delta_below(dx, a, net, l, drop, rows):
    """Layer l - 1's delta from dx = dz @ W.T: its activation's slope at a, then its dropout mask (none for l = 0)."""
    if l > 0:
        act_backward(dx, a, net.kinds[l - 1], net.alphas[l - 1], net.acts)
        mask_backward(dx, drop, rows, net, l - 1)


@njit(**JIT_INNER_INLINE)
def layer_backward(grads, ws, params, x, net, l, drop):
    """Layer l's gradient (dW, db into grads) from its delta, and, below the first layer,
    the delta of layer l - 1 (dx through W, then the activation's slope and the dropout mask)."""
    dz, a, a_in, dx = layer_blocks(ws, x, net, l, drop)
    dense_backward_body(dx, weight(grads, net, l), bias(grads, net, l), dz, a_in, weight(params, net, l), net.loops,
                        net.parts, dx_scratch(ws, net, l), own_weight_product(net, l), sparse_room(ws, net, l))
    delta_below(dx, a, net, l, drop, ws.rows)


@njit(**JIT)
def backward(grads, ws, params, x, net, drop=None):
    """Gradients from the top delta (already in ws.deltas' last block) down to the inputs
    (through the dropout masks of the training forward when ``drop``)."""
    for l in range(net.lay.shape[0] - 1, -1, -1):
        layer_backward(grads, ws, params, x, net, l, drop)


@njit(**JIT_INNER_INLINE)
def top_loss(ws, x, y, t, w, net, grad):
    """The fused loss on the last layer's outputs (sample weights w (m,) or empty):
    ws.stats += (loss sum, correct[, weight sum]), and the top delta dL/dz into ws.deltas
    when ``grad``."""
    m = x.shape[0]
    last = net.lay.shape[0] - 1
    z = block(ws.acts, ws.rows, net, last, m)
    dz = block(ws.deltas, ws.rows, net, last, m if grad else 0)
    fused_loss(dz, ws.stats, z, y, t, w, net.loss)


@njit(**JIT)
def loss_and_grad(grads, ws, params, x, y, t, w, net, drop=None, step=0):
    """Forward, fused loss, backward for one batch; ws.stats += (loss sum, correct[, weight sum]).
    With ``drop``, the training forward and backward with the dropout masks of update ``step``."""
    train_forward(ws, params, x, net, drop, step)
    top_loss(ws, x, y, t, w, net, True)
    backward(grads, ws, params, x, net, drop)


@njit(**JIT)
def evaluate(ws, params, x, y, t, w, net):
    """Forward and loss only (no gradient); ws.stats += (loss sum, correct[, weight sum])."""
    forward(ws, params, x, net)
    top_loss(ws, x, y, t, w, net, False)


@njit(**JIT_INNER_INLINE)
def update_backward(grads, slots, ws, params, x, net, hyper, step, drop, stop):
    """Backward from the top delta with any optimizer fused in, layer by layer (layers top..stop;
    for stop > 0 the delta of layer stop - 1 is left in ws.deltas): layer l's
    gradient into grads (its W and b), dx for the layer below (with the W not yet updated),
    its penalties and value clipping (``regularisation``; nothing when off; the penalty
    into ws.stats[LOSS_SUM]), then layer l's update while its gradient is still in cache,
    instead of a separate pass over every parameter after the whole backward. The same
    numbers as backward, then ``optimizer_step``: each element's update depends only on itself.
    With a global-norm clip (``hyper.clip_norm`` > 0), which needs the whole gradient before
    any update, the layers are not updated in the loop: after it, the norm over all of grads,
    the scaling, then one update of every parameter. ``drop`` as in backward."""
    for l in range(net.lay.shape[0] - 1, stop - 1, -1):
        layer_step(grads, slots, ws, params, x, net, l, hyper, step, drop)
    last = net.lay.shape[0] - 1
    clipped_update(params, slots, grads, net.lay[last, B_OFF] + net.lay[last, N_OUT], hyper, step, net.parts)


def copies_ahead(net, hyper, ahead):
    """Whether an epoch kernel copies each next batch during the step before it (``update_backward_ahead``), from
    the argument types: with second batch buffers (``ahead`` not None), when it cuts (``Net.parts``) and each
    layer's update runs in that layer's step (``_layerwise_choice``: the first layer's step is then the last thing
    the step does)."""
    return not (absent(ahead) or cuts_nothing(field_type(net, "parts")) or _layerwise_choice(hyper) is None)


@kernel_only
def update_backward_ahead(grads, slots, ws, params, x, net, hyper, step, drop, job):
    """``update_backward`` over every layer, and, when ``job`` is a ``NextBatch`` (``copies_ahead``), the next
    batch's copy meanwhile: the layers above the first, then ``first_layer_step``."""


@overload(update_backward_ahead, jit_options=JIT_INNER)
def _update_backward_ahead_impl(grads, slots, ws, params, x, net, hyper, step, drop, job):
    if absent(job):
        return lambda grads, slots, ws, params, x, net, hyper, step, drop, job: update_backward(
            grads, slots, ws, params, x, net, hyper, step, drop, 0)

    def impl(grads, slots, ws, params, x, net, hyper, step, drop, job):
        update_backward(grads, slots, ws, params, x, net, hyper, step, drop, 1)
        first_layer_step(grads, slots, ws, params, x, net, hyper, step, drop, job)
    return impl


@njit(**JIT_INNER_INLINE)
def first_layer_step(grads, slots, ws, params, x, net, hyper, step, drop, job):
    """The first layer's ``layer_step`` with the next batch's copy ``job`` (a ``NextBatch``): when the layer is
    cut, each piece of its parallel region copies its share of the rows after its share of the layer
    (``cut_layer_step``), instead of one thread copying them all between steps while the other waits
    (``batches``); else the copy after the step."""
    if _cut(x.shape[0], net, 0):
        cut_layer_step(grads, slots, ws, params, x, net, 0, hyper, step, drop, job)
    else:
        layer_step(grads, slots, ws, params, x, net, 0, hyper, step, drop)
        gather_ahead(job, 1, 0)


@njit(**JIT_INNER_INLINE)
def backward_then_update(grads, slots, ws, params, x, net, l, hyper, step, drop):
    """Layer l's gradient and dx (``layer_backward``), its penalties and value clipping, then its update."""
    layer_backward(grads, ws, params, x, net, l, drop)
    lo = net.lay[l, W_OFF]
    n = net.lay[l, B_OFF] + net.lay[l, N_OUT] - lo  # W then b: one range of n parameters from lo
    g, p = rows(grads, lo, n), rows(params, lo, n)
    regularise_layer(g, p, net.lay[l, B_OFF] - lo, hyper, x.shape[0], ws.stats)
    layer_update(p, rows(slots[0], lo, n), rows(slots[1], lo, n), g, hyper, step, net.parts)


@njit(**JIT_INNER_INLINE)
def cut_layer_step(grads, slots, ws, params, x, net, l, hyper, step, drop, job=None):
    """``backward_then_update`` without penalties or clipping, for a large layer when the kernel
    cuts (``net.parts``): dx, dW and W's update in one parallel region (``split.split_step``:
    each thread updates the rows of W whose gradient it just made, while they are in its cache;
    for SGD with momentum, plain or Nesterov, the gradient goes into the velocity there), then db, b's update
    and the slope and mask on dx, serially. The same numbers element by element. ``job``: None, or the next
    batch's copy (a ``NextBatch``), shared out over the same pieces (``first_layer_step``)."""
    dz, a, a_in, dx = layer_blocks(ws, x, net, l, drop)
    w0 = net.lay[l, W_OFF]
    n = net.lay[l, N_IN] * net.lay[l, N_OUT]  # W: n weights from w0
    first, second = slots[0], slots[1]
    c = step_coeffs(hyper, step, params)
    nesterov = hyper.nesterov != 0
    w = UpdateRange(rows(params, w0, n), rows(first, w0, n), rows(second, w0, n), rows(grads, w0, n))
    dW = weight(grads, net, l)
    if not weight_step_by_tiles(dW, dz, a_in, w, hyper.kind, c, nesterov, weight_tile_room(ws, net, l), net.parts, job):
        split_step(dx, dW, dz, a_in, weight(params, net, l), w, hyper.kind, c, nesterov, net.parts, job)
    bias_step_then_below(grads, slots, ws, params, dz, dx, a, net, l, hyper, c, drop)


@njit(**JIT_INNER_INLINE)
def velocity_layer_step(grads, slots, ws, params, x, net, l, hyper, step, drop):
    """``backward_then_update`` for SGD with momentum, plain or Nesterov (``optimizers.velocity_fused``), on a
    layer whose products go to BLAS, uncut: dx with the W before the step, then W's gradient
    straight into its velocity (one product, beta = momentum: no gradient buffer) between
    ``optimizers.before_velocity_product`` and ``after_velocity_product``, then db and b's update, then the slope
    and mask on dx. Both products on the BLAS (the layer is BLAS-sized), dx by ``matmul_t`` and the velocity's by
    ``matmul_tn`` where ``Net.own`` says (``dense.weight_product``): ``dense.dense_dx`` with ``loops`` None, so that
    no loop is compiled beside them; through the cut kernel's piece functions instead, momentum's cold compile took
    about a second more."""
    dz, a, a_in, dx = layer_blocks(ws, x, net, l, drop)
    w0 = net.lay[l, W_OFF]
    n = net.lay[l, N_IN] * net.lay[l, N_OUT]  # W: n weights from w0
    if dx.shape[0] > 0:  # dx = dz W.T, W before the step: by the BLAS, or ``matmul_t`` (``dx_scratch``)
        dense_dx(dx, dz, weight(params, net, l), None, None, dx_scratch(ws, net, l))
    c = step_coeffs(hyper, step, params)
    first, second = rows(slots[0], w0, n), rows(slots[1], w0, n)
    before_velocity_product(first, second, hyper.kind)
    weight_product(weight(slots[0], net, l), a_in, dz, 1, c.momentum, None, own_weight_product(net, l),
                   sparse_room(ws, net, l))
    after_velocity_product(rows(params, w0, n), first, second, c, hyper.kind)
    bias_step_then_below(grads, slots, ws, params, dz, dx, a, net, l, hyper, c, drop)


@njit(**JIT_INNER_INLINE)
def bias_step_then_below(grads, slots, ws, params, dz, dx, a, net, l, hyper, c, drop):
    """The tail of the fused layer steps (``cut_layer_step``, ``velocity_layer_step``), serially:
    db (the column sums of dz) into grads, b's update with the step's ``Coeffs`` c, then the
    slope and mask on dx (``delta_below``)."""
    b0 = net.lay[l, B_OFF]
    n = net.lay[l, N_OUT]  # b: n biases from b0
    col_sums(bias(grads, net, l), dz)
    apply_update(rows(params, b0, n), rows(slots[0], b0, n), rows(slots[1], b0, n), rows(grads, b0, n), hyper.kind, c,
                 hyper.nesterov != 0)
    delta_below(dx, a, net, l, drop, ws.rows)


@kernel_only
def layer_step(grads, slots, ws, params, x, net, l, hyper, step, drop):
    """Layer l's backward and update in ``update_backward``: ``cut_layer_step`` for a layer from
    ``SPLIT_MIN_WORK`` multiply-adds or ``SPLIT_MIN_UPDATE`` weights when the kernel cuts
    (``net.parts``) and the update is a static choice with no penalty or clipping; for SGD with
    momentum, plain or Nesterov (``optimizers.velocity_fused``), ``velocity_layer_step`` for any other layer
    whose products go to BLAS; else ``backward_then_update`` (the one compiled without
    ``parts`` or without a static choice)."""


def _layerwise_choice(hyper):
    """The static ``UpdateChoice`` of ``hyper`` when each layer's update may run in that layer's own step, as
    ``cut_layer_step`` and ``velocity_layer_step`` run it (no penalty, no clipping); else None (a choice per call, or
    one that needs ``backward_then_update``)."""
    choice = static_field(hyper, "kind")
    return None if choice is None or choice.penalties or choice.clip_norm else choice


@overload(layer_step, jit_options=JIT_INNER)
def _layer_step_impl(grads, slots, ws, params, x, net, l, hyper, step, drop):
    choice = _layerwise_choice(hyper)
    if choice is None:
        return backward_then_update.py_func
    # a layer that is not cut: chosen here from what can run, so that nothing else is compiled
    if not velocity_fused(choice):
        uncut = backward_then_update
    elif isinstance(field_type(net, "loops"), types.NoneType):  # every product goes to BLAS (``Net.loops``)
        uncut = velocity_layer_step
    else:
        uncut = blas_velocity_step
    if cuts_nothing(field_type(net, "parts")):
        return lambda grads, slots, ws, params, x, net, l, hyper, step, drop: uncut(
            grads, slots, ws, params, x, net, l, hyper, step, drop)

    def impl(grads, slots, ws, params, x, net, l, hyper, step, drop):
        if _cut(x.shape[0], net, l):
            cut_layer_step(grads, slots, ws, params, x, net, l, hyper, step, drop)
        else:
            uncut(grads, slots, ws, params, x, net, l, hyper, step, drop)
    return impl


@kernel_only
def clear_cut_gradients(grads, net, hyper, samples):
    """At the start of an epoch call over ``samples`` samples that may cut a layer (``cut_layer_step``), the whole of
    grads set to 0 (one pass): each cut step adds its W's gradient into rows that hold 0 and leaves them at 0
    (``split.split_step``), but other calls on the same buffer (the thread choice's pieces on one thread, the calls
    before the cut kernel is ready) write it and leave it. Within a call every step of a layer is cut or none is
    but its last, short batch. Nothing for a call over no sample (the cut kernel's compile, beside a training on the
    same buffer), and nothing compiled where no layer is cut that way (``Net.parts`` None, a choice per call,
    penalties or clipping, or SGD with momentum, whose gradient goes into its velocity)."""


@overload(clear_cut_gradients, jit_options=JIT_INNER)
def _clear_cut_gradients_impl(grads, net, hyper, samples):
    choice = _layerwise_choice(hyper)  # as ``layer_step`` decides whether ``cut_layer_step`` is compiled in
    if choice is None or velocity_fused(choice) or cuts_nothing(field_type(net, "parts")):
        return lambda grads, net, hyper, samples: None

    def impl(grads, net, hyper, samples):
        if net.parts > 1 and samples > 0:
            for i in range(grads.shape[0]):
                grads[i] = 0
    return impl


@njit(**JIT_INNER_INLINE)
def blas_velocity_step(grads, slots, ws, params, x, net, l, hyper, step, drop):
    """SGD with momentum (``optimizers.velocity_fused``) on a layer that is not cut, when products may also go to
    loops: ``velocity_layer_step`` if its products go to BLAS at this batch's rows, else ``backward_then_update``."""
    if _blas_sized(x.shape[0], net.lay[l, N_IN], net.lay[l, N_OUT]):
        velocity_layer_step(grads, slots, ws, params, x, net, l, hyper, step, drop)
    else:
        backward_then_update(grads, slots, ws, params, x, net, l, hyper, step, drop)


@njit(**JIT_INNER_INLINE)
def _cut(m, net, l):
    """Whether layer l at m rows is cut over the kernel's threads: ``net.parts`` > 1 and the
    layer from ``SPLIT_MIN_WORK`` multiply-adds or ``SPLIT_MIN_UPDATE`` weights."""
    k, n = net.lay[l, N_IN], net.lay[l, N_OUT]
    return net.parts > 1 and (m * k * n >= SPLIT_MIN_WORK or k * n >= SPLIT_MIN_UPDATE)


@njit(**JIT_INNER_INLINE)
def _blas_sized(m, k, n):
    """Whether a layer's products at m rows go to BLAS in ``dense``'s choice (both dx and dW)."""
    return m * k * n >= BLAS_MIN_WORK and m >= BLAS_MIN_ROWS_DX


@njit(**JIT_INNER_INLINE)
def _clip_and_update(params, slots, grads, n, hyper, step, parts):
    """The first n gradients clipped to the global norm ``hyper.clip_norm``, then one update of
    the first n parameters."""
    g = rows(grads, 0, n)
    clip_global_norm(g, hyper.clip_norm)
    split_update(rows(params, 0, n), rows(slots[0], 0, n), rows(slots[1], 0, n), g, hyper, step, parts)


def _clips(hyper):
    """Whether the gradient is clipped to a global norm, as a constant (a static ``UpdateChoice``),
    or None (tested per call)."""
    choice = static_field(hyper, "kind")
    return None if choice is None else bool(choice.clip_norm)


@kernel_only
def layer_update(params, first, second, grads, hyper, step, parts):
    """``update_range`` on one layer's range in the backward (``split.split_update`` with ``parts``),
    unless the gradient is clipped to a global norm (then nothing: see ``clipped_update``)."""


@overload(layer_update, jit_options=JIT_INNER)
def _layer_update_impl(params, first, second, grads, hyper, step, parts):
    clip = _clips(hyper)
    if clip is None:
        def impl(params, first, second, grads, hyper, step, parts):
            if not hyper.clip_norm > 0:
                split_update(params, first, second, grads, hyper, step, parts)
        return impl
    if clip:
        return lambda params, first, second, grads, hyper, step, parts: None
    return split_update_impl(params, first, second, grads, hyper, step, parts)  # split_update itself, no call between


@kernel_only
def clipped_update(params, slots, grads, n, hyper, step, parts):
    """With a global-norm clip, after the backward: the norm over the first n gradients, the
    scaling, one update of the first n parameters; nothing without (the layers were updated)."""


@overload(clipped_update, jit_options=JIT_INNER)
def _clipped_update_impl(params, slots, grads, n, hyper, step, parts):
    clip = _clips(hyper)
    if clip is None:
        def impl(params, slots, grads, n, hyper, step, parts):
            if hyper.clip_norm > 0:
                _clip_and_update(params, slots, grads, n, hyper, step, parts)
        return impl
    if clip:
        return _clip_and_update.py_func
    return lambda params, slots, grads, n, hyper, step, parts: None


@njit(**JIT_INLINE)
def loss_and_sgd(ws, params, x, y, t, w, net, lr):
    """Forward, fused loss, then backward applying plain SGD layer by layer
    (each layer's dx is taken before its W changes): no gradient buffer, no
    separate optimizer pass. ws.stats += (loss sum, correct)."""
    forward(ws, params, x, net)
    top_loss(ws, x, y, t, w, net, True)
    sgd_backward(ws, params, x, net, lr, 0)


@njit(**JIT_INNER_INLINE)
def sgd_backward(ws, params, x, net, lr, stop):
    """Plain SGD on layers top..stop from the top delta, each layer's dx taken
    before its W changes; for stop > 0 the delta of layer stop - 1 is left in ws.deltas."""
    m = x.shape[0]
    for l in range(net.lay.shape[0] - 1, stop - 1, -1):
        dz = block(ws.deltas, ws.rows, net, l, m)
        W = weight(params, net, l)
        a_in, dx = x, rows(x, 0, 0)
        if l > 0:
            a_in = block(ws.acts, ws.rows, net, l - 1, m)
            dx = block(ws.deltas, ws.rows, net, l - 1, m)
        dense_sgd_body(dx, W, bias(params, net, l), a_in, dz, lr, net.loops, dx_scratch(ws, net, l),
                       own_weight_product(net, l), sparse_room(ws, net, l))
        if l > 0:
            act_backward(dx, a_in, net.kinds[l - 1], net.alphas[l - 1], net.acts)
