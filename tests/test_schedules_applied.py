"""Learning-rate schedules tested ON THE WEIGHTS: the rate the trainer applies in each epoch.

``test_schedules.py`` checks the lr each schedule computes and the history
records; here the weights themselves must show it. With full-batch SGD,
shuffle off, one step per epoch, the change of ``params`` in epoch e must be
``-lr_e * d`` with ``d`` the gradient of the loss at the params before the
epoch (``model.loss_and_grad`` on the same data, float64; plus
``weight_decay * params`` when weight decay is on), ``lr_e`` the scheduled rate
``schedule.lr(e, base_lr)``, and the rate recorded in ``history['lr'][e]``.
A schedule applied one epoch late, or the base rate applied instead of the
scheduled one, fails here even when the history records the right numbers.

Matrix: 8 schedules (every built-in one, ReduceOnPlateau driven into two
reductions, and a custom ``Schedule`` subclass) x 3 backends x 3 training paths
(plain SGD, which numba fuses into the backward pass; SGD with weight decay and
no momentum, numba's generic epoch kernel; one sample with batch 1, numba's
online kernel) x 2 ways to run the epochs (one fit of 6, or fits of 3 + 3 that
must continue the schedule): 144 tests, float64, tolerance atol 1e-10 on the
weights (one update in another summation order differs by ~1e-16) and rel 1e-8
on the applied rate.

Run time (2 shared cores): ~1.5 s of tests (4 s wall) with a warm numba cache, ~35 s cold.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastmlp
from fastmlp import MLP

BASE_LR = 0.5
EPOCHS = 6
ATOL = 1e-10


class Zigzag(fastmlp.Schedule):
    """A custom schedule: a non-monotonic table, so a shifted or ignored schedule shows in every epoch."""

    name = "zigzag"
    FACTORS = (1.0, 0.2, 0.7, 0.05, 1.2, 0.4)

    def lr(self, epoch, base_lr):
        return base_lr * self.FACTORS[epoch % len(self.FACTORS)]


def _same_formula(make):
    """Expected rates from a fresh, untouched instance of a stateless schedule."""
    return lambda: [make().lr(e, BASE_LR) for e in range(EPOCHS)]


# name -> (fresh schedule, expected lr per epoch)
SCHEDULES = {
    "constant": (fastmlp.Schedule, _same_formula(fastmlp.Schedule)),
    "step": (lambda: fastmlp.StepDecay(step_size=2, gamma=0.5),
             _same_formula(lambda: fastmlp.StepDecay(step_size=2, gamma=0.5))),
    "exponential": (lambda: fastmlp.ExponentialDecay(gamma=0.6),
                    _same_formula(lambda: fastmlp.ExponentialDecay(gamma=0.6))),
    "inverse_time": (lambda: fastmlp.InverseTimeDecay(decay_rate=1.0),
                     _same_formula(lambda: fastmlp.InverseTimeDecay(decay_rate=1.0))),
    "cosine": (lambda: fastmlp.CosineDecay(total_epochs=4, min_lr=0.05),
               _same_formula(lambda: fastmlp.CosineDecay(total_epochs=4, min_lr=0.05))),
    "warmup": (lambda: fastmlp.LinearWarmup(warmup_epochs=3, after=fastmlp.StepDecay(step_size=1, gamma=0.5)),
               _same_formula(lambda: fastmlp.LinearWarmup(warmup_epochs=3,
                                                          after=fastmlp.StepDecay(step_size=1, gamma=0.5)))),
    # min_delta 10: no epoch after the first improves the loss by that much, so with
    # patience 1 the rate halves after epochs 2 and 4 (applied from epochs 3 and 5).
    "plateau": (lambda: fastmlp.ReduceOnPlateau(factor=0.5, patience=1, min_delta=10.0, monitor="loss"),
                lambda: [BASE_LR * f for f in (1, 1, 1, 0.5, 0.5, 0.25)]),
    "custom": (Zigzag, _same_formula(Zigzag)),
}
# name -> (samples, optimizer hyperparameters); batch_size = samples (one step per epoch)
PATHS = {
    "sgd": (9, {}),
    "sgd_wd": (9, dict(weight_decay=0.1)),
    "online": (1, {}),
}
RUNS = {"one_fit": (6,), "resumed": (3, 3)}


def _data(n):
    rng = np.random.default_rng(2)
    return rng.normal(size=(n, 3)), rng.integers(0, 3, n)


def _model(backend):
    return MLP([3, 4, 3], activation="tanh", loss="cross_entropy", init="glorot_normal",
               bias_init="glorot_normal", dtype="float64", backend=backend, seed=1)


@pytest.mark.parametrize("run", sorted(RUNS))
@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("backend", ["loop", "numpy", "numba"])
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_each_epoch_applies_the_scheduled_rate(schedule, backend, path, run):
    make, expected_lrs = SCHEDULES[schedule]
    expected = expected_lrs()
    if schedule != "constant":  # else a late or ignored schedule would pass unnoticed
        assert expected != [BASE_LR] * EPOCHS and expected[1:] != expected[:-1]
    n, hyper = PATHS[path]
    wd = hyper.get("weight_decay", 0.0)
    X, y = _data(n)
    model = _model(backend)
    probe = _model(backend)  # gradients at the params before each epoch
    snapshots = [model.params.copy()]
    sched = make()
    for epochs in RUNS[run]:
        model.fit(X, y, epochs=epochs, batch_size=n, lr=BASE_LR, optimizer="sgd", schedule=sched, shuffle=False,
                  seed=0, verbose=0, callbacks=[lambda epoch, logs: snapshots.append(model.params.copy())], **hyper)
    assert model.backend == probe.backend == backend
    assert len(snapshots) == EPOCHS + 1 and len(model.history) == EPOCHS
    assert_allclose(model.history["epoch"], range(EPOCHS))
    recorded = model.history["lr"]
    for e in range(EPOCHS):
        before, after = snapshots[e], snapshots[e + 1]
        probe.params[...] = before
        _, grad = probe.loss_and_grad(X, y)
        d = grad + wd * before
        assert np.abs(d).max() > 1e-3, "a vanishing gradient cannot show the rate"
        applied = -np.dot(after - before, d) / np.dot(d, d)
        msg = (f"epoch {e}: applied lr {applied:.6g}, scheduled {expected[e]:.6g}, "
               f"recorded {recorded[e]:.6g}")
        assert applied == pytest.approx(expected[e], rel=1e-8), msg
        assert recorded[e] == pytest.approx(expected[e], rel=1e-12), msg
        assert_allclose(after, before - expected[e] * d, rtol=0, atol=ATOL, err_msg=msg)
