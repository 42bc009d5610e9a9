"""The ``numba`` backend: the compiled kernels of ``fastmlp.kernels`` over buffers it owns.

This is the single validating, owning wrapper around the kernels (stumpy's pattern: a
private kernel never validates; its public twin checks, then calls it). It owns:

- the runtime: Numba's thread pool is started at the first kernel call, not at import
  (:func:`start_runtime`);
- the buffers: inference and single-batch calls use scratch owned by the calling thread,
  so one model can serve many threads at once; training buffers (workspace, batch rows,
  gradient, online scratch) are allocated at the first epoch of a fit and reused, never
  per batch;
- the lock (``BackendBase``): one fit at a time per model, a second thread's fit refused;
- the choice of epoch kernel (``epoch_kernel``): 'online' (batch size 1: the first layer
  transposed for the epoch, its update fused with the next sample's product; plain SGD, or
  any optimizer, weight decay and decoupled weight decay included, without penalties or
  clipping), 'fused' (plain SGD fused into the backward pass), 'generic' (any optimizer,
  penalties and clipping, each layer's update fused into the backward pass, or after the
  whole backward with a global-norm clip; the only one with dropout); 'auto' picks the first
  that applies (plain SGD: no momentum, weight decay, penalty or clipping; 'online' trains
  unweighted data only), and for plain SGD on several threads, once its cut 'generic' kernel is
  ready in the process, that one (``NumbaBackend._plain_cut_after``; 'fused' on one thread);
- what each epoch kernel compiles: the loss (and whether the data is weighted), the activations
  the layers use, the optimizer,
  whether penalties or clipping are on, passed as static choices (``kernels.static``), so a
  training compiles only the code it runs (:func:`training_net`, :func:`update_choice`);
- getting ready: :meth:`NumbaBackend.prepare` compiles (first run) or loads the epoch
  kernel a training needs before its first batch, so that the trainer can say so;
- the thread count of training: each epoch call is timed, and run on all threads or on one,
  whichever trains faster now (:mod:`fastmlp.backends.thread_choice`), unless the user fixed
  the count; inference calls on more than a few rows choose the BLAS's threads the same way,
  each calling thread for itself (:meth:`NumbaBackend.inference_choice`); and whose threads run
  the products: the BLAS's, or, for every optimizer but plain
  SGD on large products, Numba's, each product and update cut into one piece per thread with
  the BLAS on one thread for the call (:func:`split_parts`, ``kernels.split``). That cut kernel is
  prepared by a thread once the training has run ``CUT_AFTER_S`` on either way (the pieces run
  meanwhile, beside that thread, run on one thread and are not timed), and when it is ready, the thread choice is told
  (``ThreadChoice.kernel_changed``: all threads ran uncut until then);
- on one core, which layers' products go to the kernels' own register-blocked product (``kernels.matmul``)
  instead of the BLAS, measured per layer (:mod:`fastmlp.backends.products`) and passed to the epoch kernels as
  ``Net.own``; on several threads, a cut training's first layer over its inputs' nonzeros, measured as its cut
  kernel is prepared. Either way, where that choice was not made before (a machine's first such training), nothing
  of it happens before the first batch: its timing kernels compile in a thread once the training has run a second,
  the choice is timed between two calls, and the training runs on the BLAS's products until the kernels that take
  the choice are ready (``NumbaBackend._uncut_own``, ``_own``, ``_cut_kernel_ready``).
"""
import contextlib
import copy
import ctypes
import importlib.metadata
import os
import sys
import threading
import time

import numba
import numpy as np

from .. import blas_spin, buffers
from .. import kernels as K
from ..kernels import intrinsics
from ..kernels.static import Static
from ..kernels.config import BLAS_MIN_ROWS_DX, BLAS_MIN_WORK
from ..kernels.groups import grouped_room
from ..kernels.matmul import sparse_room
from ..kernels.structs import (A_OFF, CORRECT, EPOCH_RESULT, LOSS_SUM, N_IN, N_OUT, OWN_DX, OWN_SPARSE, OWN_TILES,
                               WEIGHT_SUM, ActChoice, Batching, DropoutWork, LossChoice, OnlineScratch, Samples,
                               UpdateChoice, Workspace)
from ..progress import so_far
from . import products, thread_choice, tiles
from .products import known_choice, own_known, own_products, tiles_eligible, tiles_room
from .base import BackendBase, EpochResult, no_weights, weighted_total

EPOCH_KERNELS = ("auto", "online", "fused", "generic")
ONLINE_REFUSES = ("l2", "l1", "clip_value", "clip_norm")  # what the 'online' kernel does not implement

_runtime_lock = threading.Lock()
_guard = None  # what every kernel call holds: set by start_runtime
_lock = None  # the same, or None when there is no lock to hold (thread-safe layers)
_prepared = set()  # (epoch kernel, dtype, real targets?) whose code this process has compiled or loaded
_cut_lock = threading.Lock()
_cut_ready = set()  # prepare keys whose cut epoch kernel (Net.parts, kernels.split) is compiled or loaded here
_cut_compiling = {}  # prepare key -> the thread compiling (or loading) it now (``_compile_in_thread``)
_cut_failed = {}  # prepare key -> the exception its compile raised: that training is never cut
# prepare keys whose uncut calls take their products' choice (``Net.own``): their kernel with it compiled or loaded,
# by the preparation where the choice was made before, else by the thread that prepares the cut kernel
_own_ready = set()
# prepare keys whose kernel with a products' choice, in a process of one thread, a thread has compiled or loaded for
# a training begun before the choice was made (``NumbaBackend._uncut_own``)
_own_one_ready = set()
# A training's cut kernel is prepared once it has trained this long uncut in this process (its first epoch call,
# which compiles or loads the uncut kernel, not counted): a short fit never pays for a compile it would not use.
CUT_AFTER_S = 1.0
# ... unless its cut kernel would load rather than compile (compiled before: in this process, or in the kernels' disk
# cache, ``intrinsics.cached``): it is then prepared from its first call (a load, 40-80 ms, in the thread)
CUT_AT_ONCE_WHEN_CACHED = True
_cut_not_cached = set()  # (prepare key, layers, batch rows) of trainings whose cut kernel was not: asked once
_uncut_seconds = {}  # prepare key -> seconds trained uncut after its first call (absent before that call)
_fused_seconds = {}  # (layers, rows, dtype name) -> seconds plain SGD trained by 'fused' before the tiles' choice
# was asked (``NumbaBackend._plain_tiles_after``), None once it was
# Plain SGD trainings (``_plain_cut_key``) whose cut kernel ('generic' over Numba's threads) is ready in this process:
# 'auto' then trains their pieces on several threads by it and their pieces on one thread by 'fused'
# (``NumbaBackend._plain_cut_after``).
_plain_cut = set()


def _cache_misses(functions):
    """How many specialisations of these compiled ``functions`` this process compiled (not loaded) so far."""
    return sum(sum(f.stats.cache_misses.values()) for f in functions)


def _wait_for_cut_compiles():
    """Let the threads that compile cut kernels finish (before a fork: a child forked while one
    holds Numba's compiler lock would hang at its first compile)."""
    for thread in list(_cut_compiling.values()):
        thread.join()


if hasattr(os, "register_at_fork"):  # (a forked child has no exit notice's thread: its first compile starts one)
    os.register_at_fork(before=_wait_for_cut_compiles, after_in_child=lambda: _exit_notice.clear())


def compiling_aside():
    """For how many seconds the longest-running of the threads that compile kernels beside the trainings
    (:func:`_compile_in_thread`) has run, or 0.0 when none runs."""
    now = time.perf_counter()
    return max((now - t.compile_started for t in list(_cut_compiling.values()) if t.compile_started is not None),
               default=0.0)


# A compile thread still running when the main thread ends keeps the process until it is done (a compile cut short
# would leave nothing in the cache): said on stderr, once, when it runs this long after the main thread ended
EXIT_NOTICE_AFTER_S = 0.5
_exit_notice = []  # the thread that watches for the main thread's end, once started


def _notice_at_exit():
    """Start (once, with the first compile thread) a daemon thread that waits for the main thread to end, then, if
    compile threads still run ``EXIT_NOTICE_AFTER_S`` later, says on stderr what the process is waiting for."""
    if _exit_notice:
        return
    thread = threading.Thread(target=_tell_at_exit, name="fastmlp-exit-notice", daemon=True)
    _exit_notice.append(thread)
    thread.start()


def _tell_at_exit():
    threading.main_thread().join()  # returns as the interpreter begins to exit (before it joins the other threads)
    end = time.perf_counter() + EXIT_NOTICE_AFTER_S
    while _cut_compiling and time.perf_counter() < end:
        time.sleep(0.05)
    seconds = compiling_aside()
    if seconds > 0:
        _stderr_line(f"fastmlp: waiting for the kernels compiling in the background ({so_far(seconds)}) before "
                     "exiting: they are this machine's faster kernels for the shape trained, compiled once and loaded "
                     "from the cache by the next runs")


# A model's first inference or evaluation that takes this long (its kernels compiling, once per machine) says so on
# stderr, as a fit does before its first batch (``Trainer.fit``'s "preparing the kernels"): loaded from the cache they
# take milliseconds; compiled, seconds (the fashion net's first prediction 12.6 s, Intel Xeon model 207 with AMX)
COMPILE_NOTICE_AFTER_S = 2.0


