"""Optimizers: validated hyperparameters, named state in one flat buffer, and the NumPy
reference of each update (the numba kernel is ``fastmlp.kernels.optimizer_step``).

Formulas follow torch.optim (SGD with momentum/Nesterov/weight decay, Adam, AdamW, RMSprop,
Adagrad), so N steps can be compared with PyTorch; each is written out in
``fastmlp.kernels.optimizers``.

Every optimizer also takes the penalties and clipping of ``REGULARISATION`` (all off by
default), applied to each batch's gradient before the update, in this order
(``fastmlp.kernels.regularisation``; the NumPy reference is :meth:`Optimizer.regularise_numpy`):

- ``l2``: scikit-learn's ``alpha``: (l2 / 2) * sum(W^2) / m added to the batch's mean loss
  (m rows), l2 * W / m to the gradient; weights only, not biases. Named ``l2`` because
  'rmsprop' already has an ``alpha`` (torch's smoothing constant).
- ``l1``: l1 * sum(|W|) added to the batch's mean loss (not divided by m, as Keras's L1),
  l1 * sign(W) to the gradient (0 at W = 0); weights only.
- ``clip_value``: each gradient element clipped to [-clip_value, clip_value].
- ``clip_norm``: torch.nn.utils.clip_grad_norm_: the gradient scaled by
  clip_norm / (norm + 1e-6) when that is below 1, norm being the L2 norm of the whole
  gradient (after the penalties and the value clipping).
- ``decoupled_weight_decay``: p *= 1 - lr * decoupled_weight_decay before the update, every
  parameter (biases too, as torch.optim.AdamW), apart from the gradient.

The training loss reported (history, ``loss_curve_``) includes the penalties, as
scikit-learn's does. ``weight_decay`` stays torch's coupled L2 (g += weight_decay * p,
biases included, inside the update). 'adamw' is 'adam' with ``decoupled_weight_decay``
0.01 by default (torch.optim.AdamW); it takes no coupled ``weight_decay``.

The state is an :class:`OptimizerState`: the step count and two buffers in the params
layout (one allocation, ``slots`` (2, P)) seen through the names of what they hold
(``SLOT_NAMES``): velocity (sgd), m and v (adam, adamw), square_avg (rmsprop), sum_sq
(adagrad).
"""
import warnings

import numpy as np

from . import buffers
from .checks import check_bool, check_choice, check_positive_float, check_real
from .kernels import optimizers as K
from .kernels.regularisation import NORM_EPS
from .kernels.structs import Hyper

# Penalties, decoupled weight decay and clipping: every optimizer takes them; 0 / None is off.
REGULARISATION = dict(l2=0.0, l1=0.0, decoupled_weight_decay=0.0, clip_norm=None, clip_value=None)
DEFAULTS = {
    "sgd": dict(momentum=0.0, nesterov=False, weight_decay=0.0, **REGULARISATION),
    "adam": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, **REGULARISATION),
    "adamw": dict(beta1=0.9, beta2=0.999, eps=1e-8, **dict(REGULARISATION, decoupled_weight_decay=0.01)),
    "rmsprop": dict(alpha=0.99, eps=1e-8, weight_decay=0.0, **REGULARISATION),
    "adagrad": dict(lr_decay=0.0, eps=1e-10, weight_decay=0.0, **REGULARISATION),
}
KIND = {"sgd": K.SGD, "adam": K.ADAM, "adamw": K.ADAM, "rmsprop": K.RMSPROP, "adagrad": K.ADAGRAD}
# What the state slots hold, per optimizer (slots[0], slots[1]).
SLOT_NAMES = {"sgd": ("velocity",), "adam": ("m", "v"), "adamw": ("m", "v"), "rmsprop": ("square_avg",),
              "adagrad": ("sum_sq",)}


