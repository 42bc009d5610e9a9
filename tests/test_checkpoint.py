"""ModelCheckpoint: a run resumed from a checkpoint equals the run that was never
interrupted, bit for bit (weights, optimizer state, history); best-only and every-k
semantics; path templates; atomic files; bad settings refused before training."""
import math
import os

import numpy as np
import pytest

import fastmlp
from fastmlp import MLP, ModelCheckpoint, StepDecay

# metrics that depend on the clock, not on the computation
TIMED = ("seconds", "samples_per_s")


def _data(n=90, n_in=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X[:70], y[:70], X[70:], y[70:]


def _same_rows(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a.rows, b.rows):
        assert {k: v for k, v in ra.items() if k not in TIMED} == {k: v for k, v in rb.items() if k not in TIMED}


OPTIMIZERS = {"sgd": dict(optimizer="sgd", lr=0.1), "momentum": dict(optimizer="sgd", lr=0.05, momentum=0.9),
              "adam": dict(optimizer="adam", lr=0.01),
              "adamw, l2 and clipping": dict(optimizer="adamw", lr=0.01, l2=1e-3, clip_norm=0.5)}


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("fit_seed", [5, None])  # None: the shuffling follows the model's seed, saved in the file
def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(tmp_path, backend, opt, fit_seed):
    X, y, Xv, yv = _data()
    kw = dict(OPTIMIZERS[opt], batch_size=16, schedule=StepDecay(step_size=2, gamma=0.5), shuffle=True,
              seed=fit_seed, validation_data=(Xv, yv), verbose=0)
    full = MLP([3, 7, 5, 3], activation="tanh", seed=1, backend=backend)
    full.fit(X, y, epochs=5, callbacks=[ModelCheckpoint(tmp_path / "run-{epoch}.npz")], **kw)
    assert sorted(os.listdir(tmp_path)) == [f"run-{e}.npz" for e in range(1, 6)]

    resumed = fastmlp.load(tmp_path / "run-2.npz")
    assert len(resumed.history) == 2 and resumed.optimizer_state.step == 2 * 5  # 70 rows: 5 batches per epoch
    resumed.fit(X, y, epochs=5 - len(resumed.history), **kw)

    assert np.array_equal(resumed.params, full.params)
    assert resumed.optimizer_state.step == full.optimizer_state.step == 25
    assert np.array_equal(resumed.optimizer_state.values(), full.optimizer_state.values())
    _same_rows(resumed.history, full.history)
    assert [r["lr"] for r in full.history] == [kw["lr"] * f for f in (1, 1, 0.5, 0.5, 0.25)]


@pytest.mark.parametrize("opt", ["momentum", "adam"])
def test_online_training_resumes_exactly(tmp_path, opt):
    """Batch 1 (numba's 'online' kernel, which holds the first layer's optimizer state transposed
    during each call): the checkpointed state is the exact state, and resuming from it is exact."""
    X, y, _, _ = _data()
    kw = dict(OPTIMIZERS[opt], batch_size=1, seed=3, verbose=0)
    full = MLP([3, 7, 5, 3], activation="tanh", seed=1)
    assert full.engine.choose_epoch_kernel(fastmlp.Optimizer(kw["optimizer"]), 1) == "online"
    full.fit(X, y, epochs=3, callbacks=[ModelCheckpoint(tmp_path / "run-{epoch}.npz")], **kw)
    resumed = fastmlp.load(tmp_path / "run-1.npz")
    assert resumed.optimizer_state.step == 70
    resumed.fit(X, y, epochs=2, **kw)
    assert np.array_equal(resumed.params, full.params)
    assert resumed.optimizer_state.step == full.optimizer_state.step == 210
    assert np.array_equal(resumed.optimizer_state.values(), full.optimizer_state.values())
    _same_rows(resumed.history, full.history)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_weighted_sampling_with_replacement_resumes_exactly(tmp_path, backend):
    X, y, _, _ = _data()
    weights = np.linspace(0.5, 2.0, len(y))
    kw = dict(batch_size=8, lr=0.05, optimizer="sgd", momentum=0.5, seed=4, verbose=0, sample_weight=weights,
              class_weight="balanced", sampling="replacement")
    full = MLP([3, 6, 3], seed=0, backend=backend)
    full.fit(X, y, epochs=4, callbacks=[ModelCheckpoint(tmp_path / "w{epoch}.npz")], **kw)
    resumed = fastmlp.load(tmp_path / "w1.npz")
    resumed.fit(X, y, epochs=3, **kw)
    assert np.array_equal(resumed.params, full.params)
    assert np.array_equal(resumed.optimizer_state.values(), full.optimizer_state.values())
    _same_rows(resumed.history, full.history)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_dropout_resumes_with_the_same_masks(tmp_path, backend):
    X, y, _, _ = _data()
    kw = dict(batch_size=8, lr=0.01, optimizer="adam", seed=2, verbose=0)
    full = MLP([3, 8, 6, 3], dropout=[0.4, 0.2], seed=0, backend=backend)
    full.fit(X, y, epochs=4, callbacks=[ModelCheckpoint(tmp_path / "d{epoch}.npz")], **kw)
    resumed = fastmlp.load(tmp_path / "d2.npz")
    assert resumed.dropout == (0.4, 0.2)
    resumed.fit(X, y, epochs=2, **kw)
    assert np.array_equal(resumed.params, full.params)
    _same_rows(resumed.history, full.history)


@pytest.mark.parametrize("schedule", [lambda: fastmlp.CosineDecay(total_epochs=6, min_lr=0.001),
                                      lambda: fastmlp.LinearWarmup(2, after=fastmlp.ExponentialDecay(0.7))])
def test_length_and_warmup_schedules_resume_over_the_models_epochs(tmp_path, schedule):
    X, y, _, _ = _data()
    kw = dict(batch_size=16, lr=0.05, optimizer="sgd", momentum=0.9, seed=0, verbose=0)
    full = MLP([3, 6, 3], seed=0, backend="numba")
    full.fit(X, y, epochs=6, schedule=schedule(), callbacks=[ModelCheckpoint(tmp_path / "c{epoch}.npz")], **kw)
    resumed = fastmlp.load(tmp_path / "c3.npz")
    resumed.fit(X, y, epochs=3, schedule=schedule(), **kw)
    assert np.array_equal(resumed.params, full.params)
    _same_rows(resumed.history, full.history)
    assert len(set(full.history["lr"][3:])) == 3  # a new rate every resumed epoch


def test_a_checkpoint_holds_the_model_at_that_epoch(tmp_path):
    X, y, _, _ = _data()
    snapshots = []
    model = MLP([3, 6, 3], seed=0, backend="numpy")
    record = lambda epoch, logs: snapshots.append((model.params.copy(), model.history))  # noqa: E731
    model.fit(X, y, epochs=2, batch_size=35, optimizer="adam", lr=0.01, verbose=0, seed=0)
    model.fit(X, y, epochs=3, batch_size=35, optimizer="adam", lr=0.01, verbose=0, seed=0,
              callbacks=[ModelCheckpoint(tmp_path / "m{epoch}"), record])
    for k, (params, _) in zip((3, 4, 5), snapshots):
        saved = fastmlp.load(tmp_path / f"m{k}.npz")  # the suffix is added
        assert np.array_equal(saved.params, params)
        assert saved.optimizer_state.name == "adam" and saved.optimizer_state.step == 2 * k
        assert saved.history.epoch == list(range(k))  # the earlier fit's epochs and this run's so far
        _same_rows(saved.history, fastmlp.History(model.history.rows[:k]))
    assert all(h is model.history for _, h in snapshots)  # the model's own history is not swapped out


def _fit_recording(model, X, y, Xv, yv, cb, epochs, **kw):
    params = {}
    rec = lambda epoch, logs: params.__setitem__(epoch, model.params.copy())  # noqa: E731
    model.fit(X, y, epochs=epochs, batch_size=8, lr=0.5, validation_data=(Xv, yv), verbose=0, seed=0,
              callbacks=[rec, cb], **kw)
    return params


@pytest.mark.parametrize("monitor, better", [("val_loss", min), ("val_accuracy", max), ("loss", min)])
def test_save_best_only_saves_the_improving_epochs(tmp_path, monitor, better):
    X, y, Xv, yv = _data()
    model = MLP([3, 8, 3], seed=2, backend="numpy")
    cb = ModelCheckpoint(tmp_path / "best-{epoch:02d}.npz", monitor=monitor, save_best_only=True)
    params = _fit_recording(model, X, y, Xv, yv, cb, epochs=8)
    values = model.history[monitor]
    beats = (lambda a, b: a < b) if better is min else (lambda a, b: a > b)  # noqa: E731
    improving = [e for e in range(8) if all(beats(values[e], v) for v in values[:e])]
    assert improving[0] == 0 and len(improving) < 8  # the test means something: some epochs do not improve
    assert sorted(os.listdir(tmp_path)) == [f"best-{e + 1:02d}.npz" for e in improving]
    best = improving[-1]
    assert cb.best_epoch == best and cb.best == values[best]
    assert np.array_equal(fastmlp.load(cb.saved[-1]).params, params[best])


def test_best_only_into_one_file_keeps_the_best_epoch(tmp_path):
    X, y, Xv, yv = _data()
    model = MLP([3, 8, 3], seed=2, backend="numpy")
    cb = ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)  # monitor None: val_loss with validation
    params = _fit_recording(model, X, y, Xv, yv, cb, epochs=8)
    best = int(np.argmin(model.history["val_loss"]))
    assert best < 7 and len(cb.saved) > 1  # replaced several times, and the last epoch was not the best
    saved = fastmlp.load(tmp_path / "best.npz")
    assert np.array_equal(saved.params, params[best]) and len(saved.history) == best + 1


