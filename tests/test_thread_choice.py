"""The adaptive thread count of training (fastmlp.backends.thread_choice): the choice from
injected timings, the backend following it, a count fixed by set_num_threads never
overridden, and the deterministic mode's results unchanged by adapting. No timing here:
every clock is fake."""
import argparse
import threading
import types

import numba
import numpy as np
import pytest

import fastmlp
from fastmlp import trainer as trainer_module
from fastmlp.optimizers import make_optimizer
from fastmlp.backends import thread_choice as tc
from fastmlp.backends.thread_choice import ALL, ONE, ThreadChoice

# Products large enough for the BLAS to split (64 x 128 x 64 >= MIN_WORK): the choice acts.
LAYERS = [64, 128, 64, 10]
BATCH = 64
several_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one core: nothing to choose")

# a compile thread as ``_compile_in_thread`` keeps it, loading (not started here: only its presence is read)
A_THREAD_LOADING = types.SimpleNamespace(compile_started=None)


@pytest.fixture(autouse=True)
def adaptive():
    """Every test starts and ends adapting, with the BLAS at its default counts."""
    fastmlp.set_num_threads("auto")
    yield
    fastmlp.set_deterministic(False)
    fastmlp.set_num_threads("auto")


def _run(choice, batches, seconds_per_sample):
    """One call of ``batches`` batches of BATCH samples through ``choice``, each way's piece
    timed by ``seconds_per_sample[way]``, each recorded before the next is asked for (as the
    backend does); the pieces run."""
    pieces = []
    for way, n in choice.pieces(batches):
        choice.record(way, n * BATCH, n * BATCH * seconds_per_sample[way])
        pieces.append((way, n))
    return pieces


def _settled(timings, batches=100):
    """A choice after the calls of one probe timed by ``timings``."""
    c = ThreadChoice()
    for _ in range(tc.PROBE_PIECES):
        _run(c, batches, timings)
    return c


def test_pieces_split_a_call_at_a_batch_boundary_one_thread_first_then_alternating():
    c = ThreadChoice()
    slow = {ALL: 4e-4, ONE: 4e-4}  # every batch 25.6 ms: each slice would be a span of its own
    assert _run(c, 9, slow) == [(ONE, 4), (ALL, 1), (ALL, 2), (ALL, 2)]  # all threads in slices 1, 2, 4, ...
    assert c.spans(ALL) == [(5 * BATCH, 5 * BATCH * 4e-4)]  # ... recorded as one piece
    assert _run(c, 9, slow) == [(ALL, 1), (ALL, 2), (ALL, 1), (ONE, 5)]
    c = ThreadChoice()
    assert _run(c, 1, slow) == [(ALL, 1)]  # no piece measured yet: the first way
    assert _run(c, 1, slow) == [(ONE, 1)]  # the way measured least


def test_a_probe_gives_up_all_threads_that_collapse_after_one_slice():
    c = ThreadChoice()
    collapsed = {ALL: 100e-5, ONE: 1e-5}  # a busy core: a batch on all threads waits for the thread put aside
    assert _run(c, 100, collapsed) == [(ONE, 50), (ALL, 1), (ONE, 49)]
    assert c.kept == ONE  # chosen at once: no second call of the probe on all threads
    assert _run(c, 100, collapsed) == [(ONE, 100)]


def test_a_first_probe_that_gives_up_is_measured_again_soon_without_doubling_the_wait():
    """A training's first probe that gives up all threads (a fresh process's thread pools starting
    beside its first pieces) keeps one thread for FIRST_GIVE_UP_RECHECK_SECONDS only; a later give-up
    waits ONE_RECHECK_SECONDS, then the waits double as for any probe that keeps one thread."""
    collapsed = {ALL: 100e-5, ONE: 1e-5}
    per_call = 100 * BATCH * 1e-5
    c = ThreadChoice()
    assert _run(c, 100, collapsed) == [(ONE, 50), (ALL, 1), (ONE, 49)]
    assert c.kept == ONE
    assert _calls_until_probing(c, 100, collapsed) == int(np.ceil(tc.FIRST_GIVE_UP_RECHECK_SECONDS / per_call))
    waits = []
    for _ in range(3):
        _run(c, 100, collapsed)  # gives up again: not the first probe
        assert c.kept == ONE
        waits.append(_calls_until_probing(c, 100, collapsed))
    rest = 49 * BATCH * 1e-5  # the given-up call's last piece, on one thread, counts towards the wait
    assert waits == [int(np.ceil((min(tc.ONE_RECHECK_SECONDS * 2 ** i, tc.ONE_RECHECK_MAX_SECONDS) - rest) / per_call))
                     for i in range(3)]
    c = ThreadChoice()
    _run(c, 100, {ALL: 1e-5, ONE: 2e-5})
    _run(c, 100, {ALL: 1e-5, ONE: 2e-5})
    assert c.kept == ALL
    _calls_until_probing(c, 100, {ALL: 1e-5, ONE: 2e-5})
    _run(c, 100, collapsed)  # a give-up in a later probe: the usual wait
    assert c.kept == ONE
    assert _calls_until_probing(c, 100, collapsed) == int(np.ceil((tc.ONE_RECHECK_SECONDS - rest) / per_call))


