"""Architecture: layer sizes, activations, loss, dtype, and the flat-buffer layout.

One flat parameter vector holds, layer after layer, W (n_in, n_out) row-major
then b (n_out,). Gradients and optimizer state use the same layout. The same
table drives all three backends; the kernels receive it as ``Architecture.net``.
"""
import functools
from dataclasses import dataclass, field

import numpy as np

from .checks import check_choice, check_dtype, check_int_list, check_real
from .kernels import activations as _act
from .kernels import losses as _loss
from .kernels.structs import A_OFF, B_OFF, N_IN, N_OUT, W_OFF, Net

ACTIVATIONS = {
    "identity": _act.IDENTITY, "linear": _act.IDENTITY,
    "tanh": _act.TANH,
    "sigmoid": _act.SIGMOID, "logistic": _act.SIGMOID,
    "relu": _act.RELU,
    "leaky_relu": _act.LEAKY_RELU,
    "step": _act.STEP,
}
LOSSES = {
    "cross_entropy": _loss.SOFTMAX_XENT, "softmax_cross_entropy": _loss.SOFTMAX_XENT,
    "mse": _loss.MSE, "squared_error": _loss.MSE,
    "bce": _loss.SIGMOID_BCE, "binary_cross_entropy": _loss.SIGMOID_BCE,
    "multilabel": _loss.SIGMOID_XENT, "sigmoid_cross_entropy": _loss.SIGMOID_XENT,
    "softmax_mse": _loss.SOFTMAX_MSE, "softmax_squared_error": _loss.SOFTMAX_MSE,
}
CANONICAL_LOSS = {_loss.SOFTMAX_XENT: "cross_entropy", _loss.MSE: "mse", _loss.SIGMOID_BCE: "bce",
                  _loss.SIGMOID_XENT: "multilabel", _loss.SOFTMAX_MSE: "softmax_mse"}
# Losses whose targets are class ids (one-hot rows are turned into ids).
CLASS_ID_LOSSES = ("cross_entropy", "softmax_mse")
CANONICAL_ACT = {v: k for k, v in reversed(list(ACTIVATIONS.items()))}
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclass(frozen=True, eq=False)
class Architecture:
    """Validated description of an MLP and its flat layout.

    Parameters
    ----------
    layers : sequence of int
        ``[n_in, h1, ..., n_out]``, at least two positive integers.
    activation : str or sequence of str
        Hidden activation, one for all hidden layers or one per hidden layer.
    loss : str
        ``'cross_entropy'`` (softmax output), ``'mse'`` (identity output),
        ``'bce'`` (sigmoid output, one unit), ``'multilabel'`` (a sigmoid per output
        unit, 0/1 targets per unit) or ``'softmax_mse'`` (softmax output, squared error
        to the one-hot target).
    leaky_slope : float
        Slope of ``leaky_relu`` for z < 0, in [0, 1).
    dtype : {'float32', 'float64'} or numpy dtype
    """

    layers: tuple
    activation: tuple
    loss: str
    leaky_slope: float
    dtype: np.dtype
    net: Net = field(repr=False)
    n_params: int = field(repr=False)
    width_sum: int = field(repr=False)

    @classmethod
    def build(cls, layers, activation="relu", loss="cross_entropy", leaky_slope=0.01, dtype="float32"):
        layers = check_int_list(layers, "layers", low=1)
        if len(layers) < 2:
            raise ValueError(f"layers needs at least [n_in, n_out]; got {layers!r}")
        n_hidden = len(layers) - 2
        if isinstance(activation, str) or activation is None:
            acts = (activation,) * n_hidden
        else:
            acts = tuple(activation)
            if len(acts) != n_hidden:
                raise ValueError(
                    f"activation: got {len(acts)} names for {n_hidden} hidden layers; "
                    "give one name for all or one per hidden layer")
        kinds = [ACTIVATIONS[check_choice(a, "activation", sorted(ACTIVATIONS))] for a in acts]
        loss_id = LOSSES[check_choice(loss, "loss", sorted(LOSSES))]
        if loss_id == _loss.SIGMOID_BCE and layers[-1] != 1:
            raise ValueError(f"loss 'bce' needs one output unit; layers ends with {layers[-1]}")
        if loss_id in (_loss.SOFTMAX_XENT, _loss.SOFTMAX_MSE) and layers[-1] < 2:
            raise ValueError(f"loss {CANONICAL_LOSS[loss_id]!r} needs at least 2 output units (use 'bce' for one)")
        leaky_slope = check_real(leaky_slope, "leaky_slope", low=0.0, high=1.0, high_open=True)
        dtype = check_dtype(dtype)
        L = len(layers) - 1
        lay = np.zeros((L, 5), np.int64)
        p = a = 0
        for l in range(L):
            k, n = layers[l], layers[l + 1]
            lay[l, N_IN], lay[l, N_OUT], lay[l, W_OFF], lay[l, B_OFF], lay[l, A_OFF] = k, n, p, p + k * n, a
            p += k * n + n
            a += n
        net = Net(lay=lay, kinds=np.array(kinds + [_act.IDENTITY], np.int64), alphas=np.full(L, leaky_slope, dtype),
                  loss=loss_id)
        return cls(tuple(layers), tuple(CANONICAL_ACT[k] for k in kinds), CANONICAL_LOSS[loss_id],
                   float(leaky_slope), dtype, net, p, a)

    @property
    def lay(self):
        """The layout table (n_layers, 5): per layer n_in, n_out, offsets of W and b in params,
        offset of its outputs in a one-row activation buffer (columns named in ``kernels.structs``)."""
        return self.net.lay

    @property
    def loss_id(self):
        return self.net.loss

    @property
    def max_hidden(self):
        """The widest hidden layer (0 without hidden layers)."""
        return max(self.layers[1:-1], default=0)

    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + output)."""
        return len(self.layers) - 1

    @functools.cached_property  # read on every prediction: computed once (the fields are frozen)
    def n_in(self):
        return self.layers[0]

    @functools.cached_property
    def n_out(self):
        return self.layers[-1]

    @functools.cached_property
    def is_classifier(self):
        return self.loss_id != _loss.MSE

    @functools.cached_property
    def n_classes(self):
        """Columns of ``predict_proba``: 2 for 'bce', one per output otherwise (the labels for
        'multilabel'); 0 for 'mse'."""
        return 2 if self.loss_id == _loss.SIGMOID_BCE else (self.n_out if self.is_classifier else 0)

    @property
    def takes_class_ids(self):
        """Whether the targets are class ids (softmax outputs)."""
        return self.loss in CLASS_ID_LOSSES

    def split(self, flat):
        """Per-layer ``(W, b)`` views of a flat vector in the params layout."""
        out = []
        for k, n, w, b in self.lay[:, [N_IN, N_OUT, W_OFF, B_OFF]]:
            out.append((flat[w:w + k * n].reshape(k, n), flat[b:b + n]))
        return out

    def trainable(self):
        """Raise if any hidden activation has no useful gradient (step)."""
        if "step" in self.activation:
            raise ValueError(
                "cannot compute gradients through activation 'step': its derivative is zero "
                "everywhere; step networks are for hand-set weights (forward only)")
