"""Epochs run as compiled chunks (fastmlp.trainer): same numbers, progress within the epoch, Ctrl-C honoured.

The trainer cuts each epoch into chunks of whole batches of about ``CHUNK_SECONDS`` each, one
engine call per chunk. Chunking must not change a single bit of the result (the same batches
in the same order, the optimizer's step count carried over), the progress display must
advance between chunks, and a Ctrl-C inside a chunk must undo the half-done epoch only.
"""
import subprocess
import sys

import numpy as np
import pytest

import fastmlp
from fastmlp import trainer as trainer_module
from fastmlp.progress import Progress


def _data(n=203, n_in=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)), rng.integers(0, 3, n)


def _one_batch_chunks(monkeypatch):
    monkeypatch.setattr(trainer_module, "CHUNK_SECONDS", 1e-9)
    monkeypatch.setattr(trainer_module, "FIRST_CHUNK_SAMPLES", 1)


def _fit(monkeypatch, one_batch_chunks, kernel, dtype, optimizer, batch_size, drop_last, backend="numba"):
    if one_batch_chunks:
        _one_batch_chunks(monkeypatch)
    else:
        monkeypatch.setattr(trainer_module, "FIRST_CHUNK_SAMPLES", 10 ** 9)
    X, y = _data()
    m = fastmlp.MLP([6, 9, 3], dtype=dtype, seed=1, backend=backend)
    if kernel:
        m.engine.epoch_kernel = kernel
    kw = dict(momentum=0.9) if optimizer == "momentum" else {}
    m.fit(X, y, epochs=3, batch_size=batch_size, drop_last=drop_last, lr=0.01,
          optimizer="sgd" if optimizer == "momentum" else optimizer, seed=4, verbose=0, **kw)
    return m