def test_all_threads_slower_within_the_give_up_factor_run_their_whole_piece():
    c = ThreadChoice()
    slower = {ALL: 0.9 * tc.GIVE_UP * 1e-5, ONE: 1e-5}
    assert _run(c, 100, slower) == [(ONE, 50), (ALL, 1), (ALL, 2), (ALL, 4), (ALL, 8), (ALL, 16), (ALL, 19)]
    assert c.probing
    _run(c, 100, slower)
    assert c.kept == ONE


def test_one_thread_is_kept_when_all_threads_are_slower():
    c = ThreadChoice()
    slow_threads = {ALL: 3e-5, ONE: 1e-5}
    _run(c, 100, slow_threads)
    assert c.probing  # one piece of each way is not enough
    _run(c, 100, slow_threads)
    assert not c.probing and c.kept == ONE
    assert _run(c, 100, slow_threads) == [(ONE, 100)]  # whole calls on one thread from now on


def test_all_threads_are_kept_only_when_faster_by_the_margin():
    assert _settled({ALL: 1e-5, ONE: 2e-5}).kept == ALL
    tie = {ALL: 1e-5, ONE: 1e-5 * (1 + tc.MARGIN / 2)}
    assert _settled(tie).kept == ONE  # a tie within the margin leaves the other core alone


def test_short_pieces_do_not_decide_when_longer_ones_exist():
    c = ThreadChoice()
    c.record(ALL, 10, 1e-3)  # a first call's few batches: 10k samples/s, too short to judge
    c.record(ONE, 10, 1e-4)  # 100k samples/s, too short to judge
    c.record(ALL, 6400, 0.1)  # 64k samples/s
    c.record(ONE, 6400, 0.2)  # 32k samples/s
    assert c.probing  # one long piece of each way is not enough
    c.record(ALL, 6400, 0.2)
    c.record(ONE, 6400, 0.25)
    assert c.kept == ALL and c.rate(ALL) == pytest.approx(64000)


def test_pieces_shorter_than_steady_seconds_are_pooled_and_decide():
    """A CPU fast enough to run every piece on all threads in less than STEADY_SECONDS: those
    pieces pooled in order decide, not the odd piece the scheduler slowed past it."""
    c = ThreadChoice()
    short = 0.75 * tc.STEADY_SECONDS  # 4000 samples per piece on all threads: 267k samples/s ...
    slowed = 1.5 * tc.STEADY_SECONDS  # ... but one piece slowed to 133k
    c.record(ALL, 4000, short)
    c.record(ONE, 4000, slowed)  # 133k on one thread, every piece
    c.record(ALL, 4000, slowed)
    c.record(ONE, 4000, slowed)
    assert c.probing  # all threads: one span of a slowed piece, one short piece pooled
    assert c.spans(ALL) == [(4000, slowed)]
    c.record(ALL, 4000, short)
    assert c.spans(ALL) == [(4000, slowed), (8000, 2 * short)]
    assert c.kept == ALL and c.rate(ALL) == pytest.approx(8000 / (2 * short))


def test_a_way_with_no_span_yet_is_rated_by_its_pieces_pooled():
    c = ThreadChoice()
    assert c.rate(ALL) == 0.0
    c.record(ALL, 100, 0.001)
    c.record(ALL, 300, 0.001)
    assert c.spans(ALL) == [] and c.rate(ALL) == pytest.approx(200000)


