"""The cost of one full gradient: backpropagation versus finite differences.

Backprop gets every partial derivative from one forward and one backward pass,
about three forward passes of work, so its cost grows linearly with the number
of parameters P. Finite differences need one (forward differences) or two
(central differences) extra forward passes per parameter, each costing ~P, so
their cost grows like P squared.

Timing: each figure is the best of several runs (the run least disturbed by other
processes), with the BLAS on one thread. With its default threads OpenBLAS splits a
product over threads once m*n*k exceeds 262144 (here from 32 x 128 x 128 on), and on a
busy 2-core machine its threads spin waiting for each other: one backprop at width 128
took 14 ms instead of 0.45 ms (both threads busy the whole time), which made backprop look
250-500x dearer between widths 64 and 128. One thread measures the algorithm's work.
"""
import contextlib
import time

import numpy as np

from ..checks import check_choice, check_pair, check_positive_int, make_rng
from ..gradcheck import numerical_gradient
from ..model import MLP

#: Default (depth, width) grid: depth grows at width 64, width grows at depth 2.
DEFAULT_SIZES = tuple((d, 64) for d in (1, 2, 4, 8, 16)) + tuple((2, w) for w in (16, 32, 128, 256))


def count_forward_passes(model, X, y, method="central", index=None):
    """How many forward passes (``model.evaluate`` calls) a gradient by ``method`` makes.

    Parameters
    ----------
    method : {'central', 'forward', 'backprop'}
        ``fastmlp.numerical_gradient`` with that method, or ``model.loss_and_grad``
        (which makes no evaluate call: it runs one forward and one backward
        pass itself, counted here as 1).
    index : array of int, optional
        Parameters to differentiate (all when None).
    """
    check_choice(method, "method", ("central", "forward", "backprop"))
    if method == "backprop":
        model.loss_and_grad(X, y)
        return 1
    calls = [0]
    original = model.evaluate

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    model.evaluate = counting
    try:
        numerical_gradient(model, X, y, index=index, method=method)
    finally:
        del model.evaluate
    return calls[0]


def multiply_adds(layers, n_samples=1):
    """Multiply-adds of one forward pass, ``n_samples * sum(n_in * n_out)``, and of backprop.

    Returns
    -------
    (forward, backprop) : (int, int)
        Backprop is the forward pass, the weight gradients (``a.T @ delta``, as
        many as the forward) and the deltas sent back to every layer but the first.
    """
    layers = [int(n) for n in layers]
    per_layer = [a * b for a, b in zip(layers[:-1], layers[1:])]
    forward = n_samples * sum(per_layer)
    return forward, forward + n_samples * sum(per_layer) + n_samples * sum(per_layer[1:])


def _depth_width(size, name):
    """(depth, width) as two positive ints."""
    depth, width = check_pair(size, name, "a pair (depth, width) of positive integers")
    return check_positive_int(depth, f"{name}[0]"), check_positive_int(width, f"{name}[1]")


def _best_seconds(f, repeats):
    """The shortest of ``repeats`` timed calls of ``f``."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return float(best)


@contextlib.contextmanager
def _one_blas_thread():
    """The BLAS on one thread inside the block (threadpoolctl), as before after it."""
    import scipy.linalg.cython_blas  # noqa: F401  (SciPy's BLAS, which the kernels may call: limited too)
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def gradient_cost(sizes=DEFAULT_SIZES, n_samples=32, n_classes=10, fd_params=40, repeats=5, seed=0,
                  backend="numba"):
    """Time and count the work of one full gradient by backprop and by finite differences.

    Each network maps ``width`` inputs through ``depth`` hidden layers of
    ``width`` tanh units to ``n_classes`` logits (float64), on a batch of
    ``n_samples``. Finite differences are timed on ``fd_params`` randomly
    chosen parameters and scaled by ``n_params / fd_params`` (a full finite-
    difference gradient of the larger nets would take minutes).

    Parameters
    ----------
    sizes : sequence of (depth, width)
    n_samples, n_classes : int
    fd_params : int
        Parameters actually differentiated by finite differences.
    repeats : int
        Each timing is the best of this many runs (finite differences: of half as many),
        with the BLAS on one thread (see the module docstring).
    seed : int >= 0, numpy Generator or None
        Seeds the data, the weights and the timed parameters.
    backend : str

    Returns
    -------
    list of dict
        Per size: ``depth, width, n_params, backprop_seconds, forward_seconds,
        fd_central_seconds, fd_forward_seconds`` (seconds per full gradient),
        ``fd_timed_params``, ``n_samples``, ``timing`` (how the seconds were measured),
        forward-pass counts ``backprop_passes`` (1), ``fd_central_passes`` (2 P), ``fd_forward_passes`` (P + 1), and
        multiply-adds ``forward_madds, backprop_madds, fd_central_madds,
        fd_forward_madds``.
    """
    n_samples, fd_params, repeats = (check_positive_int(v, name) for v, name in (
        (n_samples, "n_samples"), (fd_params, "fd_params"), (repeats, "repeats")))
    sizes = [_depth_width(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
    rng = make_rng(seed)
    out = []
    with _one_blas_thread():
        for depth, width in sizes:
            out.append(_measure(depth, width, n_samples, n_classes, fd_params, repeats, seed, rng, backend))
    return out


def _measure(depth, width, n_samples, n_classes, fd_params, repeats, seed, rng, backend):
    """The record of one (depth, width) network (see :func:`gradient_cost`)."""
    layers = [width] + [width] * depth + [n_classes]
    model = MLP(layers, activation="tanh", dtype="float64", backend=backend, seed=seed)
    X = rng.standard_normal((n_samples, width))
    y = rng.integers(0, n_classes, n_samples)
    P = model.n_params
    k = min(fd_params, P)
    index = np.sort(rng.choice(P, k, replace=False))
    model.loss_and_grad(X, y)  # load the compiled kernels before timing
    scale = P / k
    fwd_madds, bp_madds = multiply_adds(layers, n_samples)
    fd_repeats = max(1, repeats // 2)
    return {
        "depth": int(depth), "width": int(width), "n_params": int(P), "fd_timed_params": int(k),
        "n_samples": int(n_samples), "timing": f"best of {repeats} runs ({fd_repeats} for finite "
                                               "differences), one BLAS thread",
        "backprop_seconds": _best_seconds(lambda: model.loss_and_grad(X, y), repeats),
        "forward_seconds": _best_seconds(lambda: model.evaluate(X, y), repeats),
        "fd_central_seconds": scale * _best_seconds(lambda: numerical_gradient(model, X, y, index=index),
                                                    fd_repeats),
        "fd_forward_seconds": scale * _best_seconds(
            lambda: numerical_gradient(model, X, y, index=index, method="forward"), fd_repeats),
        "backprop_passes": 1, "fd_central_passes": 2 * P, "fd_forward_passes": P + 1,
        "forward_madds": fwd_madds, "backprop_madds": bp_madds,
        "fd_central_madds": 2 * P * fwd_madds, "fd_forward_madds": (P + 1) * fwd_madds,
    }
