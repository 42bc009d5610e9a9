"""Weight initialisation schemes, by name.

Every scheme draws a (n_in, n_out) matrix from a numpy Generator; fan_in is
n_in, fan_out is n_out.
"""
import numpy as np

from .checks import check_choice, check_positive_float, check_real, make_rng


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
}
ALIASES = {
    "lecun": "lecun_normal", "xavier_normal": "glorot_normal", "xavier_uniform": "glorot_uniform",
    "kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform",
}
INIT_NAMES = sorted(list(INITS) + list(ALIASES) + ["normal", "uniform", "auto"])


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


def initialize(arch, params, init="auto", rng=None, std=None, bound=None, bias=0.0):
    """Fill ``params`` (flat, arch's layout) in place: W by ``init``, b with ``bias``.

    ``bias`` is a constant, or an init name drawn like a (1, n_out) matrix.
    ``rng`` is a seed (int >= 0), a numpy Generator or None.
    """
    rng = make_rng(rng)
    if not isinstance(bias, str):
        bias = check_real(bias, "bias_init")
    acts = arch.activation + ("identity",)
    draws = []
    for l, (W, b) in enumerate(arch.split(params)):
        k, n = W.shape
        w = resolve(init, acts[l], std, bound)(rng, k, n)
        if isinstance(bias, str):
            bv = resolve(bias, acts[l], std, bound, "bias_init")(rng, k, n)[0]
        else:
            bv = np.full(n, bias)
        draws.append((w, bv))
    for (W, b), (w, bv) in zip(arch.split(params), draws):  # nothing written until all drawn
        W[...] = w
        b[...] = bv
