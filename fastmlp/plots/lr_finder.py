"""The learning-rate range test's figure: loss against learning rate on a log axis, the
suggested rate marked (see ``fastmlp.lr_finder``)."""
from .base import finish, log_axis, new_figure


def plot_lr_finder(result, ax=None, path=None, title=None):
    """Each batch's loss (faint) and the smoothed loss (bold) against its learning rate, with
    a marker and a vertical line at the suggestion.

    Parameters
    ----------
    result : LRFinderResult
        What ``fastmlp.lr_finder`` returned.
    ax : matplotlib Axes, optional
        Draw into these axes (of the caller's figure, returned as it is unless ``path`` is
        given); by default a new figure.
    path : str or path, optional
        Write the figure here as PNG.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    own = ax is None
    if own:
        fig, axes = new_figure(1, 1, 5.6, 4.0)
        ax = axes[0, 0]
    else:
        fig = ax.figure
    ax.plot(result.lrs, result.losses, color="C0", lw=0.8, alpha=0.35, label="batch loss")
    ax.plot(result.lrs, result.smoothed, color="C0", lw=2.0, label="smoothed loss")
    at = min(range(len(result.lrs)), key=lambda i: abs(result.lrs[i] - result.suggestion))
    ax.axvline(result.suggestion, color="C3", ls="--", lw=1.2)
    ax.plot([result.suggestion], [result.smoothed[at]], "o", color="C3", ms=7,
            label=f"suggestion: lr = {result.suggestion:.3g}")
    # the curve above 2x its start (the divergence that stopped the test) would flatten the rest
    top = 2.0 * result.smoothed[0]
    bottom = min(result.losses.min(), result.smoothed.min())
    if top > bottom:
        ax.set_ylim(bottom - 0.05 * (top - bottom), top)
    log_axis(ax, "x")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss (mean per sample in the batch)")
    ax.set_title(title or "Learning-rate range test")
    ax.legend(loc="upper left", fontsize="small")
    return finish(fig, path) if own or path is not None else fig  # the caller's figure is theirs to lay out
