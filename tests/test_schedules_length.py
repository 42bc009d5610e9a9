"""Length-dependent schedules follow the fit: CosineDecay without total_epochs decays over the
fit's epochs (told by the trainer through ``Schedule.start``), an explicit total still wins, a
second fit starts a new cycle, and LinearWarmup hands the rest of the fit to its ``after``."""
import math

import numpy as np
import pytest

import fastmlp
from fastmlp.schedules import make_schedule

BASE = 0.2


def _data(n=24):
    X = np.random.default_rng(0).normal(size=(n, 3))
    return X, (np.arange(n) % 2).astype(np.int64)


def _fit(model, schedule, epochs):
    X, y = _data()
    return model.fit(X, y, epochs=epochs, batch_size=8, lr=BASE, schedule=schedule, verbose=0, seed=0)["lr"]


def _cosine(e, total, min_lr=0.0):
    return min_lr + (BASE - min_lr) * (1 + math.cos(math.pi * min(e, total) / total)) / 2


@pytest.mark.parametrize("epochs", [1, 3, 10])
def test_cosine_without_total_spans_the_fit(epochs):
    s = fastmlp.CosineDecay(min_lr=0.01)
    model = fastmlp.MLP([3, 4, 2], dtype="float64", seed=0)
    lrs = _fit(model, s, epochs)
    assert lrs == pytest.approx([_cosine(e, epochs, 0.01) for e in range(epochs)], rel=1e-12)
    assert lrs[0] == BASE
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # the decay ends with the fit: the epoch after the last one would run at min_lr
    assert s.lr(epochs, BASE) == pytest.approx(0.01, rel=1e-12)
    assert s.lr(epochs - 1, BASE) == lrs[-1]


def test_the_same_cosine_name_fits_short_and_long_runs_alike():
    short = _fit(fastmlp.MLP([3, 4, 2], seed=0), "cosine", 4)
    long = _fit(fastmlp.MLP([3, 4, 2], seed=0), "cosine", 40)
    # halfway through each fit the lr is half the base lr (min_lr 0)
    assert short[2] == pytest.approx(BASE / 2) and long[20] == pytest.approx(BASE / 2)
    assert long[-1] < 0.002 * BASE and short[-1] < 0.15 * BASE
    made = make_schedule("cosine", min_lr=0.001)
    assert made.total_epochs is None and made.min_lr == 0.001


def test_an_explicit_total_still_wins():
    lrs = _fit(fastmlp.MLP([3, 4, 2], seed=0), fastmlp.CosineDecay(total_epochs=100), 5)
    assert lrs == pytest.approx([_cosine(e, 100) for e in range(5)], rel=1e-12)


def test_a_second_fit_starts_a_new_cycle_over_its_own_epochs():
    s = fastmlp.CosineDecay(min_lr=0.02)
    model = fastmlp.MLP([3, 4, 2], dtype="float64", seed=0)
    first = _fit(model, s, 3)
    second = _fit(model, s, 5)
    assert first == pytest.approx([_cosine(e, 3, 0.02) for e in range(3)], rel=1e-12)
    assert second == pytest.approx([_cosine(e, 5, 0.02) for e in range(5)], rel=1e-12)
    assert model.history["epoch"] == list(range(8))  # epochs still count over the model's history


def test_with_an_explicit_total_fits_continue_one_decay():
    s = fastmlp.CosineDecay(total_epochs=8, min_lr=0.02)
    model = fastmlp.MLP([3, 4, 2], dtype="float64", seed=0)
    _fit(model, s, 3)
    _fit(model, s, 5)
    assert model.history["lr"] == pytest.approx([_cosine(e, 8, 0.02) for e in range(8)], rel=1e-12)


def test_warmup_gives_its_after_schedule_the_rest_of_the_fit():
    s = fastmlp.LinearWarmup(warmup_epochs=2, after=fastmlp.CosineDecay(min_lr=0.01))
    lrs = _fit(fastmlp.MLP([3, 4, 2], dtype="float64", seed=0), s, 8)
    expected = [BASE / 2, BASE] + [_cosine(e, 6, 0.01) for e in range(6)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert s.lr(8, BASE) == pytest.approx(0.01)


def test_warmup_longer_than_the_fit_leaves_after_a_valid_span():
    s = fastmlp.LinearWarmup(warmup_epochs=5, after="cosine")
    model = fastmlp.MLP([3, 4, 2], dtype="float64", seed=0)
    assert _fit(model, s, 3) == pytest.approx([BASE / 5, 2 * BASE / 5, 3 * BASE / 5])
    # the next fit runs epochs 3..6: two warm-up epochs, then the cosine over the two left
    assert _fit(model, s, 4) == pytest.approx([4 * BASE / 5, BASE, BASE, _cosine(1, 2)], rel=1e-12)


def test_a_cosine_without_total_outside_a_fit_says_what_to_do():
    s = fastmlp.CosineDecay()
    with pytest.raises(ValueError, match=r"follows the fit's epochs .* give total_epochs"):
        s.lr(0, BASE)
    s.start(10, 4)
    assert s.lr(10, 1.0) == 1.0 and s.lr(12, 1.0) == pytest.approx(0.5)


def test_custom_schedules_need_not_know_about_start():
    class Halving(fastmlp.Schedule):
        def lr(self, epoch, base_lr):
            return base_lr / 2 ** epoch

    assert _fit(fastmlp.MLP([3, 4, 2], seed=0), Halving(), 3) == pytest.approx([BASE, BASE / 2, BASE / 4])
