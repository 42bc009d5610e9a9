"""Universal approximation by hand: a one-hidden-layer network of step units whose
weights are set directly, pairs of steps making "boxes" under a 1-D function."""
import math

import numpy as np

from ..checks import check_callable, check_int, check_pair, check_positive_int, check_real
from ..model import MLP


def box_network(f, n_boxes, interval=(0.0, 2 * math.pi)):
    """An MLP [1, 2 n_boxes, 1] whose output is a staircase of boxes under ``f``.

    Box k covers ``[x_k, x_{k+1})`` of ``n_boxes`` equal pieces of the interval
    and has the height of ``f`` at its midpoint. It is the difference of two
    step units, ``step(x - x_k) - step(x - x_{k+1})`` (hidden weights 1, biases
    ``-x_k`` and ``-x_{k+1}``), weighted ``+h_k`` and ``-h_k`` by the output layer.

    Parameters
    ----------
    f : callable
        Vectorised function of a float array.
    n_boxes : int
    interval : (float, float)

    Returns
    -------
    MLP
        activation 'step', loss 'mse' (identity output), float64.
    """
    n_boxes = check_positive_int(n_boxes, "n_boxes")
    a, b = _interval(interval)
    check_callable(f, "f", "a function of an array")
    edges = np.linspace(a, b, n_boxes + 1)
    heights = np.asarray(f(0.5 * (edges[:-1] + edges[1:])), dtype=np.float64)
    if heights.shape != (n_boxes,) or not np.isfinite(heights).all():
        raise ValueError("f must return one finite value per input point")
    model = MLP([1, 2 * n_boxes, 1], activation="step", loss="mse", dtype="float64", init="zeros")
    left, right = edges[:-1], edges[1:]
    model.set_layer(0, W=np.ones((1, 2 * n_boxes)), b=-np.concatenate([left, right]))
    model.set_layer(1, W=np.concatenate([heights, -heights])[:, None], b=np.zeros(1))
    return model


def _interval(interval):
    a, b = check_pair(interval, "interval", "a pair (a, b) of numbers")
    a, b = check_real(a, "interval[0]"), check_real(b, "interval[1]")
    if not a < b:
        raise ValueError(f"interval must have a < b; got {interval!r}")
    return a, b


def box_approximation(f=np.sin, interval=(0.0, 2 * math.pi), box_counts=(2, 4, 8, 16, 32, 64, 128),
                      n_points=2000):
    """How well box networks of growing size approximate ``f`` on the interval.

    Parameters
    ----------
    f : callable
    interval : (float, float)
    box_counts : sequence of int
    n_points : int
        Evaluation points, the midpoints of ``n_points`` equal cells.

    Returns
    -------
    dict
        ``x`` (n_points,), ``target`` f(x), ``box_counts``, ``outputs`` (one
        array per count), ``max_error`` and ``mean_error`` (lists of
        max/mean |f(x) - network(x)| per count).
    """
    a, b = _interval(interval)
    check_callable(f, "f", "a function of an array")
    n_points = check_int(n_points, "n_points", low=2)
    box_counts = [check_positive_int(n, f"box_counts[{i}]") for i, n in enumerate(box_counts)]
    x = a + (np.arange(n_points) + 0.5) * (b - a) / n_points
    target = np.asarray(f(x), dtype=np.float64)
    outputs, max_err, mean_err = [], [], []
    for n in box_counts:
        approx = box_network(f, n, (a, b)).forward(x[:, None])[:, 0]
        err = np.abs(target - approx)
        outputs.append(approx)
        max_err.append(float(err.max()))
        mean_err.append(float(err.mean()))
    return {"x": x, "target": target, "box_counts": [int(n) for n in box_counts], "outputs": outputs,
            "max_error": max_err, "mean_error": mean_err, "interval": (a, b)}
