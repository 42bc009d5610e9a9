"""Shared figure helpers: a pyplot-free Figure, saving to PNG, value formatting."""
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(nrows=1, ncols=1, width=5.0, height=4.0, **subplot_kw):
    """A Figure on an Agg canvas with an (nrows, ncols) grid of axes, ``width`` x ``height`` inches each."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def finish(fig, path=None, dpi=110):
    """Save ``fig`` as PNG to ``path`` (folders created) when given; return the Figure."""
    if path is not None:
        path = os.fspath(path)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path, dpi=dpi, format="png")
    return fig


def fmt(v):
    """Short label for a setting value (0.05, 1e-05, 'relu', [64, 32] -> '64,32')."""
    if isinstance(v, (list, tuple)):
        return ",".join(fmt(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
