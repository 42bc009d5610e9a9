"""Optimizers: validated hyperparameters, named state in one flat buffer, and the NumPy
reference of each update (the numba kernel is ``fastmlp.kernels.optimizer_step``).

Formulas follow torch.optim (SGD with momentum/Nesterov/weight decay, Adam, RMSprop,
Adagrad), so N steps can be compared with PyTorch; each is written out in
``fastmlp.kernels.optimizers``. The state is an :class:`OptimizerState`: the step count
and two buffers in the params layout (one allocation, ``slots`` (2, P)) seen through the
names of what they hold (``SLOT_NAMES``): velocity (sgd), m and v (adam), square_avg
(rmsprop), sum_sq (adagrad).
"""
import warnings

import numpy as np

from . import buffers
from .checks import check_bool, check_choice, check_real
from .kernels import optimizers as K
from .kernels.structs import Hyper

DEFAULTS = {
    "sgd": dict(momentum=0.0, nesterov=False, weight_decay=0.0),
    "adam": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    "rmsprop": dict(alpha=0.99, eps=1e-8, weight_decay=0.0),
    "adagrad": dict(lr_decay=0.0, eps=1e-10, weight_decay=0.0),
}
KIND = {"sgd": K.SGD, "adam": K.ADAM, "rmsprop": K.RMSPROP, "adagrad": K.ADAGRAD}
# What the state slots hold, per optimizer (slots[0], slots[1]).
SLOT_NAMES = {"sgd": ("velocity",), "adam": ("m", "v"), "rmsprop": ("square_avg",), "adagrad": ("sum_sq",)}


class Optimizer:
    """An optimizer by name with its hyperparameters.

    Parameters
    ----------
    name : {'sgd', 'adam', 'rmsprop', 'adagrad'}
    **hyper
        sgd: momentum in [0, 1), nesterov (bool, needs momentum > 0), weight_decay >= 0;
        adam: beta1, beta2 in [0, 1), eps > 0, weight_decay; rmsprop: alpha in [0, 1),
        eps, weight_decay; adagrad: lr_decay >= 0, eps, weight_decay.
    """

    def __init__(self, name="sgd", **hyper):
        check_choice(name, "optimizer", sorted(DEFAULTS))
        unknown = set(hyper) - set(DEFAULTS[name])
        if unknown:
            raise ValueError(f"optimizer {name!r} has no parameter(s) {sorted(unknown)}; "
                             f"it takes {sorted(DEFAULTS[name])}")
        h = dict(DEFAULTS[name], **hyper)
        for key, v in h.items():
            if key == "nesterov":
                h[key] = check_bool(v, key)  # a plain bool: the hyperparameters are saved as JSON
            elif key in ("momentum", "beta1", "beta2", "alpha"):
                h[key] = check_real(v, key, 0, 1, high_open=True)
            elif key == "eps":
                h[key] = check_real(v, key, low=0, low_open=True)
            else:
                h[key] = check_real(v, key, low=0)
        if h.get("nesterov") and h["momentum"] == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.name = name
        self.hyper = h
        self.kind = KIND[name]

    @property
    def is_plain_sgd(self):
        """SGD without momentum or weight decay: the numba path fuses it into the backward pass."""
        return self.name == "sgd" and self.hyper["momentum"] == 0 and self.hyper["weight_decay"] == 0

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"Optimizer({self.name!r}, {args})"

    def kernel_hyper(self, lr):
        """This optimizer at learning rate ``lr`` as the kernels' ``Hyper`` (every field named)."""
        h = dict.fromkeys(Hyper._fields[2:], 0.0)
        h.update((k, float(v)) for k, v in self.hyper.items())
        return Hyper(kind=self.kind, lr=float(lr), **h)

    def new_state(self, n_params, dtype):
        """Fresh state for ``n_params`` parameters of ``dtype``: zero slots, step 0."""
        return OptimizerState(self, n_params, dtype)

    def step_numpy(self, p, g, state, lr):
        """Reference update in NumPy, in place (p and state), same formulas as the kernel."""
        h, T = self.hyper, p.dtype.type
        state.step += 1
        t = state.step
        g = g + T(h["weight_decay"]) * p
        if self.name == "sgd":
            mu = T(h["momentum"])
            if mu != 0:
                velocity = state.velocity
                velocity[...] = mu * velocity + g
                g = g + mu * velocity if h["nesterov"] else velocity.copy()
            p -= T(lr) * g
        elif self.name == "adam":
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