def test_a_drop_is_judged_over_short_pieces_pooled():
    c = _settled({ALL: 1e-5, ONE: 2e-5})
    assert c.kept == ALL
    seconds = 0.3 * tc.STEADY_SECONDS  # every piece: four of them judged together
    for _ in range(8):
        c.record(ALL, round(seconds / 1e-5), seconds)
    assert c.kept == ALL
    for _ in range(3):  # another process took a core: 5x slower, pieces as long
        c.record(ALL, round(seconds / 5e-5), seconds)
    assert c.kept == ALL  # not yet STEADY_SECONDS of them
    c.record(ALL, round(seconds / 5e-5), seconds)
    assert c.probing


def test_a_drop_in_speed_probes_again_and_finds_the_other_way():
    c = _settled({ALL: 1e-5, ONE: 2e-5})
    assert c.kept == ALL
    _run(c, 100, {ALL: 1e-5, ONE: 2e-5})
    assert c.kept == ALL
    busy = {ALL: 5e-5, ONE: 2e-5}  # another process took a core: all threads now 5x slower
    _run(c, 100, busy)
    assert c.probing
    for _ in range(2):
        _run(c, 100, busy)
    assert c.kept == ONE


def _calls_until_probing(c, batches, timings):
    """Calls of ``batches`` batches on the kept way until ``c`` probes again; the count."""
    calls = 0
    while not c.probing:
        kept = c.kept
        assert _run(c, batches, timings) == [(kept, batches)]  # whole calls on the kept way
        calls += 1
    return calls


def test_all_threads_kept_are_measured_again_after_recheck_seconds():
    fast_threads = {ALL: 1e-5, ONE: 3e-5}
    c = _settled(fast_threads)
    assert c.kept == ALL
    assert _calls_until_probing(c, 100, fast_threads) == int(np.ceil(tc.RECHECK_SECONDS / (100 * BATCH * 1e-5)))
    for _ in range(2):
        _run(c, 100, {ALL: 3e-5, ONE: 1e-5})  # another process took a core
    assert c.kept == ONE


def test_one_thread_kept_is_measured_again_soon_then_less_often():
    """A probe that kept one thread in a spell where the other core ran slowly is measured again
    after ONE_RECHECK_SECONDS; each further probe in a row that keeps one thread doubles the wait,
    up to ONE_RECHECK_MAX_SECONDS; all threads kept start the waits over."""
    slow_threads = {ALL: 2e-5, ONE: 1e-5}
    per_call = 100 * BATCH * 1e-5
    c = _settled(slow_threads)
    assert c.kept == ONE
    waits = []
    for _ in range(6):
        waits.append(_calls_until_probing(c, 100, slow_threads))
        for _ in range(2):
            _run(c, 100, slow_threads)
        assert c.kept == ONE
    seconds = [min(tc.ONE_RECHECK_SECONDS * 2 ** i, tc.ONE_RECHECK_MAX_SECONDS) for i in range(6)]
    assert waits == [int(np.ceil(s / per_call)) for s in seconds]
    assert waits[-1] == int(np.ceil(tc.ONE_RECHECK_MAX_SECONDS / per_call)) < tc.RECHECK_SECONDS / per_call
    _calls_until_probing(c, 100, slow_threads)
    for _ in range(2):
        _run(c, 100, {ALL: 1e-5, ONE: 2e-5})  # the other core runs at its speed again
    assert c.kept == ALL
    _calls_until_probing(c, 100, {ALL: 1e-5, ONE: 2e-5})
    for _ in range(2):
        _run(c, 100, slow_threads)
    assert c.kept == ONE
    assert _calls_until_probing(c, 100, slow_threads) == int(np.ceil(tc.ONE_RECHECK_SECONDS / per_call))


def test_a_new_kernel_keeps_all_threads_and_learns_their_mark_again_but_probes_one_thread_kept():
    fast_threads = {ALL: 1e-5, ONE: 2e-5}
    c = _settled(fast_threads)
    assert c.kept == ALL
    c.kernel_changed()  # the cut kernel, ready: its first calls run slowly (the uncut kernel's mark would drop)
    starting = {ALL: 4e-5, ONE: 2e-5}  # 0.128 s a call of 50 batches: within SETTLE_SECONDS, judged by nothing
    assert _run(c, 50, starting) == [(ALL, 50)]
    assert c.kept == ALL and c._kept_rate == 0 and c._settling == pytest.approx(tc.SETTLE_SECONDS - 0.128)
    _run(c, 50, starting)  # the rest of the settling, and past it: still judged by nothing
    assert c.kept == ALL and c._kept_rate == 0 and c._settling < 0
    _run(c, 100, {ALL: 1.9e-5, ONE: 2e-5})
    assert c._kept_rate == pytest.approx(1 / 1.9e-5)  # the mark, learned from the new kernel's calls
    _run(c, 100, {ALL: 0.9e-5, ONE: 2e-5})
    _run(c, 100, {ALL: 1.6e-5, ONE: 2e-5})  # below DROP times the new kernel's best: probes again
    assert c.probing
    c = _settled({ALL: 3e-5, ONE: 1e-5})
    assert c.kept == ONE
    c.kernel_changed()
    assert c.probing  # all threads run a kernel not measured yet


