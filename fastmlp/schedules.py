"""Learning-rate schedules, evaluated once per epoch (lr is constant within an epoch).

A schedule maps (epoch, base lr) to the epoch's lr, epochs counted over the
model's history; ``observe`` receives each epoch's metrics (only
reduce-on-plateau uses them); ``start`` is told, as each fit begins, its first
epoch and its number of epochs, so a schedule whose shape depends on the
training's length (cosine without ``total_epochs``) follows the fit.
"""
import inspect
import math

from .checks import check_choice, check_int, check_positive_int, check_real


class Schedule:
    """Constant learning rate; the base of the others."""

    name = "constant"

    def lr(self, epoch, base_lr):
        return base_lr

    def observe(self, epoch, logs):
        pass

    def start(self, first_epoch, epochs):
        """Called by the trainer as a fit begins: it runs epochs ``first_epoch`` to
        ``first_epoch + epochs - 1`` (counted over the model's history). Only schedules
        whose shape depends on the training's length use it."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """lr * gamma ** (epoch // step_size)."""

    name = "step"

    def __init__(self, step_size=10, gamma=0.1):
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = check_real(gamma, "gamma", 0, 1, low_open=True)

    def lr(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """lr * gamma ** epoch."""

    name = "exponential"

    def __init__(self, gamma=0.95):
        self.gamma = check_real(gamma, "gamma", 0, 1, low_open=True)

    def lr(self, epoch, base_lr):
        return base_lr * self.gamma ** epoch


class InverseTimeDecay(Schedule):
    """lr / (1 + decay_rate * epoch)."""

    name = "inverse_time"

    def __init__(self, decay_rate=0.1):
        self.decay_rate = check_real(decay_rate, "decay_rate", low=0)

    def lr(self, epoch, base_lr):
        return base_lr / (1.0 + self.decay_rate * epoch)


class CosineDecay(Schedule):
    """min_lr + (lr - min_lr) (1 + cos(pi * e / T)) / 2 for e < T, then min_lr.

    With ``total_epochs`` given, T is it and e the epoch counted over the
    model's history, so the decay continues across fits (the way to resume a
    run). With ``total_epochs=None`` (the default) the decay follows each fit:
    T is the fit's number of epochs and e counts from the fit's first epoch
    (as torch's CosineAnnealingLR with T_max = epochs), so the lr falls from
    the base lr in the first epoch to ``min_lr`` at the end of the fit; a
    second fit starts a new cycle over its own epochs (a warm restart).
    """

    name = "cosine"

    def __init__(self, total_epochs=None, min_lr=0.0):
        self.total_epochs = None if total_epochs is None else check_positive_int(total_epochs, "total_epochs")
        self.min_lr = check_real(min_lr, "min_lr", low=0)
        self._span = None  # (first epoch, epochs) of the fit under way, for total_epochs=None

    def start(self, first_epoch, epochs):
        self._span = (first_epoch, epochs)

    def lr(self, epoch, base_lr):
        if self.total_epochs is not None:
            first, total = 0, self.total_epochs
        elif self._span is not None:
            first, total = self._span
        else:
            raise ValueError("CosineDecay(total_epochs=None) follows the fit's epochs and knows them once a fit "
                             "starts; give total_epochs to use it outside a fit, or call start(first_epoch, epochs)")
        e = min(max(epoch - first, 0), total)
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * e / total))


class LinearWarmup(Schedule):
    """lr * (epoch + 1) / warmup_epochs for the first epochs, then ``after`` (shifted)."""

    name = "warmup"

    def __init__(self, warmup_epochs=5, after=None):
        self.warmup_epochs = check_positive_int(warmup_epochs, "warmup_epochs")
        self.after = make_schedule(after, name="after")

    def lr(self, epoch, base_lr):
        if epoch < self.warmup_epochs:
            return base_lr * (epoch + 1) / self.warmup_epochs
        return self.after.lr(epoch - self.warmup_epochs, base_lr)

    def observe(self, epoch, logs):
        if epoch >= self.warmup_epochs:
            self.after.observe(epoch - self.warmup_epochs, logs)

    def start(self, first_epoch, epochs):
        """``after`` (epochs shifted by ``warmup_epochs``) is told the part of the fit after the warm-up."""
        first_after = max(first_epoch, self.warmup_epochs)
        self.after.start(first_after - self.warmup_epochs, max(first_epoch + epochs - first_after, 1))


class ReduceOnPlateau(Schedule):
    """Multiply lr by ``factor`` when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Counted as in torch's ReduceLROnPlateau: after more than ``patience``
    epochs in a row without improvement the lr drops (never below ``min_lr``)
    and the count restarts. Monitoring 'val_loss' without validation data
    watches the training loss instead.
    """

    name = "plateau"

    def __init__(self, factor=0.1, patience=5, min_delta=1e-4, min_lr=0.0, monitor="val_loss"):
        self.factor = check_real(factor, "factor", 0, 1, low_open=True, high_open=True)
        self.patience = check_int(patience, "patience", low=0)
        self.min_delta = check_real(min_delta, "min_delta", low=0)
        self.min_lr = check_real(min_lr, "min_lr", low=0)
        self.monitor = check_choice(monitor, "monitor", ("val_loss", "loss"))
        self._scale, self._best, self._wait = 1.0, math.inf, 0

    def lr(self, epoch, base_lr):
        return max(base_lr * self._scale, self.min_lr)

    def observe(self, epoch, logs):
        value = logs.get(self.monitor, math.nan)
        if not math.isfinite(value):  # 'val_loss' without validation data: the training loss
            value = logs.get("loss", math.nan)
        if not math.isfinite(value):
            return
        if value < self._best - self.min_delta:
            self._best, self._wait = value, 0
        else:
            self._wait += 1
            if self._wait > self.patience:
                self._scale *= self.factor
                self._wait = 0


SCHEDULES = {c.name: c for c in (Schedule, StepDecay, ExponentialDecay, InverseTimeDecay, CosineDecay,
                                 LinearWarmup, ReduceOnPlateau)}


def make_schedule(schedule, name="schedule", **kwargs):
    """A Schedule from None/'constant', a name with keyword arguments, or a Schedule
    (``name`` is the argument's name in error messages)."""
    if schedule is None:
        schedule = "constant"
    if isinstance(schedule, Schedule):
        return schedule
    cls = SCHEDULES[check_choice(schedule, name, sorted(SCHEDULES))]
    if kwargs:  # (inspect.signature takes 0.35 ms: every fit makes its schedule, most with none)
        takes = list(inspect.signature(cls).parameters)
        unknown = sorted(set(kwargs) - set(takes))
        if unknown:
            raise ValueError(f"schedule {schedule!r} has no parameter(s) {unknown}; it takes {takes}")
    return cls(**kwargs)
