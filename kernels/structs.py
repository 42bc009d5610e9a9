"""The named structures that travel between Python and the kernels: the Python <-> kernel contract.

Everything a kernel needs comes in a few named groups instead of long positional lists.
The groups are namedtuples (Numba types them as named tuples: fields are read by name, at
no cost) and one record (the epoch result, which kernels write by field name).

Shapes, for a network of L weight layers with widths ``layers[0..L]``:

- ``Net``: the network's description. ``lay`` (L, 5) int64, one row per layer, columns
  named below; ``kinds`` (L,) int64 activation ids (the output layer's is identity);
  ``alphas`` (L,) leaky slopes in the params dtype; ``loss`` the loss id; ``acts`` None (any
  activation) or a static ``ActChoice``; ``loops`` True (products below the BLAS size run as
  loops) or None (every product goes to BLAS and no loop code is compiled: see ``dense``);
  ``parts`` None (each BLAS product one call on the BLAS's threads) or the number of pieces
  large products and updates are cut into, one per Numba thread (``split``); ``own`` None (every
  product as above) or (L,) int64 flags, per layer, of the products that go to fastmlp's own
  ``matmul`` instead (a training on one thread, where measured faster: ``matmul``): ``OWN_FORWARD``,
  its forward product; ``OWN_DX``, its dx = dz @ W.T (``matmul.matmul_t``, W transposed into
  ``Workspace.wt``); ``OWN_DW``, its weight product (dW = x.T @ dz, or plain SGD's and momentum's
  product into W or the velocity: ``matmul.matmul_tn``); ``OWN_SPARSE`` (the first layer's, with one of the
  two others), those two products over the batch's nonzero inputs where it has zeros (``matmul.matmul_sparse``,
  ``matmul_tn_sparse``: their lists in ``Workspace.room``; in inference by blocks any layer's forward product, a
  hidden layer's over the zeros of the layer below); ``OWN_TILES``, its forward product on AMX tiles (in
  inference by blocks: ``tiles.tile_product``, the weights packed in ``TileWork``; a cut training's first layer:
  ``split.forward_by_tiles``, its room in ``Workspace.tiles``); ``OWN_DW_TILES``, a cut training's first layer's
  weight product on them (``split.weight_step_by_tiles``, its operands' room in ``Workspace.tiles`` after the
  forward's).
- ``TileWork``: inference by blocks on AMX tiles (``tiles``), one calling thread's: ``packed``, the
  packed weights of every layer flagged ``OWN_TILES`` (uint16, 64-byte aligned), layer l's from
  ``offsets[l]`` ((L,) int64); ``source``, the params they were packed from (the params layout),
  and ``packed_ok`` (L,) int64, 1 where layer l's are packed (``inference.refresh_tiles`` packs a
  layer again when its weights differ; ``changed`` (``inference.REFRESH_PIECES``,) int64, what each
  piece of its comparison found); ``rows`` (threads * ``room``,) uint16, 64-byte aligned,
  each Numba thread's room for a block's packed rows. All empty when no layer takes tiles.
- ``Workspace``: scratch for up to ``rows`` samples. ``acts`` and ``deltas``
  (rows * sum(layers[1:]),): layer l's (rows, n_out) block starts at ``rows * lay[l, A_OFF]``;
  ``stats`` (3,) float64 accumulates (loss sum, correct, weight sum), slots ``LOSS_SUM``,
  ``CORRECT``, ``WEIGHT_SUM`` (the last only with sample weights, see ``losses``); ``wt``, room for
  the transposed W of every layer flagged ``OWN_DX`` (at least its n_in * n_out values; empty when
  none is); ``room``, int32 scratch for the lists of a first layer flagged ``OWN_SPARSE`` and its rows grouped
  by their zeros (``groups.grouped_room(rows, n_in, n_out, itemsize)`` values; empty when it is not); ``tiles``,
  uint16 (64-byte aligned) room of a first layer's products on AMX tiles (``fastmlp.backends.products.tiles_room``;
  empty when it takes none).
- ``Samples``: ``x`` (n, n_in), ``y`` (n,) int64 class ids or empty, ``t`` (n, n_out)
  real targets or empty, ``w`` (n,) sample weights in the params dtype or empty (unweighted).
  Both a data set and the batch buffers it is gathered into.
- ``Batching``: one epoch's ``order`` (n,) int64, batch ``size`` and ``drop_last``.
- ``NextBatch``: the batch a step copies ahead (``batches.gather_ahead``): the rows ``order`` (m,) int64
  (a view of the epoch's order; empty when there is none to copy) of the data ``x``, ``y``, ``t``, ``w``
  (as a ``Samples``), into the first m rows of the other batch buffers ``into_x``, ``into_y``, ``into_t``,
  ``into_w``. Flat, not two ``Samples``: a parallel loop takes no tuple of tuples (``split.split_step``).
- ``Hyper``: the optimizer id and every hyperparameter by name, with this epoch's ``lr``;
  the penalties and clipping (``l2``, ``l1``, ``decoupled_weight_decay``, ``clip_value``,
  ``clip_norm``) are 0 when off.
- ``OnlineScratch``: the batch-1 epoch's transposed first-layer weights ``WT``
  (layers[1], n_in), two aligned sample rows ``xs`` (2, n_in), and the transposed first-layer
  optimizer state ``ST`` (2, layers[1], n_in) (any optimizer; (2, 0, n_in) for plain SGD).
- ``UpdateRange``: one contiguous range of the parameters and, in the same layout, its two
  optimizer state slots and its gradient, each (n,): what an update of part of a layer reads
  and writes (``split.split_step``).
- ``DropoutWork``: dropout in a training forward and backward (``dropout``): per weight
  layer ``cut`` (L,) uint64 and ``scale`` (L,) in the params dtype, the masks' ``key``
  (uint64), and ``masks``, ``kept`` laid out as ``Workspace.acts``.
- ``LossChoice``, ``ActChoice`` and ``UpdateChoice``: what an epoch kernel compiles, passed as
  ``static.Static`` values in place of ``Net.loss``, ``Net.acts`` and ``Hyper.kind`` (the epoch kernels
  take either): the loss id and whether the data is sample-weighted; the sorted activation ids the
  layers use (``kinds``); the optimizer id, whether any penalty or value clipping is on
  (``penalties``), whether the gradient is clipped to a global norm, SGD's form (``momentum``:
  ``optimizers.PLAIN``, ``MOMENTUM`` or ``NESTEROV``; PLAIN for the others) and whether
  decoupled weight decay is on (``decay``; named for SGD with momentum, plain or Nesterov, only: the one update
  whose code it changes, ``optimizers.velocity_fused``).
- ``EPOCH_RESULT``: the record an epoch kernel fills: loss_sum, correct, seen, steps, diverged.
"""
from collections import namedtuple

