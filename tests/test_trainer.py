"""The trainer: batching, shuffling, backends agreeing, progress, validation,
history, early stopping, callbacks, divergence, Ctrl-C and refused calls."""
import io
import math
import sys
import warnings

import numpy as np
import pytest

import fastmlp
from fastmlp import trainer as trainer_mod
from fastmlp.callbacks import Callback, EarlyStopping
from fastmlp.history import KEYS

BACKENDS = ["numba", "numpy", "loop"]


def _classes(n=60, n_in=3, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    y = (np.arange(n) % n_classes).astype(np.int64)
    X[:, 0] += y  # learnable
    return X, y


def _model(backend="numba", layers=(3, 5, 4, 3), dtype="float64", **kw):
    return fastmlp.MLP(list(layers), activation=["tanh", "relu"][:len(layers) - 2], dtype=dtype,
                       backend=backend, seed=0, **kw)


def _recorder(model):
    """A callback keeping the parameters after each epoch, and that list."""
    snaps = []

    def f(epoch, logs):
        snaps.append(model.params.copy())
    return f, snaps


def _state(model):
    st = model.optimizer_state
    return None if st is None else (st.slots[0].copy(), st.slots[1].copy(), st.step, st.name, dict(st.hyper))


# -- batching and shuffling -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (3, False), (3, True), (10, False), (10, True)])
def test_one_epoch_equals_manual_minibatch_sgd(backend, batch_size, drop_last):
    X, y = _classes(10)
    model, ref = _model(backend), _model("numpy")
    lr = 0.1
    hist = model.fit(X, y, epochs=1, batch_size=batch_size, lr=lr, shuffle=False, drop_last=drop_last, verbose=0)
    losses, seen = [], 0
    for start in range(0, 10, batch_size):
        stop = min(start + batch_size, 10)
        if drop_last and stop - start < batch_size:
            break
        loss, g = ref.loss_and_grad(X[start:stop], y[start:stop])
        ref.params -= lr * g
        losses.append(loss * (stop - start))
        seen += stop - start
    np.testing.assert_allclose(model.params, ref.params, rtol=1e-12, atol=1e-14)
    steps = 10 // batch_size if drop_last else math.ceil(10 / batch_size)
    assert model.optimizer_state.step == steps
    assert hist["loss"][0] == pytest.approx(sum(losses) / seen, rel=1e-12)


def test_full_batch_is_independent_of_the_shuffle():
    X, y = _classes(40)
    a, b = _model(), _model()
    a.fit(X, y, epochs=3, batch_size=40, lr=0.2, shuffle=False, verbose=0)
    b.fit(X, y, epochs=3, batch_size=40, lr=0.2, seed=5, verbose=0)  # every sample once per epoch
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-13)


def test_shuffle_is_on_by_default_and_seeded():
    X, y = _classes(40)
    runs = {}
    for name, kw in {"s1": dict(seed=1), "s1_again": dict(seed=1), "s2": dict(seed=2),
                     "off": dict(shuffle=False, seed=1)}.items():
        m = _model()
        m.fit(X, y, epochs=2, batch_size=4, lr=0.1, verbose=0, **kw)
        runs[name] = m.params
    assert np.array_equal(runs["s1"], runs["s1_again"])
    assert not np.allclose(runs["s1"], runs["s2"])
    assert not np.allclose(runs["s1"], runs["off"])


def _orders(monkeypatch, model):
    """Record the sample order the trainer hands the model's backend in each epoch (returns the list)."""
    orders, real = [], model.engine.train_epoch

    def spy(params, state, optimizer, data, order, lr):
        orders.append(np.array(order))
        return real(params, state, optimizer, data, order, lr)
    monkeypatch.setattr(model.engine, "train_epoch", spy)
    return orders


def test_every_epoch_has_its_own_order_fixed_by_the_seed_and_epoch(monkeypatch):
    """Each epoch is a new permutation; with an int seed epoch e's order is the same in
    every run, also when the epochs are split over several fits."""
    X, y = _classes(40)
    runs = []
    for fits in [(3,), (3,), (1, 2)]:
        m = _model("numpy")
        orders = _orders(monkeypatch, m)
        for epochs in fits:
            m.fit(X, y, epochs=epochs, batch_size=8, seed=1, verbose=0)
        runs.append(orders)
    first = runs[0]
    assert len(first) == 3 and all(np.array_equal(np.sort(o), np.arange(40)) for o in first)
    assert not any(np.array_equal(first[i], first[j]) for i in range(3) for j in range(i + 1, 3))
    for other in runs[1:]:
        assert len(other) == 3 and all(np.array_equal(a, b) for a, b in zip(first, other))


