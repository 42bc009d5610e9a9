"""The benchmark's variants, every way of training or running a Net that it measures, and
:func:`make_runner` (training) and :func:`make_predictor` (inference).

Training: fastmlp's own variants ('numba', 'numpy', 'loop') train through ``MLP.fit``
(:mod:`.fastmlp`; the numba one is the whole-epoch compiled call of the Trainer); the
peers are PyTorch eager with ``torch.optim`` ('torch', :mod:`.torch`), JAX with a jitted
step or a jitted epoch over ``lax.scan``, optax for the optimizers but plain SGD ('jax-step',
'jax-scan', :mod:`.jax`) and scikit-learn's ``MLPClassifier.partial_fit`` ('sklearn',
:mod:`.sklearn`). Inference (``predict_proba``): fastmlp's 'numba' and 'numpy', PyTorch
under ``inference_mode`` ('torch'), ONNX Runtime on fastmlp's ONNX export of the network
with the same weights ('onnxruntime', :mod:`.onnxruntime`, :mod:`fastmlp.onnx`),
scikit-learn's ``predict_proba`` ('sklearn') and NumPy, a plain ``@`` chain
('numpy-matmul', :mod:`.matmul`).

A variant's module, and so its framework, is imported only when one of its runners is
made. Every runner starts from the same initial weights (fastmlp's, drawn with the same
seed); a training runner uses softmax cross-entropy and the Net's optimizer with the same
formulas and hyperparameters (:class:`fastmlp.bench.workloads.Optimizer`; where a peer
cannot follow exactly, its ``note`` says how it departs) in float32 over shuffled
mini-batches.
"""
import importlib.util

from fastmlp import MLP

from .runner import cannot_train  # noqa: F401  (the peers' one list of what each can train)

FASTMLP_VARIANTS = ("numba", "numpy", "loop")
TRAIN_PEERS = ("torch", "jax-step", "jax-scan", "sklearn")
PREDICT_PEERS = ("torch", "onnxruntime", "sklearn", "numpy-matmul")
PEERS = TRAIN_PEERS + tuple(p for p in PREDICT_PEERS if p not in TRAIN_PEERS)
ALL_VARIANTS = FASTMLP_VARIANTS + PEERS
TRAIN_VARIANTS = FASTMLP_VARIANTS + TRAIN_PEERS
PREDICT_VARIANTS = ("numba", "numpy") + PREDICT_PEERS

# What each peer imports (JAX also optax for an optimizer other than plain SGD), and how to install it.
_NEEDS = {"torch": ("torch",), "jax-step": ("jax",), "jax-scan": ("jax",), "sklearn": ("sklearn",),
          "onnxruntime": ("onnxruntime", "onnx")}
INSTALL = {"torch": "pip install torch==2.13.0", "jax": "pip install jax jaxlib", "optax": "pip install optax",
           "sklearn": "pip install scikit-learn", "onnxruntime": "pip install onnxruntime",
           "onnx": "pip install onnx"}


def variants_for(kind):
    """The variants measured on a workload of ``kind`` ('train' or 'predict'), in report order."""
    if kind not in ("train", "predict"):
        raise ValueError(f"kind must be 'train' or 'predict'; got {kind!r}")
    return TRAIN_VARIANTS if kind == "train" else PREDICT_VARIANTS


def needs(name, optimizer="sgd"):
    """The modules variant ``name`` imports to train with ``optimizer`` (an id of
    :data:`fastmlp.bench.workloads.OPTIMIZERS`; inference needs what plain SGD needs)."""
    if name not in ALL_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose from {list(ALL_VARIANTS)}")
    mods = _NEEDS.get(name, ())
    return mods + ("optax",) if name.startswith("jax") and optimizer != "sgd" else mods


def missing_reason(name, optimizer="sgd"):
    """Why variant ``name`` cannot run here with ``optimizer`` ('' when it can), with how to install what is missing."""
    missing = [m for m in needs(name, optimizer) if importlib.util.find_spec(m) is None]
    if not missing:
        return ""
    return f"{', '.join(missing)} not installed ({'; '.join(INSTALL[m] for m in missing)})"


def initial_weights(net, seed=0):
    """fastmlp's default initial weights for ``net``: a list of float32 (W, b) copies."""
    m = MLP(list(net.layers), activation=net.activation, dtype="float32", backend="numpy", seed=seed)
    return [(W.copy(), b.copy()) for W, b in zip(m.W, m.b)]


def _check(name, net, kind):
    if name not in variants_for(kind):
        raise ValueError(f"variant {name!r} does not {kind}; choose from {list(variants_for(kind))}")
    reason = missing_reason(name, net.optimizer if kind == "train" else "sgd")
    if reason:
        raise ImportError(f"variant {name!r} is unavailable: {reason}")


def make_runner(name, net, X, y, seed=0):
    """A ready training runner of variant ``name`` for ``net`` on (X, y), from ``initial_weights(net, seed)``."""
    _check(name, net, "train")
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


def make_predictor(name, net, seed=0):
    """A ready inference runner (:class:`.runner.Predictor`) of variant ``name`` for ``net``'s
    network with ``initial_weights(net, seed)``."""
    _check(name, net, "predict")
    init = initial_weights(net, seed)
    if name in FASTMLP_VARIANTS:
        from .fastmlp import FastmlpPredictor
        return FastmlpPredictor(net, init, backend=name)
    if name == "torch":
        from .torch import TorchPredictor as peer
    elif name == "onnxruntime":
        from .onnxruntime import OnnxPredictor as peer
    elif name == "sklearn":
        from .sklearn import SklearnPredictor as peer
    else:
        from .matmul import MatmulPredictor as peer
    return peer(net, init)
