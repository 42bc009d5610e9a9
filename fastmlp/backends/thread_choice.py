"""The adaptive thread count of training and inference: all threads, or one when threads stop paying.

Why: the kernels' large products run on the BLAS's threads (OpenBLAS: two on two cores). When
another process takes one core, the BLAS's main thread finishes its half of each product and
then waits, spinning, for the worker thread, which the scheduler runs only in its own time
slices beside the other process: a 64x784x256 sgemm takes 0.5 ms on one thread, but 10-12 ms
in one call of ten on two (measured on the 2-core project machine), and training collapses
to a fraction of its one-thread speed. On an idle machine two threads pay (fashion-b64: 126k
against 78k samples/s), so the count cannot be fixed in advance: it is measured.

How: the numba backend times its own epoch calls (each a chunk of an epoch, about 0.5 s, cut by the trainer)
through a :class:`ThreadChoice` per training shape. While probing, each call is split at a batch boundary into two
pieces, one run on all threads and one on one thread (Numba and BLAS; one thread first in a probe's first call,
then alternating), until each way has run ``PROBE_PIECES`` spans of at least ``STEADY_SECONDS`` (a piece that long
on its own; shorter pieces pooled in order until their seconds reach it, so that a CPU fast enough to run every
piece in less still decides); the faster way per sample (best span) is kept, one thread unless all threads are
``MARGIN`` faster. The piece on all threads runs in slices and is given up once ``GIVE_UP`` times slower than one
thread: on a busy core a piece on all threads can collapse (2-7k samples/s against 140k on one thread, one piece
running for seconds), and the guard bounds that to about a batch. With all threads kept, it probes again after
``RECHECK_SECONDS`` of training, and at once when their calls (pooled over ``STEADY_SECONDS``) run at less than
``DROP`` times the speed the kept way had: the load changed. One thread kept is probed again after
``ONE_RECHECK_SECONDS``, doubled at each probe in a row that keeps it, up to ``ONE_RECHECK_MAX_SECONDS``, and never
on a drop: its drop says the machine got busier, which would not make all threads faster (kept because a training's
first probe gave up all threads, after ``FIRST_GIVE_UP_RECHECK_SECONDS``: a fresh process's first pieces also pay
for its thread pools starting). Why recheck one thread soon: on the KVM project machine (Zen 5) the second vCPU
runs now and then at a fraction of its speed for a second or more; a probe in such a spell keeps one thread (all
threads measured 112-146k samples/s against 140-156k, where they run 225k), and kept for ``RECHECK_SECONDS`` it
held 2 of 3 processes of a benchmark row at one thread's speed. On the project machine with another process
spinning on a core, 8 trainings of fashion-b64 (plain SGD, 60 epochs of 8192 samples) that probed again on drops
of one thread 9 times in all ran at 54.3-71.3k samples/s; 8 without, at 61.7-71.0k (Zen 1, before the guard).

Inference (``predict``, ``predict_proba``, ``forward`` on more than a few rows) chooses the same way
between the BLAS on all its threads and on one (its kernel runs on the calling thread), each
calling thread for itself, per size of call (a power of two of rows), by whole calls: while
probing, calls alternate between the ways, and each way's calls are pooled (:class:`PooledChoice`).
Measured on the 2-core project machine with another process spinning on a core, predict_proba of
the fashion net on two BLAS threads ran at a mean of 83k rows/s in calls of 256 rows and 68k in
calls of 64, against 146k and 135k on one (idle: 234k and 197k on two).

It never acts when nothing can run on several threads: a count fixed by
``fastmlp.set_num_threads`` (:func:`fix`), one core (Numba and the BLAS size their pools from
the process's CPU affinity), or products too small for the BLAS to split (``MIN_WORK``).
Splitting a call at a batch boundary changes no result (the same batches in the same order);
the kernels' own loops run on one thread; only how products are cut (by the BLAS's threads,
or into the kernels' own pieces of ``kernels.split``, none on one thread) changes rounding, and in the
deterministic mode (``fastmlp.set_deterministic``) the BLAS runs on one thread and nothing is
cut either way: there, adapting never changes a result.
"""
import contextlib
import threading
import time

import numba

from ..kernels import intrinsics

