"""Universal approximation figure: box networks under a function, and their error."""
import numpy as np

from .base import finish, new_figure


def plot_box_approximation(result, show=(4, 16, 64), title=None, path=None):
    """Left: the function and box approximations for a few box counts; right: error vs boxes (log-log).

    Parameters
    ----------
    result : dict
        As returned by ``fastmlp.experiments.box_approximation``.
    show : sequence of int
        Box counts drawn on the left (those present in the result).
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    counts = result["box_counts"]
    show = [n for n in show if n in counts] or counts[: min(3, len(counts))]
    fig, axes = new_figure(1, 2, 5.2, 3.9)
    ax, ax2 = axes[0]
    x = result["x"]
    ax.plot(x, result["target"], color="k", lw=2.2, label="target f(x)")
    for k, n in enumerate(show):
        ax.plot(x, result["outputs"][counts.index(n)], color=f"C{k}", lw=1.2,
                label=f"{n} boxes ({2 * n} step units)")
    ax.set(xlabel="x", ylabel="f(x) and network output", title="Network of step-unit pairs (boxes)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax2.loglog(counts, result["max_error"], "o-", label="max |f - net|")
    ax2.loglog(counts, result["mean_error"], "s-", label="mean |f - net|")
    c = np.asarray(counts, float)
    ref = result["max_error"][0] * c[0] / c
    ax2.loglog(c, ref, "k:", lw=1, label="slope -1 (error ~ 1/boxes)")
    ax2.set(xlabel="number of boxes (hidden units / 2)", ylabel="absolute error", title="Error shrinks as boxes grow")
    ax2.set_xticks(counts, [str(n) for n in counts])
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3, which="both")
    a, b = result.get("interval", (x.min(), x.max()))
    fig.suptitle(title or f"Universal approximation by hand-set weights on [{a:.3g}, {b:.3g}]")
    return finish(fig, path)
