"""Field robustness (issue 11): one model from many threads, the model's seed, read-only and
other unusual arrays on every path, assignments and settings that used to corrupt or mislead.

Each test runs a mechanism as real programs use it: threads of a web server sharing one model,
memory-mapped data, a fit given absurd but valid settings, a schedule that misbehaves.
"""
import threading
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp import kernels as K


def _data(n=300, n_in=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)).astype(np.float32), rng.integers(0, classes, n)


def _trained(**kw):
    X, y = _data()
    m = fastmlp.MLP([12, 64, 32, 3], seed=0, **kw)
    m.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
    return m, X, y


# -- many threads, one model -------------------------------------------------------------------
def _hammer(work, n_threads=8, repeats=25):
    """Run ``work(i)`` ``repeats`` times in each of ``n_threads`` threads at once; their results."""
    barrier = threading.Barrier(n_threads)
    results = [[] for _ in range(n_threads)]
    errors = []

    def run(i):
        try:
            barrier.wait()
            for _ in range(repeats):
                results[i].append(work(i))
        except Exception as e:  # noqa: BLE001  (reported by the test)
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_concurrent_inference_on_one_model_gives_the_serial_answers(backend):
    m, X, y = _trained(backend=backend)
    chunks = [X[i * 37:(i + 1) * 37 + 5 * i] for i in range(8)]  # different sizes per thread
    serial_p = [m.predict_proba(c) for c in chunks]
    serial_e = [m.evaluate(c, y[i * 37:(i + 1) * 37 + 5 * i]) for i, c in enumerate(chunks)]
    serial_g = [m.loss_and_grad(c, y[i * 37:(i + 1) * 37 + 5 * i]) for i, c in enumerate(chunks)]

    def work(i):
        yi = y[i * 37:(i + 1) * 37 + 5 * i]
        return m.predict_proba(chunks[i]), m.evaluate(chunks[i], yi), m.loss_and_grad(chunks[i], yi)
    for i, runs in enumerate(_hammer(work)):
        for p, e, (loss, g) in runs:
            assert np.array_equal(p, serial_p[i])
            assert e == serial_e[i]
            assert loss == serial_g[i][0] and np.array_equal(g, serial_g[i][1])


def test_a_second_thread_fitting_the_same_model_is_refused_and_the_first_fit_completes():
    X, y = _data(n=4000)
    m = fastmlp.MLP([12, 64, 3], seed=0)
    started, errors, histories = threading.Event(), [], []

    class Signal(fastmlp.Callback):
        def on_train_begin(self, trainer):
            started.set()

    def first():
        histories.append(m.fit(X, y, epochs=5, batch_size=1, verbose=0, callbacks=[Signal()]))
    t = threading.Thread(target=first)
    t.start()
    started.wait(60)
    try:
        m.fit(X, y, epochs=1, verbose=0)
    except RuntimeError as e:
        errors.append(str(e))
    t.join()
    assert errors and "being trained by another thread" in errors[0] and "model.copy()" in errors[0]
    assert len(histories[0]) == 5 and len(m.history) == 5  # the refused fit added nothing


# -- the model's seed, copies ------------------------------------------------------------------
def test_the_model_seed_makes_fit_reproducible_without_a_fit_seed():
    X, y = _data()
    a, b = fastmlp.MLP([12, 8, 3], seed=7), fastmlp.MLP([12, 8, 3], seed=7)
    a.fit(X, y, epochs=2, verbose=0)
    b.fit(X, y, epochs=2, verbose=0)
    assert np.array_equal(a.params, b.params)
    c = fastmlp.MLP([12, 8, 3], seed=7)
    c.fit(X, y, epochs=2, verbose=0, seed=8)  # a fit's own seed still wins
    assert not np.array_equal(a.params, c.params)


def test_a_copy_shares_no_history_and_leaves_the_original_as_it_was():
    m, X, y = _trained()
    before = (m.params.copy(), len(m.history), m.optimizer_state.step)
    c = m.copy()
    c.fit(X, y, epochs=3, verbose=0)
    assert len(c.history) == before[1] + 3
    assert (len(m.history), m.optimizer_state.step) == before[1:] and np.array_equal(m.params, before[0])


# -- arrays of every kind on every path ---------------------------------------------------------
def _variants(X):
    ro = X.copy()
    ro.flags.writeable = False
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), X.dtype)
    wide[:, ::2] = X
    return {"read-only": ro, "non-contiguous": wide[:, ::2], "big-endian": X.astype(X.dtype.newbyteorder(">")),
            "fortran": np.asfortranarray(X), "float64": X.astype(np.float64)}


@pytest.mark.parametrize("kernel,batch_size,optimizer", [("online", 1, "sgd"), ("online", 1, "adam"),
                                                         ("fused", 16, "sgd"), ("generic", 16, "adam")])