def test_a_probe_after_a_kernel_change_judges_all_threads_by_the_new_kernel_after_its_first_calls():
    """One thread kept under the uncut kernel; the cut kernel arrives and runs its first calls on all
    threads slowly (the first SETTLE_SECONDS of them, traced on Zen 5), then fast: the probe judges
    all threads by the later calls and keeps them, where the first calls would have kept one thread."""
    c = _settled({ALL: 3e-5, ONE: 1.5e-5})
    assert c.kept == ONE
    c.kernel_changed()
    on_all = 0.0  # seconds on all threads since the change
    for _ in range(20):
        for way, n in c.pieces(50):
            per_sample = 1.5e-5 if way == ONE else 2e-5 if on_all < 0.9 * tc.SETTLE_SECONDS else 1e-5
            seconds = n * BATCH * per_sample
            on_all += seconds if way == ALL else 0.0
            c.record(way, n * BATCH, seconds)
        if not c.probing:
            break
    assert c.kept == ALL
    assert all(samples / seconds == pytest.approx(1e5) for samples, seconds in c.spans(ALL))


def test_with_one_thread_kept_a_drop_does_not_probe_again_only_the_recheck_does():
    c = _settled({ALL: 3e-5, ONE: 1e-5})
    assert c.kept == ONE
    busier = {ALL: 9e-5, ONE: 5e-5}  # the machine got busier: one thread 5x slower, all threads slower still
    calls = _calls_until_probing(c, 100, busier)  # no piece on all threads meanwhile
    assert calls == int(np.ceil(tc.ONE_RECHECK_SECONDS / (100 * BATCH * 5e-5)))
    for _ in range(2):
        _run(c, 100, busier)
    assert c.kept == ONE


def _data(n=20 * BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, LAYERS[0])).astype(np.float32), rng.integers(0, LAYERS[-1], n)


class _FakeClock:
    """Time that runs 3x slower per call on several threads than on one, and notes the thread
    counts (Numba, BLAS) seen at each reading."""

    def __init__(self):
        self.now, self.seen = 0.0, []

    def __call__(self):
        numba_threads = numba.get_num_threads()
        self.seen.append((numba_threads, tc.blas_threads()))
        self.now += 1.0 if numba_threads == 1 else 3.0
        return self.now


def _adaptive_fit(monkeypatch, optimizer="sgd", epochs=3, own_products=None, **model_options):
    """A fit of one-batch calls (every call the same work) timed by a :class:`_FakeClock`; the products all the
    BLAS's, or as ``own_products`` says (in place of ``products.own_products``)."""
    from fastmlp.backends import numba as backend
    own_products = own_products or (lambda arch, rows, X=None, cut=False, **kw: None)
    monkeypatch.setattr(backend, "own_products", own_products)
    monkeypatch.setattr(backend, "known_choice", lambda arch, rows, X=None, cut=False, **kw: (
        True, own_products(arch, rows, X, cut, measure=False, **kw)))  # (the calls not cut ask this way)
    monkeypatch.setattr(trainer_module, "CHUNK_SECONDS", 1e-9)
    monkeypatch.setattr(trainer_module, "FIRST_CHUNK_SAMPLES", 1)
    monkeypatch.setattr(tc, "RECHECK_SECONDS", 1e9)
    monkeypatch.setattr(tc, "ONE_RECHECK_SECONDS", 1e9)
    X, y = _data()
    m = fastmlp.MLP(LAYERS, seed=0, dtype="float32", **model_options)
    kernel = m.engine.choose_epoch_kernel(make_optimizer(optimizer), BATCH, dropout="dropout" in model_options)
    choice = m.engine.thread_choice(kernel, BATCH)
    clock = choice.clock = _FakeClock()
    m.fit(X, y, epochs=epochs, batch_size=BATCH, optimizer=optimizer, lr=1e-3, verbose=0, seed=0)
    return m, choice, clock


