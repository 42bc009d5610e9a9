"""Which products go to fastmlp's own ``matmul`` (training on one thread, inference by blocks): measured.

Why: on one core the BLAS is most of a training step, and at a batch's shapes OpenBLAS runs well
below the core's peak, where the kernels' own register-blocked product (``kernels.matmul``) does
better on some CPUs and layers (AVX-512 Xeon, one thread: 64x784x256 157 GFLOP/s against
OpenBLAS's 131) and worse on others (no AVX-512; a library tuned for the CPU). So nothing is
assumed: once per training shape (below: when), each layer's
forward product at the batch's rows is timed both ways on random values of its shape, and the
layer goes to ``matmul`` only when it ran faster by ``MARGIN`` (the result, per network shape
and batch rows, is kept for the process, and on disk for the machine's next processes: ``records``,
so that a seeded fit rounds alike in all of them). So too its backward's dx = dz @ W.T, by ``matmul_t``
(W transposed into scratch, then ``matmul``) against the BLAS's transposed form, and its weight
product x.T @ dz (dW, or plain SGD's product into W) by ``matmul_tn`` against the BLAS's (AMD EPYC
Zen 4, one thread: 64x784x256 about 109 GFLOP/s against 102, 64x256x128 111-114 against 100-101;
fashion-b64 on one core 91.0-91.9k -> 94.5-95.9k samples/s, four fresh processes each way
alternated). A few milliseconds, once. Where the training's inputs have zeros (images' dark pixels:
``sample_batch``), the first layer's own products are those over each batch's nonzero inputs
(``kernels.matmul.matmul_sparse``, ``OWN_SPARSE``), timed on a batch of the inputs against the BLAS on the
same batch (Fashion-MNIST, Zen 4, one thread: 64x784x256 forward 190 us against the BLAS's 266, SGD's weight
product 193 against 250); the key of the choice says whether they have.

When: never before a training's first batch, where it was not made before (a machine's first such training): the
training runs on the BLAS's products meanwhile. Once it has trained for a second (``CUT_AFTER_S``), a thread compiles
the timing kernels (:func:`compile_timing`, timing nothing: the fashion net's, 12-15 s cold on the Intel Xeon model
207), the choice is timed between two calls once they are compiled, and a thread compiles the kernels that take it
(``fastmlp.backends.numba``): on one thread, the training's uncut kernel with the choice; on several, its cut kernel
(below), prepared then. Made before the first batch, a machine's first training waited for all of that: 22-40 s cut
(Adam and Nesterov momentum on the fashion net, two threads), 23.5-27.1 s on one core (plain SGD and Adam, 2,048 rows),
where its preparation without the choice takes 2.7-3.9 s. A choice made before (in this process, or a record of this
machine's) is taken from the first batch.

Only where the training runs on one thread: a process on one core (Numba's pool of one thread;
the BLAS then runs on one thread too). With several threads the BLAS's threads (plain SGD) or
the kernels' cut products (``kernels.split``) share each product out, and the thread choice's pieces
on one thread keep the BLAS too: with their own products a batch's rounding would depend on which way
the thread choice's timing gave its piece, and a seeded fit would no longer give the same weights in
another process (tried in 2ee50bc: busy-b64 on Zen 4 1.135x -> 1.536x, but under load two processes'
weights differed; reverted). Not in the deterministic mode either: the choice, made by timing, would
decide how the products round. float32 only, and
only products whose output width fits the register block (``kernels.matmul.fits``: the layer's
outputs forward; its inputs for dx, in whole passes of the transpose: ``transposes``) and that go to the BLAS (not
the small-product loops).

With several threads and AMX (``tiles.available``), a training's first layer may take the tiles too (``OWN_TILES``:
``kernels.split.forward_by_tiles``, W packed at every step), where they beat the other ways cut over the threads by
``MARGIN`` (:func:`_measure_cut`); plain SGD is then trained cut (``fastmlp.backends.numba.plain_takes_tiles``). Its
weight product too (``OWN_DW_TILES``: ``kernels.split.weight_step_by_tiles``, the batch and dz packed at every
step), a choice of its own against the BLAS's pieces by ``MARGIN``: on the Xeon model 167, the fashion net's first
layer cut over two threads, on random values 1,116-1,180 us against 1,334-1,385 at 1,024 rows, 278-282 against 335
at 256, 92 against 95-96 at 64 (not taken); on Fashion-MNIST's batches of 64, 86-91 against 100-101 (taken).
With several threads, a cut training's hidden layers' forward products go to ``matmul`` on the calling thread where
that beat the BLAS's pieces cut over the threads by ``MARGIN`` (:func:`_measure_cut`: products too small to gain from
a second thread what its parallel region costs).

Inference by blocks (:func:`inference_own`): a large ``predict`` call's rows cut into blocks, each
block through every layer on one of Numba's threads (``kernels.inference.screened_blocks``), its
products by ``matmul``; taken where that product measured no more than ``BLOCKS_MARGIN`` slower than
the BLAS on one thread. Whether a layer it takes sums over each block's nonzero inputs (``OWN_SPARSE``: the first
layer's rows grouped by their zeros, a hidden layer's, ReLU's zeros, in their order: ``kernels.inference``; a block
without zeros enough pays their count) is timed too, on the first call's own rows (:func:`inference_sparse`): on
Fashion-MNIST it lost on both CPUs measured, where it had been given untimed to every layer (10,000 rows, best of 30
calls, three processes each way; compiled for the Xeon model 207, vector units: 646-738k rows/s with it, 708-750k
without; compiled for AVX2 there: 350-367k against 392-412k); on an earlier CPU the first layer's product so had
won, 332 -> 284 us a block of 96 rows on one thread.
Where AMX may run (``tiles.available``), a layer's product goes to the tiles
(``kernels.tiles``, float32 results from bfloat16 parts) where they measured faster than ``matmul`` by
``MARGIN`` at the blocks' rows.
"""
import contextlib
import functools
import threading
import time
from collections import namedtuple

import numba
import numpy as np