def test_any_array_flags_train_and_predict_the_same_without_writing_or_recompiling(tmp_path, kernel, batch_size,
                                                                                  optimizer):
    X, y = _data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    arrays = dict(_variants(X), mmap=np.load(tmp_path / "X.npy", mmap_mode="r"))
    y_mmap = np.load(tmp_path / "y.npy", mmap_mode="r")

    def train(Xv, yv):
        m = fastmlp.MLP([12, 9, 3], seed=0)
        m.engine.epoch_kernel = kernel
        m.fit(Xv, yv, epochs=2, batch_size=batch_size, optimizer=optimizer, seed=1, verbose=0)
        return m
    ref = train(X, y)
    ref.predict_proba(X), ref.evaluate(X, y), ref.layer_outputs(X), ref.loss_and_grad(X[:20], y[:20])  # compiled
    kernels = (K.train_epoch_online, K.train_epoch_online_any, K.train_epoch_sgd, K.train_epoch, K.output,
               K.evaluate, K.forward, K.loss_and_grad)
    compiled = [len(k.signatures) for k in kernels]
    for name, Xv in arrays.items():
        snapshot = np.array(Xv, copy=True)
        m = train(Xv, y_mmap if name == "mmap" else y)
        assert np.array_equal(m.params, ref.params), name
        assert np.array_equal(m.predict_proba(Xv), ref.predict_proba(X)), name
        assert m.evaluate(Xv, y) == ref.evaluate(X, y), name
        assert np.array_equal(m.layer_outputs(Xv)[0], ref.layer_outputs(X)[0]), name
        assert np.array_equal(m.loss_and_grad(Xv[:20], y[:20])[1], ref.loss_and_grad(X[:20], y[:20])[1]), name
        assert np.array_equal(np.asarray(Xv), snapshot), f"{name}: the input was written to"
    assert [len(k.signatures) for k in kernels] == compiled  # no specialisation per array flag


# -- settings that used to crash or mislead ------------------------------------------------------
@pytest.mark.parametrize("batch_size", [2 ** 64, 10 ** 30, 300, 301])
def test_a_batch_larger_than_the_data_is_the_full_batch(batch_size):
    X, y = _data()
    a, b = fastmlp.MLP([12, 8, 3], seed=0), fastmlp.MLP([12, 8, 3], seed=0)
    a.fit(X, y, epochs=2, batch_size=batch_size, seed=0, verbose=0)
    b.fit(X, y, epochs=2, batch_size=len(X), seed=0, verbose=0)
    assert np.array_equal(a.params, b.params) and a.optimizer_state.step == 2


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_finite_blow_up_counts_as_divergence_and_restores_the_weights(backend):
    X, y = _data()
    m = fastmlp.MLP([12, 16, 3], activation="tanh", seed=0, backend=backend)
    m.fit(X, y, epochs=1, lr=0.01, verbose=0)
    good = m.params.copy()
    with pytest.warns(fastmlp.DivergenceWarning, match="exceeds divergence_factor"):
        h = m.fit(X, y, epochs=3, lr=1e6, verbose=0)
    assert h.diverged and len(h) == 0 and np.array_equal(m.params, good)
    with warnings.catch_warnings():  # the check can be switched off: the finite loss is then kept
        warnings.simplefilter("error")
        h = m.fit(X, y, epochs=1, lr=1e6, verbose=0, divergence_factor=None)
    assert not h.diverged and np.isfinite(h["loss"][0]) and h["loss"][0] > 100


@pytest.mark.parametrize("bad", [-0.1, 0.0, float("nan"), float("inf")])
def test_a_schedule_giving_a_bad_rate_is_refused_before_it_trains(bad):
    class Bad(fastmlp.Schedule):
        def lr(self, epoch, base_lr):
            return base_lr if epoch == 0 else bad
    X, y = _data()
    m = fastmlp.MLP([12, 8, 3], seed=0)
    with pytest.raises(ValueError, match=r"gave the learning rate .* for epoch 2; a learning rate must be a positive"):
        m.fit(X, y, epochs=3, schedule=Bad(), verbose=0)
    assert len(m.history) == 1  # the good first epoch is kept


@pytest.mark.parametrize("bad,error,match", [
    (np.zeros(5), ValueError, r"^params must have shape \(131,\); got \(5,\)$"),
    (np.zeros(130), ValueError, r"^params must have shape \(131,\); got \(130,\)$"),
    (np.full(131, np.nan), ValueError, r"^params contains NaN or inf"),
    (np.full(131, "x"), TypeError, r"^params must be real numbers; got dtype <U1$")])
def test_assigning_params_is_validated_and_keeps_the_model(bad, error, match):
    m = fastmlp.MLP([12, 8, 3], seed=0)
    before = m.params.copy()
    with pytest.raises(error, match=match):
        m.params = bad
    assert np.array_equal(m.params, before)
    m.params = np.ones(m.n_params)  # the right size: copied in, the buffer kept
    assert np.array_equal(m.params, np.ones(m.n_params, np.float32)) and m.W[0].base is not None