def test_drop_last_with_batch_larger_than_data_is_refused():
    X, y = _classes(10)
    m = _model()
    with pytest.raises(ValueError, match=r"^batch_size 11 exceeds the 10 training samples: with drop_last=True no batch"):
        m.fit(X, y, epochs=1, batch_size=11, drop_last=True, verbose=0)
    h = m.fit(X, y, epochs=1, batch_size=11, verbose=0)  # without drop_last: one batch of all 10
    assert m.optimizer_state.step == 1 and len(h) == 1


# -- the three backends agree ---------------------------------------------------------------------

def test_three_backends_same_weights_after_3_epochs_sgd():
    X, y = _classes(48)
    params = []
    for backend in BACKENDS:
        m = _model(backend)
        m.fit(X, y, epochs=3, batch_size=5, lr=0.1, seed=3, verbose=0)
        params.append(m.params)
    for p in params[1:]:
        np.testing.assert_allclose(p, params[0], rtol=1e-9, atol=1e-12)
    assert not np.allclose(params[0], _model().params)


@pytest.mark.parametrize("optimizer,hyper,lr", [
    ("sgd", dict(momentum=0.9), 0.05), ("sgd", dict(momentum=0.8, nesterov=True, weight_decay=1e-3), 0.05),
    ("adam", dict(weight_decay=1e-3), 0.01), ("rmsprop", {}, 0.005), ("adagrad", dict(lr_decay=0.01), 0.05)])
def test_numba_and_numpy_agree_for_each_optimizer(optimizer, hyper, lr):
    X, y = _classes(48)
    out = []
    for backend in ("numba", "numpy"):
        m = _model(backend)
        m.fit(X, y, epochs=3, batch_size=8, lr=lr, optimizer=optimizer, seed=4, verbose=0, **hyper)
        out.append((m.params, m.optimizer_state))
    (p1, s1), (p2, s2) = out
    np.testing.assert_allclose(p1, p2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s1.slots[0], s2.slots[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s1.slots[1], s2.slots[1], rtol=1e-9, atol=1e-12)
    assert s1.step == s2.step == 3 * 6


# -- progress -------------------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_verbose_0_prints_nothing(capsys):
    X, y = _classes(30)
    _model().fit(X, y, epochs=2, batch_size=8, verbose=0, validation_data=(X, y))
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("verbose", [1, 2])
def test_plain_lines_when_not_a_terminal(capsys, verbose):
    X, y = _classes(30)
    _model().fit(X, y, epochs=3, batch_size=8, verbose=verbose, validation_data=(X, y))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"epoch {i + 1}/3")
        for part in ("loss ", "acc ", "val_loss ", "val_acc ", "samples/s"):
            assert part in line
        assert "\r" not in line


def test_bar_on_a_terminal(monkeypatch):
    X, y = _classes(30)
    _model().fit(X, y, epochs=1, batch_size=8, verbose=0)  # kernels prepared: no one-time note below
    tty = _Tty()
    monkeypatch.setattr(sys, "stdout", tty)
    _model().fit(X, y, epochs=3, batch_size=8, verbose=1)
    text = tty.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "[####################] epoch 3/3" in text
    tty2 = _Tty()
    monkeypatch.setattr(sys, "stdout", tty2)
    _model().fit(X, y, epochs=3, batch_size=8, verbose=2)  # verbose=2: lines even on a terminal
    assert "\r" not in tty2.getvalue() and len(tty2.getvalue().splitlines()) == 3


