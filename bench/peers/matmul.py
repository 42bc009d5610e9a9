"""The 'numpy-matmul' variant (inference only): NumPy, a plain ``@`` chain over the same weights
as fastmlp, then a softmax; also the float64 reference every predictor is checked against
(:func:`forward_proba`)."""
import numpy as np

from .runner import Predictor

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),  # no overflow for large |z|
}


def forward_proba(layers, activation, X):
    """Softmax probabilities of the network ``layers`` (a list of (W, b)) with hidden ``activation``
    on ``X``, in the dtype of the weights and X."""
    act = ACTIVATIONS[activation]
    h = X
    for W, b in layers[:-1]:
        h = act(h @ W + b)
    W, b = layers[-1]
    z = h @ W + b
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


def reference_proba(init, activation, X):
    """The float64 reference: :func:`forward_proba` of ``init`` on ``X``, both in float64."""
    return forward_proba([(W.astype(np.float64), b.astype(np.float64)) for W, b in init], activation,
                         np.asarray(X, dtype=np.float64))


class MatmulPredictor(Predictor):
    """``forward_proba`` in float32: ``act(X @ W + b)`` per hidden layer, softmax of the last."""

    name = "numpy-matmul"

    def __init__(self, net, init):
        super().__init__(net, init)
        self.layers = [(np.ascontiguousarray(W, np.float32), np.ascontiguousarray(b, np.float32)) for W, b in init]
        self.activation = net.activation

    def predict_proba(self, X):
        return forward_proba(self.layers, self.activation, X)