from .. import blas_spin, buffers
from .. import kernels as K
from ..kernels import tiles as K_tiles
from ..kernels.config import BLAS_MIN_ROWS_DX, BLAS_MIN_WORK
from ..kernels.groups import grouped_room
from ..kernels.matmul import fits, transposes
from ..kernels.structs import OWN_DW, OWN_DW_TILES, OWN_DX, OWN_FORWARD, OWN_SPARSE, OWN_TILES
from . import records, thread_choice, tiles

MARGIN = 0.05  # a layer goes to matmul only when faster than the BLAS by this fraction
TIMED_WORK = 1 << 23  # multiply-adds per timing (a few ms for the whole network), at least 2 products
# timings of each way, alternated; the best of each is compared. 9, not 3: a training's choice is the machine's
# (``records``), and with 3 the fashion net at 64 rows chose three ways in three idle one-core processes (Zen 4;
# the same way in three with 9: 51 ms, once per machine)
TIMINGS = 9

_chosen = {}  # (layers, rows, dtype name, inputs with zeros, threads[, tiles may run]) -> the Net.own array, or None
_lock = threading.Lock()  # one measurement at a time (two at once would time each other)


Choice = namedtuple("Choice", "key record zeros tiles threads")  # a training's products' choice: where it is kept


def _choice(arch, rows, X, cut, tiles):
    """The :class:`Choice` :func:`own_products` makes for these arguments: its key in this process (``_chosen``) and
    on this machine (``record``: name and key for ``records``), whether the inputs have zeros, whether the tiles are
    timed, the process's thread count; None where there is nothing to choose (the answer is None)."""
    threads = numba.config.NUMBA_NUM_THREADS
    if thread_choice.is_deterministic() or (threads >= 2 and not cut):
        return None  # (before sampling X: asked at every epoch call)
    zeros = has_zeros(X, rows)
    tiles_ok = threads >= 2 and tiles and tiles_eligible(arch, rows)
    if threads >= 2 and not zeros and not tiles_ok:
        return None
    dtype = np.dtype(arch.dtype).name
    # (with several threads, whether the tiles were timed is part of the choice: a record made without them is not
    # the choice with them, nor the other way)
    key = (tuple(arch.layers), int(rows), dtype, zeros, int(threads)) + ((tiles_ok,) if threads >= 2 else ())
    return Choice(key, ("own_products", (*map(int, arch.layers), int(rows), *key[2:])), zeros, tiles_ok, threads)


def own_products(arch, rows, X=None, cut=False, tiles=False, measure=True):
    """``Net.own`` for a training of ``arch`` at ``rows`` samples per batch: an int64 array (L,) of
    flags, ``OWN_FORWARD`` for the layers whose forward product runs faster by ``kernels.matmul``,
    ``OWN_DX`` for those whose dx does by ``matmul_t``, ``OWN_DW`` for those whose weight product does
    by ``matmul_tn`` (see the module docstring), or None when no product does or there is nothing to
    choose. ``X``, the training's inputs (n, n_in), or None: where they have zeros (``sample_batch``),
    the first layer's products are timed on a batch of them, its own ones over their nonzero inputs
    (``OWN_SPARSE`` with those it takes). In a process of several threads, only for a training whose products
    are cut over them (``cut``: ``kernels.split``, every optimizer but plain SGD), and only the forward products: the
    first layer's over those inputs, cut the same way, and the hidden layers' on one thread (:func:`_measure_cut`);
    with ``tiles``, the first layer's on AMX tiles too where they may run (``tiles_eligible``: ``OWN_TILES``), a
    choice of its own (the numba backend asks for it only as it prepares the training's cut kernel, after its first
    second: the tiles' kernels take seconds to compile cold, which no first batch should wait for). ``measure``
    False: only a choice made before, in this process or on this machine (``records``), else None (:func:`own_known`
    tells the two Nones apart)."""
    choice = _choice(arch, rows, X, cut, tiles)
    return None if choice is None else _answer(choice, arch, rows, X, measure)


def _answer(choice, arch, rows, X, measure):
    """:func:`own_products`'s answer for its :class:`Choice` ``choice``: made before in this process, else this
    machine's record, else (``measure``) measured now and recorded; None when not measured."""
    def valid(flags):
        return _valid_flags(flags, len(arch.layers) - 1)
    with _lock:
        if choice.key not in _chosen:
            if not measure:
                found = records.recorded(*choice.record, valid)
                if found is None:
                    return None
                flags = found[0]
            else:
                flags = records.kept(*choice.record, lambda: _flags_list(_measured(choice, arch, rows, X)), valid)
            _chosen[choice.key] = None if flags is None else np.array(flags, np.int64)
        return _chosen[choice.key]


def _measured(choice, arch, rows, X):
    """``Net.own`` measured for ``choice`` (:func:`_measure_cut` on several threads, else :func:`_measure`), on a
    batch of X where the inputs have zeros; in a thread whose timing is off, only its kernels compiled."""
    batch = sample_batch(X, rows) if choice.zeros else None
    return _measure_cut(arch, rows, batch, choice.tiles) if choice.threads >= 2 else _measure(arch, rows, batch)


def own_known(arch, rows, X=None, cut=False, tiles=False):
    """Whether :func:`own_products` answers these arguments without timing anything: nothing to choose, or a choice
    made before in this process or on this machine (a record, then taken into this process's choices)."""
    return known_choice(arch, rows, X, cut, tiles)[0]


def known_choice(arch, rows, X=None, cut=False, tiles=False):
    """(:func:`own_known`, :func:`own_products` with ``measure`` False) in one look (one sample of X, asked at every
    epoch call): (True, the choice) where it is known, (False, None) where it is not, timing nothing."""
    choice = _choice(arch, rows, X, cut, tiles)
    if choice is None:
        return True, None
    own = _answer(choice, arch, rows, X, measure=False)  # (a record, if any, taken into ``_chosen``)
    return choice.key in _chosen, own


