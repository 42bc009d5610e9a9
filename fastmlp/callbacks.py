"""Epoch-end callbacks: early stopping, and plain functions that may stop training."""
import math
import numbers

import numpy as np


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
        self.f = f

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
        if monitor not in ("val_loss", "val_accuracy", "loss", "accuracy"):
            raise ValueError(f"monitor must be one of 'val_loss', 'val_accuracy', 'loss', 'accuracy'; got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0; got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or not min_delta >= 0:
            raise ValueError(f"min_delta must be a number >= 0; got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best = bool(restore_best)
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
