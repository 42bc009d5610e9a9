"""The plotting convention, in one place: a pyplot-free Figure (:func:`new_figure`),
returned by every plot function and written as PNG only when given a path
(:func:`finish`); plus value formatting for labels."""
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..checks import check_path
from ..files import atomic_write


def new_figure(nrows=1, ncols=1, width=5.0, height=4.0, **subplot_kw):
    """A Figure on an Agg canvas with an (nrows, ncols) grid of axes, ``width`` x ``height`` inches each."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def finish(fig, path=None, dpi=110):
    """Return ``fig``, first writing it as PNG to ``path`` when one is given (folders created,
    the file replaced atomically). Without a path nothing is written."""
    path = check_path(path, "path", optional=True)
    if path is not None:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        atomic_write(path, lambda f: fig.savefig(f, dpi=dpi, format="png"))
    return fig


def fmt(v):
    """Short label for a setting value (0.05, 1e-05, 'relu', [64, 32] -> '64,32')."""
    if isinstance(v, (list, tuple)):
        return ",".join(fmt(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