# Products below this many multiply-adds (m*k*n) run on one BLAS thread whatever the count
# (OpenBLAS's own threshold for threading a gemm: SMP_THRESHOLD_MIN 65536 x 4): nothing to choose.
MIN_WORK = 1 << 18
PROBE_PIECES = 2  # timed pieces of at least STEADY_SECONDS of each way before choosing
MARGIN = 0.05  # all threads are kept only when faster than one thread by this fraction
RECHECK_SECONDS = 10.0  # training time between probes (the longest, with one thread kept)
ONE_RECHECK_SECONDS = 1.0  # one thread kept by a probe: measured again after this, doubled at each such probe in a row
ONE_RECHECK_MAX_SECONDS = 2.0  # up to this (``_keep``)
FIRST_GIVE_UP_RECHECK_SECONDS = 0.25  # one thread kept as a training's first probe gave up: measured again after
GIVE_UP = 3.0  # a probe's piece on all threads stops once this many times slower than one thread (``_guarded``)
GIVE_UP_SLACK = 0.002  # seconds: a few batches' wake-up of the threads never give up
DROP = 0.6  # a call slower than this fraction of the kept way's speed probes again
STEADY_SECONDS = 0.02  # shorter pieces (an epoch's first or last few batches) do not judge the speed
SETTLE_SECONDS = 0.15  # a new kernel's first seconds on all threads judge nothing (``kernel_changed``)
POOLED_CALLS = 2  # inference (``PooledChoice``): calls of each way before choosing
POOLED_SECONDS = 0.02  # and their seconds in all
ALL, ONE = "all", "one"

_fixed = False  # a count given to fastmlp.set_num_threads: never overridden
_deterministic = False  # fastmlp.set_deterministic's mode: the BLAS on one thread, no product cut
_blas = None  # threadpoolctl's view of the loaded BLAS libraries, found once (about 1 ms)
_one_lock = threading.Lock()
_one_users = 0  # threads running in blas_limited() now: the BLAS limit is process-wide
_one_limit = None  # threadpoolctl's limit in force for them


def fix(flag):
    """Whether the thread count is fixed by the user (``fastmlp.set_num_threads``): no adapting."""
    global _fixed
    _fixed = bool(flag)


def is_fixed():
    return _fixed


def set_deterministic(flag):
    """Record ``fastmlp.set_deterministic``'s mode, which the numba backend reads here (no product cut)."""
    global _deterministic
    _deterministic = bool(flag)


def is_deterministic():
    return _deterministic


def blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries (created once)."""
    global _blas
    if _blas is None:
        intrinsics.load_scipy_blas()  # SciPy's BLAS (the kernels' unless NumPy has one), loaded before it is seen
        import scipy.linalg.cython_blas  # noqa: F401  (already loaded, or SciPy's usual import)
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def blas_threads():
    """The largest thread count of the loaded BLAS libraries now."""
    return max((lib.num_threads for lib in blas_controller().lib_controllers), default=1)


@contextlib.contextmanager
def blas_limited():
    """The BLAS on one thread, then back: for kernels that cut their products over Numba's
    threads themselves (``kernels.split``), and for :func:`one_thread`.

    The limit is process-wide: the first thread in limits it, the last one out restores it, so
    that two trainings in two threads never leave it limited.
    """
    global _one_users, _one_limit
    with _one_lock:
        if _one_users == 0:
            _one_limit = blas_controller().limit(limits=1)
        _one_users += 1
    try:
        yield
    finally:
        with _one_lock:
            _one_users -= 1
            if _one_users == 0:
                _one_limit.restore_original_limits()
                _one_limit = None


@contextlib.contextmanager
def numba_one_thread():
    """Numba's loops (in the calling thread) on one thread, then back; the BLAS left as it is: for kernels that call
    no BLAS (inference by blocks), where the BLAS's limit (:func:`blas_limited`, threadpoolctl's passes over the
    loaded libraries) cost about 9 us a call."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@contextlib.contextmanager
def one_thread():
    """Numba's loops (in the calling thread) and the BLAS on one thread, then back
    (the BLAS's limit as in :func:`blas_limited`)."""
    with blas_limited(), numba_one_thread():
        yield


def largest_product(layers, rows):
    """The largest product m*k*n of a training step of ``layers`` at ``rows`` samples per batch."""
    return max(rows * a * b for a, b in zip(layers[:-1], layers[1:]))