@several_threads
def test_training_settles_on_one_thread_when_the_clock_says_threads_are_slower(monkeypatch):
    numba_before, blas_before = numba.get_num_threads(), tc.blas_threads()
    m, choice, clock = _adaptive_fit(monkeypatch)
    assert choice.kept == ONE
    counts = {c for c, _ in clock.seen}
    assert counts == {1, numba_before}  # both ways were tried
    assert clock.seen[:8:2] == [(numba_before, blas_before), (1, 1)] * 2  # probed: all threads, one, ...
    assert all(c == (1, 1) for c in clock.seen[8:])  # then every call on one thread (Numba and BLAS)
    assert len(clock.seen) == 2 * 3 * 20
    assert (numba.get_num_threads(), tc.blas_threads()) == (numba_before, blas_before)  # restored after


def _spy_on_kernel_calls(monkeypatch):
    """The (Numba threads, BLAS threads) in force at each epoch kernel call of the numba backend that
    trains (not the calls over no sample that compile or load a kernel)."""
    from fastmlp.backends import numba as backend
    seen, call = [], backend.NumbaBackend._call_epoch

    def spy(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net):
        if order.shape[0]:
            seen.append((numba.get_num_threads(), tc.blas_threads()))
        return call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", spy)
    return seen


@several_threads
def test_pieces_run_while_a_cut_kernel_compiles_step_aside_and_do_not_judge(monkeypatch):
    """A cut kernel compiling (or loading) in its thread takes a core: the pieces run meanwhile run on
    one thread (Numba and BLAS), the ones the probe meant for all threads too, and are not recorded,
    so the probe goes on until the compile is over (here, the whole fit)."""
    from fastmlp.backends import numba as backend
    monkeypatch.setattr(backend, "_cut_compiling", {"a cut kernel": A_THREAD_LOADING})
    seen = _spy_on_kernel_calls(monkeypatch)
    numba_before, blas_before = numba.get_num_threads(), tc.blas_threads()
    m, choice, clock = _adaptive_fit(monkeypatch)
    assert choice.probing and choice._probe == {ALL: [], ONE: []}
    assert len(clock.seen) == 2 * 3 * 20  # every call timed, none judged
    assert (numba_before, blas_before) in clock.seen  # the probe meant half the pieces for all threads
    assert len(seen) == len(clock.seen) // 2 and set(seen) == {(1, 1)}  # and each ran on one (two clock reads a piece)
    assert (numba.get_num_threads(), tc.blas_threads()) == (numba_before, blas_before)  # restored after


@several_threads
def test_the_pieces_on_one_thread_train_with_the_blas_products_whatever_the_own_ones_measured(monkeypatch):
    """In a process of several threads the thread choice's pieces on one thread of a plain SGD training (whose
    products are the BLAS's on its threads, never cut) take no own products (even where they measured faster:
    here as if they had): a batch's rounding must not depend on which way the choice's timing gave its piece,
    or a seeded fit's weights would differ from one process to the next. The fit settles on one thread and
    trains what the BLAS's products alone train, bit for bit."""
    from fastmlp.backends import numba as backend
    from fastmlp.backends import products
    from fastmlp.kernels.structs import OWN_DW, OWN_FORWARD
    flags = np.array([OWN_FORWARD | OWN_DW, OWN_FORWARD | OWN_DW, 0], np.int64)
    measured = {(tuple(LAYERS), BATCH, "float32", zeros, threads): flags
                for zeros in (False, True) for threads in {1, numba.config.NUMBA_NUM_THREADS}}
    monkeypatch.setattr(products, "_chosen", measured)
    given, real = [], products.own_products

    def spy(arch, rows, X=None, cut=False, **kw):
        given.append((numba.get_num_threads(), real(arch, rows, X, cut, **kw)))
        return given[-1][1]
    m, choice, clock = _adaptive_fit(monkeypatch, own_products=spy)
    assert choice.kept == ONE and 1 in {n for n, _ in given} and all(own is None for _, own in given)
    blas_only, _, _ = _adaptive_fit(monkeypatch, own_products=lambda arch, rows, X=None, cut=False, **kw: None)
    assert np.array_equal(m.params, blas_only.params)


@several_threads
def test_with_no_compile_running_the_pieces_meant_for_all_threads_run_on_all(monkeypatch):
    seen = _spy_on_kernel_calls(monkeypatch)
    numba_before, blas_before = numba.get_num_threads(), tc.blas_threads()
    _adaptive_fit(monkeypatch)
    assert (numba_before, blas_before) in seen and (1, 1) in seen


