"""Weight initialisation schemes, by name, one for every layer or one per layer.

Every scheme draws a (n_in, n_out) matrix from a numpy Generator; fan_in is
n_in, fan_out is n_out. The ``*_fan_out`` schemes scale the variance by
fan_out instead of fan_in (torch's ``mode='fan_out'``); ``'torch'`` is
PyTorch's ``nn.Linear`` default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
weights and, unless a bias init is given, for the biases too.
"""
import numpy as np

from .checks import check_choice, check_per_layer, check_positive_float, check_real, make_rng


def _std_normal(std):
    return lambda rng, k, n: rng.normal(0.0, std(k, n), (k, n))


def _uniform(bound):
    return lambda rng, k, n: rng.uniform(-bound(k, n), bound(k, n), (k, n))


INITS = {
    "zeros": lambda rng, k, n: np.zeros((k, n)),
    "fan_max": _std_normal(lambda k, n: np.sqrt(1.0 / max(k, n))),
    "lecun_normal": _std_normal(lambda k, n: np.sqrt(1.0 / k)),
    "lecun_uniform": _uniform(lambda k, n: np.sqrt(3.0 / k)),
    "glorot_normal": _std_normal(lambda k, n: np.sqrt(2.0 / (k + n))),
    "glorot_uniform": _uniform(lambda k, n: np.sqrt(6.0 / (k + n))),
    "he_normal": _std_normal(lambda k, n: np.sqrt(2.0 / k)),
    "he_uniform": _uniform(lambda k, n: np.sqrt(6.0 / k)),
    "lecun_normal_fan_out": _std_normal(lambda k, n: np.sqrt(1.0 / n)),
    "lecun_uniform_fan_out": _uniform(lambda k, n: np.sqrt(3.0 / n)),
    "he_normal_fan_out": _std_normal(lambda k, n: np.sqrt(2.0 / n)),
    "he_uniform_fan_out": _uniform(lambda k, n: np.sqrt(6.0 / n)),
    # nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) is U(+-sqrt(6 / ((1 + 5) fan_in))) = U(+-1/sqrt(fan_in))
    "torch": _uniform(lambda k, n: 1.0 / np.sqrt(k)),
}
ALIASES = {
    "lecun": "lecun_normal", "xavier_normal": "glorot_normal", "xavier_uniform": "glorot_uniform",
    "kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform",
    "kaiming_normal_fan_out": "he_normal_fan_out", "kaiming_uniform_fan_out": "he_uniform_fan_out",
    "pytorch": "torch",
}
INIT_NAMES = sorted(list(INITS) + list(ALIASES) + ["normal", "uniform", "auto"])
# Biases an init draws itself when no bias init is given (the others start at 0): (rng, fan_in, n_out) -> (n_out,)
_OWN_BIAS = {"torch": lambda rng, k, n: rng.uniform(-1.0 / np.sqrt(k), 1.0 / np.sqrt(k), n)}


def resolve(init, activation, std=None, bound=None, name="init"):
    """A function (rng, n_in, n_out) -> float64 matrix for the scheme named ``init``.

    ``'normal'`` needs ``std``, ``'uniform'`` needs ``bound``. ``'auto'`` is
    He (normal) after relu-like layers and Glorot (uniform) otherwise.
    ``name`` is the argument named in errors.
    """
    check_choice(init, name, INIT_NAMES)
    if init == "auto":
        init = "he_normal" if activation in ("relu", "leaky_relu") else "glorot_uniform"
    if init == "normal":
        s = check_positive_float(0.01 if std is None else std, "init_std")
        return lambda rng, k, n: rng.normal(0.0, s, (k, n))
    if init == "uniform":
        bd = check_positive_float(0.05 if bound is None else bound, "init_bound")
        return lambda rng, k, n: rng.uniform(-bd, bd, (k, n))
    return INITS[ALIASES.get(init, init)]


def initialize(arch, params, init="auto", rng=None, std=None, bound=None, bias=None):
    """Fill ``params`` (flat, arch's layout) in place: W by ``init``, b by ``bias``.

    ``init`` is one name for every layer or a list of one name per weight layer
    (``len(layers) - 1``), e.g. ``['he_normal', 'he_normal', 'glorot_uniform']``.
    ``bias`` is a constant, an init name drawn like a (1, n_out) matrix, or None:
    each layer's init decides ('torch' draws U(+-1/sqrt(fan_in)) as nn.Linear,
    every other init starts the biases at 0). Layer by layer, W is drawn before b.
    ``rng`` is a seed (int >= 0), a numpy Generator or None.
    """
    inits = check_per_layer(init, "init", arch.n_layers, INIT_NAMES)
    rng = make_rng(rng)
    if bias is not None and not isinstance(bias, str):
        bias = check_real(bias, "bias_init")
    acts = arch.activation + ("identity",)
    draws = []
    for l, (W, b) in enumerate(arch.split(params)):
        k, n = W.shape
        w = resolve(inits[l], acts[l], std, bound)(rng, k, n)
        if isinstance(bias, str):
            bv = resolve(bias, acts[l], std, bound, "bias_init")(rng, k, n)[0]
        elif bias is None and ALIASES.get(inits[l], inits[l]) in _OWN_BIAS:
            bv = _OWN_BIAS[ALIASES.get(inits[l], inits[l])](rng, k, n)
        else:
            bv = np.full(n, 0.0 if bias is None else bias)
        draws.append((w, bv))
    for (W, b), (w, bv) in zip(arch.split(params), draws):  # nothing written until all drawn
        W[...] = w
        b[...] = bv
