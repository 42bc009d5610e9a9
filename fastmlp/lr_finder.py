"""The learning-rate range test (L. N. Smith, "Cyclical Learning Rates for Training Neural
Networks", 2017): train a copy of the model for one pass while the learning rate grows
exponentially from batch to batch, record the loss of each batch, and suggest a rate.

A tool, not the training path: it runs batch by batch through the model's
``engine.train_epoch`` (one call per batch, each at its own learning rate) on a copy of the
model, so the model itself (weights, optimizer state, history) is left as it was.
"""
import copy
import math
from dataclasses import dataclass

import numpy as np

from .checks import (check_positive_float, check_positive_int, check_real, check_seed, check_targets, check_type,
                     check_X, make_rng)
from .backends import TrainingData
from .dropout import Dropout
from .model import MLP
from .optimizers import make_optimizer


@dataclass(frozen=True)
class LRFinderResult:
    """The range test's curve and suggestion.

    Attributes
    ----------
    lrs : ndarray (k,)
        The learning rate of each batch trained, growing exponentially.
    losses : ndarray (k,)
        Each batch's mean loss (before its update, at that learning rate).
    smoothed : ndarray (k,)
        ``losses`` smoothed by an exponential moving average (factor ``smooth``, bias-corrected
        as Adam's moments are).
    suggestion : float
        The learning rate in the "valley" of the smoothed curve (fastai's ``lr_find`` rule):
        with ``d[i]`` the length of the longest strictly decreasing subsequence of
        ``smoothed`` that ends at batch ``i``, ``e`` the first batch where ``d`` is largest
        and ``s = max(e - d[e], 0)``, the valley is batches ``s`` to ``e`` and the suggestion
        is the rate at batch ``s + (e - s) // 3 + (e - s) // 6``: well inside the longest
        stretch where the loss keeps falling, below the rate where it is lowest. Unlike the
        steepest slope, it is not drawn to the noise of a flat start.
    min_loss_lr : float
        The learning rate at the smoothed loss's minimum (a tenth of it is another common rule).
    stopped_early : bool
        The test stopped before its last batch because the smoothed loss exceeded
        ``stop_factor`` times its minimum, or the loss became non-finite.
    """
    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    min_loss_lr: float
    stopped_early: bool

    def plot(self, ax=None, path=None, title=None):
        """Loss against learning rate (log axis), raw and smoothed, the suggestion marked;
        see ``fastmlp.plots.plot_lr_finder``. Returns the Figure."""
        from .plots.lr_finder import plot_lr_finder
        return plot_lr_finder(self, ax=ax, path=path, title=title)


