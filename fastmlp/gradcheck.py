"""Finite-difference gradients (the one copy: central and forward differences) and the
gradient check of ``loss_and_grad`` against them."""
import numpy as np

from .checks import check_choice, check_positive_float, check_positive_int, make_rng

METHODS = ("central", "forward")


def numerical_gradient(model, X, y, eps=1e-6, index=None, method="central"):
    """Finite differences of ``model``'s loss on (X, y) for the parameters in ``index``.

    Parameters
    ----------
    model : MLP
    X, y : a batch, as for ``model.evaluate``.
    eps : float > 0
        The step.
    index : array of int, optional
        Positions in ``model.params`` to differentiate (all when None).
    method : {'central', 'forward'}
        'central': (L(p + eps) - L(p - eps)) / (2 eps), two forward passes per
        parameter, error ~eps^2. 'forward': (L(p + eps) - L(p)) / eps, one
        forward pass per parameter plus one, error ~eps.

    Returns
    -------
    ndarray (len(index),) of float64. The model's parameters are restored
    afterwards, also on error.
    """
    eps = check_positive_float(eps, "eps")
    check_choice(method, "method", METHODS)
    return _differences(model, X, y, eps, _check_index(index, model.n_params), method == "central")


def _check_index(index, n_params):
    if index is None:
        return np.arange(n_params)
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"index must be integer positions in params; got dtype {index.dtype}")
    if index.ndim != 1:
        raise ValueError(f"index must be 1-D; got shape {index.shape}")
    if index.size and (index.min() < 0 or index.max() >= n_params):
        raise ValueError(f"index must be in [0, {n_params - 1}]; got values in [{index.min()}, {index.max()}]")
    return index


def _differences(model, X, y, eps, index, central):
    grad = np.zeros(len(index))
    p = model.params
    saved = p.copy()
    try:
        base = None if central else model.evaluate(X, y)["loss"]
        for g, i in enumerate(index):
            p[i] = saved[i] + eps
            up = model.evaluate(X, y)["loss"]
            if central:
                p[i] = saved[i] - eps
                grad[g] = (up - model.evaluate(X, y)["loss"]) / (2 * eps)
            else:
                grad[g] = (up - base) / eps
            p[i] = saved[i]
    finally:
        p[...] = saved
    return grad


def gradcheck(model, X, y, eps=1e-6, max_params=None, seed=0):
    """Largest relative error between backprop and central differences.

    Parameters
    ----------
    model : MLP
        Best in float64: in float32 rounding dominates the differences.
    X, y : a batch, as for ``model.loss_and_grad``.
    eps : float
        Step of the central difference.
    max_params : int, optional
        Check a random subset of this many parameters (all when None).
    seed : int >= 0, numpy Generator or None
        Picks the subset.

    Returns
    -------
    dict with 'max_rel_error', 'analytic', 'numeric', 'index'. The relative
    error of each parameter is |a - n| / max(|a|, |n|, 1e-8).
    """
    eps = check_positive_float(eps, "eps")
    max_params = None if max_params is None else check_positive_int(max_params, "max_params")
    rng = make_rng(seed)
    _, analytic = model.loss_and_grad(X, y)
    index = np.arange(model.n_params)
    if max_params is not None and max_params < model.n_params:
        index = np.sort(rng.choice(model.n_params, max_params, replace=False))
    numeric = _differences(model, X, y, eps, index, central=True)
    a = analytic[index].astype(np.float64)
    rel = np.abs(a - numeric) / np.maximum(np.maximum(np.abs(a), np.abs(numeric)), 1e-8)
    return {"max_rel_error": float(rel.max()), "analytic": a, "numeric": numeric, "index": index}
