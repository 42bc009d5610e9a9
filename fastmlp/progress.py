"""Progress display of fit: one self-rewriting line on a terminal or in a notebook, plain
lines in a log file, nothing at ``verbose=0``; and the one-time kernel notice before a fit.

The trainer drives a :class:`Progress` through one fit::

    p = Progress(verbose, epochs, samples_per_epoch)
    for epoch in ...:
        p.start_epoch(epoch)
        ...  p.advance(samples_done, mean_loss_so_far)   # between compiled chunks of the epoch
        p.end_epoch(row)                                # the finished epoch's history row
    p.close()

It follows tqdm's conventions (the ecosystem's progress bar) without depending on it:
the line is rewritten with ``\\r`` and padded with spaces (no terminal escape codes), it
never exceeds the terminal's width (measured at every redraw, so a resized terminal
is followed), fields are dropped by importance rather than cut in the middle, the
redraw rate is capped (10 per second), and in a Jupyter notebook it rewrites its
line as in a terminal. Without a terminal (a log file, a pipe) each epoch is one line,
and an epoch running long prints a line every ``LOG_INTERVAL`` seconds.

Epochs are numbered from 1 on the screen ("epoch 3/50"), as in ``History.to_dict``.
``samples/s`` is the number of training samples of the epoch divided by the seconds of
its training pass (validation and callbacks excluded); the first epoch of a process also
loads (or, the first time, compiles) the kernels, which the trainer and
:func:`kernel_notice` report separately.
"""
import math
import os
import shutil
import sys
import time

from .checks import check_callable, check_choice, check_positive_int

#: Seconds between two redraws of the line (terminal, notebook).
REDRAW_INTERVAL = 0.1
#: Seconds between two in-epoch lines when writing plain lines (log files).
LOG_INTERVAL = 15.0
#: Width of the bar, in characters (the bar is dropped before anything else when space is short).
BAR_WIDTH = 20
#: Line width in a notebook (no terminal to ask).
NOTEBOOK_WIDTH = 120


def rate(x):
    """A rate, short: 987, 45.6k, 2.35M ('-' for None or a non-finite value)."""
    if x is None or not math.isfinite(x):
        return "-"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def so_far(seconds):
    """How long something running has run, for a notice: ``'4.2 s so far'``, or ``'just begun'`` under 0.05 s."""
    return "just begun" if seconds < 0.05 else f"{seconds:.1f} s so far"


def clock(seconds):
    """``'1:05'`` (minutes:seconds), ``'2:03:07'`` past an hour; ``'?'`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _finite(v):
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _row_fields(row):
    """(priority, text) of a finished epoch's metrics, in display order (lower priority = kept longer)."""
    fields = [(1, f"loss {row['loss']:.4f}")]
    for key, label, prio in (("accuracy", "acc", 2), ("val_loss", "val_loss", 3), ("val_accuracy", "val_acc", 4)):
        if _finite(row.get(key)):
            fields.append((prio, f"{label} {row[key]:.4f}"))
    fields.append((6, f"lr {row['lr']:.3g}"))
    fields.append((5, f"{row['samples_per_s']:,.0f} samples/s"))
    return fields


def format_row(row, epochs):
    """One line for a finished epoch: ``epoch 3/50  loss 0.4321  acc 0.8700  ...  123,456 samples/s``.

    ``row['epoch']`` counts from 0 (as the trainer's rows); the line counts from 1.
    """
    return "  ".join([f"epoch {row['epoch'] + 1}/{epochs}"] + [text for _, text in _row_fields(row)])


def fit_line(fields, width):
    """The most important ``(priority, text)`` fields (lowest priority number first) that fit in
    ``width`` characters, shown in their given order two spaces apart.

    Fields are taken by priority until one does not fit; the bar (a text ending in ``]``,
    followed by one space) is the exception: skipped when it does not fit, the next field
    is still tried. A single field too long is cut at ``width``."""
    def joined(items):
        return "".join(t + ("" if k == len(items) - 1 else " " if t.endswith("]") else "  ")
                       for k, t in enumerate(items))

    keep = set()
    for i, _ in sorted(enumerate(fields), key=lambda f: f[1][0]):
        trial = keep | {i}
        if len(joined([t for k, (_, t) in enumerate(fields) if k in trial])) <= width or not keep:
            keep = trial
        elif not fields[i][1].endswith("]"):
            break
    return joined([t for k, (_, t) in enumerate(fields) if k in keep])[:width]


