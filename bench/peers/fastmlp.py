"""fastmlp's own variants, 'numba', 'numpy' and 'loop': ``MLP(..., backend=name).fit`` and
``predict_proba``, the public API."""
from fastmlp import MLP

from .runner import Predictor, Runner


def _model(net, init, backend):
    model = MLP(list(net.layers), activation=net.activation, backend=backend, dtype="float32")
    for l, (W, b) in enumerate(init):
        model.set_layer(l, W, b)
    return model


class FastmlpRunner(Runner):
    """``MLP(..., backend=name).fit(X, y, epochs, batch_size, **net.opt.fastmlp_kwargs())``; the
    optimizer state carries over from one ``train`` call to the next (``model.optimizer_state``)."""

    def __init__(self, net, X, y, init, seed=0, backend="numba"):
        super().__init__(net, X, y, init, seed)
        self.name = backend
        self.model = _model(net, init, backend)
        self.calls = 0

    def train(self, epochs=1):
        self.calls += 1
        self.model.fit(self.X, self.y, epochs=epochs, batch_size=self.net.batch_size, verbose=0,
                       seed=self.seed * 100003 + self.calls, **self.net.opt.fastmlp_kwargs())

    def evaluate(self, X=None, y=None):
        r = self.model.evaluate(self.X if X is None else X, self.y if y is None else y)
        return r["loss"], r["accuracy"]


class FastmlpPredictor(Predictor):
    """``MLP(..., backend=name).predict_proba``."""

    def __init__(self, net, init, backend="numba"):
        super().__init__(net, init)
        self.name = backend
        self.model = _model(net, init, backend)
        self.predict_proba = self.model.predict_proba
