"""Predicted class probabilities as bars for chosen samples, beside their images."""
import math

import numpy as np

from ..checks import check_choice, check_int, check_matrix, check_pair, check_positive_int
from .base import finish, new_figure

_SHAPES = {784: (28, 28), 64: (8, 8)}


def plot_probabilities(model, X, indices=None, y=None, class_names=None, image_shape="auto", title=None,
                       path=None):
    """One row per sample: its image (for image data) and a bar per class probability.

    Images are drawn as MNIST-style data are stored: light ink on a dark background (grey
    colour map, 0 black), on one scale for all of them (0 to the largest of 1 and X's maximum).

    Parameters
    ----------
    model : MLP
        A classifier.
    X : array (n, n_features)
    indices : sequence of int, optional
        Rows of X to show (default the first 6).
    y : array (n,), optional
        True class ids: the true class's bar is green, a wrong prediction red.
    class_names : sequence of str, optional
    image_shape : (h, w), 'auto' or None
        'auto' shows 784 features as 28x28 and 64 as 8x8; None shows no image.
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    X = check_matrix(X, "X", min_rows=1)
    if indices is None:
        indices = list(range(min(6, len(X))))
    else:
        indices = [check_int(i, f"indices[{k}]", -len(X), len(X) - 1) for k, i in enumerate(indices)]
        if not indices:
            raise ValueError("indices must name at least one row of X; got an empty list")
    if isinstance(image_shape, str):
        check_choice(image_shape, "image_shape", ["auto"])
        image_shape = _SHAPES.get(X.shape[1])
    elif image_shape is not None:
        h, w = check_pair(image_shape, "image_shape", "'auto', None or a pair (h, w)")
        image_shape = (check_positive_int(h, "image_shape[0]"), check_positive_int(w, "image_shape[1]"))
    if image_shape is not None and math.prod(image_shape) != X.shape[1]:
        raise ValueError(f"image_shape {tuple(image_shape)} does not hold {X.shape[1]} features")
    proba = model.predict_proba(X[indices])
    n_classes = proba.shape[1]
    names = list(class_names) if class_names is not None else [str(k) for k in range(n_classes)]
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} names for {n_classes} classes")
    ncols = 2 if image_shape is not None else 1
    lo, hi = min(0.0, float(X.min())), max(1.0, float(X.max()))  # one grey scale for every image
    fig, axes = new_figure(len(indices), ncols, 1.9 if ncols == 2 else 4.6, 1.9,
                           width_ratios=[1, 2.8] if ncols == 2 else None)
    fig.set_size_inches(7.2 if ncols == 2 else 5.0, 1.75 * len(indices) + 0.6)
    for r, i in enumerate(indices):
        p = proba[r]
        pred = int(p.argmax())
        true = None if y is None else int(np.asarray(y)[i])
        if ncols == 2:
            ax = axes[r, 0]
            ax.imshow(X[i].reshape(image_shape), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"sample {i}" + ("" if true is None else f"\ntrue: {names[true]}")
            ax.set_title(label, fontsize=8)
        ax = axes[r, -1]
        colors = ["0.7"] * n_classes
        colors[pred] = "tab:green" if true is None or pred == true else "tab:red"
        if true is not None and true != pred:
            colors[true] = "tab:green"
        ax.barh(range(n_classes), p, color=colors)
        ax.set_yticks(range(n_classes), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
        verdict = "" if true is None else (" (correct)" if pred == true else " (wrong)")
        ax.set_title(f"predicted {names[pred]} with p = {p[pred]:.2f}{verdict}", fontsize=8)
        if r == len(indices) - 1:
            ax.set_xlabel("predicted probability")
    fig.suptitle(title or "Predicted class probabilities (green: true class, red: wrong prediction)", fontsize=10)
    return finish(fig, path)
