"""A callback that measures the model at fixed epochs: before training, after every k-th
epoch and after the last one (the base of the diagnostics and the boundary snapshots).

Epochs are counted over the model's history, as the trainer counts them: a record taken at
``epoch`` e means "after e completed epochs" (0 = the initial weights), and a resumed fit
with the same recorder goes on from where the last one stopped.
"""
import numpy as np

from .callbacks import Callback
from .checks import check_positive_int


class EpochRecorder(Callback):
    """Calls ``self.take(model, epoch)`` at the start, every ``every`` epochs and at the end.

    Subclasses set ``self.epochs = []`` (the recorded epochs, appended here) and define
    ``take``; ``check(model)`` may refuse a model before any epoch runs.
    """

    def __init__(self, every=1):
        self.every = check_positive_int(every, "every")
        self.epochs = []

    def check(self, model):
        """Raise ValueError if this recorder cannot measure ``model`` (default: any model)."""

    def take(self, model, epoch):
        """Measure ``model`` after ``epoch`` completed epochs and store it: the abstract step that
        each recorder defines (``LayerDiagnostics``, ``BoundarySnapshots``)."""
        raise NotImplementedError(f"{type(self).__name__} must define take(model, epoch): what it records")

    def _record(self, model, epoch):
        self.take(model, epoch)
        self.epochs.append(int(epoch))

    def on_train_begin(self, trainer):
        model = trainer.model
        self.check(model)
        done = len(model.history) if model.history is not None else 0
        if not self.epochs or self.epochs[-1] != done:
            self._record(model, done)

    def on_epoch_end(self, trainer, epoch, logs):
        if (epoch + 1) % self.every == 0:
            self._record(trainer.model, epoch + 1)
        return False

    def on_train_end(self, trainer):
        # called before the trainer adds this run to model.history
        model = trainer.model
        done = (len(model.history) if model.history is not None else 0) + len(trainer.history)
        if self.epochs and self.epochs[-1] != done and np.isfinite(model.params).all():
            self._record(model, done)


def check_recorded(value, name, cls):
    """``value`` if it is a ``cls`` recorder that has recorded something: else TypeError, or
    ValueError when it was never passed to a fit (for the figures drawn from recorders)."""
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__}; got {value!r}")
    if not value.epochs:
        raise ValueError(f"nothing recorded yet: pass the {cls.__name__} to fit(callbacks=[...]) first")
    return value
