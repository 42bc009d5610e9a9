"""ModelCheckpoint: save the model during training, the best by a monitored metric and/or
every k epochs, as model files a run can be resumed from.

A checkpoint is an ordinary model file (``fastmlp.modelfile``, written atomically) holding
the weights at the end of the epoch, the optimizer state being trained (its step count
included) and the history up to that epoch. The trainer counts epochs over the model's
history (the shuffling order and the learning-rate schedule depend on that number), so::

    model = fastmlp.load(checkpoint)
    model.fit(X, y, epochs=total - len(model.history), ...)   # the same options and seed

continues the run exactly where the checkpoint left it: the same weights, optimizer
state and history as a run that was never interrupted.

A cosine schedule resumes when given its ``total_epochs`` (without, it follows each fit's
own epochs). What the file does not hold is the state of Python objects passed to ``fit``: a
``ReduceOnPlateau`` schedule (its count of epochs without improvement) is brought back by
replaying the history, ``for row in model.history: schedule.observe(row['epoch'], row)``;
an ``EarlyStopping`` restarts its patience.
"""
import math
import os

from .callbacks import Callback
from .checks import check_bool, check_choice, check_path, check_positive_int
from .history import EPOCH_BASE, History, KEYS

MONITORS = ("loss", "accuracy", "val_loss", "val_accuracy")


class ModelCheckpoint(Callback):
    """Save the model at the end of epochs: every ``every``-th epoch, or only when the
    monitored metric improved (``save_best_only``).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (``.npz`` is added when missing). It may hold ``str.format`` fields:
        ``{epoch}`` (counted from 1, as training prints it) and the epoch's metrics
        (``{loss}``, ``{accuracy}``, ``{val_loss}``, ``{val_accuracy}``, ``{lr}`` ...), e.g.
        ``'ckpt/epoch{epoch:03d}-{val_loss:.3f}.npz'``; without fields each save replaces
        the file. Its folder must exist.
    monitor : {'loss', 'accuracy', 'val_loss', 'val_accuracy'} or None
        The metric ``save_best_only`` compares; None takes 'val_loss' when the fit has
        validation data, else 'loss'.
    mode : {'auto', 'min', 'max'}
        Whether smaller or larger is better; 'auto' is 'max' for accuracies and 'min'
        otherwise (as Keras).
    save_best_only : bool, default False
        Save only the epochs whose metric is better than at every earlier checked epoch
        (those of the model's earlier fits included, so a resumed run keeps the best).
    every : int, default 1
        Check (and save) only the epochs whose number, counted from 1 over the model's
        history, is a multiple of ``every``.

    Attributes
    ----------
    saved : list of str
        The paths written, in order.
    best : float
        The best monitored value seen at a checked epoch (``save_best_only``).
    best_epoch : int or None
        Its epoch, counted from 0 as in the history.

    A failed write (disk full, folder removed) raises and stops training; the file it
    would have replaced stays as it was.
    """

    def __init__(self, path, monitor=None, mode="auto", save_best_only=False, every=1):
        self.path = check_path(path, "path")
        _format(self.path, dict.fromkeys(KEYS, 1.0))  # a bad template is refused now, not after an epoch
        self.monitor = None if monitor is None else check_choice(monitor, "monitor", MONITORS)
        self.mode = check_choice(mode, "mode", ("auto", "min", "max"))
        self.save_best_only = check_bool(save_best_only, "save_best_only")
        self.every = check_positive_int(every, "every")
        self.saved, self.best, self.best_epoch = [], math.nan, None

    def on_train_begin(self, trainer):
        folder = os.path.dirname(os.path.abspath(_format(self.path, dict.fromkeys(KEYS, 1.0))))
        if not os.path.isdir(folder):
            raise ValueError(f"ModelCheckpoint path {self.path!r}: the folder {folder!r} does not exist; create it "
                             "first")
        self._monitor = self.monitor or ("val_loss" if trainer.has_validation else "loss")
        if self._monitor.startswith("val_") and not trainer.has_validation and self.save_best_only:
            raise ValueError(f"ModelCheckpoint monitors {self._monitor!r} but no validation data was given; pass "
                             "validation_data or validation_split, or monitor 'loss'")
        if "accuracy" in self._monitor and not trainer.model.arch.is_classifier and self.save_best_only:
            raise ValueError(f"ModelCheckpoint monitors {self._monitor!r} but a regression model has no accuracy; "
                             "monitor 'loss' or 'val_loss'")
        mode = self.mode if self.mode != "auto" else "max" if "accuracy" in self._monitor else "min"
        self._sign = 1.0 if mode == "min" else -1.0
        self.best, self.best_epoch = math.nan, None
        for row in (trainer.model.history or History()).rows:  # a resumed run keeps the best of earlier fits
            self._consider(row)

    def on_epoch_end(self, trainer, epoch, logs):
        if self._consider(logs) or not self.save_best_only and self._checked(epoch):
            self.saved.append(_save(trainer, _format(self.path, logs)))
        return False

    def _checked(self, epoch):
        return (epoch + EPOCH_BASE) % self.every == 0

    def _consider(self, row):
        """True when ``row`` is a checked epoch whose monitored value beats the best so far
        (then it becomes the best)."""
        value = row.get(self._monitor, math.nan)
        if not self._checked(row["epoch"]) or not math.isfinite(value):
            return False
        if math.isnan(self.best) or self._sign * value < self._sign * self.best:
            self.best, self.best_epoch = value, row["epoch"]
            return True
        return False


def _format(path, row):
    """The path template filled with an epoch's row (``epoch`` counted from 1)."""
    fields = dict(row, epoch=int(row["epoch"]) + EPOCH_BASE)
    try:
        return path.format(**fields)
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ValueError(f"ModelCheckpoint path {path!r} is not a valid template: {type(e).__name__}: {e}; its "
                         f"fields may be {{epoch}} and the metrics {list(KEYS[1:])}") from None


def _save(trainer, path):
    """Write the model as it is at this epoch's end: the optimizer state being trained and the
    history so far (the model's own attributes are updated only when the fit ends)."""
    model = trainer.model
    history = History()
    if model.history is not None:
        history.extend(model.history)
    history.extend(trainer.history)
    kept = model.optimizer_state, model.history
    model.optimizer_state, model.history = trainer.state, history
    try:
        return model.save(path)
    finally:
        model.optimizer_state, model.history = kept