@pytest.mark.parametrize("backend,kernel,optimizer,batch_size,drop_last", [
    ("numba", "online", "sgd", 1, False), ("numba", "online", "adam", 1, False), ("numba", None, "momentum", 1, False),
    ("numba", "fused", "sgd", 7, False), ("numba", "fused", "sgd", 7, True),
    ("numba", "generic", "sgd", 7, True), ("numba", None, "adam", 5, False), ("numba", None, "momentum", 16, True),
    ("numpy", None, "adam", 5, False), ("loop", None, "rmsprop", 64, False)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_chunks_give_the_same_bits_as_whole_epochs(monkeypatch, backend, kernel, optimizer, batch_size, drop_last,
                                                   dtype):
    whole = _fit(monkeypatch, False, kernel, dtype, optimizer, batch_size, drop_last, backend)
    calls = []
    real = type(whole.engine).train_epoch

    def counting(self, *args):
        calls.append(args[4].shape[0])
        return real(self, *args)
    monkeypatch.setattr(type(whole.engine), "train_epoch", counting)
    chunked = _fit(monkeypatch, True, kernel, dtype, optimizer, batch_size, drop_last, backend)  # one batch a chunk
    per_epoch = [c for c in calls if c]  # (the numba backend's prepare call trains on no sample)
    assert per_epoch == 3 * ([batch_size] * (203 // batch_size) + ([203 % batch_size] if 203 % batch_size else []))
    assert np.array_equal(chunked.params, whole.params)
    assert chunked.optimizer_state.step == whole.optimizer_state.step
    assert np.array_equal(chunked.optimizer_state.slots, whole.optimizer_state.slots)
    assert chunked.history["loss"] == pytest.approx(whole.history["loss"], rel=1e-12)


class _Recorder(Progress):
    events = []

    def start_epoch(self, epoch):
        self.events.append(("start", epoch))

    def advance(self, samples_done, mean_loss):
        self.events.append(("advance", samples_done, mean_loss))

    def end_epoch(self, row):
        self.events.append(("end", row["epoch"]))


def test_progress_advances_within_each_epoch(monkeypatch):
    _one_batch_chunks(monkeypatch)
    monkeypatch.setattr(trainer_module, "Progress", _Recorder)
    _Recorder.events = []
    X, y = _data()
    fastmlp.MLP([6, 9, 3], seed=1).fit(X, y, epochs=2, batch_size=50, verbose=0)
    events = _Recorder.events
    assert [e for e in events if e[0] != "advance"] == [("start", 0), ("end", 0), ("start", 1), ("end", 1)]
    first = events[1:events.index(("end", 0))]
    assert [e[1] for e in first] == [50, 100, 150, 200, 203]
    assert all(np.isfinite(e[2]) for e in first)


class _CtrlC(Progress):
    calls = 0

    def advance(self, samples_done, mean_loss):
        _CtrlC.calls += 1
        if _CtrlC.calls == 6:  # in the second epoch, after some of its chunks
            raise KeyboardInterrupt


def test_ctrl_c_inside_an_epoch_undoes_only_that_epoch(monkeypatch):
    _one_batch_chunks(monkeypatch)
    X, y = _data()
    m = fastmlp.MLP([6, 9, 3], seed=1)
    ref = m.copy()
    ref.fit(X, y, epochs=1, batch_size=50, optimizer="adam", seed=3, verbose=0)
    monkeypatch.setattr(trainer_module, "Progress", _CtrlC)
    _CtrlC.calls = 0
    with pytest.warns(RuntimeWarning, match="interrupted: kept the 1 completed epoch"):
        h = m.fit(X, y, epochs=3, batch_size=50, optimizer="adam", seed=3, verbose=0)
    assert h.interrupted and len(h) == 1
    assert np.array_equal(m.params, ref.params)  # the end of epoch 1, not part of epoch 2
    assert m.optimizer_state.step == ref.optimizer_state.step == 5


def test_first_fit_says_the_kernels_are_being_prepared():
    code = ("import numpy as np, fastmlp\n"
            "X = np.random.default_rng(0).random((40, 3)); y = np.arange(40) % 2\n"
            "fastmlp.MLP([3, 4, 2]).fit(X, y, epochs=1, verbose=2)\n"
            "fastmlp.MLP([3, 4, 2]).fit(X, y, epochs=1, verbose=2)\n"
            "fastmlp.MLP([3, 4, 2]).fit(X, y, epochs=1, verbose=0)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("preparing the kernels (compiled on the first run only")
    assert lines[1].startswith("kernels ") and (" compiled in " in lines[1] or "loaded from the cache in" in lines[1])
    assert sum("preparing" in line for line in lines) == 1  # once per process and kernel
    assert sum(line.startswith("epoch 1/1") for line in lines) == 2  # the quiet fit printed nothing


def _fresh_machine(monkeypatch):
    """As in a fresh process on a machine with no products' choice recorded (each test's records are in a folder
    of its own: ``conftest``): nothing prepared, timed, compiled in a thread or chosen."""
    from fastmlp.backends import numba as backend
    from fastmlp.backends import products
    backend._wait_for_cut_compiles()
    for module, name, empty in ((backend, "_prepared", set()), (backend, "_cut_ready", set()),
                                (backend, "_own_ready", set()), (backend, "_own_one_ready", set()),
                                (backend, "_cut_compiling", {}),
                                (backend, "_cut_failed", {}), (backend, "_uncut_seconds", {}),
                                (products, "_chosen", {}), (products, "_timing_compiled", set())):
        monkeypatch.setattr(module, name, empty)


def _images(n=256, n_in=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in))
    X[X < 0.5] = 0.0  # zeros, as images' dark pixels: the first layer's products over them are timed
    return X, np.arange(n) % 10


def test_a_cut_training_times_no_product_before_its_first_batch(monkeypatch):
    """On a machine's first training whose products are cut over the threads (Nesterov momentum here), on inputs
    with zeros, nothing of its products' choice happens before its first batch: the preparation compiles the uncut
    kernel with the BLAS's products; once the training has run ``CUT_AFTER_S``, a thread compiles the kernels that
    time the products (timing nothing); the first call after that measures the choice, between two calls, and
    starts the thread that compiles the cut kernel and the uncut one with the choice; the calls take it once they
    are ready. Made before the first batch, the choice compiled its timing kernels and the kernel that takes it:
    22-40 s (Adam and Nesterov momentum on the fashion net, a fresh machine, Intel Xeon model 207)."""
    import threading

    import numba
    from fastmlp.backends import numba as backend
    from fastmlp.backends import products
    X, y = _images()
    m = fastmlp.MLP([300, 64, 10], dtype="float32", seed=0)
    if not backend.cut_possible(m.arch, 64) or 0 not in products.eligible(m.arch, 64):
        pytest.skip("nothing is cut here, or no own product fits")
    _fresh_machine(monkeypatch)
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e-9)
    chosen = np.zeros(len(m.arch.layers) - 1, np.int64)
    chosen[0] = products.OWN_FORWARD | products.OWN_SPARSE  # what the timing gives here, as where they ran faster
    events, real_measure = [], products._measure_cut

    def measure(arch, rows, batch, tiles=True):
        if products._timing_off():  # compiling only: in the products' thread
            events.append(("compiled", threading.current_thread().name))
            return real_measure(arch, rows, batch, tiles)
        events.append(("timed", threading.current_thread() is threading.main_thread(), bool(backend._cut_compiling)))
        return chosen
    monkeypatch.setattr(products, "_measure_cut", measure)
    real_call, real_start, trained = backend.NumbaBackend._call_epoch, backend._compile_in_thread, threading.Event()

    def call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net):
        main = threading.current_thread() is threading.main_thread()
        events.append(("call", order.shape[0] > 0, net.parts is not None, None if net.own is None else list(net.own),
                       main))
        if main and order.shape[0]:
            trained.set()
        return real_call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net)

    def start(key, name, ready, work, loads=False):  # each thread's work after a training call of its fit (a slow
        def late():                                   # compile's)
            trained.wait(60)
            work()
        real_start(key, name, ready, late, loads)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", call)
    monkeypatch.setattr(backend, "_compile_in_thread", start)
    fastmlp.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # fixed: no one-thread probe pieces
    try:
        def fit(epochs):
            events.clear()
            trained.clear()
            m.fit(X, y, epochs=epochs, batch_size=64, optimizer="sgd", momentum=0.9, nesterov=True, verbose=0)
            backend._wait_for_cut_compiles()
            return list(events)
        first = fit(3)
        # prepared (a call over no sample) with the BLAS's products, then three epoch calls on them; the third
        # (the first not counted, the second counted) started the products' thread, which compiled the timing
        # kernels and timed nothing
        assert first[0] == ("call", False, False, None, True)
        assert [e for e in first if e[0] == "call"][1:] == [("call", True, False, None, True)] * 3
        assert [e for e in first if e[0] != "call"] == [("compiled", "fastmlp-compile-products")]
        assert products.own_known(m.arch, 64, X, True) is False
        second = fit(1)
        # its call measured the choice first, on this thread, no compile running (where AMX tiles may run, two: the
        # cut calls' with the tiles and the uncut calls' without), then started the thread that prepared (calls over
        # no sample) the cut kernel and the uncut one with the choice, and ran uncut on the BLAS's products meanwhile
        timings = 2 if products.tiles_eligible(m.arch, 64) else 1
        assert second[:timings] == [("timed", True, False)] * timings
        assert not [e for e in second[timings:] if e[0] == "timed"]
        assert [e for e in second if e[0] == "call" and e[4]] == [("call", True, False, None, True)]
        assert sorted(e for e in second if e[0] == "call" and not e[4]) == [
            ("call", False, False, chosen.tolist(), False), ("call", False, True, chosen.tolist(), False)]
        assert products.own_known(m.arch, 64, X, True)
        third = fit(1)
        assert third == [("call", True, True, chosen.tolist(), True)]  # cut, with the choice, nothing timed
        [key] = backend._own_ready  # (this training's alone: a fresh process's)
        assert m.engine._own(key, 64, X, None).tolist() == chosen.tolist()  # so too its calls not cut
    finally:
        fastmlp.set_num_threads("auto")


def _one_core_training(monkeypatch):
    """(X, y, model, a choice) for the tests of a process of one thread (Numba's pool as on one core): a fresh machine,
    a net whose first layer's own products fit, and a choice of them (its forward over the nonzero inputs, as where
    they ran faster)."""
    import numba
    from fastmlp.backends import products
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    X, y = _images()
    m = fastmlp.MLP([300, 64, 10], dtype="float32", seed=0)
    if 0 not in products.eligible(m.arch, 64):
        pytest.skip("no own product fits")
    _fresh_machine(monkeypatch)
    chosen = np.zeros(len(m.arch.layers) - 1, np.int64)
    chosen[0] = products.OWN_FORWARD | products.OWN_SPARSE
    return X, y, m, chosen


def test_a_training_on_one_thread_times_no_product_before_its_first_batch(monkeypatch):
    """The same on one thread (a process on one core), where every layer's products are chosen: on a machine's first
    training of a shape (plain SGD here), the preparation compiles the kernel with the BLAS's products; once the
    training has run ``CUT_AFTER_S``, a thread compiles the kernels that time the products (timing nothing); the first
    call after that measures the choice on this thread, no compile running, and starts the thread that compiles the
    kernel with it; the calls take it once it is ready. Made before the first batch, the choice and its kernels kept
    a machine's first training on one core from its first batch for 23.5-27.1 s (the fashion net, plain SGD and Adam,
    Intel Xeon model 207), against 2.7-3.9 s without them."""
    import threading

    from fastmlp.backends import numba as backend
    from fastmlp.backends import products
    X, y, m, chosen = _one_core_training(monkeypatch)  # (chosen: what the timing gives here)
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e-9)
    events, real_measure = [], products._measure

    def measure(arch, rows, batch=None):
        if products._timing_off():  # compiling only: in the products' thread
            events.append(("compiled", threading.current_thread().name))
            return real_measure(arch, rows, batch)
        events.append(("timed", threading.current_thread() is threading.main_thread(), bool(backend._cut_compiling)))
        return chosen
    monkeypatch.setattr(products, "_measure", measure)
    real_call, real_start = backend.NumbaBackend._call_epoch, backend._compile_in_thread
    trained, fitted = threading.Event(), threading.Event()

    def call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net):
        main = threading.current_thread() is threading.main_thread()
        events.append(("call", order.shape[0] > 0, None if net.own is None else list(net.own),
                       main if main else threading.current_thread().name))
        if main and order.shape[0]:
            trained.set()
        return real_call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net)

    def start(key, name, ready, work, loads=False):
        # the timing kernels' thread works after a training call of its fit, the kernel's thread after its fit (slow
        # compiles)
        def late():
            (fitted if name == "fastmlp-compile-own" else trained).wait(60)
            work()
        real_start(key, name, ready, late, loads)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", call)
    monkeypatch.setattr(backend, "_compile_in_thread", start)
    monkeypatch.setattr(backend.thread_choice, "worth_choosing", lambda layers, rows: False)  # one call an epoch

    def fit(epochs):
        events.clear()
        trained.clear()
        fitted.clear()
        m.fit(X, y, epochs=epochs, batch_size=64, verbose=0)
        fitted.set()
        backend._wait_for_cut_compiles()
        return list(events)
    first = fit(3)
    # prepared (a call over no sample) with the BLAS's products, then three epoch calls on them; the third (the
    # first not counted, the second counted) started the products' thread, which compiled the timing kernels and
    # timed nothing
    assert first[0] == ("call", False, None, True)
    assert [e for e in first if e[0] == "call"][1:] == [("call", True, None, True)] * 3
    assert [e for e in first if e[0] != "call"] == [("compiled", "fastmlp-compile-products")]
    assert products.own_known(m.arch, 64, X) is False
    second = fit(2)
    # its first call measured the choice first, on this thread, no compile running, then started the thread that
    # prepared (a call over no sample) the kernel with the choice; both calls ran on the BLAS's products meanwhile
    assert second[0] == ("timed", True, False) and not [e for e in second[1:] if e[0] == "timed"]
    assert second[1:] == [("call", True, None, True)] * 2 + [("call", False, chosen.tolist(), "fastmlp-compile-own")]
    assert products.own_known(m.arch, 64, X)
    third = fit(1)
    assert third == [("call", True, chosen.tolist(), True)]  # with the choice, nothing timed
    # a second model of the same shape in this process takes it from its first batch, preparing nothing
    events.clear()
    fastmlp.MLP([300, 64, 10], dtype="float32", seed=1).fit(X, y, epochs=1, batch_size=64, verbose=0)
    assert events == [("call", True, chosen.tolist(), True)]


