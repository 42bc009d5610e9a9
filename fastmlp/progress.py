"""Progress display for fit: a bar on a terminal, plain lines otherwise, nothing at verbose=0."""
import math
import sys

from .checks import check_choice, check_positive_int


def format_row(row, epochs):
    parts = [f"epoch {row['epoch'] + 1}/{epochs}", f"loss {row['loss']:.4f}"]
    for key, label in (("accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc")):
        v = row.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            parts.append(f"{label} {v:.4f}")
    parts.append(f"lr {row['lr']:.3g}")
    parts.append(f"{row['samples_per_s']:,.0f} samples/s")
    return "  ".join(parts)


class Progress:
    """Shows each finished epoch: ``verbose`` 0 quiet, 1 bar (terminal) or lines, 2 always lines."""

    def __init__(self, verbose, epochs, stream=None):
        self.verbose = int(check_choice(verbose, "verbose", (0, 1, 2)))
        self.epochs = check_positive_int(epochs, "epochs")
        self.stream = sys.stdout if stream is None else stream
        if not callable(getattr(self.stream, "write", None)):
            raise TypeError(f"stream must be a text stream with a write method; got {type(stream).__name__}")
        self.bar = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()

    def start_epoch(self, epoch):
        """An epoch begins (counted from 0 over the model's history)."""

    def advance(self, samples_done, mean_loss):
        """Within an epoch: ``samples_done`` trained so far, their mean loss."""

    def note(self, text):
        """A one-line message (e.g. that kernels are compiling), shown unless quiet."""
        if self.verbose:
            self.stream.write(text + "\n")
            self.stream.flush()

    def end_epoch(self, row):
        """An epoch finished: its history row."""
        self.update(row)

    def update(self, row):
        if not self.verbose:
            return
        text = format_row(row, self.epochs)
        if self.bar:
            done = (row["epoch"] + 1) / self.epochs
            fill = int(round(20 * done))
            self.stream.write(f"\r[{'#' * fill}{'.' * (20 - fill)}] {text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.verbose and self.bar:
            self.stream.write("\n")
            self.stream.flush()
