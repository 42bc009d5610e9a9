"""fastmlp's own variants, 'numba', 'numpy' and 'loop': ``MLP(..., backend=name).fit``, the public API."""
from fastmlp import MLP

from ..workloads import LR
from .runner import Runner


class FastmlpRunner(Runner):
    """``MLP(..., backend=name).fit(X, y, epochs, batch_size, lr=0.01)``."""

    def __init__(self, net, X, y, init, seed=0, backend="numba"):
        super().__init__(net, X, y, init, seed)
        self.name = backend
        self.model = MLP(list(net.layers), activation=net.activation, backend=backend, dtype="float32")
        for l, (W, b) in enumerate(init):
            self.model.set_layer(l, W, b)
        self.calls = 0

    def train(self, epochs=1):
        self.calls += 1
        self.model.fit(self.X, self.y, epochs=epochs, batch_size=self.net.batch_size, lr=LR, optimizer="sgd",
                       verbose=0, seed=self.seed * 100003 + self.calls)

    def evaluate(self, X=None, y=None):
        r = self.model.evaluate(self.X if X is None else X, self.y if y is None else y)
        return r["loss"], r["accuracy"]