def test_best_only_after_a_resume_compares_with_the_earlier_epochs(tmp_path):
    X, y, Xv, yv = _data()
    model = MLP([3, 8, 3], seed=2, backend="numpy")
    model.fit(X, y, epochs=4, batch_size=8, lr=0.5, validation_data=(Xv, yv), verbose=0, seed=0)
    cb = ModelCheckpoint(tmp_path / "b{epoch}.npz", monitor="val_loss", save_best_only=True)
    _fit_recording(model, X, y, Xv, yv, cb, epochs=6)
    v = model.history["val_loss"]
    expected = [e for e in range(4, 10) if v[e] < min(v[:e])]
    assert sorted(os.listdir(tmp_path), key=lambda f: int(f[1:-4])) == [f"b{e + 1}.npz" for e in expected]
    assert cb.best == min(v)


def test_every_k_epochs_counts_over_the_models_history(tmp_path):
    X, y, _, _ = _data()
    model = MLP([3, 4, 3], seed=0, backend="numpy")
    model.fit(X, y, epochs=5, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "e{epoch}.npz", every=2)])
    assert sorted(os.listdir(tmp_path)) == ["e2.npz", "e4.npz"]
    model.fit(X, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "e{epoch}.npz", every=2)])
    assert sorted(os.listdir(tmp_path)) == ["e2.npz", "e4.npz", "e6.npz"]
    assert len(fastmlp.load(tmp_path / "e6.npz").history) == 6


