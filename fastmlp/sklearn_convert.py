"""Conversions both ways between ``fastmlp.MLP`` and scikit-learn's ``MLPClassifier`` / ``MLPRegressor``.

Both libraries store a layer as W (n_in, n_out) and b (n_out,) with ``z = x @ W + b``
(scikit-learn's ``coefs_`` and ``intercepts_``), so the weights carry over as they are,
except for a two-class softmax, which scikit-learn writes as one logistic unit (the
difference of the two columns: softmax([z0, z1])[1] = sigmoid(z1 - z0)).

=====================================  ==============================================
fastmlp                                scikit-learn
=====================================  ==============================================
activation identity, tanh,             activation 'identity', 'tanh', 'logistic',
sigmoid, relu (the same in all layers) 'relu'
loss 'cross_entropy', 3+ classes       MLPClassifier, out_activation_ 'softmax'
loss 'cross_entropy', 2 classes        MLPClassifier, one 'logistic' unit
loss 'bce'                             MLPClassifier, one 'logistic' unit
loss 'multilabel'                      MLPClassifier, a 'logistic' unit per label
loss 'softmax_mse' (to scikit-learn)   MLPClassifier, as 'cross_entropy' (same predictions)
loss 'mse'                             MLPRegressor, out_activation_ 'identity'
=====================================  ==============================================

What has no counterpart raises ValueError naming it: 'leaky_relu' and 'step', an
activation per layer and scikit-learn's Poisson regressor ('exp' output). A fastmlp model knows class ids, not labels:
``to_sklearn(..., classes=)`` names them, and ``from_sklearn`` gives a model whose
class ids index the estimator's ``classes_``. ``fastmlp.sklearn.MLPClassifier.from_sklearn``
keeps the labels. scikit-learn is needed (``pip install fastmlp[sklearn]``).
"""
import numpy as np

try:
    from sklearn.neural_network import MLPClassifier as SkClassifier
    from sklearn.neural_network import MLPRegressor as SkRegressor
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils.validation import check_is_fitted
except ImportError as e:  # pragma: no cover - exercised in a subprocess without scikit-learn
    raise ImportError("fastmlp's scikit-learn conversions need scikit-learn (>= 1.6); install it with: "
                      "pip install fastmlp[sklearn]") from e

from .architecture import LOSSES
from .checks import check_choice, check_dtype
from .model import MLP

__all__ = ["to_sklearn", "from_sklearn", "SKLEARN_ACTIVATIONS"]

