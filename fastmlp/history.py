"""Training history: one row of metrics per epoch, plus how the run ended."""
import json
import math

from .checks import check_bool, check_int

KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "samples_per_s")


class History:
    """Per-epoch metrics as lists (``history['loss']``), and the run's end state.

    Attributes
    ----------
    rows : list of dict
        One dict per completed epoch with the keys in ``KEYS``.
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
        if key not in KEYS:
            raise KeyError(f"no metric {key!r}; history has {list(KEYS)}")
        return [r[key] for r in self.rows]

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

    def to_dict(self):
        """Plain data for JSON: a metric that is NaN (none measured, e.g. val_loss without
        validation data) or infinite becomes None (null), so the JSON is valid; ``from_dict``
        reads null back as NaN."""
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                for r in self.rows]
        return {"rows": rows, "diverged": self.diverged, "interrupted": self.interrupted,
                "stopped_early": self.stopped_early, "best_epoch": self.best_epoch}

    @classmethod
    def from_dict(cls, d):
        rows = [{k: (math.nan if v is None else v) for k, v in r.items()} for r in d["rows"]]
        return cls(rows, d["diverged"], d["interrupted"], d["stopped_early"], d["best_epoch"])

    def to_json(self):
        return json.dumps(self.to_dict(), allow_nan=False)
