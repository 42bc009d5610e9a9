"""Export to ONNX: an MLP as an ONNX graph that ONNX Runtime (or any ONNX runtime) can run.

The graph takes ``'X'`` (batch, n_in) in the model's dtype (float32 or float64), with a
dynamic batch dimension. Each layer is one ``Gemm`` (``X @ W + b``, W stored (n_in, n_out) as
in the model) followed by its hidden activation (:data:`ACTIVATIONS`); the loss's head
(:data:`HEADS`) turns the last layer's output into the model's outputs:

- classifiers: ``'label'`` (= ``predict``; the (batch, k) 0/1 matrix for 'multilabel'),
  ``'probabilities'`` (= ``predict_proba``) and ``'logits'`` (= ``forward``);
- 'mse': ``'values'`` (= ``predict`` = ``forward``).

A fitted ``fastmlp.sklearn`` estimator exports its network, and its ``classes_`` become the
labels (``classes=`` does the same for a plain MLP). Adding a loss is one entry in
:data:`HEADS`, an activation one entry in :data:`ACTIVATIONS`.

Needs the ``onnx`` package (``pip install "fastmlp[onnx]"``); torch is not involved.
``import onnx`` below is that package (absolute import), not this file.
"""
import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover - exercised in a subprocess without onnx
    raise ImportError('fastmlp.onnx needs the onnx package; install it with: pip install "fastmlp[onnx]"') from e

from .architecture import Architecture
from .checks import check_int, check_path
from .files import atomic_write

__all__ = ["export", "convert", "ACTIVATIONS", "HEADS", "DEFAULT_OPSET", "MIN_OPSET"]

#: The opset written unless told otherwise (ONNX Runtime 1.14 and later run it).
DEFAULT_OPSET = 17
#: The oldest opset the graph can be written in (Softmax over one axis and GreaterOrEqual need 13).
MIN_OPSET = 13
_BATCH = "batch"
_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class _Graph:
    """The nodes and constants of a graph being built; every value gets a fresh name."""

    def __init__(self, dtype):
        self.dtype, self.elem = np.dtype(dtype), _ELEM[np.dtype(dtype)]
        self.nodes, self.initializers, self.outputs = [], [], []
        self._count = 0

    def _name(self, stem):
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, stem, value, dtype=None):
        """A constant tensor (an initializer) holding ``value``; returns its name."""
        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype or self.dtype), name))
        return name

    def node(self, op, inputs, stem=None, output=None, **attrs):
        """One node ``op(inputs)`` with ``attrs``; returns its output's name (``output`` or a fresh one)."""
        out = output or self._name(stem or op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=self._name(op), **attrs))
        return out

    def output(self, name, elem, shape):
        """Declare ``name`` a graph output of element type ``elem`` and ``shape`` (``'batch'`` is dynamic)."""
        self.outputs.append(helper.make_tensor_value_info(name, elem, list(shape)))


# -- hidden activations: name -> f(graph, z, arch) -> a ----------------------------------------------
def _step(g, z, arch):
    """1 where z >= 0, else 0 (as the kernels' step)."""
    return g.node("Cast", [g.node("GreaterOrEqual", [z, g.const("zero", 0)])], "step", to=g.elem)


ACTIVATIONS = {
    "identity": lambda g, z, arch: z,
    "tanh": lambda g, z, arch: g.node("Tanh", [z]),
    "sigmoid": lambda g, z, arch: g.node("Sigmoid", [z]),
    "relu": lambda g, z, arch: g.node("Relu", [z]),
    # PRelu, not LeakyRelu: its slope is a tensor in the model's dtype (attributes are float32)
    "leaky_relu": lambda g, z, arch: g.node("PRelu", [z, g.const("slope", arch.leaky_slope)]),
    "step": _step,
}


