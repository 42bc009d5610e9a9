"""Finite-difference gradient check: central differences against ``loss_and_grad``."""
import numpy as np


def numerical_gradient(model, X, y, eps=1e-6, index=None):
    """Central differences (L(p + eps) - L(p - eps)) / (2 eps) for the parameters in ``index``.

    The model's parameters are restored afterwards, also on error.
    """
    index = np.arange(model.n_params) if index is None else np.asarray(index)
    grad = np.zeros(len(index))
    p = model.params
    saved = p.copy()
    try:
        for g, i in enumerate(index):
            p[i] = saved[i] + eps
            up = model.evaluate(X, y)["loss"]
            p[i] = saved[i] - eps
            down = model.evaluate(X, y)["loss"]
            p[i] = saved[i]
            grad[g] = (up - down) / (2 * eps)
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

    Returns
    -------
    dict with 'max_rel_error', 'analytic', 'numeric', 'index'. The relative
    error of each parameter is |a - n| / max(|a|, |n|, 1e-8).
    """
    _, analytic = model.loss_and_grad(X, y)
    index = np.arange(model.n_params)
    if max_params is not None and max_params < model.n_params:
        index = np.sort(np.random.default_rng(seed).choice(model.n_params, max_params, replace=False))
    numeric = numerical_gradient(model, X, y, eps, index)
    a = analytic[index].astype(np.float64)
    rel = np.abs(a - numeric) / np.maximum(np.maximum(np.abs(a), np.abs(numeric)), 1e-8)
    return {"max_rel_error": float(rel.max()), "analytic": a, "numeric": numeric, "index": index}