def worth_choosing(layers, rows):
    """Whether a training of ``layers`` at batch size ``rows`` may run on several threads (else
    there is nothing to choose): the count is not fixed, Numba or the BLAS has several threads,
    and the largest product is large enough for the BLAS to split."""
    if _fixed or largest_product(layers, rows) < MIN_WORK:
        return False
    return numba.get_num_threads() > 1 or blas_threads() > 1


def _pooled(pieces):
    """Samples per second of ``pieces`` (samples, seconds) taken together; 0 when there are none."""
    seconds = sum(s for _, s in pieces)
    return sum(n for n, _ in pieces) / seconds if seconds > 0 else 0.0


class ThreadChoice:
    """The choice between all threads and one for one training shape (see the module docstring).

    ``clock`` (seconds) is what times the pieces; tests give a fake one.
    """

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.kept = None  # ALL or ONE once chosen; None while probing
        self._probe = {ALL: [], ONE: []}  # way -> [(samples, seconds) of each piece]
        self._calls = 0
        self._kept_rate = 0.0  # samples/s of the kept way when chosen (the best call since)
        self._since_probe = 0.0  # training seconds since the choice
        self._window = (0, 0.0)  # (samples, seconds) of the kept way since its speed was last judged
        self._open = None  # (samples, seconds) of the guarded piece on all threads being run (``_guarded``)
        self._recheck = RECHECK_SECONDS  # training seconds before the kept way is measured again
        self._one_wait = ONE_RECHECK_SECONDS  # the recheck of one thread when a probe next keeps it
        self._settling = 0.0  # seconds on all threads a new kernel still runs unjudged (``kernel_changed``)
        self._chosen = False  # whether a probe has chosen yet (``_keep``)

    @property
    def probing(self):
        return self.kept is None

    def spans(self, way):
        """``way``'s pieces in the current probe as spans of at least ``STEADY_SECONDS``, a list of
        (samples, seconds): a piece that long on its own, shorter ones pooled in the order they ran
        until their seconds reach it (the pool not yet that long is left out). A first call's one-off
        costs and a few batches' timing noise do not decide, and neither does the CPU's speed: on the
        Zen 5 project machine every piece of fashion-b64 on all threads (62 batches, 15 ms) was shorter
        than ``STEADY_SECONDS``, and taking only the long pieces judged that way by the few the
        scheduler had slowed down, or never chose."""
        spans, pool = [], (0, 0.0)
        for samples, seconds in self._probe[way]:
            if seconds >= STEADY_SECONDS:
                spans.append((samples, seconds))
                continue
            pool = (pool[0] + samples, pool[1] + seconds)
            if pool[1] >= STEADY_SECONDS:
                spans.append(pool)
                pool = (0, 0.0)
        return spans

    def rate(self, way):
        """Samples per second of ``way`` in the current probe: its best span (:meth:`spans`), or all
        its pieces pooled when there is none yet; 0 when not measured."""
        spans = self.spans(way)
        if spans:
            return max(samples / seconds for samples, seconds in spans)
        return _pooled(self._probe[way])

    def pieces(self, batches):
        """How to run a call of ``batches`` batches: yields (way, number of batches), one piece at a
        time, the caller running and recording each (:meth:`record`) before taking the next. While
        probing, the call's first half on one way and its second on the other, one thread first in
        a probe's first call (the order alternates from call to call); the piece on all threads in
        slices (:meth:`_guarded`); a way chosen meanwhile runs the rest of the call."""
        self._open = None  # a guarded piece of a call given up part way (a diverged training) ends there
        if not self.probing:
            yield self.kept, batches
            return
        first, second = (ONE, ALL) if self._calls % 2 == 0 else (ALL, ONE)
        self._calls += 1
        if batches < 2:  # one batch: the way measured least so far
            yield min((ALL, ONE), key=lambda w: len(self._probe[w])), batches
            return
        half = batches // 2
        for way, n in ((first, half), (second, batches - half)):
            if not self.probing:
                yield self.kept, n
            elif way == ALL:
                yield from self._guarded(n)
            else:
                yield way, n

    def _guarded(self, batches):
        """A probe's piece of ``batches`` batches on all threads, run in slices of 1, 2, 4, ... batches
        and recorded as one piece; given up once it has taken ``GIVE_UP`` times what one thread took for
        as many samples in this probe (plus ``GIVE_UP_SLACK``): one thread is then kept and runs the
        rest. On a core another process keeps busy, a batch on all threads can wait tens of milliseconds
        for the thread the scheduler put aside (a whole piece ran for seconds, at 2-7k samples/s against
        140k on one thread): the guard bounds what a probe costs there to about its first slice."""
        self._open = (0, 0.0)
        size, left = 1, batches
        while left > 0 and not self._collapsed():
            n = min(size, left)
            yield ALL, n
            left, size = left - n, 2 * size
        piece, self._open = self._open, None
        self._add(ALL, *piece)
        if left > 0:
            if self.probing:
                self._keep(ONE, gave_up=True)
            yield self.kept, left

    def _collapsed(self):
        """Whether the open piece on all threads has run ``GIVE_UP`` times slower than one thread in
        this probe (never before one thread has run)."""
        samples, seconds = self._open
        one = self.rate(ONE)
        return one > 0 and seconds > GIVE_UP * samples / one + GIVE_UP_SLACK

    def record(self, way, samples, seconds):
        """A piece run ``way`` trained ``samples`` samples in ``seconds``."""
        if samples <= 0 or seconds <= 0:
            return
        if way == ALL and self._settling > 0:  # a new kernel's first calls (``kernel_changed``)
            self._settling -= seconds
            return
        if self.probing:
            if self._open is not None and way == ALL:  # a slice of the guarded piece (``_guarded``)
                self._open = (self._open[0] + samples, self._open[1] + seconds)
            else:
                self._add(way, samples, seconds)
            return
        self._since_probe += seconds
        # One thread kept is measured again only after its recheck (module docstring).
        if (self.kept == ALL and self._dropped(samples, seconds)) or self._since_probe >= self._recheck:
            self.reprobe()

    def _add(self, way, samples, seconds):
        """A whole piece of ``way`` into the probe; the choice once both ways are measured."""
        if samples > 0 and seconds > 0:
            self._probe[way].append((samples, seconds))
        if self.probing and self._measured():
            self._keep(ALL if self.rate(ALL) > (1 + MARGIN) * self.rate(ONE) else ONE)

    def _measured(self):
        """Whether the probe has measured both ways enough to choose."""
        return all(len(self.spans(way)) >= PROBE_PIECES for way in (ALL, ONE))

    def _dropped(self, samples, seconds):
        """Whether the kept way ran below ``DROP`` times its speed, judged over pieces pooled until
        they last ``STEADY_SECONDS`` (the best pool raises the mark): for all threads kept, each of
        their pieces in training; every call in inference (:class:`PooledChoice`)."""
        rows, total = self._window[0] + samples, self._window[1] + seconds
        if total < STEADY_SECONDS:
            self._window = (rows, total)
            return False
        self._window = (0, 0.0)
        return self._below(rows / total)

    def _below(self, rate):
        """Whether the kept way's ``rate`` is below ``DROP`` times its mark; the best rate raises the mark."""
        dropped = rate < DROP * self._kept_rate
        self._kept_rate = max(self._kept_rate, rate)
        return dropped

    def _keep(self, way, gave_up=False):
        """End the probe keeping ``way``; its recheck (one thread: ``ONE_RECHECK_SECONDS``, doubled at each
        probe in a row that keeps it, up to ``ONE_RECHECK_MAX_SECONDS``; all threads: ``RECHECK_SECONDS``). One thread
        kept because the training's first probe gave up all threads (``gave_up``, :meth:`_guarded`) is measured
        again after ``FIRST_GIVE_UP_RECHECK_SECONDS``, the doubling left as it was: a fresh process's first
        pieces on all threads also pay for the thread pools that start beside them. Traced on the Zen 4 VM
        (momentum-b64, fresh processes): the first piece on two BLAS threads ran at 1-26k samples/s in 3 of 6
        processes, 0.1 s into the first fit, then at 110-126k a second later; each of the 3 kept one thread for
        its first second, and one of them, whose next probe fell in a slow spell, for 3.9 s. Why the waits stop at
        ``ONE_RECHECK_MAX_SECONDS``: a spell that outlasts two probes held one thread for up to 10 s after it ended
        when they doubled up to ``RECHECK_SECONDS`` (nesterov-b64 with another process spinning from 1.5 to 5.0 s of
        training, traced: one thread kept at 4.84 s, two threads again at 9.05 s); a probe on a machine that stays
        busy costs about a batch (the guard), so one every 2 s costs it little."""
        first, self._chosen = not self._chosen, True
        self.kept = way
        self._kept_rate = self.rate(way)
        self._since_probe = 0.0
        if way == ALL:
            self._recheck, self._one_wait = RECHECK_SECONDS, ONE_RECHECK_SECONDS
        elif gave_up and first:
            self._recheck = FIRST_GIVE_UP_RECHECK_SECONDS
        else:
            self._recheck, self._one_wait = self._one_wait, min(2 * self._one_wait, ONE_RECHECK_MAX_SECONDS)

    def kernel_changed(self):
        """All threads now run another kernel (the cut one, ``kernels.split``, once it is ready): with all
        threads kept they stay, their drop mark learned again from the new kernel's calls; else a probe from
        the next call (one thread kept: all threads now run a kernel not measured yet). Either way the new
        kernel's first ``SETTLE_SECONDS`` on all threads judge nothing: the cut kernel's first calls after
        the uncut ones run slowly (momentum-b64 on Zen 5: 109-164k samples/s for about 0.15 s, 245-258k
        after; adam-b64 with two threads fixed: its first two calls, 36 ms each, at 115-165k, then
        197-242k, in each of 4 processes outside the VM's slow spells, 2 of them with
        ``OPENBLAS_NUM_THREADS=1``, so not the BLAS's spin). A probe in them kept one thread in 4 of 6
        adam-b64 processes traced (all threads 109-132k against one thread's 123-139k), which then
        trained on one thread until its recheck 2 s later: in a benchmark process, all its timed rounds."""
        self._settling = SETTLE_SECONDS
        if self.kept != ALL:
            self.reprobe()
            return
        self._kept_rate, self._window = 0.0, (0, 0.0)

    def reprobe(self):
        """Measure both ways again from the next call on."""
        self.kept = None
        self._probe = {ALL: [], ONE: []}
        self._window = (0, 0.0)
        self._calls = 0