def test_on_one_thread_a_choice_made_before_is_taken_from_the_first_batch(monkeypatch):
    """A products' choice made before a training began (in this process, or a record of this machine's) is taken
    from its preparation and first batch on, as in every process of the machine, even where no thread has compiled
    its kernel in this process (``_own_one_ready`` empty): a seeded fit then rounds alike in all of them."""
    from fastmlp.backends import numba as backend
    from fastmlp.backends import products
    X, y, m, own = _one_core_training(monkeypatch)
    products._chosen[products._choice(m.arch, 64, X, False, False).key] = own  # as a record read
    calls, real_call = [], backend.NumbaBackend._call_epoch

    def call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net):
        calls.append((order.shape[0] > 0, None if net.own is None else list(net.own)))
        return real_call(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", call)
    monkeypatch.setattr(backend, "_compile_in_thread",
                        lambda *args, **kwargs: pytest.fail("nothing compiles in a thread"))
    m.fit(X, y, epochs=2, batch_size=64, verbose=0, optimizer="adam")
    assert calls[0] == (False, own.tolist())  # prepared with it
    assert len(calls) > 1 and all(c == (True, own.tolist()) for c in calls[1:])


def test_a_one_thread_training_whose_choice_is_the_blas_compiles_nothing_more(monkeypatch):
    """Where the measured choice is the BLAS's products everywhere (``own_products`` None), the calls go on as they
    were: no kernel compiles in a thread after the timing kernels, and nothing is timed again."""
    from fastmlp.backends import numba as backend
    from fastmlp.backends import products
    X, y, m, _ = _one_core_training(monkeypatch)
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e-9)
    timed, threads, real_start = [], [], backend._compile_in_thread

    def measure(arch, rows, batch=None):  # the BLAS's products everywhere (compiling nothing, timing nothing)
        if not products._timing_off():
            timed.append(rows)
        return None

    def start(key, name, ready, work, loads=False):
        threads.append(name)
        real_start(key, name, ready, work, loads)
    monkeypatch.setattr(products, "_measure", measure)
    monkeypatch.setattr(backend, "_compile_in_thread", start)
    for _ in range(4):
        m.fit(X, y, epochs=2, batch_size=64, verbose=0)
        backend._wait_for_cut_compiles()
    assert threads == ["fastmlp-compile-products"] and timed == [64]
    assert products.own_known(m.arch, 64, X) and products.own_products(m.arch, 64, X, measure=False) is None


