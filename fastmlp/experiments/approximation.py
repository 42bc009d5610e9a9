"""Universal approximation by hand: networks of step units whose weights are set directly,
pairs of steps making "boxes" under a 1-D function (:func:`box_network`) and, one layer
deeper, "towers" under a function of two variables (:func:`box_network_2d`, the
construction of Nielsen's *Neural Networks and Deep Learning*, chapter 4)."""
import math

import numpy as np

from ..checks import check_callable, check_choice, check_int, check_pair, check_positive_int, check_real
from ..model import MLP

#: Where a box takes its height: the left end (lower-left corner in 2-D) or the middle.
HEIGHTS = ("left", "mid")


def _edges_and_points(a, b, n, heights):
    """The n + 1 edges of n equal boxes on [a, b] and the point of each box where f is read."""
    edges = np.linspace(a, b, n + 1)
    return edges, (edges[:-1] if heights == "left" else 0.5 * (edges[:-1] + edges[1:]))


def _finite_values(values, shape, what):
    values = np.asarray(values, dtype=np.float64)
    if values.shape != shape or not np.isfinite(values).all():
        raise ValueError(f"f must return one finite value per input point ({what})")
    return values


def box_network(f, n_boxes, interval=(0.0, 2 * math.pi), heights="mid"):
    """An MLP [1, 2 n_boxes, 1] whose output is a staircase of boxes under ``f``.

    Box k covers ``[x_k, x_{k+1})`` of ``n_boxes`` equal pieces of the interval
    and has the height of ``f`` at its midpoint (``heights='mid'``, the default:
    the error is at most max|f'| times half a box) or at its left end
    (``heights='left'``, the lab report's choice: a left Riemann sum, error up
    to max|f'| times a whole box). It is the difference of two step units,
    ``step(x - x_k) - step(x - x_{k+1})`` (hidden weights 1, biases ``-x_k``
    and ``-x_{k+1}``), weighted ``+h_k`` and ``-h_k`` by the output layer.

    Parameters
    ----------
    f : callable
        Vectorised function of a float array.
    n_boxes : int
    interval : (float, float)
    heights : {'mid', 'left'}, default 'mid'

    Returns
    -------
    MLP
        activation 'step', loss 'mse' (identity output), float64.
    """
    n_boxes = check_positive_int(n_boxes, "n_boxes")
    a, b = _interval(interval)
    check_callable(f, "f", "a function of an array")
    check_choice(heights, "heights", HEIGHTS)
    edges, points = _edges_and_points(a, b, n_boxes, heights)
    h = _finite_values(f(points), (n_boxes,), "an array of n_boxes values")
    model = MLP([1, 2 * n_boxes, 1], activation="step", loss="mse", dtype="float64", init="zeros")
    left, right = edges[:-1], edges[1:]
    model.set_layer(0, W=np.ones((1, 2 * n_boxes)), b=-np.concatenate([left, right]))
    model.set_layer(1, W=np.concatenate([h, -h])[:, None], b=np.zeros(1))
    return model


def box_network_2d(f, n_boxes, region=((0.0, 1.0), (0.0, 1.0)), heights="mid"):
    """An MLP [2, nx + ny + 2, nx ny, 1] of step units whose output is a field of towers under ``f(x, y)``.

    The region is cut into ``nx`` x ``ny`` equal boxes ``[x_i, x_{i+1}) x [y_j, y_{j+1})``;
    the tower on box (i, j) has the height of ``f`` at the box's centre (``heights='mid'``)
    or at its lower-left corner (``heights='left'``). As in Nielsen's chapter 4, each tower
    is built from step units: the first hidden layer holds one step per edge,
    ``step(x - x_i)`` and ``step(y - y_j)`` (shared by neighbouring towers); a unit of the
    second layer adds ``step(x - x_i) - step(x - x_{i+1}) + step(y - y_j) - step(y - y_{j+1})``,
    which is 2 inside the box, 1 on the cross through it and 0 elsewhere, and fires
    (a step with bias -1.5) only inside; the output layer weights it by the tower's height.
    Outside the region the output is 0.

    Parameters
    ----------
    f : callable
        ``f(x, y)`` of two float arrays of the same shape, vectorised.
    n_boxes : int or (int, int)
        Boxes along x and y (one int: the same along both).
    region : ((float, float), (float, float))
        ``((x_min, x_max), (y_min, y_max))``.
    heights : {'mid', 'left'}, default 'mid'

    Returns
    -------
    MLP
        activation 'step' on both hidden layers, loss 'mse', float64; the second hidden
        unit of box (i, j) is ``i * ny + j``.
    """
    nx, ny = _box_counts(n_boxes)
    (xa, xb), (ya, yb) = _region(region)
    check_callable(f, "f", "a function f(x, y) of two arrays")
    check_choice(heights, "heights", HEIGHTS)
    x_edges, x_points = _edges_and_points(xa, xb, nx, heights)
    y_edges, y_points = _edges_and_points(ya, yb, ny, heights)
    px, py = np.meshgrid(x_points, y_points, indexing="ij")
    h = _finite_values(f(px, py), (nx, ny), "an (nx, ny) array on an (nx, ny) grid")
    n_steps = (nx + 1) + (ny + 1)
    model = MLP([2, n_steps, nx * ny, 1], activation="step", loss="mse", dtype="float64", init="zeros")
    W0 = np.zeros((2, n_steps))
    W0[0, : nx + 1] = 1.0  # step(x - x_i)
    W0[1, nx + 1:] = 1.0  # step(y - y_j)
    model.set_layer(0, W=W0, b=-np.concatenate([x_edges, y_edges]))
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    unit = (i * ny + j).ravel()
    W1 = np.zeros((n_steps, nx * ny))
    for step_unit, sign in ((i, 1.0), (i + 1, -1.0), (nx + 1 + j, 1.0), (nx + 2 + j, -1.0)):
        W1[step_unit.ravel(), unit] = sign
    model.set_layer(1, W=W1, b=np.full(nx * ny, -1.5))
    model.set_layer(2, W=h.reshape(-1, 1), b=np.zeros(1))
    return model