def test_progress_counts_epochs_of_a_resumed_fit(capsys):
    X, y = _classes(30)
    m = _model()
    m.fit(X, y, epochs=2, batch_size=8, verbose=2)
    m.fit(X, y, epochs=2, batch_size=8, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("  ")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2", "epoch 3/4", "epoch 4/4"]
    assert m.history["epoch"] == [0, 1, 2, 3]


# -- validation and history -----------------------------------------------------------------------

def test_history_rows_and_validation_data():
    X, y = _classes(60)
    Xv, yv = _classes(21, seed=1)
    m = _model()
    h = m.fit(X, y, epochs=4, batch_size=8, lr=0.05, validation_data=(Xv, yv), verbose=0, seed=0)
    assert len(h) == 4 and [set(r) for r in h.rows] == [set(KEYS)] * 4
    assert set(KEYS) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_s"}
    assert h["epoch"] == [0, 1, 2, 3] and h["lr"] == [0.05] * 4
    assert all(s > 0 for s in h["seconds"])
    for r in h.rows:
        assert r["samples_per_s"] == pytest.approx(60 / r["seconds"])
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["val_accuracy"] <= 1
    ev = m.evaluate(Xv, yv)
    assert h["val_loss"][-1] == pytest.approx(ev["loss"], rel=1e-12)
    assert h["val_accuracy"][-1] == pytest.approx(ev["accuracy"])
    assert m.history.rows == h.rows
    with pytest.raises(KeyError, match=r"no metric 'nope'; history has \['epoch', 'loss', "):
        h["nope"]


def test_history_without_validation_has_nan_val_metrics_and_mse_nan_accuracy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    m = fastmlp.MLP([3, 4, 2], loss="mse", dtype="float64", seed=0)
    h = m.fit(X, X[:, :2], epochs=2, batch_size=5, verbose=0)
    assert all(math.isnan(v) for v in h["val_loss"] + h["val_accuracy"] + h["accuracy"])


def test_validation_split_is_stratified(monkeypatch):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [60, 30, 10])
    X = rng.normal(size=(100, 3))
    parts = []
    real = trainer_mod._split
    monkeypatch.setattr(trainer_mod, "_split", lambda *a: parts.append(real(*a)) or parts[-1])
    m = _model()
    h = m.fit(X, y, epochs=2, batch_size=10, validation_split=0.2, verbose=0)
    (Xt, yt, _, _), (Xv, yv, _, _) = parts[0]  # (X, y, t, sample weights)
    assert len(yv) == 20 and len(yt) == 80
    assert np.bincount(yv).tolist() == [12, 6, 2] and np.bincount(yt).tolist() == [48, 24, 8]
    rows = np.concatenate([Xt, Xv])
    assert np.array_equal(np.sort(rows, axis=0), np.sort(X, axis=0))  # a partition of the data
    assert h["val_loss"][-1] == pytest.approx(m.evaluate(Xv, yv)["loss"], rel=1e-12)
    assert m.optimizer_state.step == 2 * 8  # trained on the 80 kept rows only


def test_validation_split_for_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    m = fastmlp.MLP([3, 4, 1], loss="mse", dtype="float64", seed=0)
    h = m.fit(X, X[:, 0], epochs=2, batch_size=5, validation_split=0.2, verbose=0)
    assert all(np.isfinite(h["val_loss"])) and m.optimizer_state.step == 2 * 8


# -- early stopping and callbacks -----------------------------------------------------------------

def test_early_stopping_counts_patience_and_restores_the_best_epoch():
    X, y = _classes(60)
    m = _model()
    rec, snaps = _recorder(m)
    # min_delta so large that only the first epoch counts as an improvement
    es = EarlyStopping("loss", patience=2, min_delta=10.0)
    h = m.fit(X, y, epochs=20, batch_size=8, lr=0.05, early_stopping=es, callbacks=[rec], verbose=0, seed=0)
    assert len(h) == 4 and h.stopped_early and h.best_epoch == 0
    assert np.array_equal(m.params, snaps[0])


def test_early_stopping_on_val_loss_keeps_the_best_weights():
    X, y = _classes(80)
    Xv, yv = _classes(9, seed=3)
    m = _model()
    rec, snaps = _recorder(m)
    h = m.fit(X, y, epochs=60, batch_size=4, lr=0.3, validation_data=(Xv, yv), callbacks=[rec],
              early_stopping=EarlyStopping("val_loss", patience=3, min_delta=1e-3), verbose=0, seed=0)
    vl = h["val_loss"]
    assert h.stopped_early and len(h) < 60
    best = h.best_epoch
    assert all(vl[best] < vl[e] - 1e-3 for e in range(best))  # an improvement when it was seen
    assert all(vl[e] >= vl[best] - 1e-3 for e in range(best + 1, len(h)))
    assert len(h) == best + 3 + 2  # patience 3 epochs tolerated, stopped at the next one
    assert np.array_equal(m.params, snaps[best])
    assert m.evaluate(Xv, yv)["loss"] == pytest.approx(vl[best], rel=1e-12)


