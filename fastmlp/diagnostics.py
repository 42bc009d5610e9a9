"""Per-layer diagnostics during training: a callback that measures, on a fixed probe batch
and with the model's own backend, how the signal and the gradients travel through the
layers (what Glorot & Bengio, 2010, look at to judge an initialisation).

After every k-th epoch (and before the first and after the last), for each weight layer
``l`` (``z_l = a_{l-1} @ W[l] + b[l]``, ``a_l = f(z_l)``; the last layer's output is the logits):

- ``act_mean``, ``act_var``: mean and variance of the layer's outputs ``a_l`` over the probe
  rows and units (``model.engine.layer_outputs``);
- ``grad_var``: variance of the entries of dL/dW[l] for the mean loss over the probe batch
  (``model.engine.loss_and_grad``);
- ``delta_var``: variance of the back-propagated deltas dL/dz_l of each probe row and unit.
  A row's delta is the bias gradient of that row alone (``loss_and_grad`` on one row), so
  every backend gives it without new code; it costs one gradient per probe row (``deltas=False``
  skips it);
- ``dead``: fraction of the layer's units that output exactly 0 on every probe row (dead
  ReLUs); NaN for the output layer.
"""
import math

import numpy as np

from .checks import check_bool, check_matrix
from .recorder import EpochRecorder

#: The statistics recorded per layer, in order.
STATS = ("act_mean", "act_var", "grad_var", "delta_var", "dead")


class LayerDiagnostics(EpochRecorder):
    """Record per-layer statistics on a probe batch every ``every`` epochs.

    Parameters
    ----------
    X_probe : array (n, n_in)
        The probe inputs (a few hundred training rows are plenty).
    y_probe : array
        Their targets, as ``MLP.loss_and_grad`` takes them.
    every : int >= 1, default 1
        Record after every ``every``-th epoch; the state before training and after
        the last epoch are always recorded.
    deltas : bool, default True
        Also record ``delta_var`` (one gradient per probe row).

    Attributes
    ----------
    epochs : list of int
        The completed epochs (counted over the model's history; 0 = the initial weights)
        at which each record was taken.
    records : dict {stat: list of list of float}
        Per statistic of :data:`STATS`, one list per record with one value per layer.

    Examples
    --------
    >>> diag = LayerDiagnostics(X[:256], y[:256], every=5)
    >>> model.fit(X, y, epochs=50, callbacks=[diag])
    >>> diag.as_arrays()["act_var"]          # (records, layers)
    """

    def __init__(self, X_probe, y_probe, every=1, deltas=True):
        self.X_probe = check_matrix(X_probe, "X_probe", min_rows=1)
        self.y_probe = np.asarray(y_probe)
        if self.y_probe.shape[:1] != self.X_probe.shape[:1]:
            raise ValueError(f"y_probe must have one target per row of X_probe ({self.X_probe.shape[0]}); "
                             f"got shape {self.y_probe.shape}")
        super().__init__(every)
        self.deltas = check_bool(deltas, "deltas")
        self.records = {s: [] for s in STATS}
        self.layer_names = []

    def __repr__(self):
        return f"LayerDiagnostics(records={len(self.epochs)}, every={self.every}, deltas={self.deltas})"

    def check(self, model):
        self.layer_names = layer_names(model)

    def take(self, model, epoch):
        stats = measure(model, self.X_probe, self.y_probe, deltas=self.deltas)
        for s in STATS:
            self.records[s].append(stats[s])

    def as_arrays(self):
        """``{'epoch': (records,), stat: (records, layers) float array}`` of everything recorded."""
        out = {"epoch": np.asarray(self.epochs, np.int64)}
        n_layers = len(self.layer_names)
        for s in STATS:
            out[s] = np.asarray(self.records[s], np.float64).reshape(len(self.epochs), n_layers)
        return out

    def to_dict(self):
        """Plain data for JSON: epochs, layer names and the statistics (NaN as None)."""
        return {"epochs": list(self.epochs), "layers": list(self.layer_names),
                **{s: [[None if math.isnan(v) else v for v in row] for row in self.records[s]] for s in STATS}}


def layer_names(model):
    """'layer 1: relu, 32 units', ..., 'output: 10 units' for each weight layer of ``model``."""
    sizes = model.layers[1:]
    names = [f"layer {l + 1}: {act}, {n} units" for l, (act, n) in enumerate(zip(model.activation, sizes))]
    return names + [f"output: {sizes[-1]} unit{'s' if sizes[-1] != 1 else ''}"]


def measure(model, X, y, deltas=True):
    """The statistics of :data:`STATS` for ``model`` on the batch (X, y), one value per weight layer.

    Computed by the model's backend (``model.layer_outputs``, ``model.loss_and_grad``); the
    model is not changed. ``delta_var`` is NaN when ``deltas`` is False.
    """
    outputs = model.layer_outputs(X)
    _, grads = model.loss_and_grad(X, y)
    n_layers = len(outputs)
    stats = {"act_mean": [float(np.mean(a, dtype=np.float64)) for a in outputs],
             "act_var": [float(np.var(a, dtype=np.float64)) for a in outputs],
             "grad_var": [float(np.var(dW, dtype=np.float64)) for dW, _ in model.split(grads)],
             "dead": [float(np.mean(np.all(a == 0, axis=0))) for a in outputs[:-1]] + [math.nan],
             "delta_var": [math.nan] * n_layers}
    if deltas:
        X, y = np.asarray(X), np.asarray(y)
        rows = [[] for _ in range(n_layers)]
        for i in range(X.shape[0]):  # a row's bias gradient is its delta dL/dz
            _, g = model.loss_and_grad(X[i:i + 1], y[i:i + 1])
            for l, (_, db) in enumerate(model.split(g)):
                rows[l].append(db.astype(np.float64))
        stats["delta_var"] = [float(np.var(np.stack(r))) for r in rows]
    return stats