def compile_timing(arch, rows, X=None, cut=False, tiles=False):
    """Compile (or load) the kernels that :func:`own_products` times for these arguments with, timing nothing and
    changing no setting of the process (the BLAS's threads): for a thread to do while the training runs (the numba
    backend's cut trainings, on a machine's first run), so that the measurement made then, between two epoch calls,
    takes milliseconds, not the compile's seconds (12-15 s cold on the Intel Xeon model 207)."""
    choice = _choice(arch, rows, X, cut, tiles)
    if choice is None:
        return
    _timing.off = True
    try:
        _measured(choice, arch, rows, X)
    finally:
        _timing.off = False
    _timing_compiled.add(choice.key)


def timing_compiled(arch, rows, X=None, cut=False, tiles=False):
    """Whether :func:`compile_timing` compiled (or loaded) in this process what :func:`own_products` times for these
    arguments with (or there is nothing to time)."""
    choice = _choice(arch, rows, X, cut, tiles)
    return choice is None or choice.key in _timing_compiled


_timing = threading.local()  # off: this thread only compiles what it would time (``compile_timing``)
_timing_compiled = set()  # the keys of the choices (``Choice.key``) whose timing kernels compile_timing compiled


def _timing_off():
    return getattr(_timing, "off", False)


def _flags_list(own):
    """``Net.own`` as a record holds it: a list of ints, or None."""
    return None if own is None else [int(f) for f in own]


def _valid_flags(flags, layers):
    """Whether a record's value is ``Net.own`` as ``_measure`` gives it for ``layers`` layers."""
    every = OWN_FORWARD | OWN_DX | OWN_DW | OWN_SPARSE | OWN_TILES | OWN_DW_TILES
    return flags is None or (isinstance(flags, list) and len(flags) == layers and any(flags)
                             and all(type(f) is int and f & ~every == 0 and f >= 0 for f in flags))


SAMPLE_ZEROS = 4  # the training's inputs have zeros when at least 1 in this many of a batch's are (a quarter)


KEY_ROWS = 64  # the most rows that say, at every epoch call, whether the inputs have zeros (``has_zeros``)


def has_zeros(X, rows):
    """Whether the training's inputs X have zeros by :func:`sample_batch`'s rule, on at most ``KEY_ROWS`` of their
    rows spread evenly: what keys the choice, asked at every epoch call (1,024 rows of 784 float32 took 473 us to
    gather and count, 64 rows 16 us; a call of 16,384 samples at batch 1,024 takes about 75 ms). The products are
    timed on ``rows`` rows (``sample_batch``)."""
    return sample_batch(X, min(rows, KEY_ROWS)) is not None


def sample_batch(X, rows):
    """``rows`` rows of X spread evenly over it, as a C-contiguous batch in the kernels' dtype, when at
    least 1 in ``SAMPLE_ZEROS`` of their values are zero (what the first layer's products over nonzero
    inputs are timed on: ``kernels.matmul.matmul_sparse``); else (or X None or empty) None."""
    if X is None or X.shape[0] == 0 or X.ndim != 2:
        return None
    batch = np.ascontiguousarray(X[np.linspace(0, X.shape[0] - 1, rows).astype(np.int64)])
    return batch if np.count_nonzero(batch == 0) * SAMPLE_ZEROS >= batch.size else None


def eligible(arch, rows):
    """The layers whose forward product at ``rows`` rows could go to ``matmul``: its width fits the
    register block (float32) and the product goes to the BLAS (``kernels.dense``)."""
    itemsize = np.dtype(arch.dtype).itemsize
    return [l for l, (k, n) in enumerate(zip(arch.layers[:-1], arch.layers[1:]))
            if fits(n, itemsize) and rows * k * n >= BLAS_MIN_WORK]


def dx_eligible(arch, rows):
    """The layers whose dx = dz @ W.T at ``rows`` rows could go to ``matmul_t``: all but the first (it
    has no dx), its inputs (dx's width) fit the register block (float32), and dx goes to the BLAS
    (``kernels.dense.dense_dx``)."""
    itemsize = np.dtype(arch.dtype).itemsize
    return [l for l, (k, n) in enumerate(zip(arch.layers[:-1], arch.layers[1:]))
            if l > 0 and transposes(k, itemsize) and rows * k * n >= BLAS_MIN_WORK and rows >= BLAS_MIN_ROWS_DX]


def dw_eligible(arch, rows):
    """The layers whose weight product x.T @ dz at ``rows`` rows could go to ``matmul_tn``: its outputs
    (the product's width) fit the register block (float32) and the product goes to the BLAS
    (``kernels.dense``: below ``BLAS_MIN_WORK`` it is the loops')."""
    itemsize = np.dtype(arch.dtype).itemsize
    return [l for l, (k, n) in enumerate(zip(arch.layers[:-1], arch.layers[1:]))
            if fits(n, itemsize) and rows * k * n >= BLAS_MIN_WORK]