def test_early_stopping_int_is_patience_on_val_loss():
    X, y = _classes(60)
    m = _model()
    rec, snaps = _recorder(m)
    h = m.fit(X, y, epochs=6, batch_size=8, lr=1e-30, validation_data=(X, y), early_stopping=0,
              callbacks=[rec], verbose=0)  # lr so small the loss never changes after epoch 0
    assert len(h) == 2 and h.stopped_early and h.best_epoch == 0
    assert np.array_equal(m.params, snaps[0])


def test_early_stopping_on_accuracy_maximises():
    es = EarlyStopping("val_accuracy", patience=0, restore_best=False)
    es.on_train_begin(None)
    assert es.on_epoch_end(None, 0, {"val_accuracy": 0.5}) is False
    assert es.on_epoch_end(None, 1, {"val_accuracy": 0.7}) is False
    assert es.on_epoch_end(None, 2, {"val_accuracy": 0.6}) is True and es.best_epoch == 1


def test_function_callback_stops_training():
    X, y = _classes(30)
    seen = []
    h = _model().fit(X, y, epochs=10, batch_size=8, verbose=0,
                     callbacks=[lambda epoch, logs: seen.append((epoch, set(logs))) or epoch == 2])
    assert len(h) == 3 and h.stopped_early and [e for e, _ in seen] == [0, 1, 2]
    assert seen[0][1] == set(KEYS)


def test_callback_subclass_hooks_and_stop_training():
    X, y = _classes(30)
    calls = []

    class Stopper(Callback):
        def on_train_begin(self, trainer):
            calls.append("begin")

        def on_epoch_end(self, trainer, epoch, logs):
            calls.append(epoch)
            if epoch == 1:
                trainer.stop_training = True

        def on_train_end(self, trainer):
            calls.append("end")

    h = _model().fit(X, y, epochs=10, batch_size=8, verbose=0, callbacks=[Stopper()])
    assert calls == ["begin", 0, 1, "end"] and len(h) == 2 and h.stopped_early


# -- nothing lost: divergence and Ctrl-C ----------------------------------------------------------

