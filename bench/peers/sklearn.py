"""The 'sklearn' variant: scikit-learn's MLPClassifier carrying the same weights as fastmlp,
trained by ``partial_fit`` with the same optimizer, or running its ``predict_proba``.

Imported only when its runner is made (:mod:`fastmlp.bench.peers`);
``sklearn`` below is the installed scikit-learn (absolute import), not this file.
"""
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier

from .runner import Predictor, Runner, cannot_train, cross_entropy

ADAM_NOTE = ("Adam: scikit-learn adds eps to sqrt(v) before the bias correction (eps / sqrt(1 - beta2^t) "
             "in torch.optim's terms)")


def _solver(opt):
    """MLPClassifier's solver arguments for ``opt`` (a workloads.Optimizer): SGD (plain, momentum or
    Nesterov) or Adam; ValueError for the others (``peers.cannot_train``)."""
    reason = cannot_train("sklearn", opt)
    if reason:
        raise ValueError(reason)
    if opt.is_adam:
        return {"solver": "adam", "learning_rate_init": opt.lr, "beta_1": opt.betas[0], "beta_2": opt.betas[1],
                "epsilon": opt.eps}
    return {"solver": "sgd", "learning_rate": "constant", "learning_rate_init": opt.lr, "momentum": opt.momentum,
            "nesterovs_momentum": opt.nesterov}


def classifier(net, init, seed=0):
    """An ``MLPClassifier`` for ``net`` (its optimizer, batch size, no L2 penalty) carrying ``init``
    (fastmlp's (W, b) layout), with a fresh optimizer state.

    For two classes scikit-learn uses one logistic output unit; it gets the equivalent weights
    (the difference of the two softmax columns).
    """
    act = {"tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}[net.activation]
    model = MLPClassifier(hidden_layer_sizes=net.layers[1:-1], activation=act, alpha=0.0, batch_size=net.batch_size,
                          shuffle=True, random_state=seed, **_solver(net.opt))
    n_in, n_classes = net.layers[0], net.layers[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(np.zeros((1, n_in), np.float32), np.zeros(1, np.int64), classes=np.arange(n_classes))
    for l, (W, b) in enumerate(init):
        if l == len(init) - 1 and n_classes == 2:
            W, b = W[:, 1:] - W[:, :1], b[1:] - b[:1]
        model.coefs_[l][...] = W
        model.intercepts_[l][...] = b
    vars(model).pop("_optimizer", None)  # the building step's state: the next partial_fit starts afresh
    return model


class SklearnRunner(Runner):
    """``MLPClassifier(solver='sgd' with momentum or Nesterov, or 'adam'; alpha=0).partial_fit``, one call per epoch."""

    name = "sklearn"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        self.model = classifier(net, init, seed)
        notes = ["two classes: one logistic output unit (scikit-learn's choice)"] if self.n_classes == 2 else []
        self.note = "; ".join(notes + ([ADAM_NOTE] if net.opt.is_adam else []))

    def train(self, epochs=1):
        for _ in range(epochs):
            self.model.partial_fit(self.X, self.y)

    def evaluate(self, X=None, y=None):
        X, y = (self.X, self.y) if X is None else (X, y)
        return cross_entropy(self.model.predict_proba(X), y, proba=True)


class SklearnPredictor(Predictor):
    """``MLPClassifier.predict_proba`` (float32 in, float32 out)."""

    name = "sklearn"

    def __init__(self, net, init):
        super().__init__(net, init)
        self.predict_proba = classifier(net, init).predict_proba
