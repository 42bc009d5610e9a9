"""Learning-rate schedules, evaluated once per epoch (lr is constant within an epoch).

A schedule maps (epoch, base lr) to the epoch's lr; ``observe`` receives each
epoch's metrics (only reduce-on-plateau uses them).
"""
import math
import numbers


def _num(name, v, lo=0.0, lo_open=True, hi=math.inf, hi_open=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise ValueError(f"{name} must be a number; got {v!r}")
    if (v <= lo if lo_open else v < lo) or (v >= hi if hi_open else v > hi):
        raise ValueError(f"{name} must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}; got {v!r}")
    return v


def _int(name, v, lo=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")
    return int(v)


class Schedule:
    """Constant learning rate; the base of the others."""

    name = "constant"

    def lr(self, epoch, base_lr):
        return base_lr

    def observe(self, epoch, logs):
        pass

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """lr * gamma ** (epoch // step_size)."""

    name = "step"

    def __init__(self, step_size=10, gamma=0.1):
        self.step_size = _int("step_size", step_size)
        self.gamma = _num("gamma", gamma, hi=1.0)

    def lr(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """lr * gamma ** epoch."""

    name = "exponential"

    def __init__(self, gamma=0.95):
        self.gamma = _num("gamma", gamma, hi=1.0)

    def lr(self, epoch, base_lr):
        return base_lr * self.gamma ** epoch


class InverseTimeDecay(Schedule):
    """lr / (1 + decay_rate * epoch)."""

    name = "inverse_time"

    def __init__(self, decay_rate=0.1):
        self.decay_rate = _num("decay_rate", decay_rate, lo_open=False)

    def lr(self, epoch, base_lr):
        return base_lr / (1.0 + self.decay_rate * epoch)


class CosineDecay(Schedule):
    """min_lr + (lr - min_lr) (1 + cos(pi * epoch / total_epochs)) / 2, then min_lr."""

    name = "cosine"

    def __init__(self, total_epochs=100, min_lr=0.0):
        self.total_epochs = _int("total_epochs", total_epochs)
        self.min_lr = _num("min_lr", min_lr, lo_open=False)

    def lr(self, epoch, base_lr):
        e = min(epoch, self.total_epochs)
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * e / self.total_epochs))


class LinearWarmup(Schedule):
    """lr * (epoch + 1) / warmup_epochs for the first epochs, then ``after`` (shifted)."""

    name = "warmup"

    def __init__(self, warmup_epochs=5, after=None):
        self.warmup_epochs = _int("warmup_epochs", warmup_epochs)
        self.after = make_schedule(after)

    def lr(self, epoch, base_lr):
        if epoch < self.warmup_epochs:
            return base_lr * (epoch + 1) / self.warmup_epochs
        return self.after.lr(epoch - self.warmup_epochs, base_lr)

    def observe(self, epoch, logs):
        if epoch >= self.warmup_epochs:
            self.after.observe(epoch - self.warmup_epochs, logs)


class ReduceOnPlateau(Schedule):
    """Multiply lr by ``factor`` when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Counted as in torch's ReduceLROnPlateau: after more than ``patience``
    epochs in a row without improvement the lr drops (never below ``min_lr``)
    and the count restarts. Monitoring 'val_loss' without validation data
    watches the training loss instead.
    """

    name = "plateau"

    def __init__(self, factor=0.1, patience=5, min_delta=1e-4, min_lr=0.0, monitor="val_loss"):
        self.factor = _num("factor", factor, hi=1.0, hi_open=True)
        self.patience = _int("patience", patience, lo=0)
        self.min_delta = _num("min_delta", min_delta, lo_open=False)
        self.min_lr = _num("min_lr", min_lr, lo_open=False)
        if monitor not in ("val_loss", "loss"):
            raise ValueError(f"monitor must be 'val_loss' or 'loss'; got {monitor!r}")
        self.monitor = monitor
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


def make_schedule(schedule, **kwargs):
    """A Schedule from None/'constant', a name with keyword arguments, or a Schedule."""
    if schedule is None:
        schedule = "constant"
    if isinstance(schedule, Schedule):
        return schedule
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {sorted(SCHEDULES)}")
    try:
        return SCHEDULES[schedule](**kwargs)
    except TypeError as e:
        raise ValueError(f"schedule {schedule!r}: {e}") from None