def _exploding(backend, kernel=None):
    """A linear regression net whose warm-up lr makes it blow up in its 4th epoch (trained by
    the numba backend's epoch ``kernel`` when one is named)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, 2.0, -1.0]) * 3
    m = fastmlp.MLP([3, 8, 1], loss="mse", activation="identity", dtype="float64", backend=backend, seed=0)
    if kernel is not None:
        m.engine.epoch_kernel = kernel
    kw = dict(epochs=10, batch_size=4, lr=0.3, schedule=fastmlp.LinearWarmup(10), verbose=0, seed=0)
    return m, X, y, kw


@pytest.mark.parametrize("factor,why", [(1e4, "exceeds divergence_factor"), (None, "became non-finite")])
@pytest.mark.parametrize("backend,kernel", [("numba", "fused"), ("numba", "generic"), ("numpy", None), ("loop", None)])
def test_divergence_stops_and_restores_the_last_finite_epoch(backend, kernel, factor, why):
    """Found by the finite blow-up rule (divergence_factor), and without it by the non-finite
    batch loss every backend must report: the numba generic kernel stops before that batch's
    update, so its weights stay finite and only the reported flag tells."""
    m, X, y, kw = _exploding(backend, kernel)
    rec, snaps = _recorder(m)
    with pytest.warns(fastmlp.DivergenceWarning, match=f"diverged in epoch 4 .*{why}"):
        h = m.fit(X, y, callbacks=[rec], divergence_factor=factor, **kw)
    assert h.diverged and len(h) == 3 and len(snaps) == 3
    assert np.isfinite(m.params).all() and np.array_equal(m.params, snaps[-1])
    st = m.optimizer_state
    assert st.step == 3 * 16 and np.isfinite(st.slots).all()
    assert m.history.diverged and len(m.history) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_raises_when_asked(backend):
    m, X, y, kw = _exploding(backend)
    rec, snaps = _recorder(m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning besides the error
        with pytest.raises(fastmlp.DivergenceError, match=r"^training diverged in epoch 4 \(lr=.*\): the mean loss "
                                                          r".*weights restored to the end of the last good epoch"):
            m.fit(X, y, callbacks=[rec], on_divergence="raise", **kw)
    assert np.array_equal(m.params, snaps[-1]) and len(m.history) == 3 and m.history.diverged


def test_interrupt_from_a_callback_keeps_completed_epochs():
    X, y = _classes(40)
    m = _model()
    rec, snaps = _recorder(m)

    def ctrl_c(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted"):
        h = m.fit(X, y, epochs=10, batch_size=8, callbacks=[rec, ctrl_c], verbose=0, seed=0)
    assert h.interrupted and len(h) == 3 and np.array_equal(m.params, snaps[2])
    assert m.optimizer_state.step == 3 * 5 and m.history.interrupted
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)  # still usable
    assert np.isfinite(m.params).all() and len(m.history) == 4


@pytest.mark.parametrize("backend", ["numpy", "loop"])
def test_interrupt_mid_epoch_restores_the_last_completed_epoch(backend, monkeypatch):
    X, y = _classes(40)
    m = _model(backend)
    rec, snaps = _recorder(m)
    real, calls = m.engine.loss_and_grad, []

    def flaky(*args):
        calls.append(1)
        if len(calls) == 2 * 5 + 3:  # the 4th batch of epoch 3
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(m.engine, "loss_and_grad", flaky)
    with pytest.warns(RuntimeWarning, match="kept the 2 completed"):
        h = m.fit(X, y, epochs=10, batch_size=8, optimizer="adam", callbacks=[rec], verbose=0, seed=0)
    assert h.interrupted and len(h) == 2 and len(snaps) == 2
    assert np.array_equal(m.params, snaps[1]) and m.optimizer_state.step == 2 * 5
    monkeypatch.undo()
    assert m.predict(X).shape == (40,)


# -- refused calls change nothing -----------------------------------------------------------------

BAD_FIT = [  # (arguments, the documented error type, its message)
    (dict(epochs=0), ValueError, r"^epochs must be a positive integer; got 0$"),
    (dict(epochs=2.0), TypeError, r"^epochs must be a positive integer; got float 2.0$"),
    (dict(epochs=True), TypeError, r"^epochs must be a positive integer; got bool True$"),
    (dict(batch_size=0), ValueError, r"^batch_size must be a positive integer; got 0$"),
    (dict(batch_size=-3), ValueError, r"^batch_size must be a positive integer; got -3$"),
    (dict(batch_size=1.5), TypeError, r"^batch_size must be a positive integer; got float 1.5$"),
    (dict(lr=0), ValueError, r"^lr must be a positive finite number; got 0$"),
    (dict(lr=-0.1), ValueError, r"^lr must be a positive finite number; got -0.1$"),
    (dict(lr=float("nan")), ValueError, r"^lr must be a positive finite number; got nan$"),
    (dict(lr=float("inf")), ValueError, r"^lr must be a positive finite number; got inf$"),
    (dict(optimizer="nadam"), ValueError, r"^unknown optimizer 'nadam'; expected one of \['adagrad', 'adam', 'adamw', "),
    (dict(schedule="linear"), ValueError, r"^unknown schedule 'linear'; expected one of \['constant', "),
    (dict(momentum=1.0), ValueError, r"^momentum must be a finite number in \[0, 1\); got 1.0$"),
    (dict(momentum=-0.1), ValueError, r"^momentum must be a finite number in \[0, 1\); got -0.1$"),
    (dict(nesterov=True), ValueError, r"^nesterov=True needs momentum > 0$"),
    (dict(optimizer="adam", beta1=1.0), ValueError, r"^beta1 must be a finite number in \[0, 1\); got 1.0$"),
    (dict(optimizer="adam", beta2=-0.5), ValueError, r"^beta2 must be a finite number in \[0, 1\); got -0.5$"),
    (dict(optimizer="adam", eps=0.0), ValueError, r"^eps must be a finite number > 0; got 0.0$"),
    (dict(optimizer="rmsprop", eps=-1e-8), ValueError, r"^eps must be a finite number > 0; got -1e-08$"),
    (dict(optimizer="sgd", beta1=0.9), ValueError,
     r"^optimizer 'sgd' has no parameter\(s\) \['beta1'\]; it takes \['clip_norm', 'clip_value', "
     r"'decoupled_weight_decay', 'l1', 'l2', 'momentum', 'nesterov', 'weight_decay'\]$"),
    (dict(weight_decay=-1.0), ValueError, r"^weight_decay must be a finite number >= 0; got -1.0$"),
    (dict(validation_split=0.0), ValueError, r"^validation_split must be a finite number in \(0.0, 1.0\); got 0.0$"),
    (dict(validation_split=1.0), ValueError, r"^validation_split must be a finite number in \(0.0, 1.0\); got 1.0$"),
    (dict(validation_split=True), TypeError,
     r"^validation_split must be a finite number in \(0.0, 1.0\); got bool True$"),
    (dict(verbose=3), ValueError, r"^unknown verbose 3; expected one of \[0, 1, 2\]$"),
    (dict(on_divergence="ignore"), ValueError,
     r"^unknown on_divergence 'ignore'; expected one of \['warn', 'raise'\]$"),
    (dict(seed=-1), ValueError, r"^seed must be an integer >= 0, a numpy.random.Generator or None; got -1$"),
    (dict(seed="abc"), TypeError, r"^seed must be an integer >= 0, a numpy.random.Generator or None; got str 'abc'$"),
    (dict(early_stopping=EarlyStopping("val_loss")), ValueError,
     r"^early stopping monitors 'val_loss' but no validation data was given$"),
    (dict(early_stopping="yes"), TypeError,
     r"^early_stopping must be an EarlyStopping or an int patience; got 'yes'$"),
    (dict(callbacks=[3]), TypeError, r"^a callback must be a Callback or a function \(epoch, logs\); got 3$"),
]


@pytest.fixture
def trained():
    X, y = _classes(30)
    m = _model()
    m.fit(X, y, epochs=1, batch_size=8, optimizer="sgd", momentum=0.5, verbose=0)
    return m, X, y


def _refused(m, X, y, exc, match, **kw):
    before = (m.params.copy(), _state(m), len(m.history))
    args = dict(dict(epochs=2, batch_size=8, verbose=0), **kw)
    with pytest.raises(exc, match=match):
        m.fit(X, y, **args)
    after = (m.params, _state(m), len(m.history))
    assert np.array_equal(before[0], after[0]) and before[2] == after[2]
    s0, s1 = before[1], after[1]
    assert all(np.array_equal(a, b) for a, b in zip(s0[:2], s1[:2])) and s0[2:] == s1[2:]


@pytest.mark.parametrize("kw,error,match", BAD_FIT)
def test_bad_fit_arguments_are_refused_and_change_nothing(trained, kw, error, match):
    m, X, y = trained
    _refused(m, X, y, error, match, **kw)


def test_bad_validation_data_is_refused_and_changes_nothing(trained):
    m, X, y = trained
    Xv, yv = _classes(10)
    cases = [
        (dict(validation_data=(Xv[:, :2], yv)), "features"),
        (dict(validation_data=(Xv, yv[:5])), "rows"),
        (dict(validation_data=Xv), "pair"),
        (dict(validation_data=(Xv, yv, np.ones(10), yv)), "pair"),  # (X, y) or (X, y, sample_weight)
        (dict(validation_data=(Xv, yv, -np.ones(10))), "validation sample_weight must be >= 0"),
        (dict(validation_data=(Xv, np.full(10, 7))), r"\[0, 2\]"),
        (dict(validation_data=(Xv, yv), validation_split=0.2), "not both"),
    ]
    for kw, match in cases:
        _refused(m, X, y, ValueError, match, **kw)
    Xt, yt = X[y < 2], y[y < 2]  # class 2 never seen in training
    _refused(m, Xt, yt, ValueError, "do not occur in the training labels", validation_data=(Xv, yv))


def test_bad_training_data_is_refused(trained):
    m, X, y = trained
    _refused(m, X[:, :2], y, ValueError, "features")
    _refused(m, X, y[:-1], ValueError, "rows")
    bad = X.copy()
    bad[0, 0] = np.nan
    _refused(m, bad, y, ValueError, "NaN")