@contextlib.contextmanager
def compile_notice(what):
    """Run the block; if it lasts ``COMPILE_NOTICE_AFTER_S``, say on stderr, then, that ``what`` (a model's first
    inference or evaluation) is compiling its kernels (or waiting for the kernels compiling in the background:
    :func:`compiling_aside`), and at its end how long it took."""
    start_runtime()  # first: its restart of NumPy's OpenBLAS (``blas_spin.shorten_loaded``) wants no other thread
    said, t0 = [], time.perf_counter()

    def say():
        aside = compiling_aside()
        wait = (f"waiting for the kernels compiling in the background ({so_far(aside)}), then "
                if aside > 0 else "")
        _stderr_line(f"fastmlp: {what}: {wait}compiling its kernels (once per machine, then loaded from the "
                     "cache)...")
        said.append(True)
    timer = threading.Timer(COMPILE_NOTICE_AFTER_S, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()  # (a notice being written is finished before the line that ends it)
    if said:  # (not after an exception)
        _stderr_line(f"fastmlp: {what}: ready in {time.perf_counter() - t0:.1f} s")


def _stderr_line(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _timing_compiled_or_started(key, arch, rows, X, cut=False, tiles=False):
    """Whether the kernels that time these products (``products.compile_timing``) are compiled or loaded in this
    process; if not, a thread compiles (or loads) them under the prepare key ``key`` (:func:`_compile_in_thread`),
    unless one does already or failed. The caller holds ``_cut_lock``."""
    if products.timing_compiled(arch, rows, X, cut, tiles=tiles):
        return True
    if key not in _cut_compiling and key not in _cut_failed:
        _compile_in_thread(key, "fastmlp-compile-products", (),
                           lambda: products.compile_timing(arch, rows, X, cut, tiles=tiles))
    return False


def _compile_in_thread(key, name, ready, work, loads=False):
    """Start a thread called ``name`` that runs ``work()`` (compiling or loading kernels of the training ``key``, a
    prepare key, by calls over no sample) while the training goes on: ``key`` is in ``_cut_compiling`` until then,
    and goes into each set of ``ready`` when it returned, or into ``_cut_failed`` when it raised (a bug, not the
    user's: that training is then never cut), in one step under ``_cut_lock``, which the caller holds. ``loads``:
    the work only loads from the cache (known where asked: ``intrinsics.cached``), not counted by
    :func:`compiling_aside`."""
    def run():
        error = RuntimeError("the compile did not finish")
        try:
            with start_runtime():
                work()
            error = None
        except Exception as e:
            error = e
        finally:  # compiling -> ready (or failed) in one step: under the lock, never in both
            with _cut_lock:
                if error is None:
                    for done in ready:
                        done.add(key)
                else:
                    _cut_failed[key] = error
                _cut_compiling.pop(key, None)
    thread = threading.Thread(target=run, name=name)
    # when it began (``time.perf_counter``); None for a load from the cache, 40-80 ms, which keeps nothing waiting
    thread.compile_started = None if loads else time.perf_counter()
    _cut_compiling[key] = thread
    _notice_at_exit()
    thread.start()


def _load_tbb():
    """Make the TBB library of the ``tbb`` wheel loadable, so that Numba picks its 'tbb' layer.

    TBB is the threading layer that is both thread-safe and fork-safe: under GNU OpenMP
    ('omp'), a process that ran a parallel kernel and then forks (a multiprocessing pool's
    default on Linux before Python 3.14) kills or hangs its children ("fork() called from a
    process already using GNU OpenMP"). The wheel puts ``libtbb.so.12`` in ``<prefix>/lib``,
    where the dynamic loader does not look, so it is loaded here by its path first; Numba's
    own lookup then finds it already loaded. Nothing happens when the system has TBB, when
    the wheel is absent, or when the user chose a layer (``NUMBA_THREADING_LAYER``).
    """
    if os.environ.get("NUMBA_THREADING_LAYER") or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libtbb.so.12")
        return  # the system's TBB
    except OSError:
        pass
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return
    for f in files:
        if f.name == "libtbb.so.12":
            with contextlib.suppress(OSError):
                ctypes.CDLL(str(f.locate()), mode=ctypes.RTLD_GLOBAL)
            return


def start_runtime():
    """Start Numba's thread pool once (before the first kernel) and return the guard that
    kernel calls hold: a lock under the 'workqueue' layer, which aborts when two threads run
    parallel code at once, and nothing under the thread-safe 'tbb' and 'omp' layers.
    The 'tbb' layer is preferred (Numba's own order) and made available (:func:`_load_tbb`):
    it is the one under which a forked child can run parallel kernels.

    libgomp reads ``OMP_WAIT_POLICY`` once, when the pool starts. PASSIVE stops its workers
    spinning after a parallel region while BLAS threads run (8 ms instead of 0.2 ms per step
    when they fight over two cores), so it is set for the start only, unless the user set it,
    then removed again: the user's child processes do not inherit it.

    SciPy's BLAS module, which Numba looks for before it loads or compiles any kernel, is
    loaded here by itself (``intrinsics.load_scipy_blas``): the rest of ``scipy.linalg``
    would take longer to import than all the cached kernels a training loads. Its OpenBLAS
    loads then, with a short spin for its idle threads, and NumPy's gets that spin now if NumPy
    was imported before fastmlp (``fastmlp.blas_spin``).
    """
    global _guard, _lock
    if _guard is not None:
        return _guard
    with _runtime_lock:
        if _guard is None:
            _load_tbb()
            with blas_spin.short_spin():  # SciPy's OpenBLAS loads here: its idle threads spin briefly too
                intrinsics.load_scipy_blas()  # Numba's BLAS without the rest of scipy.linalg (0.1 s)
            blas_spin.shorten_loaded()  # NumPy's, when NumPy was imported before fastmlp
            intrinsics.type_arrays_without_numpy_ma()  # kernel arguments typed without importing numpy.ma
            set_here = "OMP_WAIT_POLICY" not in os.environ
            if set_here:
                os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            try:
                intrinsics.launch_threads()
            finally:
                if set_here:
                    del os.environ["OMP_WAIT_POLICY"]
            layer = numba.threading_layer()
            _lock = threading.RLock() if layer == "workqueue" else None
            _guard = _lock or contextlib.nullcontext()
    return _guard


def kernel_view(a):
    """``a`` as the kernels take it: the array itself when writable, else a writable alias of
    the same memory (no copy).

    Numba types a read-only array (``np.load(mmap_mode='r')``, a frozen array) as another type,
    so every kernel would compile again for each combination of flags (8-10 s each), and the
    kernels that make views of it fail to compile. The kernels only read the data they are
    given (batches are gathered into the backend's own buffers), so an alias that Numba types
    as writable is safe: nothing the user passed is written to.
    """
    if a.flags.writeable or a.size == 0:
        return a if a.flags.writeable else np.zeros(a.shape, a.dtype)
    raw = (ctypes.c_char * a.nbytes).from_address(a.ctypes.data)
    alias = np.frombuffer(raw, a.dtype).reshape(a.shape)
    assert alias.flags.c_contiguous and alias.ctypes.data == a.ctypes.data
    return alias


def new_workspace(arch, rows):
    """Activation and delta buffers for up to ``rows`` samples, and the (loss, correct, weight) totals; no room
    for transposed weights (:meth:`_TrainingBuffers.make_room` gives a training what its ``Net.own`` needs)."""
    return Workspace(buffers.empty(rows * arch.width_sum, arch.dtype), buffers.empty(rows * arch.width_sum, arch.dtype),
                     np.zeros(3, np.float64), rows, np.empty(0, arch.dtype), np.empty(0, np.int32),
                     buffers.empty(0, np.uint16))


def new_dropout_buffers(arch, rows):
    """The dropout masks and the masked outputs for up to ``rows`` samples, laid out as the
    workspace's activations (``kernels.dropout``)."""
    return buffers.empty(rows * arch.width_sum, arch.dtype), buffers.empty(rows * arch.width_sum, arch.dtype)


def dropout_work(arch, dropout, bufs):
    """The kernels' ``DropoutWork`` for ``dropout`` (a ``fastmlp.dropout.Dropout``, or None:
    None) over the buffers ``bufs`` of :func:`new_dropout_buffers`."""
    if dropout is None:
        return None
    hidden = range(arch.n_layers - 1)
    cut = np.array([dropout.cut(l) for l in hidden] + [0], np.uint64)
    scale = np.array([dropout.scale(l) for l in hidden] + [1.0], arch.dtype)
    return DropoutWork(cut, scale, np.uint64(dropout.key), *bufs)


def blas_only(net, rows):
    """Whether a batch of ``rows`` rows makes only products that go to BLAS (``kernels.dense``):
    every layer's rows * n_in * n_out multiply-adds from BLAS_MIN_WORK on, and enough rows for dx."""
    return rows >= BLAS_MIN_ROWS_DX and all(rows * int(k) * int(n) >= BLAS_MIN_WORK
                                            for k, n in net.lay[:, [N_IN, N_OUT]])


def training_net(net, weighted, rows, parts=None, own=None, threads=None):
    """``net`` for the epoch kernels with batches of up to ``rows`` rows: its loss a static
    ``LossChoice`` (that loss only, weighted or not), its activations a static ``ActChoice`` (the
    ones its layers use only), ``loops`` None when the full batches make only BLAS-sized
    products (:func:`blas_only`): no loop code is compiled, a shorter last batch goes to BLAS too;
    ``parts`` (:func:`split_parts`), ``own`` (``products.own_products``) and ``threads`` (the call's thread count
    for ``kernels.matmul.matmul_sparse_cut``, or None: nothing of it compiled)."""
    return net._replace(loss=Static(LossChoice(int(net.loss), bool(weighted))),
                        acts=Static(ActChoice(tuple(sorted({int(k) for k in net.kinds})))),
                        loops=None if blas_only(net, rows) else True, parts=parts, own=own, threads=threads)


def scoring_net(net, weighted):
    """``net`` for ``kernels.evaluate`` and ``kernels.loss_and_grad`` on data ``weighted`` by samples or not: its loss
    a static ``LossChoice``, so that only that loss's body compiles (as in the epoch kernels), not every loss behind
    a test of its id: an evaluation's first compile 1.4 s instead of 4.5 (float32, the fashion net's shape, Intel
    Xeon model 207). The same numbers: the body is the one the id would have chosen."""
    return net._replace(loss=Static(LossChoice(int(net.loss), bool(weighted))))


def sparse_threads(own, parts):
    """``Net.threads`` of an epoch call with ``Net.own`` ``own`` and ``Net.parts`` ``parts``: the pieces the first
    layer's product over nonzero inputs is cut into (``kernels.matmul.matmul_sparse_cut``: as many as the call's
    other products, one when they are not cut) in a process of several threads; None on one thread or without own
    products (nothing of the cut compiled)."""
    return (parts or 1) if own is not None and numba.config.NUMBA_NUM_THREADS >= 2 else None


def split_parts(kernel, arch, rows):
    """``Net.parts`` of an epoch by ``kernel`` at ``rows`` samples per batch: Numba's thread count now
    when the epoch's large products and updates are cut over Numba's threads (``kernels.split``),
    else None (each product one call on the BLAS's threads; so too on one thread).

    They are for the 'generic' kernel (every optimizer but plain SGD: its update pass then runs on
    every thread, not on one beside the BLAS's spinning threads), when every product goes to BLAS
    and the largest is one the BLAS would thread, on a machine with several threads, outside the
    deterministic mode (whose BLAS runs on one thread: a cut product may round otherwise).
    The plain SGD kernels keep the BLAS's threads: their update rides inside the dW product.
    """
    if kernel != "generic" or not cut_possible(arch, rows):
        return None
    n = numba.get_num_threads()
    return n if n > 1 else None  # one thread (fixed, or the adaptive choice's one-thread way): nothing to cut


def cut_possible(arch, rows):
    """Whether a training at ``rows`` samples per batch can be cut over Numba's threads (``split_parts``, whatever
    the thread count of the moment): several threads, outside the deterministic mode, every product to BLAS
    and the largest one the BLAS would thread."""
    return (numba.config.NUMBA_NUM_THREADS >= 2 and not thread_choice.is_deterministic()
            and thread_choice.largest_product(arch.layers, rows) >= thread_choice.MIN_WORK
            and blas_only(arch.net, rows))


def _plain_cut_key(arch, rows, weighted):
    """The key of a plain SGD training in ``_plain_cut``: network, batch rows, dtype, sample weights."""
    return tuple(arch.layers), rows, np.dtype(arch.dtype).name, bool(weighted)


def plain_takes_tiles(arch, rows, X):
    """Whether plain SGD at ``rows`` samples per batch on the inputs X trains by the 'generic' kernel cut over
    Numba's threads, not by 'fused' (the BLAS's threads): where the training can be cut (:func:`cut_possible`)
    and its first layer's forward product, cut, measured faster on AMX tiles (``products.own_products``:
    ``OWN_TILES``). Beside the BLAS's spinning threads a product on Numba's threads would wait (``kernels.split``),
    so the tiles need the cut kernel, which trades the update fused into the dW product for an update pass. Only a
    choice made before (in this process or on this machine) counts here: a plain SGD training measures it once it
    has trained ``CUT_AFTER_S`` by 'fused' (``NumbaBackend._plain_tiles_after``), not before its first batch.
    Fashion net at batch 1,024 on Fashion-MNIST (Intel Xeon model 167, 2 vCPUs; ``fastmlp bench``, each way in
    fresh processes, three rounds alternated): 'fused' 191-198k samples/s, 'generic' cut with the tiles 204-221k
    (cut on the BLAS's pieces without them: 0.94x 'fused'). At batch 64 the tiles measured no faster than the
    product over nonzero inputs there (plain SGD takes its cut kernel there by ``NumbaBackend._plain_cut_after``)."""
    if X is None or not cut_possible(arch, rows):
        return False
    own = own_products(arch, rows, X, True, tiles=True, measure=False)
    return own is not None and bool(own[0] & OWN_TILES)


def online_trains(optimizer):
    """Whether the 'online' epoch kernel can train ``optimizer``: any optimizer without the
    penalties and clipping (l2, l1, clip_value, clip_norm), which it does not implement."""
    return not any(optimizer.hyper[k] for k in ONLINE_REFUSES)


def update_choice(hyper):
    """The static ``UpdateChoice`` of a kernel ``Hyper``: its optimizer, whether a penalty or value
    clipping is on, whether the gradient is clipped to a global norm, SGD's form (plain, momentum
    or Nesterov) and whether decoupled weight decay is on where it changes the compiled code: SGD with
    momentum, plain or Nesterov, only (``optimizers.velocity_fused``); every other update does it inside its
    element update, so AdamW shares Adam's kernel."""
    form = K.optimizers.PLAIN
    if int(hyper.kind) == K.SGD and hyper.momentum != 0:
        form = K.optimizers.NESTEROV if hyper.nesterov else K.optimizers.MOMENTUM
    decay = form != K.optimizers.PLAIN and hyper.decoupled_weight_decay != 0
    return UpdateChoice(int(hyper.kind), bool(hyper.l2 or hyper.l1 or hyper.clip_value), bool(hyper.clip_norm > 0),
                        form, bool(decay))


def new_batch_buffers(arch, rows):
    """Batch buffers (a ``Samples``) for up to ``rows`` rows of the training data."""
    return Samples(buffers.empty((rows, arch.n_in), arch.dtype), np.empty(rows, np.int64),
                   buffers.empty((rows, arch.n_out), arch.dtype), np.empty(rows, arch.dtype))


class _TrainingBuffers:
    """Everything an epoch kernel writes besides params and optimizer state, for batches of
    up to ``rows`` samples: allocated once per fit (the dropout buffers only with dropout)."""

    def __init__(self, arch, rows, online, dropout):
        """``online``: None, 'sgd' (the online kernel's scratch) or 'any' (with its optimizer state)."""
        self.rows = rows
        self.dropout = new_dropout_buffers(arch, rows) if dropout else None
        self.ws = new_workspace(arch, rows)
        self.batch = new_batch_buffers(arch, rows)
        self._ahead = self._no_ahead = None  # for the cut epoch kernel only (``ahead``)
        self.grads = buffers.zeros(arch.n_params, arch.dtype)
        self.result = np.zeros(1, EPOCH_RESULT)
        state_rows = arch.layers[1] if online == "any" else 0
        self.online = OnlineScratch(*buffers.staggered([(arch.layers[1], arch.n_in), (2, arch.n_in),
                                                        (2, state_rows, arch.n_in)], arch.dtype)) if online else None

    def ahead(self, arch, following):
        """Second batch buffers like ``batch``, into which the cut epoch kernel copies each next batch during the
        step before it (``kernels.epoch.train_epoch``): made at the first cut call with a batch after its first
        (``following``). A call of one batch copies nothing ahead: it gets buffers of no rows, of the same types (the
        same compiled kernel), and a training on whole-data batches holds no second copy of its data."""
        if not following:
            if self._no_ahead is None:
                self._no_ahead = new_batch_buffers(arch, 0)
            return self._no_ahead
        if self._ahead is None:
            self._ahead = new_batch_buffers(arch, self.rows)
        return self._ahead

    def quiet(self):
        """A copy of these buffers with a result and statistics of its own, for a call over no sample that compiles
        (or loads) a kernel in a thread beside the training: it writes nothing the training reads or writes."""
        quiet = copy.copy(self)
        quiet.result = np.zeros(1, EPOCH_RESULT)
        quiet.ws = self.ws._replace(stats=np.zeros_like(self.ws.stats))
        return quiet

    def make_room(self, arch, own):
        """``ws.wt`` grown, if need be, to hold the transposed W of each layer whose dx ``own`` (``Net.own``)
        sends to ``matmul_t`` (``OWN_DX``), and ``ws.room`` the lists of a first layer's products over the
        batch's nonzero inputs (``OWN_SPARSE``), with its rows grouped on one thread: once per fit, before the first
        epoch that needs them."""
        need = max((k * n for flag, k, n in zip(own, arch.layers[:-1], arch.layers[1:]) if flag & OWN_DX),
                   default=0) if own is not None else 0
        if self.ws.wt.size < need:
            self.ws = self.ws._replace(wt=buffers.empty(need, arch.dtype))
        if own is None or not own[0] & OWN_SPARSE:
            lists = 0
        elif sparse_threads(own, None) is not None:  # the product cut over the threads: the rows in their order
            lists = sparse_room(self.rows, arch.n_in)
        else:  # the batch's rows grouped by their zeros (``kernels.groups.matmul_grouped``)
            lists = grouped_room(self.rows, arch.n_in, arch.layers[1], np.dtype(arch.dtype).itemsize)
        if self.ws.room.size < lists:
            self.ws = self.ws._replace(room=np.empty(lists, np.int32))
        tiles = tiles_room(arch, own, numba.config.NUMBA_NUM_THREADS, self.rows)
        if self.ws.tiles.size < tiles:  # (64-byte aligned: the tile loads want it, ``kernels.tiles``)
            self.ws = self.ws._replace(tiles=buffers.zeros(tiles, np.uint16))


def inference_choosing_from(layers):
    """The fewest rows from which an inference call chooses its BLAS threads
    (``NumbaBackend.inference_choice``): it takes whole-layer products (more than
    ``kernels.inference.ROW_PATH_MAX_ROWS`` rows), one of them large enough for the BLAS to split
    (``thread_choice.MIN_WORK``). None on one core: nothing to choose."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        return None
    per_row = thread_choice.largest_product(layers, 1)
    return max(K.inference.ROW_PATH_MAX_ROWS + 1, -(-thread_choice.MIN_WORK // per_row))


class _InferenceBuffers:
    """One thread's buffers for inference calls of up to ``rows`` rows: the hidden layers'
    ping-pong ``scratch``, the ``logits``, the row path's nonzero positions ``nz``, the
    screening count ``flags``, each block's count ``counts``, the AMX tiles' work ``tiles``
    (``kernels.inference.screened_blocks``: made for the layers that take tiles by :meth:`tiles_for`),
    the room of a layer's product over a block's nonzero inputs ``lists`` (the first layer's rows grouped by their
    zeros and its lists, ``kernels.groups.grouped_room``, or a hidden layer's lists, ``kernels.matmul.sparse_room``,
    whichever is larger: a row for each of Numba's threads, for the largest block of a call, ``products.BLOCK_ROWS``
    rows)
    and ``no_proba``, the empty array that asks the kernel for the output only (see
    ``kernels.inference.screened``)."""

    __slots__ = ("rows", "scratch", "logits", "nz", "flags", "counts", "no_proba", "tiles", "lists")

    def __init__(self, arch, rows):
        self.rows = rows
        self.scratch = buffers.empty(2 * rows * arch.max_hidden, arch.dtype)
        self.logits = buffers.empty((rows, arch.n_out), arch.dtype)
        self.nz = np.empty(max(arch.layers[:-1]), np.int64)
        self.flags = np.zeros(1, np.int64)
        self.counts = np.zeros(products.most_blocks(rows, numba.config.NUMBA_NUM_THREADS), np.int64)
        self.no_proba = np.zeros((0, arch.n_classes), np.float64)
        self.tiles = []  # _PackedTiles of the blocks' two nets (``NumbaBackend._by_blocks``)
        blocks = rows >= products.BLOCKS_FROM
        room = max([grouped_room(products.BLOCK_ROWS, arch.n_in, arch.layers[1], np.dtype(arch.dtype).itemsize)]
                   + [sparse_room(products.BLOCK_ROWS, int(k)) for k in arch.layers[1:-1]])
        self.lists = np.empty((numba.config.NUMBA_NUM_THREADS, room) if blocks else (0, 0), np.int32)

    def tiles_for(self, arch, own):
        """This thread's :class:`_PackedTiles` for inference by blocks with ``Net.own`` flags ``own``, made once."""
        for packed in self.tiles:
            if packed.own is own:
                return packed
        packed = _PackedTiles(own, tiles.work(arch, own))
        self.tiles = self.tiles[-1:] + [packed]
        return packed


class _PackedTiles:
    """A thread's ``TileWork`` (``work``) for inference by blocks with ``Net.own`` flags ``own``, and what its weights
    were last compared with (``kernels.inference.refresh_tiles``): the model's buffer ``params`` when
    ``ParamsAliases.quiet`` said ``quiet`` (None: never, or while an array over the buffer lived)."""

    __slots__ = ("own", "work", "params", "quiet")

    def __init__(self, own, work):
        self.own, self.work, self.params, self.quiet = own, work, None, None

    def current(self, params, quiet):
        """Whether the weights packed are those of ``params`` now, known without comparing them: compared last with
        this buffer, and no array over it handed out or alive since (``quiet`` the same number)."""
        return quiet is not None and self.quiet == quiet and self.params is params


# Values of X from which a fit's input checks count them with a kernel (``count_flagged``): below
# (4 MB of float32) NumPy's two passes take under 0.3 ms.
SCREEN_MIN_VALUES = 1 << 20


class NumbaBackend(BackendBase):
    """The compiled kernels for one architecture (see the module docstring)."""

    name = "numba"
    EVAL_CHUNK = 4096  # rows per kernel call in inference: bounds the scratch memory

    def __init__(self, arch, epoch_kernel="auto"):
        super().__init__()
        self.arch = arch
        self.epoch_kernel = epoch_kernel
        self._local = threading.local()  # this thread's scratch
        self._train = None  # training buffers, allocated at the first epoch of a fit
        self._thread_choices = {}  # (epoch kernel, batch rows) -> ThreadChoice, or None: nothing to choose
        self._cut_measured = set()  # prepare keys whose ready cut kernel the thread choice has been told of
        self._own_deferred = set()  # (prepare key, rows) of trainings begun before their products' choice
        self._entries = {}  # inference kernel -> its compiled entry point (see ``_entry``)
        self._net, self._dtype = arch.net, arch.dtype  # read by every inference call: plain attributes
        self._n_out, self._n_classes = arch.n_out, arch.n_classes
        self._choosing_from = inference_choosing_from(arch.layers)  # see ``inference_choice``
        self._blocks = products.blocks_possible(arch)  # Net.own of inference by blocks if possible (``_by_blocks``)
        self._blocks_net = None  # self._net with the measured Net.own, once measured
        self._blocks_net_vector = None  # the same with no layer on AMX tiles (calls they do not pay in: ``_by_blocks``)
        self._sparse_open = False  # whether the blocks' nets wait for the choice of ``OWN_SPARSE`` (``_sparse_chosen``)
        self._scoring_nets = tuple(scoring_net(arch.net, weighted) for weighted in (False, True))
        self._evaluated = set()  # whether weighted, of the evaluations run (the first of each: ``compile_notice``)
        self._predicted = False  # whether a prediction ran (the first: ``compile_notice``)

    @property
    def epoch_kernel(self):
        """Which epoch kernel trains: 'auto' (default), 'online', 'fused' or 'generic'."""
        return self._epoch_kernel

    @epoch_kernel.setter
    def epoch_kernel(self, name):
        if name not in EPOCH_KERNELS:
            raise ValueError(f"epoch_kernel must be one of {list(EPOCH_KERNELS)}; got {name!r}")
        self._epoch_kernel = name

    # -- scratch owned by the calling thread ---------------------------------------------------
    def _scratch(self, name, rows, make):
        """This thread's buffer ``name`` for at least ``rows`` rows, made by ``make(rows)`` the
        first time and again only when a larger one is needed; kept as (rows, buffer)."""
        have = getattr(self._local, name, None)
        if have is None or have[0] < rows:
            have = (rows, make(rows))
            setattr(self._local, name, have)
        return have[1]

    def _workspace(self, rows):
        return self._scratch("ws", rows, lambda r: new_workspace(self.arch, r))

    def _chunks(self, n):
        step = min(n, self.EVAL_CHUNK)
        return [(s, min(s + step, n)) for s in range(0, n, step)], step

    def _inference(self, rows):
        """This thread's inference buffers for calls of up to ``rows`` rows."""
        have = getattr(self._local, "inference", None)
        if have is None or have.rows < rows:
            have = self._local.inference = _InferenceBuffers(self.arch, rows)
        return have

    def _entry(self, kernel, args):
        """``kernel``'s compiled specialisation for these argument types (``intrinsics.compiled_entry``),
        kept per kernel: inference calls always pass the same types (see ``screened``)."""
        entry = self._entries.get(kernel)
        if entry is None:
            entry = self._entries[kernel] = intrinsics.compiled_entry(kernel, args)
        return entry

    # -- the protocol -----------------------------------------------------------------------------
    screens = True

    def count_flagged(self, X, limit):
        """How many values of X (C-contiguous, the model's dtype: ``checks.ready_rows``) are NaN,
        inf or beyond ``limit`` in magnitude: ``kernels.screen.screen_rows`` over one piece of the rows
        per Numba thread (``numba.get_num_threads``), each piece on a Python thread of its own (the kernel
        releases the GIL; the calling thread takes the first piece), one pass over X instead of NumPy's two
        on one core. None below ``SCREEN_MIN_VALUES`` values, where NumPy's passes take microseconds and the
        kernel is not worth compiling."""
        if X.size < SCREEN_MIN_VALUES:
            return None
        start_runtime()  # as before any kernel (SciPy's BLAS module alone, ...); serial kernels need no guard
        X, limit, n = kernel_view(X), float(limit), X.shape[0]
        parts = max(1, min(numba.get_num_threads(), n))
        flags = np.full(parts, -1, np.int64)  # one count per piece: no two threads write one element

        def count(t):
            K.screen_rows(flags[t:t + 1], X[n * t // parts:n * (t + 1) // parts], limit)

        started = []
        for t in range(1, parts):
            thread = threading.Thread(target=count, args=(t,), name="fastmlp-screen")
            try:
                thread.start()
            except RuntimeError:  # no thread to be had (the process's limit): its piece is counted below
                continue
            started.append(thread)
        count(0)
        for thread in started:
            thread.join()
        for t in np.flatnonzero(flags < 0):  # a piece whose thread failed (it printed why) or never started
            count(t)
        return int(flags.sum())

    def screened(self, params, X, probabilities, limit, aliases=None, typed=False):
        """The network's output (``probabilities``: the class probabilities) for X, and how many
        values of X are NaN, inf or beyond ``limit`` in magnitude, counted by the kernel on its
        way (the caller then reports them: no separate passes over X).

        X must be a C-contiguous array of the model's dtype (``checks.ready_rows``), ``params``
        the model's own buffer (aligned, writable, C order): the kernels are then called through
        their compiled entry points, which do not type their arguments (``typed``: through the
        dispatcher, which does). In chunks of ``EVAL_CHUNK`` rows, with this thread's buffers:
        many threads can predict with one model at once. Nothing is allocated but the result.

        A call that fits this thread's buffers takes the shortest way (``one_call``, set by the
        first such call that went the long way): a few microseconds per row are at stake. A call
        of many rows goes by blocks where they measured faster (``_by_blocks``). A call with
        threads to choose (``inference_choice``) runs on the way the choice says, timed. Weights on AMX tiles are
        compared with those packed only where ``aliases`` (the model's ``ParamsAliases``; None: at every call) cannot
        tell them unchanged.
        """
        if not typed:
            fast = getattr(self._local, "one_call", None)
            if fast is not None and X.shape[0] <= fast[0] and X.flags.carray and type(limit) is float:
                _, call, logits, count, scratch, nz, no_proba = fast
                if probabilities:
                    result = np.empty((X.shape[0], self._n_classes))
                    call(result, logits, count, scratch, nz, params, X, self._net, limit)
                else:
                    result = np.empty((X.shape[0], self._n_out), self._dtype)
                    call(no_proba, result, count, scratch, nz, params, X, self._net, limit)
                return result, count.item()
        if not self._predicted:  # the model's first call (by whichever way: its kernels compile or load)
            with compile_notice("the model's first prediction"):
                result = self._screened(params, X, probabilities, limit, aliases, typed)
            self._predicted = True
            return result
        return self._screened(params, X, probabilities, limit, aliases, typed)

    def _screened(self, params, X, probabilities, limit, aliases, typed):
        """:meth:`screened` past its shortest way."""
        n, chunk = X.shape[0], self.EVAL_CHUNK
        buf = getattr(self._local, "inference", None)
        if buf is None or buf.rows < n and buf.rows < chunk:
            buf = self._inference(min(n, chunk))
        flags = X.flags
        if not flags.carray:  # C-contiguous (the caller's promise), aligned and writable
            X = kernel_view(X) if flags.aligned else X.copy()  # the entry points take aligned arrays
        lock = _lock if _guard is not None else start_runtime() and _lock
        if type(limit) is not float:
            limit = float(limit)  # the entry points take a float64
        count = buf.flags  # set by each call
        if probabilities:
            result = np.empty((n, self._n_classes))
            proba, out = result, buf.logits
        else:
            result = np.empty((n, self._n_out), self._dtype)
            proba, out = buf.no_proba, result
        choice = self.inference_choice(n)
        threads = numba.get_num_threads()  # the pool's, whichever way runs: the blocks' size decides rounding
        blocks = self._by_blocks(n, threads)
        refresh = quiet = None
        if blocks is not None:  # each block on one thread; one thread: the blocks in turn
            if self._sparse_open:
                blocks = self._sparse_chosen(buf, params, X, lock, typed, bool((blocks.own & OWN_TILES).any()))
            elif blocks is not self._blocks_net_vector and blocks is not self._blocks_net:  # taken before another
                blocks = self._by_blocks(n, threads)  # thread's call set the choice: the call runs with the choice
            packed = buf.tiles_for(self.arch, blocks.own)
            tile_work = packed.work
            if tile_work.packed.size:  # the weights packed for the tiles (again if they changed), in the call below
                quiet = None if aliases is None else aliases.quiet()  # (before the comparison: ``ParamsAliases``)
                if not packed.current(params, quiet):
                    refresh = self._entry(K.refresh_tiles, (tile_work, params, blocks))
            call = self._entries.get(K.screened_blocks) if not typed else K.screened_blocks
            if call is None:
                call = self._entry(K.screened_blocks, (proba, out, count, buf.counts, buf.scratch, params, X, blocks,
                                                       limit, products.block_rows(n, threads), tile_work, buf.lists))
        else:  # (only here: a model that predicts only by blocks never compiles the whole-layer kernel)
            call = self._entries.get(K.screened) if not typed else K.screened
            if call is None:
                call = self._entry(K.screened, (proba, out, count, buf.scratch, buf.nz, params, X, self._net, limit))
        if n <= buf.rows and n <= chunk and lock is None and choice is None and blocks is None:  # the latency path
            call(proba, out, count, buf.scratch, buf.nz, params, X, self._net, limit)
            if not typed:  # the shortest way from now on, for calls with no threads to choose and not by blocks
                few = chunk if self._choosing_from is None else min(chunk, self._choosing_from - 1)
                if self._blocks is not None:
                    few = min(few, products.BLOCKS_FROM - 1)
                self._local.one_call = (min(buf.rows, few), call, buf.logits, count, buf.scratch, buf.nz,
                                        buf.no_proba)
            return result, count.item()
        step, bad = min(buf.rows, chunk), 0
        way = None if choice is None else choice.way()
        # (the blocks call no BLAS: on one thread, only Numba's threads go to one)
        one = thread_choice.numba_one_thread if blocks is not None else thread_choice.blas_limited
        with lock or contextlib.nullcontext(), one() if way == thread_choice.ONE else contextlib.nullcontext():
            t0 = choice.clock() if choice is not None else 0.0
            if refresh is not None:
                refresh(tile_work, params, blocks)
                packed.params, packed.quiet = params, quiet
            for s in range(0, n, step):
                part = result[s:s + step]
                proba, out = (part, buf.logits) if probabilities else (buf.no_proba, part)
                if blocks is None:
                    call(proba, out, count, buf.scratch, buf.nz, params, X[s:s + step], self._net, limit)
                else:
                    size = products.block_rows(min(step, n - s), threads)
                    call(proba, out, count, buf.counts, buf.scratch, params, X[s:s + step], blocks, limit, size,
                         tile_work, buf.lists)
                bad += count.item()
            if choice is not None:
                choice.record(way, n, choice.clock() - t0)
        return result, bad

    def _by_blocks(self, rows, threads=None):
        """The network (``Net`` with ``Net.own``) of an inference call of ``rows`` rows by blocks
        (``kernels.inference.screened_blocks``), or None: fewer than ``products.BLOCKS_FROM`` rows,
        no layer fits ``matmul``, the deterministic mode, or ``matmul`` measured slower than the BLAS
        on one thread (``products.inference_own``, once per network shape in the process). By blocks,
        the thread choice's two ways are the blocks on all of Numba's threads and on one. Layers take the
        AMX tiles the measurement gave them only in calls where they pay (``products.takes_tiles``, by the rows and
        the pool's thread count ``threads``, None: read here: the blocks' size)."""
        if self._blocks is None or rows < products.BLOCKS_FROM:
            return None
        own = products.inference_own(self.arch)
        if own is None:
            return None
        if self._blocks_net is None:
            self._blocks_net = self._net._replace(own=own)
            self._blocks_net_vector = self._net._replace(own=own & ~OWN_TILES)
            self._sparse_open = True  # (``_sparse_chosen``, by the call)
        tiles = products.takes_tiles(self.arch, rows, numba.get_num_threads() if threads is None else threads)
        return self._blocks_net if tiles else self._blocks_net_vector

    def _sparse_chosen(self, buf, params, X, lock, typed, on_tiles):
        """The network of this call by blocks (as ``_by_blocks``: the one with the layers on the tiles where
        ``on_tiles``: the network the call took has a layer on them, told by its flags, not by which of the two it
        is, as another thread's call may have set the choice meanwhile) once the layers that sum over each block's
        nonzero inputs are chosen (``products.inference_sparse``: timed on up to ``products.SPARSE_ROWS`` of this
        call's rows X, by blocks of ``products.BLOCK_ROWS`` rows, on one thread, through the blocks' kernel
        (``typed``: its dispatcher), with this thread's buffers ``buf`` and the model's weights ``params``, under the
        call's ``lock``), set in both nets: a layer on the tiles takes them in calls that take the tiles (``OWN_TILES``
        first in the kernel)."""
        vector = self._blocks_net_vector
        work = tiles.work(self.arch, vector.own)  # (no layer on the tiles: empty)
        limit = float(np.inf)
        call = K.screened_blocks if typed else self._entry(K.screened_blocks, (
            buf.no_proba, buf.logits, buf.flags, buf.counts, buf.scratch, params, X, vector, limit,
            products.BLOCK_ROWS, work, buf.lists))

        def run(x, flags):
            call(buf.no_proba, buf.logits, buf.flags, buf.counts, buf.scratch, params, x, vector._replace(own=flags),
                 limit, products.BLOCK_ROWS, work, buf.lists)

        with lock or contextlib.nullcontext(), thread_choice.numba_one_thread():
            own = products.inference_sparse(self.arch, vector.own, X, run)
        self._blocks_net = self._net._replace(own=own | (self._blocks_net.own & OWN_TILES))
        self._blocks_net_vector = self._net._replace(own=own)
        self._sparse_open = False
        return self._blocks_net if on_tiles else self._blocks_net_vector

    def inference_choice(self, rows):
        """This thread's :class:`~fastmlp.backends.thread_choice.PooledChoice` between the BLAS on
        all its threads and on one for inference calls of about ``rows`` rows (one per power of
        two), or None when there is nothing to choose: fewer rows than ``inference_choosing_from``,
        one core, a count fixed by ``fastmlp.set_num_threads``, or the deterministic mode (the
        BLAS on one thread). Each thread has its own: many threads can predict at once."""
        if (self._choosing_from is None or rows < self._choosing_from or thread_choice.is_fixed()
                or thread_choice.is_deterministic()):
            return None
        choices = getattr(self._local, "choices", None)
        if choices is None:
            choices = self._local.choices = {}
        key = min(rows, self.EVAL_CHUNK).bit_length()
        choice = choices.get(key)
        if choice is None:
            choice = choices[key] = thread_choice.PooledChoice()
        return choice

    def output(self, params, X):
        return self.screened(params, np.ascontiguousarray(X, self._dtype), False, np.inf, None, typed=True)[0]

    def probabilities(self, params, X):
        return self.screened(params, np.ascontiguousarray(X, self._dtype), True, np.inf, None, typed=True)[0]

    def layer_outputs(self, params, X):
        a = self.arch
        guard = start_runtime()
        chunks, step = self._chunks(X.shape[0])
        ws = self._workspace(step)
        outs = [np.empty((X.shape[0], n), a.dtype) for n in a.layers[1:]]
        X = kernel_view(X)
        for s, e in chunks:
            with guard:
                K.forward(ws, params, X[s:e], a.net)
            for l, o in enumerate(outs):
                off, n = ws.rows * a.lay[l, A_OFF], a.layers[l + 1]
                o[s:e] = ws.acts[off:off + (e - s) * n].reshape(e - s, n)
        return outs

    def _weights(self, w):
        """The weights as the kernels take them: an empty array of the params dtype when unweighted."""
        return np.zeros(0, self.arch.dtype) if no_weights(w) else kernel_view(w)

    def loss_and_grad(self, params, grads, X, y, t, w=None, dropout=None, step=0):
        guard = start_runtime()
        ws = self._workspace(X.shape[0])
        ws.stats[:] = 0
        X, y, t, wk = kernel_view(X), kernel_view(y), kernel_view(t), self._weights(w)
        weighted = wk.shape[0] > 0
        net = self._scoring_nets[weighted]
        with guard:
            if dropout is None:
                K.loss_and_grad(grads, ws, params, X, y, t, wk, net)
            else:
                # laid out as the workspace, which may have more rows than X (kept from a larger call)
                bufs = self._scratch("dropout", ws.rows, lambda r: new_dropout_buffers(self.arch, r))
                K.loss_and_grad(grads, ws, params, X, y, t, wk, net,
                                dropout_work(self.arch, dropout, bufs), step)
        if weighted:
            return ws.stats[LOSS_SUM] / ws.stats[WEIGHT_SUM], int(ws.stats[CORRECT])
        return ws.stats[LOSS_SUM] / X.shape[0], int(ws.stats[CORRECT])

    def evaluate(self, params, X, y, t, w=None):
        guard = start_runtime()
        chunks, step = self._chunks(X.shape[0])
        ws = self._workspace(step)
        ws.stats[:] = 0
        X, y, t, wk = kernel_view(X), kernel_view(y), kernel_view(t), self._weights(w)
        weighted = wk.shape[0] > 0
        net, first = self._scoring_nets[weighted], weighted not in self._evaluated
        with guard, compile_notice("the model's first evaluation") if first else contextlib.nullcontext():
            for s, e in chunks:
                K.evaluate(ws, params, X[s:e], y[s:e], t[s:e], wk[s:e], net)
        self._evaluated.add(weighted)
        if weighted:
            return float(weighted_total(ws.stats[LOSS_SUM], ws.stats[WEIGHT_SUM], X.shape[0])), int(ws.stats[CORRECT])
        return float(ws.stats[LOSS_SUM]), int(ws.stats[CORRECT])

    def check_training(self, optimizer, batch_size, weighted=False, dropout=False):
        self.choose_epoch_kernel(optimizer, batch_size, weighted, dropout)  # a kernel that cannot train this: refused

    def choose_epoch_kernel(self, optimizer, batch_size, weighted=False, dropout=False, X=None):
        """The epoch kernel that trains ``optimizer`` at ``batch_size`` (see ``epoch_kernel``),
        on sample-weighted data when ``weighted`` (not 'online'), with dropout when
        ``dropout`` (the generic one); 'auto' on the training's inputs ``X`` (None: not known yet) takes
        'generic' for plain SGD where :func:`plain_takes_tiles`, and on several threads once its cut kernel is ready
        (:meth:`_plain_cut_after`; asked on one thread, as the thread choice's pieces there are: 'fused')."""
        plain = optimizer.is_plain_sgd
        online = online_trains(optimizer) and batch_size == 1 and not weighted
        if dropout:
            if self.epoch_kernel in ("online", "fused"):
                raise ValueError(f"epoch_kernel {self.epoch_kernel!r} has no dropout, and this training drops "
                                 "hidden units: use 'generic' or 'auto'")
            return "generic"
        if self.epoch_kernel == "auto":
            if online:
                return "online"
            if plain and X is not None and plain_takes_tiles(self.arch, min(batch_size, X.shape[0]), X):
                return "generic"
            if plain and X is not None and self._plain_cut_ready(min(batch_size, X.shape[0]), weighted):
                return "generic"
            return "fused" if plain else "generic"
        if self.epoch_kernel == "online" and weighted:
            raise ValueError("epoch_kernel 'online' trains unweighted data only; got sample weights: use 'fused', "
                             "'generic' or 'auto'")
        if self.epoch_kernel == "online" and not online_trains(optimizer):
            raise ValueError(f"epoch_kernel 'online' trains no penalty or clipping ({', '.join(ONLINE_REFUSES)}); "
                             f"got {optimizer!r}: use 'generic' or 'auto'")
        if self.epoch_kernel == "fused" and not plain:
            raise ValueError(f"epoch_kernel 'fused' trains plain SGD only (no momentum, no weight decay, no "
                             f"penalty or clipping); got {optimizer!r}: use 'generic' or 'auto'")
        if self.epoch_kernel == "online" and batch_size != 1:
            raise ValueError(f"epoch_kernel 'online' needs batch_size 1; got {batch_size}: use 'fused' or 'auto'")
        return self.epoch_kernel

    @staticmethod
    def _kernel_function(kernel, optimizer):
        """The compiled epoch kernel behind the name ``kernel`` for ``optimizer``."""
        if kernel == "online":
            return K.train_epoch_online if optimizer.is_plain_sgd else K.train_epoch_online_any
        return K.train_epoch_sgd if kernel == "fused" else K.train_epoch

    def _prepare_key(self, optimizer, data):
        kernel = self.choose_epoch_kernel(optimizer, data.batch_size, data.weighted, data.dropout is not None, data.X)
        return self._kernel_key(kernel, optimizer, data)

    def _kernel_key(self, kernel, optimizer, data):
        """The prepare key of a training by the epoch kernel named ``kernel``: what its compiled kernel depends on."""
        function = self._kernel_function(kernel, optimizer)
        update = None if function in (K.train_epoch_online, K.train_epoch_sgd) else update_choice(
            optimizer.kernel_hyper(0.0))
        return function, self.arch.dtype, data.t.shape[0] > 0, data.dropout is not None, bool(data.weighted), update

    def needs_preparing(self, optimizer, data):
        """Whether :meth:`prepare` has a kernel to compile or load for this training. Not for plain SGD whose cut
        kernel is ready in this process (:meth:`_plain_cut_ready`): it runs that kernel on several threads and 'fused'
        on one, both in this process already; its uncut 'generic' kernel, which it never runs, compiled for seconds
        at a later fit's start on a machine's first run."""
        if (optimizer.is_plain_sgd and self.epoch_kernel == "auto" and data.dropout is None
                and self._plain_cut_ready(min(data.batch_size, data.n), data.weighted)):
            return False
        return self._prepare_key(optimizer, data) not in _prepared

    def compiling_aside(self):
        return compiling_aside()

    def prepare(self, params, state, optimizer, data):
        """Compile (first run) or load from the cache (later runs) the epoch kernel this
        training uses, by running it over no sample: nothing changes. The kernel compiled is the one its
        calls run (``_run_epoch``): for a training whose products are cut over the threads (``split_parts``: every
        optimizer but plain SGD) the uncut kernel; with the products the calls take (``_own``; on one thread
        ``_uncut_own``): the products' choice where it was made before (in this process, or a record of this
        machine's), else the BLAS's, whose kernel compiles in seconds. On a machine's first such training, choosing
        the own products first compiled the kernels that time them and the kernel that takes them: 22-40 s before
        the first batch (Adam and Nesterov momentum on the fashion net, Intel Xeon model 207; on one core 23.5-27.1
        s), now compiled in threads as the training runs (:meth:`_cut_kernel_ready`, :meth:`_own_progress`).
        (seconds, compiled: whether the kernel was compiled rather than loaded)."""
        key = self._prepare_key(optimizer, data)
        if key in _prepared:
            return None
        compiled = (key[0], K.repeat_product)
        misses = _cache_misses(compiled)
        t0 = time.perf_counter()
        self.train_epoch(params, state, optimizer, data, np.zeros(0, np.int64), 0.0)
        seconds = time.perf_counter() - t0
        _prepared.add(key)
        return seconds, _cache_misses(compiled) > misses

    def thread_choice(self, kernel, rows):
        """The :class:`~fastmlp.backends.thread_choice.ThreadChoice` of trainings by ``kernel`` at
        ``rows`` samples per batch, or None when there is nothing to choose (a count fixed by
        ``fastmlp.set_num_threads``, one core, or products too small to split)."""
        if thread_choice.is_fixed():
            return None
        key = (kernel, rows)
        if key not in self._thread_choices:
            self._thread_choices[key] = (thread_choice.ThreadChoice()
                                         if thread_choice.worth_choosing(self.arch.layers, rows) else None)
        return self._thread_choices[key]

    def train_epoch(self, params, state, optimizer, data, order, lr):
        kernel = self.choose_epoch_kernel(optimizer, data.batch_size, data.weighted, data.dropout is not None, data.X)
        rows = min(data.batch_size, data.n)
        guard = start_runtime()
        with self._fit_lock, guard:
            tb = self._train
            online = None if kernel != "online" else "sgd" if optimizer.is_plain_sgd else "any"
            if (tb is None or tb.rows != rows or (online and tb.online is None)
                    or (online == "any" and tb.online.ST.shape[1] == 0)
                    or (data.dropout is not None and tb.dropout is None)):
                tb = self._train = _TrainingBuffers(self.arch, rows, online, data.dropout is not None)
            cut = split_parts(kernel, self.arch, rows)  # all threads (preparing: the uncut kernel, ``_run_epoch``)
            newly_cut = cut is not None and order.shape[0] > 0 and self._cut_newly_ready(optimizer, data)
            choice = self.thread_choice(kernel, rows) if order.shape[0] else None
            if choice is None:
                return self._run_epoch(kernel, tb, params, state, optimizer, data, order, lr, cut)
            if newly_cut:
                choice.kernel_changed()  # all threads now run the cut kernel
            # pieces of whole batches, each on the way the choice says, timed: the same batches
            # in the same order as one call (only the last piece may hold a partial batch)
            total, start, one = EpochResult(0.0, 0, 0, 0, False), 0, None
            for way, batches in choice.pieces(-(-order.shape[0] // data.batch_size)):
                piece = order[start:start + batches * data.batch_size]
                start += piece.shape[0]
                with thread_choice.one_thread() if way == thread_choice.ONE else contextlib.nullcontext():
                    # on one thread plain SGD cut on several ('_plain_cut_after') trains by 'fused': asked there,
                    # once per call as ``kernel`` is
                    if way == thread_choice.ONE and one is None:
                        one = self.choose_epoch_kernel(optimizer, data.batch_size, data.weighted,
                                                       data.dropout is not None, data.X)
                    alone = kernel if way != thread_choice.ONE else one
                    compiling, t0 = bool(_cut_compiling), choice.clock()
                    part = self._run_epoch(alone, tb, params, state, optimizer, data, piece, lr,
                                           cut if alone == kernel else None, one_thread=way == thread_choice.ONE,
                                           step_aside=True)
                    seconds = choice.clock() - t0
                # a cut kernel compiling (or loading) in its thread takes a core meanwhile: such a piece ran on one
                # thread (``_run_epoch``) and does not judge (on Zen 5, momentum-b64's two threads, slowed by it,
                # looked like a drop and a probe kept one)
                if not (compiling or _cut_compiling):
                    choice.record(way, part.seen, seconds)
                total = total + part
                if part.diverged:
                    break
            return total

    def _cut_newly_ready(self, optimizer, data):
        """Whether the cut epoch kernel of this training (``_prepare_key``) is ready in this process
        and this backend has not said so before: its thread choice is then told (``kernel_changed``),
        since all threads ran the uncut kernel until now (one thread runs the same either way). The
        calls run cut only from then on (``_run_epoch``), with or without a thread choice."""
        key = self._prepare_key(optimizer, data)
        if key not in _cut_ready or key in self._cut_measured:
            return False
        self._cut_measured.add(key)
        # plain SGD takes 'generic' under 'auto' only once its cut kernel is ready (``_plain_cut_after``): its thread
        # choice never measured it uncut, and a probe begun would start again (the bench's recipe: two probes of one
        # thread, 30k samples each, in its first two epochs)
        return not (optimizer.is_plain_sgd and self.epoch_kernel == "auto")

    def _run_epoch(self, kernel, tb, params, state, optimizer, data, order, lr, cut, one_thread=False,
                   step_aside=False):
        """One call of the epoch ``kernel`` over ``order`` (the caller holds the locks). ``cut``: the
        training's ``Net.parts`` on all threads (``split_parts``, taken outside the thread choice's
        one-thread pieces), or None. A ``one_thread`` piece cuts nothing, but its time counts
        towards preparing the cut kernel, as the uncut calls on all threads do. ``step_aside`` (the
        thread choice's calls; not a count the user fixed): while a cut kernel compiles in its
        thread, which takes a core, the call runs on one thread: on all threads beside that thread,
        adam-b64 and momentum-b64 trained at a quarter of their speed (31-37k samples/s against
        126-130k; Intel Xeon model 167, cold cache)."""
        a = self.arch
        result = tb.result
        result[0] = 0
        samples = Samples(kernel_view(data.X), kernel_view(data.y), kernel_view(data.t), self._weights(data.w))
        # preparing (``prepare``: a call over no sample) compiles the kernel the calls run until the cut one is ready:
        # uncut, with the products they take (``_own``), so that the first epoch compiles nothing
        preparing = order.shape[0] == 0
        parts = None if one_thread or preparing else cut
        waiting = None  # the prepare key of a training that could be cut but is not yet
        key = None if cut is None else self._prepare_key(optimizer, data)
        if preparing and cut is not None and own_known(a, tb.rows, data.X, True):
            _own_ready.add(key)  # a choice made before (a record): prepared with it, taken from the first call
        if cut is not None and not preparing:
            if not self._cut_kernel_ready(key, kernel, tb, params, state, optimizer, samples, data, lr, cut):
                parts, waiting = None, key  # until the cut kernel is ready: the same training on the BLAS's threads
            elif key not in self._cut_measured:
                # ready since this call began (the compiling thread): cut from the next call on, once
                # ``train_epoch`` has told the thread choice (its speed mark was the uncut kernel's)
                parts = None
        if cut is None:  # (on one thread: the products' choice, not before a first batch)
            own, waiting = self._uncut_own(kernel, tb, params, state, optimizer, samples, data, lr, preparing)
        else:
            own = self._own(key, tb.rows, data.X, parts)
        tb.make_room(a, own)
        net = training_net(a.net, samples.w.shape[0] > 0, tb.rows, parts, own, sparse_threads(own, parts))
        started = time.perf_counter()
        aside = step_aside and not one_thread and bool(_cut_compiling)
        with (thread_choice.one_thread() if aside else thread_choice.blas_limited() if parts is not None
              else contextlib.nullcontext()):
            self._call_epoch(kernel, tb, params, state, optimizer, samples, data, order, lr, net)
        if waiting in _uncut_seconds:
            _uncut_seconds[waiting] += time.perf_counter() - started
        elif waiting is not None:  # its first call compiles or loads the uncut kernel: not counted
            _uncut_seconds[waiting] = 0.0
        if kernel == "fused" and not one_thread and order.shape[0]:
            seconds = time.perf_counter() - started
            self._plain_tiles_after(optimizer, data, tb.rows, seconds)
            self._plain_cut_after(tb, params, state, optimizer, samples, data, lr, seconds)
        r = result[0]
        out = EpochResult(float(r["loss_sum"]), int(r["correct"]), int(r["seen"]), int(r["steps"]),
                          bool(r["diverged"]))
        state.step += out.steps
        return out

    def _own(self, key, rows, X, parts):
        """``Net.own`` of an epoch call (:meth:`_run_epoch`) of the training ``key`` (its prepare key), whose products
        are cut over several threads (``split_parts``), on the inputs ``X`` at ``rows`` rows a batch, asked for at each
        call (a lookup; a deterministic mode set after the choice is kept to): the first layer's over the batch's
        nonzero inputs, cut over the call's ``parts``; on one thread in its calls that are not cut (the thread choice's
        pieces on one thread, the calls before the cut kernel is ready: beside the BLAS's own threads a cut would wait
        on them), the same sums, bit for bit. The choice is measured before the cut kernel is prepared, and none of it
        before a first batch (:meth:`_cut_kernel_ready`): where it was not made before (a machine's first such
        training), the calls that are not cut take the BLAS until their kernel with the choice is ready
        (``_own_ready``); compiling its timing kernels and that kernel before the first batch took 22-40 s (Adam and
        Nesterov momentum on the fashion net, Intel Xeon model 207, empty cache)."""
        if parts is None and key not in _own_ready:
            return None
        return own_products(self.arch, rows, X, True, tiles=parts is not None, measure=parts is not None)

    def _uncut_own(self, kernel, tb, params, state, optimizer, samples, data, lr, preparing):
        """(``Net.own``, the prepare key whose seconds count towards ``CUT_AFTER_S`` or None) of an epoch call
        (:meth:`_run_epoch`) not cut over threads. Own products there only in a process of one thread
        (``products.own_products``: each layer's products by fastmlp's own or the BLAS's, by timing; elsewhere
        None at once). A choice made before this model's training of the shape began (in this process, or a
        record of this machine's) is taken from its first batch, its kernel compiled or loaded then (by the
        preparation, or by the first call). Else the training takes the BLAS's products, and nothing of the
        choice happens before its first batch: once it has run ``CUT_AFTER_S`` so, a thread compiles (or loads) the
        kernels that time the products (``products.compile_timing``), the first call after it measures the choice
        (milliseconds, between two calls, no compile running), and a thread compiles the training's kernel with
        it, which the calls take once it is ready (:meth:`_own_progress`, ``_own_one_ready``). Made before the
        first batch, a machine's first training on one core waited for all of that: launch to the first trained
        batch 27.1 s with Adam, 23.5 s with plain SGD (the fashion net, 2,048 half-zero rows, ``taskset -c 0``,
        empty cache, Intel Xeon model 207), against 3.9 and 2.7 s without the choice."""
        a, rows, X = self.arch, tb.rows, data.X
        known, own = known_choice(a, rows, X)
        if known and own is None:  # nothing to choose (several threads), or the BLAS's products chosen
            return None, None
        key = self._prepare_key(optimizer, data)
        if not known:
            self._own_deferred.add((key, rows))
        # made before this training began: from its first batch; made as it trained: once its kernel is ready
        elif (key, rows) not in self._own_deferred or key in _own_one_ready:
            self._own_deferred.discard((key, rows))
            return own, None
        if preparing:
            return None, None
        self._own_progress(key, kernel, tb, params, state, optimizer, samples, data, lr)
        return None, key

    def _own_progress(self, key, kernel, tb, params, state, optimizer, samples, data, lr):
        """The next step of an uncut training's products' choice (:meth:`_uncut_own`) once it has trained
        ``CUT_AFTER_S`` on the BLAS's products in this process: a thread compiles (or loads) the kernels that time
        them; at the first call after that, the choice is measured (``products.own_products``, recorded for the
        machine), and a thread compiles (or loads) this training's kernel with it (a call over no sample with its own
        result and statistics: it writes nothing the training reads or writes). A short fit never starts it."""
        if CUT_AFTER_S > 0 and _uncut_seconds.get(key, 0.0) < CUT_AFTER_S:
            return
        a, rows, X = self.arch, tb.rows, data.X
        with _cut_lock:
            if key in _own_one_ready or key in _cut_compiling or key in _cut_failed:
                return
            if not own_known(a, rows, X) and not _timing_compiled_or_started(key, a, rows, X):
                return
            own = own_products(a, rows, X)  # measured now, no compile running, unless made before
            if own is None:
                return  # the BLAS's products (asked again at each call: a lookup)
            net = training_net(a.net, samples.w.shape[0] > 0, rows, None, own, sparse_threads(own, None))
            quiet = tb.quiet()
            _compile_in_thread(key, "fastmlp-compile-own", (_own_one_ready,), lambda: self._call_epoch(
                kernel, quiet, params, state, optimizer, samples, data, np.zeros(0, np.int64), lr, net))

    def _plain_tiles_after(self, optimizer, data, rows, seconds):
        """After a call of plain SGD by the 'fused' kernel that took ``seconds``: once this training (network, batch
        rows) has trained ``CUT_AFTER_S`` so, where it could be cut and its first layer could take the AMX tiles,
        their choice is measured (``products.own_products`` with ``tiles``, on this thread, milliseconds) once the
        kernels that time them are compiled: cold, a thread compiles them first as the training goes on (on this
        thread they stopped a machine's first such fit for 19.6 s in one epoch: the bench's recipe, Intel Xeon model
        207). Where the tiles were taken, 'auto' trains it by 'generic' from the next call on
        (:func:`plain_takes_tiles`), its cut kernel prepared at its first call (the seconds trained uncut already
        counted)."""
        a = self.arch
        key = (tuple(a.layers), rows, np.dtype(a.dtype).name)
        if (_fused_seconds.get(key, 0.0) is None or self.epoch_kernel != "auto" or not cut_possible(a, rows)
                or not tiles_eligible(a, rows)):
            return
        _fused_seconds[key] = _fused_seconds.get(key, 0.0) + seconds
        if _fused_seconds[key] < CUT_AFTER_S:
            return
        generic = self._kernel_key("generic", optimizer, data)
        if not own_known(a, rows, data.X, True, tiles=True):
            with _cut_lock:  # cold: a thread compiles the kernels that time them (12-15 s) as the training goes on
                if not _timing_compiled_or_started(generic, a, rows, data.X, True, tiles=True):
                    return  # asked again after the next call
        _fused_seconds[key] = None  # asked: not again in this process
        own = own_products(a, rows, data.X, True, tiles=True)  # measured now, unless recorded
        if own is not None and own[0] & OWN_TILES:
            _uncut_seconds[generic] = max(_uncut_seconds.get(generic, 0.0), CUT_AFTER_S)

    def _plain_cut_ready(self, rows, weighted):
        """Whether 'auto' trains plain SGD at ``rows`` samples per batch by its cut kernel now
        (:meth:`_plain_cut_after`): on several of Numba's threads, where it can be cut, once that kernel is ready."""
        return (numba.get_num_threads() > 1 and _plain_cut_key(self.arch, rows, weighted) in _plain_cut
                and cut_possible(self.arch, rows))

    def _plain_cut_after(self, tb, params, state, optimizer, samples, data, lr, seconds):
        """After a call of plain SGD by the 'fused' kernel on all threads that took ``seconds``: once this training
        (network, batch rows) has trained ``CUT_AFTER_S`` so in this process, its 'generic' kernel cut over Numba's
        threads is prepared as every other optimizer's is (:meth:`_cut_kernel_ready`: in a thread, as the training
        goes on by 'fused'), and once it is ready, 'auto' trains the calls on several threads by it and the thread
        choice's pieces on one thread by 'fused' (:meth:`choose_epoch_kernel`): each way where it is the faster.
        Plain SGD at batch 64, Fashion-MNIST, Intel Xeon model 207 with AMX (2 vCPUs): idle, the cut kernel
        234-235k samples/s against 184-188k by 'fused' (784-300-10 sigmoid), 195-196k against 176-184k (the fashion
        net); beside a process spinning on the other core 'fused' on one thread kept 162-170k, the cut kernel 142-150k.
        The cut kernel's update runs apart from its weight product (the update pass of ``kernels.split``), so its last
        bits differ from 'fused''s, and the pieces each way takes depend on timing (the README's reproducibility
        section): the deterministic mode and a count of one thread keep 'fused'."""
        a, rows = self.arch, tb.rows
        done = _plain_cut_key(a, rows, data.weighted)
        if (self.epoch_kernel != "auto" or done in _plain_cut or data.dropout is not None
                or numba.get_num_threads() < 2 or not cut_possible(a, rows)):
            return
        key = self._kernel_key("generic", optimizer, data)
        # (the first call, which may have compiled or loaded 'fused', not counted)
        _uncut_seconds[key] = _uncut_seconds[key] + seconds if key in _uncut_seconds else 0.0
        parts = split_parts("generic", a, rows)
        if parts is not None and self._cut_kernel_ready(key, "generic", tb, params, state, optimizer, samples, data,
                                                        lr, parts, uncut_too=False):  # (never run uncut: 'fused')
            _plain_cut.add(done)

    def _cut_kernel_ready(self, key, kernel, tb, params, state, optimizer, samples, data, lr, parts, uncut_too=True):
        """Whether the epoch kernel cut over ``parts`` threads (``split_parts``) for the training
        ``key`` (``_prepare_key``) is compiled or loaded in this process. If not, and the training
        has trained ``CUT_AFTER_S`` seconds uncut, a thread starts compiling it (or loading it from
        the cache) now, and the training goes on uncut meanwhile: cold, the cut kernel takes
        several seconds more to compile than the uncut one (its parallel loops), and no batch
        waits for it; a short fit never starts it, unless it would load rather than compile
        (``CUT_AT_ONCE_WHEN_CACHED``, ``intrinsics.cached``: compiled before, in this process or the kernels' disk
        cache; asked once per process and training): the thread then starts at the first call, where a fit of
        five epochs (the bench's recipe) took it only at its fifth. It compiles by a call over no sample with its
        own result and statistics: it writes nothing the training reads or writes. The products' choice
        (``products.own_products``: the cut calls' and the uncut ones') is made first, here, between two calls;
        where it was not made before, a thread first compiles (or loads) the kernels that time the products
        (``products.compile_timing``: 12-15 s cold on the Intel Xeon model 207), and the choice is measured at the
        first call after it (milliseconds). The thread that then prepares the cut kernel also prepares the uncut
        calls' kernel with their choice, which they take once it is ready (``_own_ready``), unless not ``uncut_too``
        (plain SGD, whose calls not cut train by 'fused': :meth:`_plain_cut_after`)."""
        if key in _cut_ready:
            return True
        a, rows, X = self.arch, tb.rows, data.X
        early = CUT_AFTER_S > 0 and _uncut_seconds.get(key, 0.0) < CUT_AFTER_S
        training = (key, tuple(a.layers), rows)
        if early and (not CUT_AT_ONCE_WHEN_CACHED or training in _cut_not_cached):
            return False
        with _cut_lock:
            if key in _cut_ready or key in _cut_compiling or key in _cut_failed:
                return key in _cut_ready
            known = own_known(a, rows, X, True, tiles=True) and own_known(a, rows, X, True)
            if early and not known:  # nothing timed or compiled before the delay
                _cut_not_cached.add(training)
                return False
            if not known and not _timing_compiled_or_started(key, a, rows, X, True, tiles=True):
                return False
            # as the calls will ask (``_own``): the AMX tiles' choice measured here, not before a first batch
            own, own_uncut = own_products(a, rows, X, True, tiles=True), own_products(a, rows, X, True)
            weighted = samples.w.shape[0] > 0
            net = training_net(a.net, weighted, rows, parts, own, sparse_threads(own, parts))  # cut: threads
            uncut = None if own_uncut is None or key in _own_ready or not uncut_too else training_net(
                a.net, weighted, rows, None, own_uncut, sparse_threads(own_uncut, None))
            quiet = tb.quiet()
            if early and not all(intrinsics.cached(*self._epoch_call(kernel, quiet, params, state, optimizer, samples,
                                                                     data, np.zeros(0, np.int64), lr, each))
                                 for each in (net, uncut) if each is not None):
                _cut_not_cached.add(training)  # a compile (seconds): only once the training has run the delay
                return False

            def compile_cut():
                for each in (net, uncut):
                    if each is not None:
                        self._call_epoch(kernel, quiet, params, state, optimizer, samples, data,
                                         np.zeros(0, np.int64), lr, each)
            _compile_in_thread(key, "fastmlp-compile-cut", (_cut_ready, _own_ready) if uncut_too else (_cut_ready,),
                               compile_cut, loads=early)  # (before the delay only where the cache holds it)
        return False

    def _call_epoch(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net):
        """The kernel call of :meth:`_run_epoch`: results in ``tb.result``."""
        function, args = self._epoch_call(kernel, tb, params, state, optimizer, samples, data, order, lr, net)
        function(*args)

    def _epoch_call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net):
        """(the compiled epoch function, its arguments) of :meth:`_call_epoch`."""
        a, result = self.arch, tb.result
        if kernel == "online" and optimizer.is_plain_sgd:
            return K.train_epoch_online, (result, params, tb.ws, tb.online, samples, order, net, float(lr))
        if kernel == "online":
            hyper = optimizer.kernel_hyper(lr)
            return K.train_epoch_online_any, (result, params, tb.grads, state.slots, tb.ws, tb.online, samples, order,
                                              net, hyper._replace(kind=Static(update_choice(hyper))), state.step)
        plan = Batching(order, data.batch_size, data.drop_last)
        if kernel == "fused":
            return K.train_epoch_sgd, (result, params, tb.ws, tb.batch, samples, plan, net, float(lr))
        hyper = optimizer.kernel_hyper(lr)
        return K.train_epoch, (result, params, tb.grads, state.slots, tb.ws, tb.batch, samples, plan, net,
                               hyper._replace(kind=Static(update_choice(hyper))), state.step,
                               dropout_work(a, data.dropout, tb.dropout),
                               None if net.parts is None else tb.ahead(a, len(order) > data.batch_size))