class Optimizer:
    """An optimizer by name with its hyperparameters.

    Parameters
    ----------
    name : {'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'}
    **hyper
        sgd: momentum in [0, 1), nesterov (bool, needs momentum > 0), weight_decay >= 0;
        adam: beta1, beta2 in [0, 1), eps > 0, weight_decay; adamw: beta1, beta2, eps
        (decoupled_weight_decay 0.01 by default, no coupled weight_decay); rmsprop: alpha in
        [0, 1), eps, weight_decay; adagrad: lr_decay >= 0, eps, weight_decay. Every one:
        l2 >= 0, l1 >= 0, decoupled_weight_decay >= 0, clip_norm > 0 or None,
        clip_value > 0 or None (see the module docstring).
    """

    def __init__(self, name="sgd", **hyper):
        check_choice(name, "optimizer", sorted(DEFAULTS))
        unknown = set(hyper) - set(DEFAULTS[name])
        if unknown:
            hint = ("; adamw's weight decay is decoupled_weight_decay (torch.optim.AdamW's weight_decay), "
                    "the coupled L2 weight_decay is adam's" if name == "adamw" and "weight_decay" in unknown else "")
            hint += "; scikit-learn's L2 penalty alpha is l2 here" if "alpha" in unknown else ""
            raise ValueError(f"optimizer {name!r} has no parameter(s) {sorted(unknown)}; "
                             f"it takes {sorted(DEFAULTS[name])}{hint}")
        h = dict(DEFAULTS[name], **hyper)
        for key, v in h.items():
            if key == "nesterov":
                h[key] = check_bool(v, key)  # a plain bool: the hyperparameters are saved as JSON
            elif key in ("momentum", "beta1", "beta2", "alpha"):
                h[key] = check_real(v, key, 0, 1, high_open=True)
            elif key == "eps":
                h[key] = check_real(v, key, low=0, low_open=True)
            elif key in ("clip_norm", "clip_value"):
                h[key] = None if v is None else check_positive_float(v, key)
            else:
                h[key] = check_real(v, key, low=0)
        if h.get("nesterov") and h["momentum"] == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.name = name
        self.hyper = h
        self.kind = KIND[name]

    @property
    def is_plain_sgd(self):
        """SGD without momentum, weight decay, penalties or clipping: the numba path fuses it
        into the backward pass."""
        return (self.name == "sgd" and self.hyper["momentum"] == 0 and self.hyper["weight_decay"] == 0
                and not self.regularises)

    @property
    def regularises(self):
        """Whether any penalty, decoupled weight decay or clipping is on."""
        return any(self.hyper[k] for k in REGULARISATION)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"Optimizer({self.name!r}, {args})"

    def kernel_hyper(self, lr):
        """This optimizer at learning rate ``lr`` as the kernels' ``Hyper`` (every field named)."""
        h = dict.fromkeys(Hyper._fields[2:], 0.0)
        h.update((k, float(v)) for k, v in self.hyper.items() if v is not None)  # None (no clipping): 0
        return Hyper(kind=self.kind, lr=float(lr), **h)

    def new_state(self, n_params, dtype):
        """Fresh state for ``n_params`` parameters of ``dtype``: zero slots, step 0."""
        return OptimizerState(self, n_params, dtype)

    def regularise_numpy(self, layers, g, rows):
        """Reference penalties and clipping in NumPy, in place on the whole gradient g (P,)
        of a batch of ``rows`` rows, same formulas as the kernels; ``layers`` are the
        (W, dW) pairs of the params and of g (views). Returns the penalty added to the
        batch's mean loss (0.0 without one)."""
        h, T = self.hyper, g.dtype.type
        penalty = 0.0
        if h["l2"] or h["l1"]:
            for W, dW in layers:
                dW += T(h["l2"] / rows) * W + T(h["l1"]) * np.sign(W)
                W64 = W.astype(np.float64)
                penalty += 0.5 * h["l2"] * float((W64 * W64).sum()) / rows + h["l1"] * float(np.abs(W64).sum())
        if h["clip_value"] is not None:
            np.clip(g, T(-h["clip_value"]), T(h["clip_value"]), out=g)
        if h["clip_norm"] is not None:
            g64 = g.astype(np.float64)
            coef = h["clip_norm"] / (np.sqrt((g64 * g64).sum()) + NORM_EPS)
            if coef < 1.0:
                g *= T(coef)
        return penalty

    def step_numpy(self, p, g, state, lr):
        """Reference update in NumPy, in place (p and state), same formulas as the kernel
        (the gradient's penalties and clipping come first: :meth:`regularise_numpy`)."""
        h, T = self.hyper, p.dtype.type
        state.step += 1
        t = state.step
        if h["decoupled_weight_decay"]:
            p *= T(1.0 - lr * h["decoupled_weight_decay"])
        g = g + T(h.get("weight_decay", 0.0)) * p
        if self.name == "sgd":
            mu = T(h["momentum"])
            if mu != 0:
                velocity = state.velocity
                velocity[...] = mu * velocity + g
                g = g + mu * velocity if h["nesterov"] else velocity.copy()
            p -= T(lr) * g
        elif self.name in ("adam", "adamw"):
            b1, b2, m, v = h["beta1"], h["beta2"], state.m, state.v
            m[...] = T(b1) * m + T(1 - b1) * g
            v[...] = T(b2) * v + T(1 - b2) * g * g
            step, inv_c2 = T(lr / (1 - b1 ** t)), T(1 / np.sqrt(1 - b2 ** t))
            p -= step * m / (np.sqrt(v) * inv_c2 + T(h["eps"]))
        elif self.name == "rmsprop":
            a, square_avg = h["alpha"], state.square_avg
            square_avg[...] = T(a) * square_avg + T(1 - a) * g * g
            p -= T(lr) * g / (np.sqrt(square_avg) + T(h["eps"]))
        else:
            sum_sq = state.sum_sq
            sum_sq += g * g
            p -= T(lr / (1 + (t - 1) * h["lr_decay"])) * g / (np.sqrt(sum_sq) + T(h["eps"]))