# -- output heads: loss -> f(graph, logits, arch, classes) ---------------------------------------------
def _labels(g, ids, classes):
    """The graph output 'label' from class ids (int64, (batch,)): the ids, or ``classes[ids]``."""
    if classes is None:
        g.node("Identity", [ids], output="label")
        g.output("label", TensorProto.INT64, [_BATCH])
        return
    table, elem = classes
    g.node("Gather", [g.const("classes", table, table.dtype), ids], output="label", axis=0)
    g.output("label", elem, [_BATCH])


def _softmax_head(g, z, arch, classes):
    """Softmax probabilities and the arg-max label (first of ties, as numpy)."""
    g.node("Softmax", [z], output="probabilities", axis=1)
    _labels(g, g.node("ArgMax", [z], "ids", axis=1, keepdims=0), classes)
    g.output("probabilities", g.elem, [_BATCH, arch.n_out])


def _binary_head(g, z, arch, classes):
    """One sigmoid unit: probabilities [1 - p, p] and label z > 0 (p > 1/2)."""
    p = g.node("Sigmoid", [z], "p")
    g.node("Concat", [g.node("Sub", [g.const("one", 1), p], "q"), p], output="probabilities", axis=1)
    positive = g.node("Greater", [g.node("Squeeze", [z, g.const("axis", [1], np.int64)], "z"), g.const("zero", 0)])
    _labels(g, g.node("Cast", [positive], "ids", to=TensorProto.INT64), classes)
    g.output("probabilities", g.elem, [_BATCH, 2])


def _multilabel_head(g, z, arch, classes):
    """A sigmoid per label: probabilities (batch, k) and 'label' the 0/1 indicator matrix z > 0."""
    positive = g.node("Greater", [z, g.const("zero", 0)])
    g.node("Cast", [positive], output="label", to=TensorProto.INT64)
    g.output("label", TensorProto.INT64, [_BATCH, arch.n_out])
    g.node("Sigmoid", [z], output="probabilities")
    g.output("probabilities", g.elem, [_BATCH, arch.n_out])


def _values_head(g, z, arch, classes):
    """Regression: the values themselves."""
    g.node("Identity", [z], output="values")
    g.output("values", g.elem, [_BATCH, arch.n_out])


def _with_logits(head):
    """A classifier's head: ``head`` (label and probabilities), then the raw 'logits' as a third output."""
    def classifier_head(g, z, arch, classes):
        head(g, z, arch, classes)
        g.node("Identity", [z], output="logits")
        g.output("logits", g.elem, [_BATCH, arch.n_out])
    classifier_head.__doc__ = head.__doc__ + " Also the raw 'logits'."
    return classifier_head


#: loss -> the function that adds the loss's outputs to the graph. A classifier's head makes
#: 'label' (as ``predict``) and 'probabilities' (as ``predict_proba``), then 'logits' is added.
HEADS = {
    "cross_entropy": _with_logits(_softmax_head),
    "bce": _with_logits(_binary_head),
    "multilabel": _with_logits(_multilabel_head),
    "softmax_mse": _with_logits(_softmax_head),
    "mse": _values_head,
}


# -- the public functions ------------------------------------------------------------------------------
def _class_table(classes, n_classes):
    """``classes`` as (an array ONNX can hold, its element type), checked against ``n_classes``."""
    if classes is None:
        return None
    table = np.asarray(classes)
    if table.ndim != 1 or table.shape[0] != n_classes:
        raise ValueError(f"classes must be {n_classes} labels, one per class; got shape {table.shape}")
    if table.dtype.kind in "biu":
        return table.astype(np.int64), TensorProto.INT64
    if table.dtype.kind == "f":
        return table.astype(np.float64), TensorProto.DOUBLE
    if table.dtype.kind in "US" or (table.dtype.kind == "O" and all(isinstance(c, str) for c in table)):
        return table.astype(object), TensorProto.STRING
    raise TypeError(f"classes must be integers, floats or strings to be stored in ONNX; got dtype {table.dtype}")


def _is_network(obj):
    """Whether ``obj`` is a fastmlp.MLP (told by its Architecture: ``model.py`` imports this module)."""
    return isinstance(getattr(obj, "arch", None), Architecture) and hasattr(obj, "params")


