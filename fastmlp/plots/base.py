"""The plotting convention, in one place: a pyplot-free Figure (:func:`new_figure`),
returned by every plot function and written as PNG only when given a path
(:func:`finish`); value formatting for labels (:func:`fmt`); and the axes every figure
shares: whole epochs (:func:`epoch_axis`), readable log scales (:func:`log_axis`), the
names of the record curves (:data:`CURVE_LABELS`)."""
import math
import os

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

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
    the file replaced atomically). Without a path nothing is written.

    The figure's title and footnote (``suptitle``, ``supxlabel``) are wrapped onto more lines
    when wider than the figure, so no text is cut off.
    """
    path = check_path(path, "path", optional=True)
    _wrap_to_width(fig)
    if path is not None:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        atomic_write(path, lambda f: fig.savefig(f, dpi=dpi, format="png"))
    return fig


def _wrap_to_width(fig):
    """Rewrap the figure-level texts that are wider than the figure (constrained layout then
    makes room for the extra lines)."""
    import textwrap
    renderer = fig.canvas.get_renderer()
    room = 0.97 * fig.bbox.width
    for text in (fig._suptitle, fig._supxlabel):
        if text is None or not text.get_text():
            continue
        width = text.get_window_extent(renderer).width
        if width <= room:
            continue
        words = " ".join(text.get_text().split())
        chars = int(len(words) * room / width)
        while chars > 10:
            text.set_text(textwrap.fill(words, chars))
            if text.get_window_extent(renderer).width <= room:
                break
            chars -= 2


def fmt(v):
    """Short label for a setting value (0.05, 1e-05, 'relu', [64, 32] -> '64,32')."""
    if isinstance(v, (list, tuple)):
        return ",".join(fmt(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


#: What each record or history curve is, as axis labels and legends say it.
CURVE_LABELS = {"loss": "train loss", "accuracy": "train accuracy", "val_loss": "validation loss",
                "val_accuracy": "validation accuracy", "test_loss": "test loss", "test_accuracy": "test accuracy"}


def curve_label(key):
    """'loss' -> 'train loss', 'test_accuracy' -> 'test accuracy', other keys with spaces."""
    return CURVE_LABELS.get(key, key.replace("_", " "))


def epoch_axis(ax, label=True):
    """The x axis counts epochs: ticks on whole numbers only, labelled 'epoch' (when ``label``)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if label:
        ax.set_xlabel("epoch")


def _plain(v, _pos=None):
    """A log-axis tick as a plain number: 0.05, 0.2, 1, 30, 1e+05 (no 2x10^-1)."""
    return f"{v:g}"


def log_axis(ax, axis="y"):
    """Log scale on ``axis`` with plain-number labels (0.05, 0.2, 1; never 2x10^-1): within one
    decade the 1-2-3-5 steps are labelled, up to two decades the 1-2-5 steps, on wider ranges
    only the powers of ten, on ranges too narrow for two such steps a few evenly spaced
    values. Call after plotting."""
    getattr(ax, f"set_{axis}scale")("log")
    target = getattr(ax, f"{axis}axis")
    lo, hi = sorted(getattr(ax, f"get_{axis}lim")())
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    steps = (1.0,) if decades > 2 else (1.0, 2.0, 5.0) if decades > 1 else (1.0, 2.0, 3.0, 5.0)
    for locator in (LogLocator(base=10, subs=steps),
                    LogLocator(base=10, subs=tuple(range(1, 10))), MaxNLocator(4)):
        target.set_major_locator(locator)
        if len([t for t in target.get_majorticklocs() if lo <= t <= hi]) >= 2:
            break
    target.set_major_formatter(FuncFormatter(_plain))
    target.set_minor_formatter(NullFormatter())