@several_threads
def test_an_explicit_thread_count_is_never_overridden(monkeypatch):
    top = numba.config.NUMBA_NUM_THREADS
    fastmlp.set_num_threads(top)
    assert not fastmlp.thread_info()["adaptive"]
    m = fastmlp.MLP(LAYERS, seed=0, dtype="float32")
    assert m.engine.thread_choice("fused", BATCH) is None

    def refuse():
        raise AssertionError("the thread count was changed although set_num_threads fixed it")
    monkeypatch.setattr(tc, "one_thread", refuse)
    from fastmlp.backends import numba as backend
    monkeypatch.setattr(backend, "_cut_compiling", {"a cut kernel": A_THREAD_LOADING})  # no stepping aside either
    X, y = _data()
    m.fit(X, y, epochs=2, batch_size=BATCH, verbose=0)
    assert numba.get_num_threads() == top and tc.blas_threads() == top
    fastmlp.set_num_threads("auto")
    assert fastmlp.thread_info()["adaptive"]
    assert m.engine.thread_choice("fused", BATCH) is not None


def test_the_cli_threads_option_fixes_the_count():
    from fastmlp.cli import _set_threads
    _set_threads(argparse.Namespace(threads=1))
    assert numba.get_num_threads() == 1 and tc.is_fixed()
    _set_threads(argparse.Namespace(threads=None))  # no --threads: nothing changes
    assert numba.get_num_threads() == 1 and tc.is_fixed()


def test_set_num_threads_auto_and_refusals():
    fastmlp.set_num_threads(1)
    with pytest.raises(TypeError, match="threads must be an integer"):
        fastmlp.set_num_threads("automatic")
    assert tc.is_fixed() and numba.get_num_threads() == 1
    fastmlp.set_num_threads("auto")
    assert not tc.is_fixed() and numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS


def test_small_products_have_nothing_to_choose():
    m = fastmlp.MLP([6, 9, 3], seed=0)
    assert m.engine.thread_choice("fused", 32) is None
    big = fastmlp.MLP([784, 256, 10], seed=0)
    assert (big.engine.thread_choice("online", 1) is None)  # batch 1: 1 x 784 x 256 < MIN_WORK


@several_threads
@pytest.mark.parametrize("optimizer,options", [("sgd", {}), ("adam", {}), ("sgd", {"dropout": 0.3})])
def test_adapting_never_changes_results_in_deterministic_mode(monkeypatch, optimizer, options):
    fastmlp.set_deterministic(True)
    adapted, choice, clock = _adaptive_fit(monkeypatch, optimizer, **options)
    assert choice.kept == ONE and {c for c, _ in clock.seen} == {1, numba.config.NUMBA_NUM_THREADS}
    for n in (1, numba.config.NUMBA_NUM_THREADS):
        fastmlp.set_num_threads(n)
        X, y = _data()
        fixed = fastmlp.MLP(LAYERS, seed=0, dtype="float32", **options)
        fixed.fit(X, y, epochs=3, batch_size=BATCH, optimizer=optimizer, lr=1e-3, verbose=0, seed=0)
        assert adapted.params.tobytes() == fixed.params.tobytes()


class _FakeBlas:
    """A BLAS controller that notes limits and restores (the process-wide count it would set)."""

    def __init__(self):
        self.count, self.events = 2, []

    def limit(self, limits):
        blas, before = self, self.count
        self.count = limits
        self.events.append(("limit", limits))

        class Limiter:
            def restore_original_limits(self):
                blas.count = before
                blas.events.append(("restore", before))
        return Limiter()


def test_one_thread_in_two_threads_at_once_keeps_the_blas_limited_until_both_left(monkeypatch):
    blas = _FakeBlas()
    monkeypatch.setattr(tc, "blas_controller", lambda: blas)
    inside, leave_a, done_b = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def a():
        with tc.one_thread():
            inside.set()
            leave_a.wait(10)
        seen.append(("a left", blas.count))

    def b():
        inside.wait(10)
        with tc.one_thread():
            seen.append(("b in", numba.get_num_threads()))
            leave_a.set()
            done_b.wait(10)
            seen.append(("b inside", blas.count))

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start(), tb.start()
    ta.join(10)
    done_b.set()
    tb.join(10)
    assert seen == [("b in", 1), ("a left", 1), ("b inside", 1)]  # a left while b runs: still one thread
    assert blas.events == [("limit", 1), ("restore", 2)] and blas.count == 2


