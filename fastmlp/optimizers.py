"""Optimizers: validated hyperparameters, state in the params layout, and a NumPy
reference of each update (the numba kernel is ``fastmlp.kernels.optimizer_step``).

Formulas follow torch.optim (SGD with momentum/Nesterov/weight decay, Adam,
RMSprop, Adagrad), so N steps can be compared with PyTorch.
"""
import numpy as np

from . import buffers
from .checks import check_bool, check_choice, check_real
from .kernels import optimizers as K

DEFAULTS = {
    "sgd": dict(momentum=0.0, nesterov=False, weight_decay=0.0),
    "adam": dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
    "rmsprop": dict(alpha=0.99, eps=1e-8, weight_decay=0.0),
    "adagrad": dict(lr_decay=0.0, eps=1e-10, weight_decay=0.0),
}
KIND = {"sgd": K.SGD, "adam": K.ADAM, "rmsprop": K.RMSPROP, "adagrad": K.ADAGRAD}
SLOT = {"momentum": K.MOMENTUM, "nesterov": K.NESTEROV, "weight_decay": K.WEIGHT_DECAY, "beta1": K.BETA1,
        "beta2": K.BETA2, "eps": K.EPS, "alpha": K.ALPHA, "lr_decay": K.LR_DECAY}


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
        self.hp = np.zeros(K.N_HP)
        for key, v in h.items():
            self.hp[SLOT[key]] = float(v)

    @property
    def is_plain_sgd(self):
        """SGD without momentum or weight decay: the numba path fuses it into the backward pass."""
        return self.name == "sgd" and self.hyper["momentum"] == 0 and self.hyper["weight_decay"] == 0

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"Optimizer({self.name!r}, {args})"

    def new_state(self, n_params, dtype):
        """Fresh state: two buffers in the params layout and the step count."""
        return {"s1": buffers.zeros(n_params, dtype), "s2": buffers.zeros(n_params, dtype), "t": 0}

    def step_numpy(self, p, g, state, lr):
        """Reference update in NumPy, in place (p and state), same formulas as the kernel."""
        h, T = self.hyper, p.dtype.type
        state["t"] += 1
        t = state["t"]
        s1, s2 = state["s1"], state["s2"]
        g = g + T(h["weight_decay"]) * p
        if self.name == "sgd":
            mu = T(h["momentum"])
            if mu != 0:
                s1[...] = mu * s1 + g
                g = g + mu * s1 if h["nesterov"] else s1.copy()
            p -= T(lr) * g
        elif self.name == "adam":
            b1, b2 = h["beta1"], h["beta2"]
            s1[...] = T(b1) * s1 + T(1 - b1) * g
            s2[...] = T(b2) * s2 + T(1 - b2) * g * g
            step, inv_c2 = T(lr / (1 - b1 ** t)), T(1 / np.sqrt(1 - b2 ** t))
            p -= step * s1 / (np.sqrt(s2) * inv_c2 + T(h["eps"]))
        elif self.name == "rmsprop":
            a = h["alpha"]
            s1[...] = T(a) * s1 + T(1 - a) * g * g
            p -= T(lr) * g / (np.sqrt(s1) + T(h["eps"]))
        else:
            s1 += g * g
            p -= T(lr / (1 + (t - 1) * h["lr_decay"])) * g / (np.sqrt(s1) + T(h["eps"]))

    def step_numba(self, p, g, state, lr):
        """The same update by the numba kernel."""
        state["t"] += 1
        K.optimizer_step(p, state["s1"], state["s2"], g, self.kind, float(lr), self.hp, state["t"])


def make_optimizer(optimizer, **hyper):
    """An Optimizer from a name (with hyperparameters) or an Optimizer instance."""
    if isinstance(optimizer, Optimizer):
        if hyper:
            raise ValueError("give hyperparameters either in the Optimizer or as keywords, not both")
        return optimizer
    return Optimizer(optimizer, **hyper)