def test_every_k_with_best_only_checks_only_every_kth_epoch(tmp_path):
    X, y, Xv, yv = _data()
    model = MLP([3, 8, 3], seed=2, backend="numpy")
    cb = ModelCheckpoint(tmp_path / "c{epoch}.npz", monitor="loss", save_best_only=True, every=3)
    _fit_recording(model, X, y, Xv, yv, cb, epochs=9)
    loss = model.history["loss"]
    checked = [2, 5, 8]
    expected = [e for i, e in enumerate(checked) if all(loss[e] < loss[c] for c in checked[:i])]
    assert sorted(os.listdir(tmp_path)) == [f"c{e + 1}.npz" for e in expected]


def test_template_fields_take_the_epochs_metrics(tmp_path):
    X, y, Xv, yv = _data()
    model = MLP([3, 4, 3], seed=0, backend="numpy")
    model.fit(X, y, epochs=2, verbose=0, validation_data=(Xv, yv),
              callbacks=[ModelCheckpoint(os.fspath(tmp_path) + "/{epoch:03d}-{val_loss:.4f}-{lr:g}.npz")])
    v = model.history["val_loss"]
    assert sorted(os.listdir(tmp_path)) == [f"{e + 1:03d}-{v[e]:.4f}-0.01.npz" for e in range(2)]


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    X, y, _, _ = _data()
    model = MLP([3, 4, 3], seed=0, backend="numpy")
    path = tmp_path / "last.npz"
    real_savez, calls = np.savez, []

    def savez_failing_the_second_time(f, **arrays):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"PK\x03\x04 half a file")
            raise OSError(28, "No space left on device")
        real_savez(f, **arrays)

    monkeypatch.setattr(np, "savez", savez_failing_the_second_time)
    with pytest.raises(OSError, match="No space"):
        model.fit(X, y, epochs=3, verbose=0, callbacks=[ModelCheckpoint(path)])
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["last.npz"]  # no temporary file left behind
    first = fastmlp.load(path)
    assert len(first.history) == 1 and first.history.epoch == [0]
    assert len(model.history) == 2  # training stopped at the failed save; completed epochs are kept