class OptimizerState:
    """An optimizer's state: its name and hyperparameters, the number of updates done
    (``step``), and two buffers in the params layout, seen by the names of what they hold
    for this optimizer (``SLOT_NAMES``: ``state.m``, ``state.v`` ...) and together as
    ``values()`` (2, P).

    Both live in one allocation, ``slots`` (2, S): each row padded to a whole number of
    64-byte lines (S >= P) so that both start on a cache line, as every buffer the kernels
    stream does (``fastmlp.buffers``). The kernels take ``slots``; the padding stays zero.
    A later fit with the same optimizer resumes the state; ``save`` keeps it.
    """

    def __init__(self, optimizer, n_params, dtype):
        dtype = np.dtype(dtype)
        per_line = buffers.ALIGN // dtype.itemsize
        self.name = optimizer.name
        self.hyper = dict(optimizer.hyper)
        self.n_params = int(n_params)
        self.slots = buffers.zeros((2, -(-self.n_params // per_line) * per_line), dtype)
        self.step = 0

    def values(self):
        """The two slots without their padding, (2, P): a view."""
        return self.slots[:, :self.n_params]

    def __getattr__(self, attr):
        names = SLOT_NAMES.get(self.__dict__.get("name"), ())
        if attr in names:
            return self.slots[names.index(attr), :self.n_params]
        raise AttributeError(f"{type(self).__name__} of {self.__dict__.get('name')!r} has no attribute {attr!r}"
                             + (f"; its slots are {list(names)}" if names else ""))

    def fits(self, optimizer, n_params, dtype):
        """True when this state belongs to ``optimizer`` (same hyperparameters) for these parameters."""
        return (self.name == optimizer.name and self.hyper == optimizer.hyper and self.n_params == n_params
                and self.slots.dtype == dtype)

    def copy(self):
        """An independent copy (slots copied, 64-byte aligned)."""
        other = object.__new__(OptimizerState)
        other.__dict__.update(self.__dict__, hyper=dict(self.hyper), slots=buffers.copy(self.slots))
        return other

    def copy_from(self, other):
        """Take the values of ``other`` (a state of the same optimizer and size), in place."""
        self.slots[...] = other.slots
        self.step = other.step

    _OLD_KEYS = {"name": "name", "hyper": "hyper", "t": "step"}

    def __getitem__(self, key):
        """The 0.1 dict access (state['t'], state['s1'] ...), kept working with a DeprecationWarning."""
        if key in ("s1", "s2"):
            new = f"values()[{int(key[1]) - 1}]"
            value = self.values()[int(key[1]) - 1]
        elif key in self._OLD_KEYS:
            new = self._OLD_KEYS[key]
            value = getattr(self, new)
        else:
            raise KeyError(f"{key!r}: OptimizerState has attributes, not keys; the 0.1 keys were "
                           f"{sorted(['s1', 's2', *self._OLD_KEYS])}")
        warnings.warn(f"optimizer_state[{key!r}] is deprecated; use optimizer_state.{new}",
                      DeprecationWarning, stacklevel=2)
        return value

    def __repr__(self):
        return f"OptimizerState({self.name!r}, step={self.step}, slots={list(SLOT_NAMES[self.name])})"


def make_optimizer(optimizer, **hyper):
    """An Optimizer from a name (with hyperparameters) or an Optimizer instance."""
    if isinstance(optimizer, Optimizer):
        if hyper:
            raise ValueError("give hyperparameters either in the Optimizer or as keywords, not both")
        return optimizer
    return Optimizer(optimizer, **hyper)