def _network(model):
    """(MLP, its class labels or None) from an MLP or a fitted fastmlp.sklearn estimator."""
    if _is_network(model):
        return model, None
    inner = getattr(model, "model_", None)
    if _is_network(inner):
        return inner, getattr(model, "classes_", None)
    if hasattr(model, "get_params") and hasattr(model, "hidden_layer_sizes"):
        raise ValueError(f"{type(model).__name__} is not fitted (or not a fastmlp estimator): fit it first, or "
                         "convert a scikit-learn MLP with fastmlp.sklearn.from_sklearn")
    raise TypeError(f"model must be a fastmlp.MLP or a fitted fastmlp.sklearn estimator; got {type(model).__name__}")


def convert(model, opset=None, classes=None):
    """The ONNX graph of ``model`` as an ``onnx.ModelProto`` (checked by ``onnx.checker``).

    Parameters
    ----------
    model : fastmlp.MLP or fitted fastmlp.sklearn.MLPClassifier / MLPRegressor
    opset : int, optional
        ONNX opset, from ``MIN_OPSET`` to the installed onnx's newest; default ``DEFAULT_OPSET``.
    classes : sequence, optional
        One label per class (ints, floats or strings): output 'label' gives ``classes[id]``
        instead of the class id. A fitted fastmlp estimator's ``classes_`` are used by default.

    Returns
    -------
    onnx.ModelProto
        Input 'X' (batch, n_in) in the model's dtype; outputs as in the module docstring.
    """
    net, labels = _network(model)
    arch = net.arch
    opset = DEFAULT_OPSET if opset is None else check_int(opset, "opset", MIN_OPSET, onnx.defs.onnx_opset_version())
    if classes is not None and not arch.is_classifier:
        raise ValueError(f"classes are only for classifiers; this model's loss is {arch.loss!r}")
    table = _class_table(labels if classes is None else classes, arch.n_classes)
    if arch.loss not in HEADS:
        raise ValueError(f"cannot export loss {arch.loss!r} to ONNX yet: add its head to fastmlp.onnx.HEADS")
    g = _Graph(arch.dtype)
    a = "X"
    hidden = arch.activation
    for l, (W, b) in enumerate(zip(net.W, net.b)):
        z = g.node("Gemm", [a, g.const(f"W{l}", W), g.const(f"b{l}", b)], f"z{l}")
        a = ACTIVATIONS[hidden[l]](g, z, arch) if l < len(hidden) else z
    HEADS[arch.loss](g, a, arch, table)
    graph = helper.make_graph(g.nodes, "fastmlp", [helper.make_tensor_value_info("X", g.elem, [_BATCH, arch.n_in])],
                              g.outputs, initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="fastmlp", doc_string=repr(net))
    helper.set_model_props(proto, {"layers": ",".join(map(str, arch.layers)), "activation": ",".join(hidden),
                                   "loss": arch.loss, "leaky_slope": repr(arch.leaky_slope)})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model, path, opset=None, classes=None):
    """Write ``model`` as an ONNX file, atomically (an existing file stays intact on any error).

    Parameters
    ----------
    model : fastmlp.MLP or fitted fastmlp.sklearn.MLPClassifier / MLPRegressor
    path : str or os.PathLike
        The file to write (conventionally ``.onnx``); its folder must exist.
    opset, classes
        As for :func:`convert`.

    Returns
    -------
    str
        The path written.

    Examples
    --------
    >>> model.to_onnx("model.onnx")                      # doctest: +SKIP
    >>> import onnxruntime                               # doctest: +SKIP
    >>> s = onnxruntime.InferenceSession("model.onnx")   # doctest: +SKIP
    >>> label, proba, logits = s.run(None, {"X": X.astype(model.dtype)})  # doctest: +SKIP
    """
    path = check_path(path, "path")
    proto = convert(model, opset, classes)
    return atomic_write(path, proto.SerializeToString())