#: fastmlp hidden activation -> scikit-learn's name for it (the others have none).
SKLEARN_ACTIVATIONS = {"identity": "identity", "tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}
_FROM_SKLEARN_ACTIVATION = {v: k for k, v in SKLEARN_ACTIVATIONS.items()}


# -- fastmlp -> scikit-learn: loss -> f(coefs, intercepts) -> (estimator class, out_activation_, classes) --
def _softmax_output(coefs, intercepts):
    """Softmax; two classes become scikit-learn's one logistic unit, softmax([z0, z1])[1] = sigmoid(z1 - z0)
    (the last layer's ``coefs`` and ``intercepts`` are replaced)."""
    n = coefs[-1].shape[1]
    if n == 2:
        coefs[-1], intercepts[-1] = coefs[-1][:, 1:] - coefs[-1][:, :1], intercepts[-1][1:] - intercepts[-1][:1]
        return SkClassifier, "logistic", np.arange(2)
    return SkClassifier, "softmax", np.arange(n)


def _multilabel_output(coefs, intercepts):
    """A logistic unit per label; the label binarizer learns the labels from an indicator matrix."""
    return SkClassifier, "logistic", np.eye(coefs[-1].shape[1], dtype=np.int64)


TO_SKLEARN = {
    "cross_entropy": _softmax_output,
    "softmax_mse": _softmax_output,  # the same predictions; scikit-learn would train it with cross-entropy
    "multilabel": _multilabel_output,
    "bce": lambda coefs, intercepts: (SkClassifier, "logistic", np.arange(2)),
    "mse": lambda coefs, intercepts: (SkRegressor, "identity", None),
}


def _network(model):
    """(MLP, class labels or None) from an MLP or a fitted fastmlp.sklearn estimator."""
    if isinstance(model, MLP):
        return model, None
    inner = getattr(model, "model_", None)
    if isinstance(inner, MLP):
        return inner, getattr(model, "classes_", None)
    raise TypeError(f"model must be a fastmlp.MLP or a fitted fastmlp.sklearn estimator; got {type(model).__name__}")


def _hidden_activation(arch):
    """scikit-learn's name of the model's one hidden activation (ValueError if there is none)."""
    acts = set(arch.activation)
    if len(acts) > 1:
        raise ValueError(f"cannot convert to scikit-learn: it has one activation for all hidden layers; this model "
                         f"has {list(arch.activation)}")
    act = acts.pop() if acts else "relu"  # no hidden layer: the activation is never applied
    if act not in SKLEARN_ACTIVATIONS:
        raise ValueError(f"cannot convert activation {act!r} to scikit-learn, whose MLPs have only 'identity', "
                         "'tanh', 'logistic' (fastmlp's 'sigmoid') and 'relu'")
    return SKLEARN_ACTIVATIONS[act]


def _class_labels(classes, n_classes):
    labels = np.asarray(classes)
    if labels.ndim != 1 or labels.shape[0] != n_classes:
        raise ValueError(f"classes must be {n_classes} labels, one per class; got shape {labels.shape}")
    if not np.array_equal(np.unique(labels), labels):
        raise ValueError(f"classes must be sorted and distinct, as scikit-learn's classes_; got {labels!r}")
    return labels


def to_sklearn(model, classes=None):
    """A fitted scikit-learn ``MLPClassifier`` or ``MLPRegressor`` computing what ``model`` computes.

    Its ``predict``, ``predict_proba`` and ``score`` equal the model's (to float rounding),
    and ``partial_fit`` or a ``warm_start`` fit continue from these weights. Its
    hyperparameters are scikit-learn's defaults except ``hidden_layer_sizes`` and
    ``activation``; ``n_iter_`` is 0 (it was not trained by scikit-learn).

    Parameters
    ----------
    model : fastmlp.MLP or fitted fastmlp.sklearn.MLPClassifier / MLPRegressor
    classes : sequence, optional
        The class labels, sorted and distinct (``classes_``); default the class ids
        0..n-1, or a fitted fastmlp estimator's ``classes_``.

    Returns
    -------
    sklearn.neural_network.MLPClassifier or MLPRegressor
        The weights are copies in the model's dtype.

    Raises
    ------
    ValueError
        For what scikit-learn cannot express (see the module docstring).
    """
    net, labels = _network(model)
    arch = net.arch
    activation = _hidden_activation(arch)
    if arch.loss not in TO_SKLEARN:
        raise ValueError(f"cannot convert loss {arch.loss!r} to scikit-learn: its MLPs have softmax, logistic "
                         f"or identity outputs ({sorted(TO_SKLEARN)})")
    coefs, intercepts = [w.copy() for w in net.W], [b.copy() for b in net.b]
    cls, out_activation, default_classes = TO_SKLEARN[arch.loss](coefs, intercepts)
    if classes is not None and cls is not SkClassifier:
        raise ValueError(f"classes are only for classifiers; this model's loss is {arch.loss!r}")
    if cls is SkClassifier and default_classes.ndim == 2:
        if classes is not None:
            raise ValueError(f"classes do not apply to loss {arch.loss!r}: predict gives a 0/1 matrix")
        classes = default_classes
    elif cls is SkClassifier:
        given = classes if classes is not None else labels if labels is not None else default_classes
        classes = _class_labels(given, arch.n_classes)
    est = cls(hidden_layer_sizes=tuple(arch.layers[1:-1]), activation=activation)
    # the fitted state scikit-learn's own first fit would set (BaseMultilayerPerceptron._initialize)
    est.coefs_, est.intercepts_ = coefs, intercepts
    est._best_coefs, est._best_intercepts = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    est.n_features_in_, est.n_layers_, est.n_outputs_ = arch.n_in, len(arch.layers), coefs[-1].shape[1]
    est.out_activation_, est.n_iter_, est.t_ = out_activation, 0, 0
    est.loss_curve_, est._no_improvement_count, est.best_loss_ = [], 0, np.inf
    est.validation_scores_, est.best_validation_score_ = None, None
    if cls is SkClassifier:
        est._label_binarizer = LabelBinarizer().fit(classes)
        est.classes_ = est._label_binarizer.classes_
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        est.feature_names_in_ = np.asarray(names, dtype=object)
    return est


# -- scikit-learn -> fastmlp: out_activation_ -> f(n_outputs, binary) -> loss -----------------------
def _logistic_output(n_outputs, binary):
    if n_outputs == 1:
        return binary
    if "multilabel" in LOSSES:
        return "multilabel"
    raise ValueError(f"cannot convert a multi-label MLPClassifier ({n_outputs} logistic output units) to fastmlp: "
                     "it has no multi-label loss")


FROM_SKLEARN = {
    "softmax": lambda n_outputs, binary: "cross_entropy",
    "logistic": _logistic_output,
    "identity": lambda n_outputs, binary: "mse",
}


def from_sklearn(estimator, dtype=None, backend="numba", binary="bce"):
    """A ``fastmlp.MLP`` computing what a fitted scikit-learn MLPClassifier / MLPRegressor computes.

    Parameters
    ----------
    estimator : fitted sklearn.neural_network.MLPClassifier or MLPRegressor
    dtype : {'float32', 'float64'}, optional
        Default: the dtype of the estimator's ``coefs_`` (scikit-learn keeps float32 data's).
    backend : {'numba', 'numpy', 'loop'}, default 'numba'
    binary : {'bce', 'cross_entropy'}, default 'bce'
        A two-class classifier's loss: 'bce' keeps scikit-learn's one logistic unit;
        'cross_entropy' gives two softmax units (logits [0, z]: the same probabilities).

    Returns
    -------
    fastmlp.MLP
        Its ``predict`` gives class ids: the labels are ``estimator.classes_[ids]``.

    Raises
    ------
    TypeError
        For anything but a scikit-learn MLPClassifier or MLPRegressor.
    ValueError
        When it is not fitted, or for what fastmlp cannot express (see the module docstring).
    """
    if not isinstance(estimator, (SkClassifier, SkRegressor)):
        hint = " (a fastmlp.sklearn estimator's network is its model_)" if hasattr(estimator, "model_") else ""
        raise TypeError("estimator must be a scikit-learn MLPClassifier or MLPRegressor"
                        f"{hint}; got {type(estimator).__name__}")
    check_is_fitted(estimator, "coefs_")
    check_choice(binary, "binary", ["bce", "cross_entropy"])
    if estimator.activation not in _FROM_SKLEARN_ACTIVATION:
        raise ValueError(f"cannot convert activation {estimator.activation!r} to fastmlp")
    out = estimator.out_activation_
    if out not in FROM_SKLEARN:
        raise ValueError(f"cannot convert an MLP with output {out!r} to fastmlp, which has "
                         f"{sorted(FROM_SKLEARN)} outputs" + (" (Poisson regression has none)" if out == "exp" else ""))
    loss = FROM_SKLEARN[out](estimator.n_outputs_, binary)
    coefs, intercepts = list(estimator.coefs_), list(estimator.intercepts_)
    if loss == "cross_entropy" and coefs[-1].shape[1] == 1:  # one logistic unit as softmax over [0, z]
        coefs[-1] = np.concatenate([np.zeros_like(coefs[-1]), coefs[-1]], axis=1)
        intercepts[-1] = np.concatenate([np.zeros_like(intercepts[-1]), intercepts[-1]])
    if dtype is None:
        dtype = coefs[0].dtype if coefs[0].dtype in (np.float32, np.float64) else np.float64
    layers = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
    model = MLP(layers, activation=_FROM_SKLEARN_ACTIVATION[estimator.activation], loss=loss, init="zeros",
                dtype=check_dtype(dtype), backend=backend)
    for l, (W, b) in enumerate(zip(coefs, intercepts)):
        model.set_layer(l, W, b)
    return model
