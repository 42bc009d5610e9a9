"""Image-grid figure of dataset samples, each panel titled with its label (the class name
when known), drawn in a gray colormap as image datasets are shown."""
import math

import numpy as np

from ..checks import check_int, check_type, make_rng
from .base import finish, new_figure


def _images(X, image_shape):
    """``X`` as a stack of 2-D images: (n, h, w) as is, (n, h*w) reshaped (square when no shape is given)."""
    X = np.asarray(X)
    if X.ndim == 3:
        return X
    if X.ndim != 2:
        raise ValueError(f"X must hold images, shape (n, height, width) or (n, pixels); got shape {X.shape}")
    if image_shape is None:
        side = math.isqrt(X.shape[1])
        if side * side != X.shape[1]:
            raise ValueError(f"rows of {X.shape[1]} pixels are not square images: give image_shape=(height, width)")
        image_shape = (side, side)
    h, w = (check_int(v, f"image_shape[{i}]", low=1) for i, v in enumerate(image_shape))
    if h * w != X.shape[1]:
        raise ValueError(f"image_shape {tuple(image_shape)} holds {h * w} pixels but the rows have {X.shape[1]}")
    return X.reshape(X.shape[0], h, w)


def plot_samples(X, y=None, class_names=None, n=25, ncols=None, image_shape=None, seed=None, cmap="gray",
                 title=None, path=None):
    """A grid of ``n`` sample images, each titled with its label.

    Parameters
    ----------
    X : array (n_samples, height, width) or (n_samples, pixels), or a Dataset
        Images (uint8 or float, any range: each panel spans the data's min to max);
        a :class:`~fastmlp.datasets.Dataset` gives its training images, labels and
        class names (Fashion-MNIST, MNIST, scikit-learn's 8x8 digits, ...).
    y : array of int (n_samples,), optional
        Labels; without them the panels are titled by row index.
    class_names : sequence of str, optional
        Name of each class, shown instead of the label number.
    n : int, default 25
        Panels (at most the number of samples).
    ncols : int, optional
        Panels per row (default: about the square root of ``n``).
    image_shape : (int, int), optional
        (height, width) of flat rows that are not square images.
    seed : int, Generator or None, default None
        None shows the first ``n`` samples; a seed a random choice of them.
    cmap : str, default 'gray'
    title, path : optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if hasattr(X, "X_train") and hasattr(X, "y_train"):
        data = X
        X, y = data.X_train, data.y_train if y is None else y
        class_names = data.class_names if class_names is None else class_names
    images = _images(X, image_shape)
    total = images.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.shape != (total,):
            raise ValueError(f"y must have one label per image ({total}); got shape {y.shape}")
    if class_names is not None:
        class_names = [str(c) for c in check_type(class_names, "class_names", (list, tuple), "a list of str")]
    n = min(check_int(n, "n", low=1), total)
    ncols = math.ceil(math.sqrt(n)) if ncols is None else min(check_int(ncols, "ncols", low=1), n)
    nrows = math.ceil(n / ncols)
    picks = np.arange(n) if seed is None else np.sort(make_rng(seed).choice(total, n, replace=False))
    lo, hi = float(images.min()), float(images.max())
    fig, axes = new_figure(nrows, ncols, 1.5, 1.65)
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k >= n:
            continue
        i = picks[k]
        ax.imshow(images[i], cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(_label(i, y, class_names), fontsize=8)
    fig.suptitle(title or f"{n} samples with their labels")
    return finish(fig, path)


def _label(i, y, class_names):
    if y is None:
        return f"#{i}"
    label = int(y[i])
    if class_names is not None and 0 <= label < len(class_names):
        return class_names[label]
    return str(label)
