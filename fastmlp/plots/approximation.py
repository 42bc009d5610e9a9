"""Universal approximation figures: box networks under a function of one variable and their error,
tower networks under a function of two."""
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
    where = "" if result.get("heights", "mid") == "mid" else ", heights at the left end of each box"
    fig.suptitle(title or f"Universal approximation by hand-set weights on [{a:.3g}, {b:.3g}]{where}")
    return finish(fig, path)


def plot_tower_approximation(result, title=None, path=None):
    """The target f(x, y) and its tower approximations (one panel per box count), on one colour scale.

    Parameters
    ----------
    result : dict
        As returned by ``fastmlp.experiments.tower_approximation``.
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    counts = result["box_counts"]
    images = [result["target"]] + list(result["outputs"])
    fig, axes = new_figure(1, len(images), 3.4, 3.3)
    (xa, xb), (ya, yb) = result["region"]
    lo = min(float(im.min()) for im in images)
    hi = max(float(im.max()) for im in images)
    for k, (ax, im) in enumerate(zip(axes[0], images)):
        shown = ax.imshow(im, origin="lower", extent=(xa, xb, ya, yb), vmin=lo, vmax=hi, cmap="viridis",
                          interpolation="nearest", aspect="auto")
        if k == 0:
            ax.set_title("target f(x, y)")
        else:
            n = counts[k - 1]
            ax.set_title(f"{n}x{n} towers: {2 * n + 2} + {n * n} step units\n"
                         f"max |f - net| = {result['max_error'][k - 1]:.3g}", fontsize=9)
        ax.set(xlabel="x", ylabel="y" if k == 0 else None)
    fig.colorbar(shown, ax=list(axes[0]), shrink=0.85)
    where = "box centres" if result.get("heights", "mid") == "mid" else "lower-left corners"
    fig.suptitle(title or f"Towers of step units under a function of two variables (heights at the {where})")
    return finish(fig, path)
