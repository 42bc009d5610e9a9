"""The 'sklearn' variant: scikit-learn's MLPClassifier trained by ``partial_fit``, the same Net
from the same weights as fastmlp.

Imported only when its runner is made (:func:`fastmlp.bench.peers.make_runner`);
``sklearn`` below is the installed scikit-learn (absolute import), not this file.
"""
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier

from ..workloads import LR
from .runner import Runner, cross_entropy


class SklearnRunner(Runner):
    """scikit-learn ``MLPClassifier(solver='sgd', momentum=0, alpha=0).partial_fit``, one call per epoch.

    For two classes scikit-learn uses one logistic output unit; it starts from the
    equivalent weights (the difference of the two softmax columns).
    """

    name = "sklearn"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        act = {"tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}[net.activation]
        self.model = MLPClassifier(hidden_layer_sizes=net.layers[1:-1], activation=act, solver="sgd", alpha=0.0,
                                   batch_size=net.batch_size, learning_rate="constant", learning_rate_init=LR,
                                   momentum=0.0, nesterovs_momentum=False, shuffle=True, random_state=seed)
        classes = np.arange(self.n_classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.partial_fit(X[:1], y[:1], classes=classes)  # builds the layers; weights set below
        for l, (W, b) in enumerate(init):
            if l == len(init) - 1 and self.n_classes == 2:
                W, b = W[:, 1:] - W[:, :1], b[1:] - b[:1]
                self.note = "two classes: one logistic output unit (scikit-learn's choice)"
            self.model.coefs_[l][...] = W
            self.model.intercepts_[l][...] = b

    def train(self, epochs=1):
        for _ in range(epochs):
            self.model.partial_fit(self.X, self.y)

    def evaluate(self, X=None, y=None):
        X, y = (self.X, self.y) if X is None else (X, y)
        return cross_entropy(self.model.predict_proba(X), y, proba=True)