import numpy as np

# Columns of Net.lay: inputs, outputs, offset of W (n_in, n_out) and of b (n_out,) in the
# params layout, offset of the layer's outputs in a one-row activation buffer.
N_IN, N_OUT, W_OFF, B_OFF, A_OFF = range(5)
LAYOUT_COLUMNS = ("n_in", "n_out", "w_offset", "b_offset", "a_offset")

# Flags of Net.own: which of a layer's products go to fastmlp's own matmul or to AMX tiles.
OWN_FORWARD, OWN_DX, OWN_TILES, OWN_DW, OWN_SPARSE, OWN_DW_TILES = 1, 2, 4, 8, 16, 32

# Slots of Workspace.stats (WEIGHT_SUM: written only with sample weights).
LOSS_SUM, CORRECT, WEIGHT_SUM = range(3)

Net = namedtuple("Net", ["lay", "kinds", "alphas", "loss", "acts", "loops", "parts", "own", "threads"],
                 defaults=(None, True, None, None, None))
Workspace = namedtuple("Workspace", ["acts", "deltas", "stats", "rows", "wt", "room", "tiles"])
Samples = namedtuple("Samples", ["x", "y", "t", "w"])
Batching = namedtuple("Batching", ["order", "size", "drop_last"])
NextBatch = namedtuple("NextBatch", ["into_x", "into_y", "into_t", "into_w", "x", "y", "t", "w", "order"])
Hyper = namedtuple("Hyper", ["kind", "lr", "momentum", "nesterov", "weight_decay", "beta1", "beta2", "eps",
                             "alpha", "lr_decay", "l2", "l1", "decoupled_weight_decay", "clip_value", "clip_norm"])
LossChoice = namedtuple("LossChoice", ["loss", "weighted"])
ActChoice = namedtuple("ActChoice", ["kinds"])
UpdateChoice = namedtuple("UpdateChoice", ["kind", "penalties", "clip_norm", "momentum", "decay"])
OnlineScratch = namedtuple("OnlineScratch", ["WT", "xs", "ST"])
UpdateRange = namedtuple("UpdateRange", ["params", "first", "second", "grads"])
TileWork = namedtuple("TileWork", ["packed", "offsets", "source", "packed_ok", "changed", "rows", "room"])
DropoutWork = namedtuple("DropoutWork", ["cut", "scale", "key", "masks", "kept"])

EPOCH_RESULT = np.dtype([("loss_sum", np.float64), ("correct", np.float64), ("seen", np.int64),
                         ("steps", np.int64), ("diverged", np.bool_)], align=True)