# -- inference ---------------------------------------------------------------------------------
def _calls(choice, n, rows, seconds_per_row):
    """``n`` whole calls of ``rows`` rows through ``choice``, each timed by ``seconds_per_row``
    (way -> seconds per row, or a function of the call's index); the ways they ran on."""
    ways = []
    for i in range(n):
        way = choice.way()
        per_row = seconds_per_row[way]
        choice.record(way, rows, rows * (per_row(i) if callable(per_row) else per_row))
        ways.append(way)
    return ways


SETTLE = 2 * tc.POOLED_CALLS + 1  # calls that settle a new choice: the first one does not judge


def test_inference_calls_alternate_while_probing_then_run_on_the_kept_way():
    c = tc.PooledChoice()
    rows = 1000  # 1e-5 s per row: 10 ms calls, POOLED_SECONDS after two
    ways = _calls(c, SETTLE, rows, {ALL: 1e-5, ONE: 2e-5})
    assert ways == [ALL] + [ALL, ONE] * tc.POOLED_CALLS
    assert not c.probing and c.kept == ALL
    assert _calls(c, 3, rows, {ALL: 1e-5, ONE: 2e-5}) == [ALL] * 3


def test_inference_judges_pooled_time_not_the_best_call():
    """On a busy core two BLAS threads run some calls fast and others slowly: their pooled speed
    loses to one thread although their best call wins."""
    c = tc.PooledChoice()
    busy = {ALL: lambda i: 0.5e-5 if i == 1 else 8e-5, ONE: 1e-5}  # calls 1 and 3 on all threads
    _calls(c, SETTLE, 1000, busy)
    assert c.kept == ONE
    assert c.rate(ONE) > c.rate(ALL)


def test_the_first_inference_call_does_not_judge():
    c = tc.PooledChoice()
    first_slow = {ALL: lambda i: 50e-5 if i == 0 else 1e-5, ONE: 2e-5}  # the first call touches new buffers
    _calls(c, SETTLE, 1000, first_slow)
    assert c.kept == ALL and c.rate(ALL) == pytest.approx(1e5)


def test_inference_chooses_only_after_enough_calls_and_seconds():
    c = tc.PooledChoice()
    _calls(c, SETTLE, 10, {ALL: 1e-5, ONE: 2e-5})  # 0.1 ms calls: far from POOLED_SECONDS
    assert c.probing
    _calls(c, 2 * int(tc.POOLED_SECONDS / 1e-4) + 2, 10, {ALL: 1e-5, ONE: 2e-5})
    assert c.kept == ALL


def test_inference_probes_again_when_the_kept_way_slows_down():
    c = tc.PooledChoice()
    _calls(c, SETTLE, 1000, {ALL: 1e-5, ONE: 2e-5})
    assert c.kept == ALL
    slow = {ALL: 5e-5, ONE: 2e-5}  # 100-row calls of 5 ms: judged by POOLED_SECONDS
    _calls(c, 1, 100, slow)  # one slow call: not yet judged (pooled)
    assert not c.probing
    _calls(c, int(tc.POOLED_SECONDS / 5e-3), 100, slow)
    assert c.probing
    _calls(c, 2 * tc.POOLED_CALLS, 1000, slow)
    assert c.kept == ONE


def test_inference_with_one_thread_kept_is_measured_again_after_one_recheck_seconds_then_doubled():
    """No drop acts with one thread kept (the machine got busier); it is measured again after
    ONE_RECHECK_SECONDS, doubled at each probe in a row that keeps it, up to ONE_RECHECK_MAX_SECONDS: a first
    probe while the BLAS's new threads spin keeps one thread, and must not hold it for long."""
    c = tc.PooledChoice()
    _calls(c, SETTLE, 1000, {ALL: 3e-5, ONE: 1e-5})
    assert c.kept == ONE
    waits = []
    for _ in range(6):
        calls = 0
        while not c.probing:  # one thread 5x slower (0.05 s calls)
            _calls(c, 1, 1000, {ALL: 3e-5, ONE: 5e-5})
            calls += 1
        waits.append(calls)
        _calls(c, 2 * tc.POOLED_CALLS, 1000, {ALL: 3e-5, ONE: 1e-5})  # the probe keeps one thread again
        assert c.kept == ONE
    seconds = [min(tc.ONE_RECHECK_SECONDS * 2 ** i, tc.ONE_RECHECK_MAX_SECONDS) for i in range(6)]
    assert all(round(s / 0.05) <= w <= round(s / 0.05) + 1 for w, s in zip(waits, seconds))  # (sums of 0.05 s)
    _calls(c, int(np.ceil(tc.ONE_RECHECK_SECONDS / 0.05)), 1000, {ALL: 3e-5, ONE: 5e-5})
    _calls(c, 2 * tc.POOLED_CALLS, 1000, {ALL: 1e-5, ONE: 2e-5})  # not yet: ONE_RECHECK_MAX_SECONDS now
    assert c.kept == ONE


