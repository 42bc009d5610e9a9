"""Decision-boundary snapshots during training: a callback that stores, every k epochs, the
class probabilities a 2-D classifier predicts over a mesh around the data, and its accuracy
on the given points, for a figure with one panel per snapshot
(``fastmlp.plots.plot_boundary_snapshots``)."""
import numpy as np

from .checks import check_int, check_matrix, check_real
from .recorder import EpochRecorder


class BoundarySnapshots(EpochRecorder):
    """Store the predicted-probability mesh before training, every ``every`` epochs and
    after the last.

    Parameters
    ----------
    X : array (n, 2)
        The points the mesh covers (``fastmlp.datasets.grid``) and the figure shows.
    y : array (n,) of class ids
        Their classes: each snapshot's accuracy is measured on them.
    every : int >= 1, default 1
    resolution : int >= 2, default 100
        Mesh lines per axis.
    margin : float >= 0, default 0.1
        Padding of the mesh around the points, as a fraction of their range.

    Attributes
    ----------
    epochs : list of int
        Completed epochs of each snapshot (over the model's history; 0 = initial weights).
    probabilities : list of ndarray (resolution, resolution, n_classes), float32
    accuracies : list of float
    xx, yy : ndarray (resolution, resolution)
        The mesh.
    """

    def __init__(self, X, y, every=1, resolution=100, margin=0.1):
        self.X = check_matrix(X, "X", n_columns=2, min_rows=1)
        self.y = np.asarray(y)
        if self.y.shape != (self.X.shape[0],):
            raise ValueError(f"y must hold one class id per row of X ({self.X.shape[0]}); got shape {self.y.shape}")
        super().__init__(every)
        resolution = check_int(resolution, "resolution", low=2)
        margin = check_real(margin, "margin", low=0)
        from .datasets import grid  # here: importing fastmlp does not load the datasets
        self.xx, self.yy, self._mesh = grid(self.X, resolution, margin)
        self.probabilities, self.accuracies = [], []

    def __repr__(self):
        return f"BoundarySnapshots(snapshots={len(self.epochs)}, every={self.every})"

    def check(self, model):
        if model.layers[0] != 2 or not model.arch.is_classifier:
            raise ValueError(f"BoundarySnapshots needs a classifier with 2 inputs; the model has {model.layers[0]} "
                             f"input(s) and loss {model.loss!r}")

    def take(self, model, epoch):
        proba = model.predict_proba(self._mesh)
        self.probabilities.append(proba.reshape(*self.xx.shape, -1).astype(np.float32))
        self.accuracies.append(float(np.mean(model.predict(self.X) == self.y)))