def test_the_first_epoch_runs_the_kernel_its_preparation_compiled(monkeypatch):
    """The preparation compiles the kernel the first epoch runs, with the products it takes: for a cut training
    (Nesterov momentum here) whose first layer takes fastmlp's own products over nonzero inputs by a choice made
    before (in this process, or recorded on this machine), the uncut kernel with those products (``Net.own``).
    Prepared without them, the first epoch compiled its kernel again (Adam on the fashion net: 28 s at 8-10
    samples/s after "kernels compiled in 35 s")."""
    import numba
    from fastmlp.backends import numba as backend
    from fastmlp.backends import products
    X, y = _images()
    m = fastmlp.MLP([300, 64, 10], dtype="float32", seed=0)
    if not backend.cut_possible(m.arch, 64) or 0 not in products.eligible(m.arch, 64):
        pytest.skip("nothing is cut here, or no own product fits")
    _fresh_machine(monkeypatch)
    own = np.zeros(len(m.arch.layers) - 1, np.int64)
    own[0] = products.OWN_FORWARD | products.OWN_SPARSE  # the choice made before, as where they ran faster
    products._chosen[products._choice(m.arch, 64, X, True, False).key] = own
    calls = []
    call_epoch = backend.NumbaBackend._call_epoch

    def spy(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net):
        calls.append((order.shape[0] > 0, numba.typeof(net)))
        return call_epoch(self, kernel, tb, params, state, optimizer, samples, data, order, lr, net)

    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e9)  # the cut kernel not started: the calls stay those prepared for
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", spy)
    m.fit(X, y, epochs=1, batch_size=64, optimizer="sgd", momentum=0.9, nesterov=True, verbose=0)
    prepared = [net for trained, net in calls if not trained]
    trained = {net for trained, net in calls if trained}
    assert prepared and trained == {prepared[0]}
    assert dict(zip(prepared[0].fields, prepared[0].types))["own"] != numba.types.none  # (its own products)
