"""The interfaces every benchmark runner has (:class:`Runner` trains, :class:`Predictor` runs
``predict_proba``), the optimizers a runner cannot train (:func:`cannot_train`) and the loss and
accuracy the peers report (:func:`cross_entropy`)."""
import numpy as np


# The optimizer kinds (``workloads.Optimizer.kind``) scikit-learn's MLPClassifier has solvers for; every other
# training variant has them all.
SKLEARN_OPTIMIZERS = ("sgd", "adam")


def cannot_train(name, opt):
    """Why training variant ``name`` cannot train with ``opt`` (a workloads.Optimizer) by its own
    means ('' when it can)."""
    if name != "sklearn" or opt.kind in SKLEARN_OPTIMIZERS:
        return ""
    return f"scikit-learn's MLPClassifier has no {opt.kind} solver (only 'sgd', with momentum or Nesterov, and 'adam')"


class Runner:
    """Common part of the training runners, which train one network on fixed data ``(X, y)``.

    Every runner has ``train(epochs=1)`` (that many passes over the data, each
    reshuffled) and ``evaluate(X=None, y=None) -> (mean cross-entropy, accuracy)``
    (default: the training data); ``note`` says where it departs from the Net.

    Parameters
    ----------
    net : Net
        Network, batch size and optimizer (``net.opt``).
    X : float32 array (n, n_in)
    y : int64 array (n,)
    init : list of (W (n_in, n_out), b (n_out,))
        Initial weights, fastmlp's layout.
    seed : int
        Shuffling seed.
    """

    name = ""
    note = ""

    def __init__(self, net, X, y, init, seed=0):
        self.net, self.X, self.y, self.seed = net, X, y, seed
        self.n = X.shape[0]
        self.n_classes = net.layers[-1]

    def loss(self):
        """Mean cross-entropy on the training data."""
        return self.evaluate()[0]


class Predictor:
    """Common part of the inference runners: ``predict_proba(X)`` -> class probabilities
    (n, n_classes) of ``net``'s network with the weights ``init`` (fastmlp's layout),
    called as a user of that library would call it; ``note`` says where it departs."""

    name = ""
    note = ""

    def __init__(self, net, init):
        self.net = net

    def predict_proba(self, X):
        raise NotImplementedError


def cross_entropy(logits_or_proba, y, proba=False):
    """``(mean cross-entropy, accuracy)`` from logits (or probabilities) as a float64 numpy computation."""
    z = np.asarray(logits_or_proba, dtype=np.float64)
    if proba:
        logp = np.log(np.clip(z, 1e-300, None))
    else:
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(y.shape[0])
    return float(-logp[rows, y].mean()), float((z.argmax(axis=1) == y).mean())
