"""Signal propagation: how the variance of activations and of weight gradients
changes layer by layer through a deep MLP, for several initialisations."""
import numpy as np

from ..checks import check_positive_int, make_rng
from ..model import MLP

#: The schemes compared by default: (label, MLP init, init_std).
DEFAULT_INITS = (("normal (std 0.01)", "normal", 0.01), ("LeCun", "lecun_normal", None),
                 ("Glorot", "glorot_normal", None), ("He", "he_normal", None))


def signal_propagation(depth=10, width=256, inits=DEFAULT_INITS, activations=("tanh", "relu"), n_samples=256,
                       n_classes=10, seed=0, backend="numba"):
    """Per-layer variance of activations and of weight gradients at initialisation.

    The network maps ``width`` standard-normal inputs through ``depth`` hidden
    layers of ``width`` units to ``n_classes`` logits (float64, zero biases);
    the targets are random class ids. Activations come from
    ``MLP.layer_outputs``; gradients from ``MLP.loss_and_grad`` split per layer.

    Parameters
    ----------
    depth, width : int
        Hidden layers and units per layer.
    inits : sequence of (label, init name, init_std or None)
    activations : sequence of str
    n_samples : int
        Batch size of the probe.
    n_classes : int
    seed : int >= 0, numpy Generator or None
        Seeds the inputs, targets and weights (the same for every scheme).
    backend : str
        MLP backend that computes.

    Returns
    -------
    list of dict
        One per (activation, init): ``activation, init, label, act_var`` (list
        of ``depth`` variances of the hidden outputs, first layer first) and
        ``grad_var`` (list of ``depth + 1`` variances of dL/dW, input layer first).
    """
    depth, width, n_samples, n_classes = (check_positive_int(v, name) for v, name in (
        (depth, "depth"), (width, "width"), (n_samples, "n_samples"), (n_classes, "n_classes")))
    rng = make_rng(seed)
    X = rng.standard_normal((n_samples, width))
    y = rng.integers(0, n_classes, n_samples)
    out = []
    for act in activations:
        for label, init, std in inits:
            model = MLP([width] * (depth + 1) + [n_classes], activation=act, init=init, init_std=std,
                        dtype="float64", backend=backend, seed=seed)
            hidden = model.layer_outputs(X)[:-1]
            _, grads = model.loss_and_grad(X, y)
            out.append({"activation": act, "init": init, "label": label,
                        "act_var": [float(np.var(h)) for h in hidden],
                        "grad_var": [float(np.var(dW)) for dW, _ in model.split(grads)]})
    return out