def _box_counts(n_boxes):
    if isinstance(n_boxes, (tuple, list)):
        nx, ny = check_pair(n_boxes, "n_boxes", "a positive int or a pair (nx, ny) of them")
        return check_positive_int(nx, "n_boxes[0]"), check_positive_int(ny, "n_boxes[1]")
    n = check_positive_int(n_boxes, "n_boxes")
    return n, n


def _region(region):
    pair = check_pair(region, "region", "a pair ((x_min, x_max), (y_min, y_max))")
    return tuple(_interval(side, f"region[{k}]") for k, side in enumerate(pair))


def _interval(interval, name="interval"):
    a, b = check_pair(interval, name, "a pair (a, b) of numbers")
    a, b = check_real(a, f"{name}[0]"), check_real(b, f"{name}[1]")
    if not a < b:
        raise ValueError(f"{name} must have a < b; got {interval!r}")
    return a, b


def box_approximation(f=np.sin, interval=(0.0, 2 * math.pi), box_counts=(2, 4, 8, 16, 32, 64, 128),
                      n_points=2000, heights="mid"):
    """How well box networks of growing size approximate ``f`` on the interval.

    Parameters
    ----------
    f : callable
    interval : (float, float)
    box_counts : sequence of int
    n_points : int
        Evaluation points, the midpoints of ``n_points`` equal cells.
    heights : {'mid', 'left'}, default 'mid'
        Where each box reads ``f`` (see :func:`box_network`).

    Returns
    -------
    dict
        ``x`` (n_points,), ``target`` f(x), ``box_counts``, ``outputs`` (one
        array per count), ``max_error`` and ``mean_error`` (lists of
        max/mean |f(x) - network(x)| per count), ``interval``, ``heights``.
    """
    a, b = _interval(interval)
    check_callable(f, "f", "a function of an array")
    n_points = check_int(n_points, "n_points", low=2)
    box_counts = [check_positive_int(n, f"box_counts[{i}]") for i, n in enumerate(box_counts)]
    check_choice(heights, "heights", HEIGHTS)
    x = a + (np.arange(n_points) + 0.5) * (b - a) / n_points
    target = np.asarray(f(x), dtype=np.float64)
    outputs, max_err, mean_err = _compare(
        target, box_counts, lambda n: box_network(f, n, (a, b), heights).forward(x[:, None])[:, 0])
    return {"x": x, "target": target, "box_counts": [int(n) for n in box_counts], "outputs": outputs,
            "max_error": max_err, "mean_error": mean_err, "interval": (a, b), "heights": heights}


def tower_approximation(f=None, region=((-1.0, 1.0), (-1.0, 1.0)), box_counts=(4, 8, 16), resolution=120,
                        heights="mid"):
    """How well tower networks (:func:`box_network_2d`) of growing size approximate ``f(x, y)``.

    Parameters
    ----------
    f : callable, optional
        ``f(x, y)`` of two arrays; default a smooth bump ``exp(-2 (x^2 + y^2)) cos(2 x)``.
    region : ((float, float), (float, float))
    box_counts : sequence of int
        Boxes along each axis.
    resolution : int
        Evaluation points per axis, the centres of ``resolution`` equal cells.
    heights : {'mid', 'left'}, default 'mid'

    Returns
    -------
    dict
        ``x``, ``y`` (resolution,), ``target`` (resolution, resolution) indexed [y, x]
        (image rows are y), ``box_counts``, ``outputs`` (one such image per count),
        ``max_error``, ``mean_error`` (lists), ``region``, ``heights``.
    """
    if f is None:
        f = _bump
    check_callable(f, "f", "a function f(x, y) of two arrays")
    (xa, xb), (ya, yb) = _region(region)
    resolution = check_int(resolution, "resolution", low=2)
    box_counts = [check_positive_int(n, f"box_counts[{i}]") for i, n in enumerate(box_counts)]
    check_choice(heights, "heights", HEIGHTS)
    x = xa + (np.arange(resolution) + 0.5) * (xb - xa) / resolution
    y = ya + (np.arange(resolution) + 0.5) * (yb - ya) / resolution
    yy, xx = np.meshgrid(y, x, indexing="ij")
    target = _finite_values(f(xx, yy), xx.shape, "an array shaped like its inputs")
    points = np.column_stack([xx.ravel(), yy.ravel()])
    outputs, max_err, mean_err = _compare(
        target, box_counts,
        lambda n: box_network_2d(f, n, ((xa, xb), (ya, yb)), heights).forward(points)[:, 0].reshape(xx.shape))
    return {"x": x, "y": y, "target": target, "box_counts": [int(n) for n in box_counts], "outputs": outputs,
            "max_error": max_err, "mean_error": mean_err, "region": ((xa, xb), (ya, yb)), "heights": heights}


def _compare(target, box_counts, approximate):
    """Outputs of ``approximate(n)`` for each box count, and their max and mean |target - output|."""
    outputs = [approximate(n) for n in box_counts]
    errors = [np.abs(target - out) for out in outputs]
    return outputs, [float(e.max()) for e in errors], [float(e.mean()) for e in errors]


def _bump(x, y):
    return np.exp(-2.0 * (x ** 2 + y ** 2)) * np.cos(2.0 * x)