def _is_notebook(stream):
    """Whether ``stream`` is a Jupyter kernel's output (which rewrites a line on ``\\r``)."""
    return type(stream).__module__.split(".")[0] == "ipykernel"


def _columns(stream):
    """Characters that fit on one line of ``stream`` without wrapping: its terminal's width, else
    ``$COLUMNS`` or the width of the terminal Python started in (80 without one)."""
    if _is_notebook(stream):
        return NOTEBOOK_WIDTH
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size().columns


class Progress:
    """The display of one fit: ``verbose`` 0 quiet, 1 a self-rewriting line on a terminal or in a
    notebook (plain lines otherwise), 2 always plain lines.

    Parameters
    ----------
    verbose : {0, 1, 2}
    epochs : int
        The last epoch's number as shown ("epoch 3/epochs"): a resumed fit counts on from
        the model's earlier epochs.
    samples_per_epoch : int, optional
        Training samples in one epoch; with it, :meth:`advance` shows the epoch's percentage.
    stream : text stream, optional
        Where to write (default ``sys.stdout`` at the time of each write).
    """

    def __init__(self, verbose, epochs, samples_per_epoch=None, stream=None):
        self.verbose = int(check_choice(verbose, "verbose", (0, 1, 2)))
        self.epochs = check_positive_int(epochs, "epochs")
        self.samples_per_epoch = (None if samples_per_epoch is None
                                  else check_positive_int(samples_per_epoch, "samples_per_epoch"))
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise TypeError(f"stream must be a text stream with a write method; got {type(stream).__name__}")
        self._stream = stream
        out = self.stream
        self.bar = self.verbose == 1 and (getattr(out, "isatty", lambda: False)() or _is_notebook(out))
        self._t_fit = time.monotonic()
        self._first_epoch = None  # the first epoch of this fit (a resumed fit starts past 0)
        self._epoch = None
        self._t_epoch = None
        self._last_draw = -math.inf
        self._last_len = 0  # characters of the line on screen (bar mode)
        self._written = False

    @property
    def stream(self):
        return sys.stdout if self._stream is None else self._stream

    # -- the trainer's calls -------------------------------------------------------------------
    def start_epoch(self, epoch):
        """Epoch ``epoch`` (counted from 0, over the model's history) starts."""
        now = time.monotonic()
        if self._first_epoch is None:
            self._first_epoch, self._t_fit = epoch, now
        self._epoch, self._t_epoch = epoch, now

    def advance(self, samples_done, mean_loss):
        """Within the current epoch: ``samples_done`` samples trained, mean loss so far ``mean_loss``.

        Cheap when called often: redraws at most every ``REDRAW_INTERVAL`` seconds (a line in a
        log at most every ``LOG_INTERVAL``), and not before the epoch has run that long.
        """
        if not self.verbose or self._epoch is None:
            return
        now = time.monotonic()
        interval = REDRAW_INTERVAL if self.bar else LOG_INTERVAL
        if now - self._last_draw < interval or now - self._t_epoch < interval:
            return  # drawn recently, or the epoch is young: a short epoch shows only its end
        seconds = now - self._t_epoch
        spe = self.samples_per_epoch
        within = min(samples_done / spe, 1.0) if spe else 0.0
        fields = [(1, f"{100 * within:.0f}%" if spe else f"{samples_done:,} samples"),
                  (1.2, f"loss {mean_loss:.4f}" if _finite(mean_loss) else "loss -")]
        if spe:
            fields.append((4, f"{samples_done:,}/{spe:,}"))
        fields.append((3, f"{rate(samples_done / seconds) if seconds > 0 else '-'} samples/s"))
        eta = self._eta(within, now)
        if math.isfinite(eta):
            fields.append((5, f"ETA {clock(eta)}"))
        if self.bar:
            self._draw(self._head(self._epoch, within), fields, now)
        else:
            self._line(f"epoch {self._epoch + 1}/{self.epochs}  " + "  ".join(t for _, t in fields), now)

    def end_epoch(self, row):
        """The epoch of history row ``row`` finished (``row['epoch']`` counted from 0)."""
        if not self.verbose:
            return
        now = time.monotonic()
        if self._first_epoch is None:  # a trainer that does not call start_epoch
            self._first_epoch = row["epoch"]
        self._epoch = None
        if self.bar:
            fields = _row_fields(row) + [(7, f"ETA {clock(self._eta_after(row['epoch'], now))}")]
            if row["epoch"] + 1 >= self.epochs:
                fields = fields[:-1]
            self._draw(self._head(row["epoch"], 1.0), fields, now)
        else:
            self._line(format_row(row, self.epochs), now)

    update = end_epoch  # the name of fastmlp 0.1

    def note(self, text):
        """A one-line message between epochs (e.g. that the kernels are being prepared), shown
        unless quiet; a line being rewritten is ended first."""
        if not self.verbose:
            return
        if self.bar and self._written:
            self.stream.write("\n")
            self._written, self._last_len = False, 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        """End the display (a bar's line is ended with a newline)."""
        if self.verbose and self.bar and self._written:
            self.stream.write("\n")
            self.stream.flush()
            self._written = False

    # -- drawing -------------------------------------------------------------------------------
    def _head(self, epoch, within):
        """The bar (the fit's share done; dropped first when space is short) and the epoch number."""
        done = (epoch + within) / self.epochs
        fill = min(BAR_WIDTH, int(round(BAR_WIDTH * done)))
        return [(1.5, f"[{'#' * fill}{'.' * (BAR_WIDTH - fill)}]"), (0, f"epoch {epoch + 1}/{self.epochs}")]

    def _eta(self, within, now):
        """Seconds left in this fit, from the pace so far (``within``: share of the current epoch done)."""
        done = self._epoch - self._first_epoch + within
        left = self.epochs - self._first_epoch - done
        return (now - self._t_fit) / done * left if done > 0 else math.nan

    def _eta_after(self, epoch, now):
        done = epoch + 1 - self._first_epoch
        return (now - self._t_fit) / done * (self.epochs - epoch - 1) if done > 0 else math.nan

    def _draw(self, head, fields, now):
        width = _columns(self.stream) - 1  # the last column would wrap on some terminals
        text = fit_line(head + fields, width)
        pad = max(0, self._last_len - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._last_len, self._last_draw, self._written = len(text), now, True

    def _line(self, text, now):
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_draw = now


def warm_up(model, X, y, **fit_options):
    """Make ready the kernels that ``model.fit(X, y, **fit_options)``, ``evaluate`` and
    ``predict_proba`` use: one epoch on a copy of the model and the first two batches of the
    data, validation included. They load from the on-disk cache, or compile the first time.
    The model is not changed; warnings of this rehearsal are not shown (the real fit gives them).
    """
    import warnings
    batch = fit_options.get("batch_size", 32)
    n = min(len(X), 2 * batch)
    options = {k: v for k, v in fit_options.items()
               if k not in ("epochs", "verbose", "validation_data", "validation_split", "early_stopping", "callbacks")}
    weights = [options.pop(k, None) for k in ("sample_weight", "class_weight")]
    if any(w is not None for w in weights):  # weights of the rehearsal's rows, unequal: the weighted path warms up
        import numpy as np
        options["sample_weight"] = np.linspace(1.0, 2.0, n)
    rehearsal = model.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rehearsal.fit(X[:n], y[:n], epochs=1, verbose=0, validation_data=(X[:n], y[:n]), **options)
        rehearsal.evaluate(X[:n], y[:n])
        if rehearsal.loss != "mse":
            rehearsal.predict_proba(X[:n])


def _compiled_so_far():
    """How many of fastmlp's kernels this process compiled (Numba's cache misses) so far."""
    from numba.core.dispatcher import Dispatcher

    from . import kernels
    return sum(sum(f.stats.cache_misses.values()) for f in vars(kernels).values() if isinstance(f, Dispatcher))


def kernel_notice(prepare, log=print):
    """Run ``prepare()`` (a short warm-up fit, :func:`warm_up`) announced by one line, then say
    whether the kernels were compiled (the first run after installing or updating fastmlp:
    tens of seconds) or loaded from the on-disk cache, and how long it took: the words the
    trainer uses for its own first fit. Returns the seconds ``prepare`` took."""
    check_callable(prepare, "prepare")
    check_callable(log, "log", "a function of one line of text")
    log("preparing the kernels (compiled on the first run only, then cached)...")
    before = _compiled_so_far()
    t0 = time.perf_counter()
    prepare()
    seconds = time.perf_counter() - t0
    log(f"kernels {'compiled' if _compiled_so_far() > before else 'loaded from the cache'} in {seconds:.1f} s")
    return seconds
