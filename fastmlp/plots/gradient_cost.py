"""Cost-of-a-gradient figure: backprop versus finite differences as nets grow."""
from collections import Counter

import numpy as np

from .base import finish, log_axis, new_figure

_SERIES = (("backprop_seconds", "backpropagation (1 forward + 1 backward)", "C0", "o-"),
           ("fd_forward_seconds", "forward differences (P + 1 forward passes)", "C1", "s--"),
           ("fd_central_seconds", "central differences (2P forward passes)", "C3", "^--"))


def _reference(ax, P, seconds, power, label, style):
    """A grey line through the first point growing as P**power."""
    P = np.asarray(P, float)
    ax.plot(P, seconds[0] * (P / P[0]) ** power, style, color="0.45", lw=1, label=label)


def plot_gradient_cost(results, title=None, path=None):
    """Seconds per full gradient against the parameter count P (log-log), for nets growing in
    depth (left) and in width (right), with lines growing as P and as P squared for reference.

    Parameters
    ----------
    results : list of dict
        As returned by ``fastmlp.experiments.gradient_cost``: the most common
        width gives the depth panel, the most common depth the width panel.
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not results:
        raise ValueError("results is empty: run fastmlp.experiments.gradient_cost first")
    width0 = Counter(r["width"] for r in results).most_common(1)[0][0]
    depth0 = Counter(r["depth"] for r in results).most_common(1)[0][0]
    fig, axes = new_figure(1, 2, 5.2, 4.2)
    for ax, key, fixed in ((axes[0, 0], "depth", ("width", width0)), (axes[0, 1], "width", ("depth", depth0))):
        rows = sorted((r for r in results if r[fixed[0]] == fixed[1]), key=lambda r: r["n_params"])
        P = [r["n_params"] for r in rows]
        for s_key, label, color, style in _SERIES:
            ax.plot(P, [r[s_key] for r in rows], style, color=color, label=label, ms=4)
        if len(rows) > 1:
            _reference(ax, P, [r["backprop_seconds"] for r in rows], 1, "grows as P", ":")
            _reference(ax, P, [r["fd_central_seconds"] for r in rows], 2, "grows as P squared", "-.")
        for r in rows:
            ax.annotate(f"{key[0]}={r[key]}", (r["n_params"], r["backprop_seconds"]), textcoords="offset points",
                        xytext=(0, -11), fontsize=7, ha="center", color="C0")
        ax.set(xlabel=f"parameters P (log scale); nets of {fixed[0]} {fixed[1]}, {key} {key[0]} as marked",
               title=f"Growing the {key}" + (" (hidden layers)" if key == "depth" else " (units per layer)"))
        ax.margins(x=0.08, y=0.12)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_ylabel("seconds per full gradient (log scale)")
        ax.grid(alpha=0.3, which="major")
    axes[0, 1].legend(fontsize=7, loc="upper left")  # the empty corner: the lines start low on the left
    k = min(r["fd_timed_params"] for r in results)
    n = results[0].get("n_samples")
    timing = results[0].get("timing", "medians of repeated runs")
    fig.suptitle(title or "Cost of one gradient: backprop grows about as the parameter count P (slower while fixed "
                 "costs dominate),\nfinite differences as P squared", fontsize=10)
    fig.supxlabel(f"Finite differences timed on {k} randomly chosen parameters and scaled by P/{k}; tanh nets, "
                  "float64" + (f", batch of {n}" if n else "") + f"; {timing}.", fontsize=8, color="0.3")
    return finish(fig, path)
