"""Learning-rate schedules: the documented lr per epoch, as the trainer records it."""
import math

import numpy as np
import pytest

import fastmlp
from fastmlp.schedules import make_schedule

BASE = 0.1


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (np.arange(n) % 2).astype(np.int64)


def _lrs(schedule, epochs, **fit):
    X, y = _data()
    m = fastmlp.MLP([3, 4, 2], dtype="float64", seed=0)
    h = m.fit(X, y, epochs=epochs, batch_size=8, lr=BASE, schedule=schedule, verbose=0, seed=0, **fit)
    return h["lr"]


FORMULAS = [
    (None, lambda e: BASE),
    ("constant", lambda e: BASE),
    (fastmlp.Schedule(), lambda e: BASE),
    (fastmlp.StepDecay(step_size=3, gamma=0.5), lambda e: BASE * 0.5 ** (e // 3)),
    (fastmlp.ExponentialDecay(gamma=0.8), lambda e: BASE * 0.8 ** e),
    (fastmlp.InverseTimeDecay(decay_rate=0.5), lambda e: BASE / (1 + 0.5 * e)),
    (fastmlp.CosineDecay(total_epochs=6, min_lr=0.01),
     lambda e: 0.01 + (BASE - 0.01) * (1 + math.cos(math.pi * min(e, 6) / 6)) / 2),
    (fastmlp.LinearWarmup(warmup_epochs=4), lambda e: BASE * min(e + 1, 4) / 4),
    (fastmlp.LinearWarmup(warmup_epochs=2, after=fastmlp.ExponentialDecay(0.5)),
     lambda e: BASE * (e + 1) / 2 if e < 2 else BASE * 0.5 ** (e - 2)),
]


@pytest.mark.parametrize("schedule,formula", FORMULAS, ids=[repr(s) for s, _ in FORMULAS])
def test_lr_per_epoch_follows_the_formula(schedule, formula):
    epochs = 9
    expected = [formula(e) for e in range(epochs)]
    assert _lrs(schedule, epochs) == pytest.approx(expected, rel=1e-12)
    if schedule is not None and not isinstance(schedule, str):
        assert [schedule.lr(e, BASE) for e in range(epochs)] == pytest.approx(expected, rel=1e-12)


def test_cosine_ends_at_min_lr_and_stays():
    s = fastmlp.CosineDecay(total_epochs=4, min_lr=0.02)
    assert s.lr(0, 1.0) == 1.0 and s.lr(2, 1.0) == pytest.approx(0.51)
    assert s.lr(4, 1.0) == pytest.approx(0.02) and s.lr(10, 1.0) == pytest.approx(0.02)


@pytest.mark.parametrize("name,cls", [("constant", fastmlp.Schedule), ("step", fastmlp.StepDecay),
                                      ("exponential", fastmlp.ExponentialDecay),
                                      ("inverse_time", fastmlp.InverseTimeDecay), ("cosine", fastmlp.CosineDecay),
                                      ("warmup", fastmlp.LinearWarmup), ("plateau", fastmlp.ReduceOnPlateau)])
def test_names_make_their_schedules(name, cls):
    assert type(make_schedule(name)) is cls


def test_a_resumed_fit_continues_the_schedule():
    X, y = _data()
    s = fastmlp.StepDecay(step_size=2, gamma=0.1)
    m = fastmlp.MLP([3, 4, 2], dtype="float64", seed=0)
    m.fit(X, y, epochs=3, batch_size=8, lr=BASE, schedule=s, verbose=0)
    m.fit(X, y, epochs=3, batch_size=8, lr=BASE, schedule=s, verbose=0)
    assert m.history["lr"] == pytest.approx([BASE * 0.1 ** (e // 2) for e in range(6)], rel=1e-12)


def _plateau_expected(values, factor, patience, min_delta, min_lr=0.0):
    """The documented rule replayed over the monitored values: more than
    ``patience`` epochs in a row without an improvement of ``min_delta``
    multiply the lr by ``factor`` (from the next epoch on)."""
    lrs, scale, best, wait = [], 1.0, math.inf, 0
    for v in values:
        lrs.append(max(BASE * scale, min_lr))
        if v < best - min_delta:
            best, wait = v, 0
        else:
            wait += 1
            if wait > patience:
                scale, wait = scale * factor, 0
    return lrs


def test_reduce_on_plateau_when_nothing_improves():
    X, y = _data()
    m = fastmlp.MLP([3, 4, 2], dtype="float64", seed=0)
    s = fastmlp.ReduceOnPlateau(factor=0.5, patience=1, min_delta=1e-4)
    # lr 1e-30: the validation loss never moves, so every epoch after the first is a plateau
    h = m.fit(X, y, epochs=8, batch_size=8, lr=1e-30, schedule=s, validation_data=(X, y), verbose=0)
    assert h["lr"] == pytest.approx([1e-30 * f for f in (1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.125)], rel=1e-12)


def test_reduce_on_plateau_follows_the_validation_loss():
    X, y = _data(40)
    Xv, yv = _data(9, seed=5)
    s = fastmlp.ReduceOnPlateau(factor=0.3, patience=1, min_delta=1e-3, min_lr=0.005)
    m = fastmlp.MLP([3, 8, 2], dtype="float64", seed=0)
    h = m.fit(X, y, epochs=25, batch_size=4, lr=BASE, schedule=s, validation_data=(Xv, yv), verbose=0, seed=0)
    assert h["lr"] == pytest.approx(_plateau_expected(h["val_loss"], 0.3, 1, 1e-3, 0.005), rel=1e-12)
    assert h["lr"][-1] < BASE  # the plateau was reached at least once
    assert h["val_loss"] != pytest.approx(h["loss"])  # watched the validation loss, not the training loss


def test_reduce_on_plateau_without_validation_watches_the_training_loss():
    X, y = _data(40)
    s = fastmlp.ReduceOnPlateau(factor=0.5, patience=0, min_delta=1e-2)
    m = fastmlp.MLP([3, 8, 2], dtype="float64", seed=0)
    h = m.fit(X, y, epochs=15, batch_size=4, lr=BASE, schedule=s, verbose=0, seed=0)
    assert h["lr"] == pytest.approx(_plateau_expected(h["loss"], 0.5, 0, 1e-2), rel=1e-12)
    assert h["lr"][-1] < BASE


@pytest.mark.parametrize("make,match", [
    (lambda: fastmlp.StepDecay(step_size=0), r"^step_size must be a positive integer; got 0$"),
    (lambda: fastmlp.StepDecay(gamma=0), r"^gamma must be a finite number in \(0, 1\]; got 0$"),
    (lambda: fastmlp.StepDecay(gamma=1.5), r"^gamma must be a finite number in \(0, 1\]; got 1.5$"),
    (lambda: fastmlp.ExponentialDecay(gamma=-1), r"^gamma must be a finite number in \(0, 1\]; got -1$"),
    (lambda: fastmlp.ExponentialDecay(gamma=float("nan")), r"^gamma must be a finite number in \(0, 1\]; got nan$"),
    (lambda: fastmlp.InverseTimeDecay(decay_rate=-0.1), r"^decay_rate must be a finite number >= 0; got -0.1$"),
    (lambda: fastmlp.CosineDecay(total_epochs=0), r"^total_epochs must be a positive integer; got 0$"),
    (lambda: fastmlp.CosineDecay(min_lr=-1), r"^min_lr must be a finite number >= 0; got -1$"),
    (lambda: fastmlp.LinearWarmup(after="nope"), r"^unknown after 'nope'; expected one of \['constant', "),
    (lambda: fastmlp.ReduceOnPlateau(factor=1.0), r"^factor must be a finite number in \(0, 1\); got 1.0$"),
    (lambda: fastmlp.ReduceOnPlateau(patience=-1), r"^patience must be an integer >= 0; got -1$"),
    (lambda: fastmlp.ReduceOnPlateau(monitor="accuracy"),
     r"^unknown monitor 'accuracy'; expected one of \['val_loss', 'loss'\]$"),
    (lambda: make_schedule("nope"), r"^unknown schedule 'nope'; expected one of \['constant', "),
    (lambda: make_schedule("step", size=2),
     r"^schedule 'step' has no parameter\(s\) \['size'\]; it takes \['step_size', 'gamma'\]$"),
])
def test_bad_schedule_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make,match", [
    (lambda: fastmlp.LinearWarmup(warmup_epochs=1.5), "warmup_epochs must be a positive integer; got float 1.5"),
    (lambda: fastmlp.StepDecay(gamma="0.5"), "gamma must be a finite number in"),
    (lambda: fastmlp.ReduceOnPlateau(patience=None), "patience must be an integer >= 0; got NoneType None"),
    (lambda: make_schedule(3), "schedule must be one of"),
    (lambda: make_schedule("step", step_size=2.0), "step_size must be a positive integer; got float 2.0"),
])
def test_schedule_parameters_of_a_wrong_type_are_refused(make, match):
    with pytest.raises(TypeError, match=match):
        make()