class PooledChoice(ThreadChoice):
    """The choice for short calls (inference), made by whole calls (:meth:`way`): while probing,
    each call runs on the way measured least so far. A way's speed is its calls' rows over their
    seconds, pooled, so that a call that waited on a thread the scheduler had put aside counts
    with its whole wait (the best of a few short calls would hide it: on a busy core some calls
    on two BLAS threads run fast and others several times slower). The first call a choice sees
    does not judge (it touches new buffers). It chooses once each way has run ``POOLED_CALLS``
    calls and ``POOLED_SECONDS`` in all: two calls each for calls of 20 ms or more, so that a
    program that predicts a few large batches soon runs them all on the faster way. All
    threads, once kept, are watched as in training, pooled over ``STEADY_SECONDS`` at a time, and
    measured again when they drop; one thread, as in training, never on a drop (on the project machine
    with two other processes spinning, probing again on drops with one thread kept halved the mean
    speed of 64-row calls) but after ``ONE_RECHECK_SECONDS``, doubled up to ``RECHECK_SECONDS``. Why
    soon: a process's first probe runs while the BLAS's threads spin. The kernels' BLAS (SciPy's
    OpenBLAS, a second library beside NumPy's) starts its worker thread at the first kernel call, and
    the worker spins for about 0.1 s (OpenBLAS's ``THREAD_TIMEOUT``, 2^28 cycles) on the core Numba's
    other thread needs: a probe of 256-row calls by blocks, which make no BLAS call, measured all
    threads at 604-697 us a call against 634-734 on one and kept one thread, where all threads run
    in 357-362 us (Zen 5; probed 0.3 s later, all threads kept in 4 processes of 4). Before, one
    thread stayed kept for ``RECHECK_SECONDS``: idle 256-row calls at one thread's speed."""

    def __init__(self, clock=time.perf_counter):
        super().__init__(clock)
        self._warm = False  # whether the first call went by

    def way(self):
        """The way to run the next call on: ALL or ONE."""
        return next(self.pieces(1))[0]

    def record(self, way, samples, seconds):
        if not self._warm:
            self._warm = True
            return
        super().record(way, samples, seconds)

    def rate(self, way):
        """Rows per second of ``way`` over its calls in the current probe; 0 when not measured."""
        return _pooled(self._probe[way])

    def _measured(self):
        return all(len(c) >= POOLED_CALLS and sum(s for _, s in c) >= POOLED_SECONDS for c in self._probe.values())