def test_bad_settings_are_refused_before_training(tmp_path):
    X, y, _, _ = _data()
    Xr, yr = X, X[:, 0]
    with pytest.raises(ValueError, match="not a valid template"):
        ModelCheckpoint(tmp_path / "{nope}.npz")
    with pytest.raises(ValueError, match="not a valid template"):
        ModelCheckpoint(tmp_path / "{}.npz")
    with pytest.raises(ValueError, match="monitor"):
        ModelCheckpoint(tmp_path / "m.npz", monitor="val_los")
    with pytest.raises(ValueError, match="mode"):
        ModelCheckpoint(tmp_path / "m.npz", mode="best")
    with pytest.raises(ValueError, match="every"):
        ModelCheckpoint(tmp_path / "m.npz", every=0)
    with pytest.raises(TypeError, match="path"):
        ModelCheckpoint(3)
    cases = [
        (MLP([3, 4, 3], seed=0), X, y, ModelCheckpoint(tmp_path / "missing" / "m.npz"), "does not exist"),
        (MLP([3, 4, 3], seed=0), X, y, ModelCheckpoint(tmp_path / "m.npz", monitor="val_loss", save_best_only=True),
         "no validation data"),
        (MLP([3, 4, 1], loss="mse", seed=0), Xr, yr,
         ModelCheckpoint(tmp_path / "m.npz", monitor="accuracy", save_best_only=True), "no accuracy"),
    ]
    for model, Xc, yc, cb, message in cases:
        before = model.params.copy()
        with pytest.raises(ValueError, match=message):
            model.fit(Xc, yc, epochs=2, verbose=0, callbacks=[cb])
        assert np.array_equal(model.params, before) and model.history is None and model.optimizer_state is None
    assert os.listdir(tmp_path) == []


def test_a_metric_that_is_nan_never_counts_as_best(tmp_path):
    X, _, _, _ = _data()
    model = MLP([3, 4, 1], loss="mse", seed=0, backend="numpy")
    cb = ModelCheckpoint(tmp_path / "m.npz", monitor="accuracy")  # not best-only: accuracy is never compared
    model.fit(X, X[:, 0], epochs=2, verbose=0, callbacks=[cb])
    assert len(cb.saved) == 2 and cb.best_epoch is None and math.isnan(cb.best)


def test_a_plateau_schedule_resumes_by_replaying_the_history(tmp_path):
    X, y, Xv, yv = _data()
    kw = dict(batch_size=16, lr=0.5, seed=0, validation_data=(Xv, yv), verbose=0)
    full = MLP([3, 6, 3], seed=0, backend="numpy")
    full.fit(X, y, epochs=8, schedule=fastmlp.ReduceOnPlateau(patience=0, factor=0.5, min_delta=0.0),
             callbacks=[ModelCheckpoint(tmp_path / "p{epoch}.npz")], **kw)
    assert len(set(full.history["lr"][4:])) > 1  # the rate drops after the resume point: the state matters
    resumed = fastmlp.load(tmp_path / "p4.npz")
    schedule = fastmlp.ReduceOnPlateau(patience=0, factor=0.5, min_delta=0.0)
    for row in resumed.history:  # the schedule's state is not in the file: replay what it observed
        schedule.observe(row["epoch"], row)
    resumed.fit(X, y, epochs=4, schedule=schedule, **kw)
    assert np.array_equal(resumed.params, full.params)
    _same_rows(resumed.history, full.history)