def _reps(work):
    """Products of ``work`` multiply-adds per timing (:func:`_best_of`)."""
    return max(2, TIMED_WORK // work)


def _best_of(run, work):
    """The best of ``TIMINGS`` alternated timings of ``run(own, reps)`` (a product of ``work``
    multiply-adds, ``reps`` times: by fastmlp's own product when ``own``, else by the BLAS):
    (own seconds, BLAS seconds)."""
    reps = 0 if _timing_off() else _reps(work)  # (no product: only compiled, ``compile_timing``)
    best = _alternated_best(lambda way: run(way, reps), (True, False), 0 if _timing_off() else TIMINGS)
    return best[True], best[False]


def _alternated_best(run, ways, timings):
    """{way: the best of ``timings`` timings of ``run(way)``} for each of ``ways``, the ways alternated, after an
    untimed round of each (compiled or loaded, and warm, before any timing)."""
    best = dict.fromkeys(ways, np.inf)
    for way in ways:
        run(way)
    for _ in range(timings):
        for way in ways:
            t0 = time.perf_counter()
            run(way)
            best[way] = min(best[way], time.perf_counter() - t0)
    return best


def _random(rng, shape, dtype):
    """Random values of ``shape`` in a buffer that starts on a cache line (``buffers``), as the parameters, workspace
    and batch rows of a call do: NumPy's own arrays start anywhere on 16 bytes, and ``matmul`` on a W that does not
    start on a line ran 20% slower than on one that does (Intel Xeon model 167, one thread, 96x784x256: 232 us
    against 193; the BLAS 234-238 either way), so in most processes the own products, and the tiles' gain over
    them, were timed other than a call runs them."""
    out = buffers.empty(shape, dtype)
    out[...] = rng.standard_normal(shape)
    return out


def _forward_operands(arch, rows, l, rng):
    """Random x (rows, k) and W (k, n) of layer l's forward product, and room for its out (rows, n)."""
    k, n = arch.layers[l], arch.layers[l + 1]
    return _random(rng, (rows, k), arch.dtype), _random(rng, (k, n), arch.dtype), buffers.empty((rows, n), arch.dtype)


def _timed(arch, rows, l, rng, batch=None, threads=None):
    """Layer l's forward product at ``rows`` rows on random values, by ``matmul`` and by the BLAS:
    (own seconds, BLAS seconds) (:func:`_best_of`). With a ``batch`` (the first layer's inputs: x), the own
    product over its nonzero inputs (``matmul_sparse``; unless ``threads`` is None, both cut over them as the
    training's first layer is: ``kernels.split.forward_product``)."""
    x, W, out = _forward_operands(arch, rows, l, rng)
    x, room = _sparse_operands(x, batch, W.shape[1])
    partial = None if threads is None else buffers.empty(out.size, out.dtype)
    return _best_of(lambda way, reps: K.repeat_product(out, x, W, way, reps, room, threads, partial),
                    x.size * W.shape[1])


def _sparse_operands(x, batch, n):
    """(x, room) for timing a product of a layer of n outputs on the random x, or, with a ``batch`` of real inputs,
    on that batch with the room for the own products' lists and grouped rows (``kernels.groups.grouped_room``)."""
    if batch is None:
        return x, None
    room = np.empty(grouped_room(*batch.shape, n, x.itemsize), np.int32)
    return buffers.copy(batch.astype(x.dtype, copy=False)), room


def _dx_timed(arch, rows, l, rng):
    """Layer l's dx = dz @ W.T at ``rows`` rows on random values, by ``matmul_t`` and by the BLAS:
    (own seconds, BLAS seconds) (:func:`_best_of`)."""
    k, n = arch.layers[l], arch.layers[l + 1]
    dz, W = _random(rng, (rows, n), arch.dtype), _random(rng, (k, n), arch.dtype)
    dx, wt = buffers.empty((rows, k), arch.dtype), buffers.empty(k * n, arch.dtype)
    return _best_of(lambda way, reps: K.repeat_dx(dx, dz, W, wt, way, reps), rows * k * n)


def _dw_timed(arch, rows, l, rng, batch=None):
    """Layer l's weight product x.T @ dz (into W, beta 1, as plain SGD's) at ``rows`` rows on random
    values, by ``matmul_tn`` and by the BLAS: (own seconds, BLAS seconds) (:func:`_best_of`); with a
    ``batch``, x is that batch and the own product is over its nonzero inputs (``matmul_tn_sparse``)."""
    k, n = arch.layers[l], arch.layers[l + 1]
    x, dz = _random(rng, (rows, k), arch.dtype), _random(rng, (rows, n), arch.dtype)
    out = buffers.zeros((k, n), arch.dtype)
    x, room = _sparse_operands(x, batch, n)
    return _best_of(lambda way, reps: K.repeat_dw(out, x, dz, way, reps, room), rows * k * n)


def _faster(own_s, blas_s):
    """Whether fastmlp's own product ran faster than the BLAS by ``MARGIN``."""
    return own_s * (1 + MARGIN) < blas_s


def _measure(arch, rows, batch=None):
    forward, dx, dw = eligible(arch, rows), dx_eligible(arch, rows), dw_eligible(arch, rows)
    if not forward and not dx and not dw:
        return None
    own = np.zeros(len(arch.layers) - 1, np.int64)
    rng = np.random.default_rng(0)
    for l in forward:
        if _faster(*_timed(arch, rows, l, rng, batch if l == 0 else None)):
            own[l] |= OWN_FORWARD
    for l in dx:
        if _faster(*_dx_timed(arch, rows, l, rng)):
            own[l] |= OWN_DX
    for l in dw:
        if _faster(*_dw_timed(arch, rows, l, rng, batch if l == 0 else None)):
            own[l] |= OWN_DW
    if batch is not None and own[0] & (OWN_FORWARD | OWN_DW):
        own[0] |= OWN_SPARSE
    return own if own.any() else None


def tiles_eligible(arch, rows):
    """Whether a training's first layer could take AMX tiles for its forward product in a process of several
    threads (``kernels.split.forward_by_tiles``): float32, a product the BLAS would take (``eligible``), and this
    process may run the tiles (``tiles.available``, asked of Linux here the first time)."""
    return np.dtype(arch.dtype) == np.float32 and 0 in eligible(arch, rows) and tiles.available()


def _measure_cut(arch, rows, batch, tiles=True):
    """``Net.own`` in a process of several threads, from the first layer's forward product cut over all of Numba's
    threads, timed three ways as the training that takes it runs (``kernels.split``'s cut kernels): by the BLAS, one
    thread a piece; by ``matmul_sparse_cut`` over the batch's nonzero inputs, where the inputs have zeros
    (``OWN_FORWARD | OWN_SPARSE``); with ``tiles``, on AMX tiles where ``tiles_eligible`` (``OWN_TILES``: W packed
    again at every step, then each thread its rows). The fastest way is taken where it beat the BLAS (and the tiles
    the best other way) by ``MARGIN``; None when the BLAS is kept everywhere. Then (where the first layer's choice is
    made at all: it could go to ``matmul``, and its inputs have zeros or the tiles may run) each hidden layer's
    forward product that could go to ``matmul`` (``eligible``), by ``matmul`` on the calling thread against the BLAS
    as the cut kernel runs it (its pieces along the columns over the threads when large, else one call:
    :func:`_hidden_timed`), ``OWN_FORWARD`` where faster by ``MARGIN``: a product that small gains less from a second
    thread than the region costs (the fashion net's 64x256x128 at batch 64, Intel Xeon model 207 with AMX: 17.2 us on
    one thread against 21-28 us cut over two; fashion-b64 195-199k -> 204-205k samples/s, three fresh processes each,
    alternated). The other products stay the BLAS's (or ``kernels.split``'s pieces), cut over the threads: the first
    layer's dW product over nonzero inputs cut by columns measured slower than the BLAS on two threads (64x784x256 on
    Fashion-MNIST, Zen 4: 179.5 us against 141.0), and the backward's own products (``matmul_tn``, ``matmul_t``) are
    not compiled into a cut kernel (``kernels.network.own_weight_product``). The BLAS is timed on one thread, each
    product cut over all of Numba's threads (raised to all for the timing if asked first in a thread choice's piece
    on one). Beside the BLAS on its own two threads (plain SGD's products) the cut ran no faster than on one thread:
    the BLAS's second thread spins after its call on the core the cut's second piece needs (Fashion-MNIST,
    64x784x256: 193 us against 144); so the timing first waits out that spin (``blas_spin.spin_seconds``): timed
    within it (OpenBLAS's default spin, after a call on its two threads), the fashion net's first-layer weight
    product by the BLAS's pieces took 160 us against 85, the product on AMX tiles was taken for it
    (``OWN_DW_TILES``), and fashion-b64 trained 2.7% slower by that choice."""
    tiles = tiles and tiles_eligible(arch, rows)
    if 0 not in eligible(arch, rows) or (batch is None and not tiles):
        return None
    threads = numba.config.NUMBA_NUM_THREADS
    before = numba.get_num_threads()
    rng = np.random.default_rng(0)
    flags, best = 0, np.inf
    with contextlib.nullcontext() if _timing_off() else thread_choice.blas_limited():  # (process-wide)
        numba.set_num_threads(threads)  # (this thread's)
        try:
            if not _timing_off():  # the BLAS's own threads, busy until now in most trainings, asleep first
                time.sleep(blas_spin.spin_seconds())
            if batch is not None:
                own_s, best = _timed(arch, rows, 0, rng, batch, threads)
                if _faster(own_s, best):
                    flags, best = OWN_FORWARD | OWN_SPARSE, own_s
            if tiles:
                tiles_s, blas_s = _tiles_cut_timed(arch, rows, rng, batch, threads)
                if _faster(tiles_s, min(best, blas_s)):
                    flags = OWN_TILES
                tiles_s, blas_s = _weight_tiles_timed(arch, rows, rng, batch, threads)
                if _faster(tiles_s, blas_s):
                    flags |= OWN_DW_TILES
            own = np.zeros(len(arch.layers) - 1, np.int64)
            own[0] = flags
            for l in eligible(arch, rows):
                if l > 0 and _faster(*_hidden_timed(arch, rows, l, rng, threads)):
                    own[l] = OWN_FORWARD
        finally:
            numba.set_num_threads(before)
    return own if own.any() else None


def _hidden_timed(arch, rows, l, rng, threads):
    """Hidden layer l's forward product at ``rows`` rows on random values, by ``matmul`` on the calling thread and by
    the BLAS as a training cut over ``threads`` threads runs it (``kernels.split.forward_product`` without a cut along
    k: along the columns, one thread a piece, when large, else one call): (own seconds, BLAS seconds)
    (:func:`_best_of`). The first layer's timing kernel serves (an empty room: ``matmul``; an empty scratch: no cut
    along k)."""
    x, W, out = _forward_operands(arch, rows, l, rng)
    room, partial = np.empty(0, np.int32), buffers.empty(0, out.dtype)
    return _best_of(lambda way, reps: K.repeat_product(out, x, W, way, reps, room, threads, partial),
                    x.size * W.shape[1])


def tiles_room(arch, own, threads, rows):
    """uint16 elements of a training's ``Workspace.tiles`` for its first layer's products on AMX tiles as ``own``
    (``Net.own``) flags them, over up to ``threads`` threads at ``rows`` rows a batch: with ``OWN_TILES``, the
    forward's (``kernels.split.forward_by_tiles``: the packed W, then a room for each thread's packed rows), then
    with ``OWN_DW_TILES`` the weight product's operands (``kernels.split.weight_step_by_tiles``)."""
    flags = 0 if own is None else own[0]
    if not flags & (OWN_TILES | OWN_DW_TILES):
        return 0  # (no call of a compiled size: a warm start would load Numba's compiler set-up for it)
    k, n = arch.layers[0], arch.layers[1]
    size, room = K_tiles.tiles_sizes(k, n)
    return ((size + threads * room if flags & OWN_TILES else 0)
            + (sum(K_tiles.weight_sizes(rows, k, n)) if flags & OWN_DW_TILES else 0))


def _first_layer_operands(arch, rows, rng, batch):
    """The first layer's x (``rows`` rows: the ``batch`` of the training's inputs, or random values), W and out, for
    timing a cut training's first-layer products (:func:`_tiles_cut_timed`, :func:`_weight_tiles_timed`)."""
    x, W, out = _forward_operands(arch, rows, 0, rng)
    if batch is not None:
        x = buffers.copy(batch.astype(x.dtype, copy=False))
    return x, W, out


def _tiles_cut_timed(arch, rows, rng, batch, threads):
    """The first layer's forward product at ``rows`` rows (on the ``batch`` of the training's inputs, or random
    values), on AMX tiles cut over ``threads`` threads, W packed on the way (``kernels.split.forward_by_tiles``),
    and by the BLAS cut as the training's is (``kernels.split.forward_product``): (tiles seconds, BLAS seconds)
    (:func:`_best_of`)."""
    x, W, out = _first_layer_operands(arch, rows, rng, batch)
    room = buffers.zeros(tiles_room(arch, [OWN_TILES], threads, rows), np.uint16)
    partial = buffers.empty(out.size, out.dtype)
    return _best_of(lambda way, reps: K.repeat_tile_forward(out, x, W, room, threads, reps) if way
                    else K.repeat_product(out, x, W, False, reps, None, threads, partial), x.size * W.shape[1])


def _weight_tiles_timed(arch, rows, rng, batch, threads):
    """The first layer's weight product dW = x.T @ dz at ``rows`` rows (x the ``batch`` of the training's inputs, or
    random values; dz random), on AMX tiles cut over ``threads`` threads, its operands packed on the way
    (``kernels.split.weight_step_by_tiles``), and by the BLAS cut as ``kernels.split.split_step`` cuts it: (tiles
    seconds, BLAS seconds) (:func:`_best_of`)."""
    x, W, out = _first_layer_operands(arch, rows, rng, batch)
    dz = _random(rng, out.shape, out.dtype)
    room = buffers.zeros(tiles_room(arch, [OWN_DW_TILES], threads, rows), np.uint16)
    return _best_of(lambda way, reps: K.repeat_weight_product(W, x, dz, room if way else room[:0], threads, reps),
                    x.size * W.shape[1])


# -- inference by blocks (kernels.inference.screened_blocks) ------------------------------------------

BLOCK_ROWS = 96  # about this many rows per block of a large inference call; the rows the products are timed at
SMALL_BLOCK_ROWS = 64  # about this many per block of calls under BLOCKS_LARGE rows (``block_rows``)
BLOCKS_LARGE = 1024
BLOCKS_FROM = 96  # the fewest rows a call takes by blocks
LOOP_SHARE = 0.05  # the most of a row's multiply-adds that layers too narrow for matmul may hold
# The fewest multiply-adds a row of the network takes for inference by blocks: below, whole layers. The blocks' kernels
# (``screened_blocks`` and the products it times them by) took about 18 s to compile in the demo, once per machine
# (Intel Xeon model 207: its compile self time 64.5 -> 45.7 s), and on so small a network a call gains milliseconds
# by them (2-64-64-3, 4,416 a row: 40,000 rows 2.7 ms by blocks, 4.6 by whole layers; the fashion net, 242,304 a
# row: 77 against 92): the demo's spirals compiled them for their decision boundary (a newcomer's first demo 74.9 ->
# 55.9 s, its "circles and spirals trained" 26.1 -> 7.7 s).
BLOCKS_MIN_WORK = 8192
# Blocks are taken unless matmul ran slower than the BLAS by more than this fraction: they gained 20-30% by
# their structure on the fashion net, where the two products at 96 rows about tie (matmul ÷ BLAS over its
# three layers 0.85-1.04 in 20 processes on AMD EPYC Zen 5, each timing after an untimed round of each way;
# with one warm-up call instead of a round, a process's first timings ran matmul up to 1.6x slower, and with
# a 5% margin some processes predicted by whole layers).
BLOCKS_MARGIN = 0.15
BLOCKS_TRIES = 3  # measurements before inference by blocks is given up (``_measure_blocks``)
# A call takes the AMX tiles chosen for its layers where the products' time they save pays for the pass over the
# weights the call makes first (``kernels.inference.refresh_tiles``, on one thread; counted for every call, though a
# call skips it where the model can tell the weights unchanged, ``fastmlp.aliases``: which layers take the tiles, and
# so a call's rounding, does not depend on whether an array over the weights is alive) TILES_MARGIN times over
# (``takes_tiles``). The time saved is modelled from the products timed at ``BLOCK_ROWS`` rows, per row, and the
# pass is timed too (``_with_tiles``): each block of the call pays on tiles for its rows rounded up to whole blocks
# of the tile product's (``kernels.tiles.ROWS``: 32), and the blocks share the pool's threads. A threshold in rows
# instead (the time saved per row at 96 rows against the pass, three times over) took 160-row calls to the tiles or
# 256-row calls off them, by the process. Calls on the Xeon model 167 (fashion net, 2026-12-05; rows/s on tiles
# against without, the best of 3 processes; the other core busy, then idle):
#   128 rows (2 blocks of 64)  314k / 312k;                   160 rows (4 of 40, each paying for 64)  243k / 320k;
#   192 rows (4 of 48, for 64) 293k / 300k,  idle 589k / 627k; 224 rows (4 of 56, for 64)  337k / 324k, 673k / 635k;
#   256 rows (4 of 64)         388k / 304k;                   320 rows (6 of 54, for 64)  356k / 333k, 692k / 655k.
# The products timed alone saved 0.79-0.98 us a row there (13 processes), the pass took 77-81 us: the model counts
# 224 rows a saving of 66-85 us a thread, where the calls gained, and 192 rows 31-45 us, where they did not. It
# understates a call's gain (counted as shared over the threads even where the thread choice runs a call on one, and
# the pass is timed after its weights left the cache), hence a margin under 1. Whether a call takes the tiles, which
# rounds otherwise, depends on its rows and the pool only, not on the way a timing gave the call.
TILES_MARGIN = 0.8
EVICT_BYTES = 8 << 20  # data through the cache before each timing of that pass (``_refresh_seconds``)
REFRESH_TIMINGS = 7


def block_rows(rows, threads):
    """Rows per block of an inference kernel call of ``rows`` rows by blocks over ``threads`` threads:
    about ``BLOCK_ROWS`` (``SMALL_BLOCK_ROWS`` under ``BLOCKS_LARGE`` rows), the blocks as many as
    ``threads`` or a multiple of it, all of one size but the last (a few rows shorter): no thread is
    left with a block more than another, or a short block to wait for. Measured on the fashion net
    (Zen 5, two threads, 40 alternated rounds, best and median): 200 rows 570/549k rows/s in blocks of
    48 (4 blocks and 8 rows) against 735/697k in 4 of 50; 256 rows 744/693k and 691/590k in blocks of
    48 against 828/770k and 716/651k in 4 of 64; a chunk of 1808 rows 794/769k in 96 against 808/781k
    in 20 of 91. The size depends on the thread count of the calling thread's pool, not on the way
    the thread choice takes: a row's output is the same on one thread or several (bit for bit)."""
    target = BLOCK_ROWS if rows >= BLOCKS_LARGE else SMALL_BLOCK_ROWS
    blocks = -(-rows // target)
    if blocks > threads:
        blocks = threads * -(-blocks // threads)
    return -(-rows // blocks)


def most_blocks(rows, threads):
    """The most blocks an inference kernel call of up to ``rows`` rows takes over up to ``threads``
    threads (:func:`block_rows`): the size of its per-block counts."""
    return -(-rows // min(BLOCK_ROWS, SMALL_BLOCK_ROWS)) + threads


def blocks_possible(arch):
    """``Net.own`` for inference by blocks if it can be taken at all (float32 on a CPU where
    ``matmul`` is offered, a network of ``BLOCKS_MIN_WORK`` multiply-adds a row or more: the layers whose width fits
    it; the others, by loops, hold at most ``LOOP_SHARE`` of the multiply-adds), else None. Nothing measured: see
    :func:`inference_own`."""
    itemsize = np.dtype(arch.dtype).itemsize
    pairs = list(zip(arch.layers[:-1], arch.layers[1:]))
    own = np.array([fits(n, itemsize) for _, n in pairs], np.int64)
    work = sum(k * n for k, n in pairs)
    loops = sum(k * n for (k, n), o in zip(pairs, own) if not o)
    if not own.any() or work < BLOCKS_MIN_WORK or loops > LOOP_SHARE * work:
        return None
    return own


# What a call's choice of the tiles weighs (``takes_tiles``), in seconds: the pass over the weights of the layers on
# tiles, and a row's products of those layers by ``matmul`` and on the tiles.
TilesCosts = namedtuple("TilesCosts", ["refresh", "matmul_row", "tiles_row"])
_tiles_costs = {}  # the inference key (``_key``) -> its ``TilesCosts``, when a layer took the tiles (``_with_tiles``)


def _key(arch):
    return _named_key(arch.layers, arch.dtype)


@functools.lru_cache(maxsize=None)
def _named_key(layers, dtype):
    """(``_key``: read at every inference call by blocks, and a dtype's name takes NumPy 1.7 us to make.)"""
    return ("inference", layers, np.dtype(dtype).name)  # layers: ``Architecture.layers``, a tuple (hashed above)


def inference_own(arch):
    """``Net.own`` for inference calls by blocks (``kernels.inference.screened_blocks``), or None
    when they go by whole-layer products as before. The blocks gain by their structure (no thread
    waits for another between layers, a block's layers stay in its core's cache: 20-30% on the
    fashion net), as long as each block's products run about as fast on one thread as the BLAS's
    would: so they are taken where :func:`blocks_possible` and ``matmul`` over those layers'
    products at ``BLOCK_ROWS`` rows measured no slower than the BLAS on one thread by ``BLOCKS_MARGIN``
    (timed once per network shape and dtype in the process, as in :func:`own_products`). Not in the
    deterministic mode."""
    if thread_choice.is_deterministic():
        return None
    key = _key(arch)
    with _lock:
        if key not in _chosen:
            _chosen[key] = _measure_blocks(arch)
        return _chosen[key]


def _measure_blocks(arch):
    """``Net.own`` if ``matmul`` is no slower than the BLAS by ``BLOCKS_MARGIN`` over the layers that
    fit (each layer's best timings of each way, summed), else None. A verdict against the blocks is
    measured again, up to ``BLOCKS_TRIES`` times in all, each layer's best over every try: traced this
    way, one process of about a dozen chose whole layers after a single try (its first timings in a
    slow spell of the VM), where the blocks run 20-30% faster."""
    own = blocks_possible(arch)
    if own is None:
        return None
    rng = np.random.default_rng(0)
    best = {int(l): (np.inf, np.inf) for l in np.flatnonzero(own)}
    with thread_choice.blas_limited():
        for _ in range(BLOCKS_TRIES):
            for l, (o, b) in best.items():
                o2, b2 = _timed(arch, BLOCK_ROWS, l, rng)
                best[l] = (min(o, o2), min(b, b2))
            if sum(o for o, _ in best.values()) < (1 + BLOCKS_MARGIN) * sum(b for _, b in best.values()):
                return _with_tiles(arch, own, rng)  # (``OWN_SPARSE`` is timed on a call's rows: ``inference_sparse``)
    return None


# The rows of a call that time its layers' products over nonzero inputs (``inference_sparse``): two blocks' worth,
# spread evenly over the call (the fashion net: 32 timings of about 1 ms on one thread with AVX2, each way's best
# compared; with 4 blocks and 9 timings after the untimed round, 40 of 2 ms: a first call 100 -> 190 ms).
SPARSE_ROWS = 2 * BLOCK_ROWS
SPARSE_TIMINGS = 7  # timings of each way after an untimed round, alternated; the best of each is compared
# A layer sums over nonzero inputs when a call with it summing so ran faster than with none by this fraction of the
# whole call (a hidden layer is a small part of it: its gain is small, and so is what a wrong choice costs)
SPARSE_MARGIN = 0.01


def inference_sparse(arch, own, X, run):
    """``own`` (``Net.own`` of inference by blocks, no layer on the tiles: ``inference_own`` without ``OWN_TILES``)
    with ``OWN_SPARSE`` on each layer that made a call faster summing over each block's nonzero inputs, by
    ``SPARSE_MARGIN`` of the call: ``run(x, flags)`` runs a call by blocks of ``BLOCK_ROWS`` rows on one thread on rows
    x with ``Net.own`` ``flags`` (the numba backend: the model's weights), timed on up to ``SPARSE_ROWS`` of the rows
    X of the call that asks (:func:`sparse_sample`) with ``own`` and with each such layer flagged alone
    (:func:`_measure_sparse`). Once per network shape and dtype in the process, on the rows of the first call that
    asks: whether they sum so depends on the zeros of a call's inputs (a first layer's, where a call's rows have none,
    never pays) and of the layers' outputs, and on the CPU (the listed loop's cost per position it keeps). Which layers
    sum so changes how their sums pair, not what they add (``kernels.matmul``)."""
    key = ("inference-sparse",) + _key(arch)[1:]
    with _lock:
        if key not in _chosen:
            x = sparse_sample(X)
            _chosen[key] = _measure_sparse(own, lambda flags: run(x, flags))
        return _chosen[key]


def _measure_sparse(own, run):
    """``inference_sparse``'s measurement: the best of ``SPARSE_TIMINGS`` timings of each way (``own``, and ``own``
    with ``OWN_SPARSE`` on one layer of those with ``OWN_FORWARD``), alternated, after an untimed round of each."""
    ways = {None: own}
    for l in np.flatnonzero(own & OWN_FORWARD):
        ways[int(l)] = own.copy()
        ways[int(l)][l] |= OWN_SPARSE
    best = _alternated_best(lambda way: run(ways[way]), list(ways), SPARSE_TIMINGS)
    chosen = own.copy()
    for way in ways:
        if way is not None and best[way] < (1 - SPARSE_MARGIN) * best[None]:
            chosen[way] |= OWN_SPARSE
    return chosen


def sparse_sample(X):
    """Up to ``SPARSE_ROWS`` rows of a call's X spread evenly over it, aligned and C-contiguous
    (:func:`inference_sparse` times them)."""
    return buffers.copy(X[np.linspace(0, X.shape[0] - 1, min(X.shape[0], SPARSE_ROWS)).astype(np.int64)])


def _tiles_timed(arch, rows, l, rng):
    """Layer l's forward product at ``rows`` rows on random values, on AMX tiles (its rows packed on the
    way, its weights before) and by ``matmul``: (tiles seconds, matmul seconds) (:func:`_best_of`)."""
    x, W, out = _forward_operands(arch, rows, l, rng)
    packed = buffers.zeros(K_tiles.packed_size(*W.shape), np.uint16)
    rows_buf = buffers.zeros(K_tiles.rows_size(W.shape[0]), np.uint16)
    K_tiles.pack_weights(packed, W)
    return _best_of(lambda way, reps: K_tiles.repeat_tile_product(out, x, packed, rows_buf, reps) if way
                    else K.repeat_product(out, x, W, True, reps), x.size * W.shape[1])


def _with_tiles(arch, own, rng):
    """``own`` with ``OWN_TILES`` added on each of its layers whose product measured faster on AMX tiles than
    by ``matmul`` by ``MARGIN`` (float32, where ``tiles.available``), and what a call's choice of them weighs
    recorded (:func:`takes_tiles`): those layers' products per row both ways, and the pass over their weights
    timed on this network (``_refresh_seconds``)."""
    if np.dtype(arch.dtype) != np.float32 or not tiles.available():
        return own
    own, matmul_row, tiles_row = own.copy(), 0.0, 0.0
    for l in np.flatnonzero(own):
        tiles_s, matmul_s = _tiles_timed(arch, BLOCK_ROWS, l, rng)
        if _faster(tiles_s, matmul_s):
            own[l] |= OWN_TILES
            timed_rows = _reps(BLOCK_ROWS * arch.layers[l] * arch.layers[l + 1]) * BLOCK_ROWS  # in all the products
            matmul_row += matmul_s / timed_rows
            tiles_row += tiles_s / timed_rows
    if tiles_row > 0:
        _tiles_costs[_key(arch)] = TilesCosts(_refresh_seconds(arch, own), matmul_row, tiles_row)
    return own


def _tile_rows(rows):
    """The rows a block of ``rows`` rows pays for on the tiles: whole blocks of the tile product's."""
    return -(-rows // K_tiles.ROWS) * K_tiles.ROWS


def takes_tiles(arch, rows, threads):
    """Whether an inference call of ``rows`` rows by blocks, its pool of ``threads`` threads, takes the AMX tiles
    ``inference_own`` chose for its layers (measured with them, :func:`_with_tiles`): when the time its blocks'
    products save on them, each block padded to whole blocks of the tile product's rows and the blocks shared over
    the threads (:func:`block_rows`), is ``TILES_MARGIN`` times the pass over the weights the call makes first."""
    costs = _tiles_costs.get(_key(arch))
    if costs is None or rows < BLOCKS_FROM:
        return False
    size = block_rows(rows, threads)
    full, last = divmod(rows, size)
    saved = rows * costs.matmul_row - (full * _tile_rows(size) + _tile_rows(last)) * costs.tiles_row
    return saved / min(threads, full + (last > 0)) >= TILES_MARGIN * costs.refresh


def _refresh_seconds(arch, own):
    """The best of ``REFRESH_TIMINGS`` of a call's passes over the weights of the layers ``own`` puts on tiles,
    unchanged since packed (``kernels.inference.refresh_tiles``), on one thread, on random weights of ``arch``,
    each after ``EVICT_BYTES`` of other data went through the cache, as a call's products do (from the cache the
    pass measured 12-20 us on the fashion net on Zen 5 and 42 us on the Xeon, in calls 80-145 us). The best, as
    the products it is weighed against are timed (:func:`_best_of`): by the median, a slow spell of the VM during
    the timings raised the threshold it sets (the Xeon, the other core busy, 8 fresh processes: the pass's median
    80-105 us and the threshold in rows it then set 160-313, against the best's 78-81 us and 163-257 rows)."""
    work = tiles.work(arch, own)
    params = buffers.empty(arch.n_params, arch.dtype)
    params[:] = np.random.default_rng(0).standard_normal(arch.n_params)
    other = np.zeros(EVICT_BYTES // 8)
    net = arch.net._replace(own=own)
    K.refresh_tiles(work, params, net)  # packs (and compiles, or loads)
    seconds = []
    with thread_choice.one_thread():  # as a call on a busy machine makes it
        for _ in range(REFRESH_TIMINGS):
            other += 1.0
            t0 = time.perf_counter()
            K.refresh_tiles(work, params, net)
            seconds.append(time.perf_counter() - t0)
    return float(np.min(seconds))
