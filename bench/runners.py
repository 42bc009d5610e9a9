"""Benchmark variants: one runner per way of training a Net, behind one interface.

fastmlp's own variants ('numba', 'numpy', 'loop') train through ``MLP.fit``
(the numba one is the whole-epoch compiled call of the Trainer); the peers
('torch', 'jax-step', 'jax-scan', 'sklearn') live in :mod:`fastmlp.bench.peers`
and are imported only when asked for. Every runner starts from the same
initial weights (fastmlp's, drawn with the same seed) and trains with softmax
cross-entropy and plain SGD at lr 0.01 in float32 over shuffled mini-batches.
"""
import importlib.util

import numpy as np

from fastmlp import MLP

from .workloads import LR

FASTMLP_VARIANTS = ("numba", "numpy", "loop")
PEERS = ("torch", "jax-step", "jax-scan", "sklearn")
ALL_VARIANTS = FASTMLP_VARIANTS + PEERS
_PEER_MODULE = {"torch": "torch", "jax-step": "jax", "jax-scan": "jax", "sklearn": "sklearn"}
_PEER_INSTALL = {"torch": "pip install torch==2.13.0", "jax": "pip install jax jaxlib",
                 "sklearn": "pip install scikit-learn"}


class Runner:
    """Common part of the runners, which train one network on fixed data ``(X, y)``.

    Every runner has ``train(epochs=1)`` (that many passes over the data, each
    reshuffled) and ``evaluate(X=None, y=None) -> (mean cross-entropy, accuracy)``
    (default: the training data); ``note`` says where it departs from the Net.

    Parameters
    ----------
    net : Net
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


def initial_weights(net, seed=0):
    """fastmlp's default initial weights for ``net``: a list of float32 (W, b) copies."""
    m = MLP(list(net.layers), activation=net.activation, dtype="float32", backend="numpy", seed=seed)
    return [(W.copy(), b.copy()) for W, b in zip(m.W, m.b)]


def missing_reason(name):
    """Why variant ``name`` cannot run here ('' when it can)."""
    if name not in ALL_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose from {list(ALL_VARIANTS)}")
    module = _PEER_MODULE.get(name)
    if module is None or importlib.util.find_spec(module) is not None:
        return ""
    return f"{module} not installed ({_PEER_INSTALL[module]})"


def make_runner(name, net, X, y, seed=0):
    """A ready runner of variant ``name`` for ``net`` on (X, y), from ``initial_weights(net, seed)``."""
    reason = missing_reason(name)
    if reason:
        raise ImportError(f"variant {name!r} is unavailable: {reason}")
    init = initial_weights(net, seed)
    if name in FASTMLP_VARIANTS:
        return FastmlpRunner(net, X, y, init, seed, backend=name)
    from . import peers
    return peers.PEER_RUNNERS[name](net, X, y, init, seed)


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
