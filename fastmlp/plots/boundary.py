"""Decision boundary of a classifier on 2-D inputs, with the data points."""
import numpy as np

from ..checks import check_matrix, check_type
from ..datasets import grid
from .base import finish, new_figure

_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def plot_decision_boundary(model, X, y, class_names=None, resolution=200, title=None, path=None, points=None):
    """Predicted class over a mesh around the data (shaded by confidence), and the points,
    with the model's accuracy on those points.

    Parameters
    ----------
    model : MLP
        A classifier with 2 inputs.
    X : array (n, 2)
    y : array (n,) of class ids
    class_names : sequence of str, optional
    resolution : int
        Mesh lines per axis (``fastmlp.datasets.grid``).
    title : str, optional
        First line of the title; the second says the accuracy and on which points.
    path : optional PNG path
    points : str, optional
        What the points are, e.g. 'training' or 'test': the accuracy line then says
        "accuracy on the 80 test points"; without it, "on the 80 points shown".

    Returns
    -------
    matplotlib.figure.Figure
    """
    X, y = check_matrix(X, "X", n_columns=2), np.asarray(y)
    check_type(points, "points", (str, type(None)), "a str such as 'training' or 'test', or None")
    if model.layers[0] != 2:
        raise ValueError(f"the model must take 2 inputs; it takes {model.layers[0]}")
    xx, yy, mesh = grid(X, resolution)
    proba = model.predict_proba(mesh)
    fig, axes = new_figure(1, 1, 5.6, 4.8)
    ax = axes[0, 0]
    draw_boundary(ax, xx, yy, proba.reshape(*xx.shape, -1), X, y, class_names)
    acc = float((model.predict(X) == y).mean()) if len(y) else float("nan")
    which = f"the {len(y)} {points} points" if points else f"the {len(y)} points shown"
    ax.set(xlabel="$x_1$", ylabel="$x_2$",
           title=f"{title or 'Decision boundary of the trained MLP'}\naccuracy on {which}: {acc:.1%}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    ax.annotate("shading: predicted class, darker = more confident; line: boundary", xy=(0.01, 0.01),
                xycoords="axes fraction", fontsize=7, color="0.25")
    return finish(fig, path)


def draw_boundary(ax, xx, yy, proba, X, y, class_names=None, size=14):
    """Draw on ``ax`` the predicted class over the mesh (xx, yy) shaded by confidence, the
    boundary lines and the points (X, y) coloured by class, labelled for a legend.

    ``proba`` is (rows, cols, n_classes), the class probabilities at each mesh point.
    """
    n_classes = proba.shape[-1]
    pred = proba.argmax(axis=-1)
    conf = proba.max(axis=-1)
    colors = [_COLORS[i % len(_COLORS)] for i in range(n_classes)]
    rgb = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)] for c in colors])
    shade = rgb[pred] * 0.35 + 0.65  # light class colour ...
    shade = shade - (conf[..., None] - 1 / n_classes) / (1 - 1 / n_classes) * 0.2  # ... darker where confident
    ax.imshow(np.clip(shade, 0, 1), origin="lower", extent=(xx.min(), xx.max(), yy.min(), yy.max()),
              aspect="auto", interpolation="bilinear")
    if pred.min() != pred.max():
        ax.contour(xx, yy, pred, levels=np.arange(n_classes) + 0.5, colors="k", linewidths=1.2)
    names = list(class_names) if class_names is not None else [f"class {k}" for k in range(n_classes)]
    for k in range(n_classes):
        m = y == k
        ax.scatter(X[m, 0], X[m, 1], s=size, color=colors[k], edgecolors="k", linewidths=0.4, label=names[k])