class _ThreadsClock:
    """Time that runs 3x slower per call on several threads than on one, and notes the call's thread count at each
    reading: the fewer of the BLAS's and Numba's (a call on one thread puts the pool it runs on to one: the BLAS's by
    whole layers, Numba's by blocks)."""

    def __init__(self):
        self.now, self.seen = 0.0, []

    def __call__(self):
        threads = min(tc.blas_threads(), numba.get_num_threads())
        self.seen.append(threads)
        self.now += 1.0 if threads == 1 else 3.0
        return self.now


@several_threads
@pytest.mark.parametrize("method", ["predict_proba", "predict", "forward"])
def test_inference_settles_on_one_thread_when_the_clock_says_so(method, monkeypatch):
    monkeypatch.setattr(tc, "ONE_RECHECK_SECONDS", 1e9)  # calls of 1 s on this clock: no recheck here
    X, _ = _data(300)
    m = fastmlp.MLP(LAYERS, seed=0, dtype="float32")
    choice = m.engine.inference_choice(X.shape[0])
    clock = choice.clock = _ThreadsClock()
    top, pool = tc.blas_threads(), numba.get_num_threads()
    results = [getattr(m, method)(X) for _ in range(SETTLE + 3)]
    assert choice.kept == ONE
    assert clock.seen[:6] == [min(top, pool)] * 4 + [1, 1]  # probed (two readings a call): the first call, all, one
    assert clock.seen[-6:] == [1] * 6  # then every call on one thread
    assert tc.blas_threads() == top and numba.get_num_threads() == pool  # restored after each call
    fastmlp.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # fixed: the BLAS's own threads, no choice
    reference = getattr(m, method)(X)
    for r in results:  # the same rows on one BLAS thread or several: equal to rounding
        np.testing.assert_allclose(r, reference, rtol=1e-5, atol=1e-6)


@several_threads
def test_inference_counts_bad_values_on_either_way():
    X, _ = _data(300)
    X[7, 3], X[250, 0] = np.nan, np.inf
    m = fastmlp.MLP(LAYERS, seed=0, dtype="float32")
    choice = m.engine.inference_choice(X.shape[0])
    choice.clock = _ThreadsClock()
    for _ in range(4):  # the first call, then all threads, one thread, all threads: each refused
        with pytest.raises(ValueError, match="NaN or inf"):
            m.predict_proba(X)
    assert len(choice._probe[ALL]) == 2 and len(choice._probe[ONE]) == 1  # both ways ran (and were timed)


def test_inference_has_nothing_to_choose_for_few_rows_small_nets_or_a_fixed_count():
    m = fastmlp.MLP([784, 256, 10], seed=0)
    few = m.engine.inference_choice(1)  # the row path: no BLAS call
    assert few is None
    if numba.config.NUMBA_NUM_THREADS > 1:
        assert m.engine.inference_choice(64) is not None
        assert m.engine.inference_choice(64) is m.engine.inference_choice(100)  # one per power of two
        assert m.engine.inference_choice(64) is not m.engine.inference_choice(200)
    assert fastmlp.MLP([6, 9, 3], seed=0).engine.inference_choice(4096) is None  # 4096 x 6 x 9 < MIN_WORK
    fastmlp.set_num_threads(1)
    assert m.engine.inference_choice(4096) is None
    fastmlp.set_num_threads("auto")
    fastmlp.set_deterministic(True)
    assert m.engine.inference_choice(4096) is None


@several_threads
def test_each_thread_predicting_has_its_own_inference_choice():
    m = fastmlp.MLP(LAYERS, seed=0, dtype="float32")
    X, _ = _data(300)
    mine = m.engine.inference_choice(300)
    theirs = []
    t = threading.Thread(target=lambda: (m.predict_proba(X), theirs.append(m.engine.inference_choice(300))))
    t.start(), t.join(30)
    assert theirs and theirs[0] is not mine and theirs[0] is not None
