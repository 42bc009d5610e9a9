"""Epoch-end callbacks: early stopping, and plain functions that may stop training."""
import math

import numpy as np

from .checks import check_bool, check_callable, check_choice, check_int, check_real


class Callback:
    """Called after each epoch; ``on_epoch_end`` returns True to stop training."""

    def on_train_begin(self, trainer):
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        return False

    def on_train_end(self, trainer):
        pass


class FunctionCallback(Callback):
    """Wraps ``f(epoch, logs)``; a truthy return stops training."""

    def __init__(self, f):
        self.f = check_callable(f, "f", "a function (epoch, logs)")

    def on_epoch_end(self, trainer, epoch, logs):
        return bool(self.f(epoch, logs))


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor : str
        'val_loss' (default), 'val_accuracy', 'loss' or 'accuracy'.
    patience : int
        Epochs in a row without improvement that are tolerated: training
        stops at the next one (0 stops at the first epoch that does not improve).
    min_delta : float
        Smallest change that counts as improvement.
    restore_best : bool
        Put back the weights of the best epoch when training ends.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True):
        self.monitor = check_choice(monitor, "monitor", ("val_loss", "val_accuracy", "loss", "accuracy"))
        self.patience = check_int(patience, "patience", low=0)
        self.min_delta = check_real(min_delta, "min_delta", low=0)
        self.restore_best = check_bool(restore_best, "restore_best")
        self.sign = -1.0 if "accuracy" in monitor else 1.0

    def on_train_begin(self, trainer):
        self.best, self.best_epoch, self.wait, self.best_params = math.inf, None, 0, None

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            if self.monitor.startswith("val_") and value is None:
                raise ValueError(f"EarlyStopping monitors {self.monitor!r} but no validation data was given")
            return False
        score = self.sign * value
        if score < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = score, epoch, 0
            if self.restore_best:
                self.best_params = np.copy(trainer.model.params)
            return False
        self.wait += 1
        return self.wait > self.patience

    def on_train_end(self, trainer):
        if self.restore_best and self.best_params is not None:
            trainer.model.params[...] = self.best_params
            trainer.history.best_epoch = self.best_epoch


def make_callbacks(callbacks):
    out = []
    for c in callbacks or ():
        if isinstance(c, Callback):
            out.append(c)
        elif callable(c):
            out.append(FunctionCallback(c))
        else:
            raise TypeError(f"a callback must be a Callback or a function (epoch, logs); got {c!r}")
    return out
