"""The benchmark's variants, every way of training a Net that it measures, and :func:`make_runner`.

fastmlp's own variants ('numba', 'numpy', 'loop') train through ``MLP.fit``
(:mod:`.fastmlp`; the numba one is the whole-epoch compiled call of the Trainer);
the peers are PyTorch eager ('torch', :mod:`.torch`), JAX with a jitted step or a
jitted epoch ('jax-step', 'jax-scan', :mod:`.jax`) and scikit-learn's MLPClassifier
('sklearn', :mod:`.sklearn`). A variant's module, and so its framework, is imported
only when one of its runners is made. Every runner (:class:`.runner.Runner`) starts
from the same initial weights (fastmlp's, drawn with the same seed) and trains with
softmax cross-entropy and plain SGD at lr 0.01 in float32 over shuffled mini-batches.
"""
import importlib.util

from fastmlp import MLP

FASTMLP_VARIANTS = ("numba", "numpy", "loop")
PEERS = ("torch", "jax-step", "jax-scan", "sklearn")
ALL_VARIANTS = FASTMLP_VARIANTS + PEERS
PEER_MODULE = {"torch": "torch", "jax-step": "jax", "jax-scan": "jax", "sklearn": "sklearn"}  # what each needs
_PEER_INSTALL = {"torch": "pip install torch==2.13.0", "jax": "pip install jax jaxlib",
                 "sklearn": "pip install scikit-learn"}


def missing_reason(name):
    """Why variant ``name`` cannot run here ('' when it can)."""
    if name not in ALL_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose from {list(ALL_VARIANTS)}")
    module = PEER_MODULE.get(name)
    if module is None or importlib.util.find_spec(module) is not None:
        return ""
    return f"{module} not installed ({_PEER_INSTALL[module]})"


def initial_weights(net, seed=0):
    """fastmlp's default initial weights for ``net``: a list of float32 (W, b) copies."""
    m = MLP(list(net.layers), activation=net.activation, dtype="float32", backend="numpy", seed=seed)
    return [(W.copy(), b.copy()) for W, b in zip(m.W, m.b)]


def make_runner(name, net, X, y, seed=0):
    """A ready runner of variant ``name`` for ``net`` on (X, y), from ``initial_weights(net, seed)``."""
    reason = missing_reason(name)
    if reason:
        raise ImportError(f"variant {name!r} is unavailable: {reason}")
    init = initial_weights(net, seed)
    if name in FASTMLP_VARIANTS:
        from .fastmlp import FastmlpRunner
        return FastmlpRunner(net, X, y, init, seed, backend=name)
    if name == "torch":
        from .torch import TorchRunner as peer
    elif name == "jax-step":
        from .jax import JaxStepRunner as peer
    elif name == "jax-scan":
        from .jax import JaxScanRunner as peer
    else:
        from .sklearn import SklearnRunner as peer
    return peer(net, X, y, init, seed)