def lr_finder(model, X, y, min_lr=1e-7, max_lr=10.0, batch_size=32, optimizer="sgd", steps=None, smooth=0.98,
              stop_factor=4.0, seed=None, **optimizer_params):
    """Smith's learning-rate range test on a copy of ``model``; the model is unchanged.

    Parameters
    ----------
    model : MLP
    X, y : training data (as for ``MLP.fit``).
    min_lr, max_lr : float, 0 < min_lr < max_lr
        The learning rates of the first and the last batch; in between each batch's rate is
        the previous one times a constant factor.
    batch_size : int
    optimizer : str or Optimizer, default 'sgd'
        The optimizer to test (fresh state), hyperparameters as keywords (momentum, ...).
    steps : int >= 2, optional
        Batches to train; None is one pass over the data (shuffled; more than one pass
        reshuffles for each).
    smooth : float in [0, 1)
        The moving average's factor (0: no smoothing).
    stop_factor : float > 1 or None
        Stop once the smoothed loss exceeds this many times its minimum so far (the loss
        is diverging); None runs every step (a non-finite loss always stops).
    seed : int >= 0, Generator or None
        The shuffling (and the dropout masks of a model with ``dropout``, which the test
        trains with, as ``fit`` does); None takes the model's seed.

    Returns
    -------
    LRFinderResult
        ``lrs``, ``losses``, ``smoothed``, ``suggestion``, ``min_loss_lr``; ``.plot()``.
    """
    check_type(model, "model", MLP, "an MLP")
    model.arch.trainable()
    X = check_X(X, model.arch.n_in, model.arch.dtype, count=model.engine.count_flagged)
    yi, t = check_targets(y, model.arch, X.shape[0])
    min_lr = check_positive_float(min_lr, "min_lr")
    max_lr = check_real(max_lr, "max_lr", low=min_lr, low_open=True)
    batch_size = min(check_positive_int(batch_size, "batch_size"), X.shape[0])
    n = X.shape[0]
    if steps is None:
        steps = -(-n // batch_size)
        if steps < 2:
            raise ValueError(f"one pass over {n} samples in batches of {batch_size} is {steps} batch; the test "
                             "needs at least 2: give steps= or a smaller batch_size")
    else:
        steps = check_positive_int(steps, "steps")
        if steps < 2:
            raise ValueError(f"steps must be at least 2 (the learning rate grows from batch to batch); got {steps}")
    smooth = check_real(smooth, "smooth", low=0.0, high=1.0, high_open=True)
    if stop_factor is not None:
        stop_factor = check_real(stop_factor, "stop_factor", low=1.0, low_open=True)
    # the model's own Generator is copied, not advanced: the model stays as it was
    seed = copy.deepcopy(model.seed) if seed is None else check_seed(seed)
    optimizer = make_optimizer(optimizer, **optimizer_params)
    model.engine.check_training(optimizer, batch_size, dropout=any(model.dropout))

    dropout = Dropout.from_seed(model.dropout, seed)  # the model's dropout, masks drawn as a fit draws them
    rng = make_rng(seed)
    trial = model.copy()
    engine = trial.engine
    state = optimizer.new_state(trial.n_params, trial.dtype)
    data = TrainingData(X, yi, t, batch_size, False, dropout=dropout)
    lrs = min_lr * (max_lr / min_lr) ** (np.arange(steps) / (steps - 1))
    losses, smoothed = [], []
    average, best, stopped = 0.0, math.inf, False
    batches_per_pass = -(-n // batch_size)
    order = None
    with engine.exclusive():
        for i, lr in enumerate(lrs):
            b = i % batches_per_pass
            if b == 0:
                order = rng.permutation(n)
            part = engine.train_epoch(trial.params, state, optimizer, data,
                                      order[b * batch_size:(b + 1) * batch_size], float(lr))
            loss = part.loss_sum / max(part.seen, 1)
            if part.diverged or not math.isfinite(loss):
                stopped = True
                break
            average = smooth * average + (1.0 - smooth) * loss
            value = average / (1.0 - smooth ** (i + 1))
            losses.append(loss)
            smoothed.append(value)
            best = min(best, value)
            if stop_factor is not None and value > stop_factor * best:
                stopped = i < steps - 1
                break
    if not losses:
        raise ValueError(f"the loss was not finite at the first batch (lr={min_lr:g}); lower min_lr or check the "
                         "data")
    k = len(losses)
    lrs, losses, smoothed = lrs[:k].copy(), np.array(losses), np.array(smoothed)
    return LRFinderResult(lrs, losses, smoothed, float(lrs[_valley(smoothed)]), float(lrs[np.argmin(smoothed)]),
                          stopped)


def _valley(smoothed):
    """The batch of the suggestion: see ``LRFinderResult.suggestion``."""
    longest = np.ones(len(smoothed), np.int64)  # d[i]
    end = 0
    for i in range(1, len(smoothed)):
        before = longest[:i][smoothed[:i] > smoothed[i]]
        if before.size:
            longest[i] = before.max() + 1
        if longest[i] > longest[end]:
            end = i
    start = max(end - int(longest[end]), 0)
    return start + (end - start) // 3 + (end - start) // 6
