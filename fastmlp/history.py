"""Training history: one row of metrics per epoch, plus how the run ended.

Epoch numbers: a row's ``epoch`` counts from 0 in Python (``history['epoch']``, as
``range``) and in the model file, and from 1 in :meth:`History.to_json` and the command
line's history.json (``"epoch_base": 1``), as training prints them ("epoch 1/5").
``seconds`` is the epoch's training pass and ``samples_per_s`` its training samples divided
by those seconds (validation excluded; the first epoch of a process also includes loading
or compiling the kernels, unless they were prepared before).
"""
import json
import math
import numbers

from .checks import check_bool, check_choice, check_int

#: Epochs are counted from this number in ``to_json`` and history.json (and on screen).
EPOCH_BASE = 1
KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_s")


class History:
    """Per-epoch metrics as lists (``h['loss']``, or Keras-style ``h.history['loss']``), rows by
    position (``h[-1]`` is the last epoch's row, a dict), and the run's end state.

    Attributes
    ----------
    rows : list of dict
        One dict per completed epoch with the keys in ``KEYS`` (``epoch`` counted from 0; a
        metric not measured, e.g. ``val_loss`` without validation data, is NaN).
    diverged : bool
        Training stopped because the loss or weights became non-finite.
    interrupted : bool
        Training was stopped by Ctrl-C (KeyboardInterrupt).
    stopped_early : bool
    best_epoch : int or None
        The epoch early stopping restored, if any.
    """

    def __init__(self, rows=None, diverged=False, interrupted=False, stopped_early=False, best_epoch=None):
        rows = list(rows or [])
        for i, r in enumerate(rows):
            if not isinstance(r, dict):
                raise TypeError(f"rows[{i}] must be a dict of metrics; got {type(r).__name__} {r!r}")
        self.rows = rows
        self.diverged = check_bool(diverged, "diverged")
        self.interrupted = check_bool(interrupted, "interrupted")
        self.stopped_early = check_bool(stopped_early, "stopped_early")
        self.best_epoch = None if best_epoch is None else check_int(best_epoch, "best_epoch", low=0)

    def append(self, row):
        self.rows.append({k: row.get(k, math.nan) for k in KEYS})

    def __getitem__(self, key):
        """``h['loss']``: a metric over the epochs; ``h[-1]``: the last epoch's row; ``h[1:3]``: rows."""
        if isinstance(key, slice):
            return self.rows[key]
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if not -len(self.rows) <= key < len(self.rows):
                raise IndexError(f"history has {len(self.rows)} epoch(s); got index {key}")
            return self.rows[key]
        if key not in KEYS:
            raise KeyError(f"no metric {key!r}; history has {list(KEYS)} (or index rows by position: h[-1])")
        return [r[key] for r in self.rows]

    @property
    def history(self):
        """Keras-style ``{metric: [value per epoch]}`` of the metrics measured in this run
        (``val_*`` only with validation data; ``epoch`` left out, as in Keras)."""
        return {k: self[k] for k in KEYS[1:]
                if any(not (isinstance(v, float) and math.isnan(v)) for v in self[k])}

    @property
    def epoch(self):
        """The epochs' numbers, counted from 0 (as Keras's ``History.epoch``)."""
        return self["epoch"]

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        last = self.rows[-1] if self.rows else {}
        return (f"History(epochs={len(self)}, last_loss={last.get('loss')}, diverged={self.diverged}, "
                f"stopped_early={self.stopped_early}, interrupted={self.interrupted})")

    def extend(self, other):
        """Append another run's rows (resumed training).

        Rows keep their epoch numbers: the trainer already counts a resumed
        run's epochs on from the model's earlier ones.
        """
        for r in other.rows:
            self.rows.append(dict(r))
        self.diverged, self.interrupted = other.diverged, other.interrupted
        self.stopped_early, self.best_epoch = other.stopped_early, other.best_epoch

    def to_dict(self, epoch_base=0):
        """Plain data for JSON: a metric that is NaN (none measured, e.g. val_loss without
        validation data) or infinite becomes None (null), so the JSON is valid.

        ``epoch_base`` is the number of the first epoch: 0 as in Python (the model file's
        history), or 1 as training prints them ("epoch 1/5"; :meth:`to_json` and the command
        line's history.json), which then says so with an ``"epoch_base": 1`` entry.
        :meth:`from_dict` reverses both (null is read as NaN).
        """
        base = check_choice(epoch_base, "epoch_base", (0, 1))
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v + base if k == "epoch" else v)
                 for k, v in r.items()} for r in self.rows]
        out = {"epoch_base": base} if base else {}
        out.update({"rows": rows, "diverged": self.diverged, "interrupted": self.interrupted,
                    "stopped_early": self.stopped_early,
                    "best_epoch": None if self.best_epoch is None else self.best_epoch + base})
        return out

    @classmethod
    def from_dict(cls, d):
        """The History of ``to_dict``'s data (without an ``epoch_base`` entry epochs count from 0)."""
        base = d.get("epoch_base", 0)
        rows = [{k: (math.nan if v is None else v - base if k == "epoch" else v) for k, v in r.items()}
                for r in d["rows"]]
        best = None if d["best_epoch"] is None else d["best_epoch"] - base
        return cls(rows, d["diverged"], d["interrupted"], d["stopped_early"], best)

    def to_json(self):
        """The history as JSON text, epochs counted from 1 as training prints them (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(epoch_base=EPOCH_BASE), allow_nan=False)
