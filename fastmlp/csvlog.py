"""CSVLogger: one row per epoch of every logged metric to a CSV file, as training goes.

Unlike the model file, a log grows as it is written (one line per epoch, the file closed
after each, so a crashed or interrupted run keeps its completed epochs), so it is not
written atomically.
"""
import csv
import os

from .callbacks import Callback
from .checks import check_bool, check_path, check_type
from .history import EPOCH_BASE, KEYS


class CSVLogger(Callback):
    """Write each epoch's row (``epoch``, ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
    ``lr``, ``seconds``, ``samples_per_s``) to ``path``, the header once, on disk as each epoch ends.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file; its folder must exist.
    append : bool, default False
        Add to an existing file (whose header must be the same columns) instead of replacing it.
    separator : str, default ','
        One character between fields.

    Epochs are counted from 1, as training prints them and as the command line's
    history.json counts them. A metric not measured (``val_loss`` without validation data,
    ``accuracy`` of a regression) is ``nan``; floats are written in full (``repr``) so the file
    reads back to the same numbers. A path that cannot be written is refused when training
    starts, before the first epoch.
    """

    def __init__(self, path, append=False, separator=","):
        self.path = check_path(path, "path")
        self.append = check_bool(append, "append")
        self.separator = check_type(separator, "separator", str, "a one-character str")
        if len(separator) != 1 or separator in "\r\n\"":
            raise ValueError(f"separator must be one character other than a newline or '\"'; got {separator!r}")
        self._check_path()

    def _check_path(self):
        """Refuse a path that cannot become the log, naming why (ValueError)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise ValueError(f"CSVLogger path {self.path!r}: the folder {folder!r} does not exist; create it first")
        if os.path.isdir(self.path):
            raise ValueError(f"CSVLogger path {self.path!r} is a folder; give a file name")

    def _existing_header(self):
        """The header line of the file being appended to, or None when the file is new or empty."""
        if not (self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0):
            return None
        try:
            with open(self.path, newline="", encoding="utf-8") as f:
                return next(csv.reader(f, delimiter=self.separator), [])
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"CSVLogger cannot append to {self.path!r}: it is not a CSV text file ({e}); log to a "
                             "new file or use append=False") from None

    def on_train_begin(self, trainer):
        self._check_path()
        header = self._existing_header()
        if header is not None and header != list(KEYS):
            raise ValueError(f"CSVLogger cannot append to {self.path!r}: its columns {header} are not "
                             f"{list(KEYS)}; log to a new file or use append=False")
        if header is not None and not os.access(self.path, os.W_OK):
            raise ValueError(f"CSVLogger cannot append to {self.path!r}: the file is not writable")
        if header is None:
            try:
                self._write(KEYS, "w")
            except OSError as e:  # a file that cannot be written is refused before the first epoch
                raise ValueError(f"CSVLogger cannot write {self.path!r}: {e.strerror or e}") from None

    def on_epoch_end(self, trainer, epoch, logs):
        self._write([int(logs["epoch"]) + EPOCH_BASE if k == "epoch" else repr(float(logs[k])) for k in KEYS], "a")
        return False

    def _write(self, row, mode):
        """One line, the file opened and closed around it: on disk when the epoch ends, and no
        file left open whatever stops the training."""
        with open(self.path, mode, newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter=self.separator, lineterminator="\n").writerow(row)
