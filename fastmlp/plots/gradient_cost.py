"""Cost-of-a-gradient figure: backprop versus finite differences as nets grow."""
from collections import Counter

from matplotlib.ticker import NullLocator

from .base import finish, new_figure


def plot_gradient_cost(results, title=None, path=None):
    """Seconds per full gradient on a log scale, against depth (left) and width (right).

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
    fig, axes = new_figure(1, 2, 5.2, 4.0)
    series = (("backprop_seconds", "backpropagation (1 forward + 1 backward)", "C0", "o-"),
              ("fd_forward_seconds", "forward differences (P + 1 forward passes)", "C1", "s--"),
              ("fd_central_seconds", "central differences (2P forward passes)", "C3", "^--"))
    for ax, key, fixed, other in ((axes[0, 0], "depth", ("width", width0), "width"),
                                  (axes[0, 1], "width", ("depth", depth0), "depth")):
        rows = sorted((r for r in results if r[fixed[0]] == fixed[1]), key=lambda r: r[key])
        xs = [r[key] for r in rows]
        for s_key, label, color, style in series:
            ax.plot(xs, [r[s_key] for r in rows], style, color=color, label=label, ms=4)
        for r in rows:
            ax.annotate(f"P={r['n_params']:,}", (r[key], r["fd_central_seconds"]), textcoords="offset points",
                        xytext=(0, 6), fontsize=6.5, ha="center", color="0.35")
        ax.set(xscale="log", yscale="log", xlabel=f"{key} ({'hidden layers' if key == 'depth' else 'units per layer'}"
               f", {fixed[0]} {fixed[1]})", ylabel="seconds per full gradient (log scale)",
               title=f"Growing the {key}")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=7.5, loc="upper left")
    k = min(r["fd_timed_params"] for r in results)
    n = results[0].get("n_samples")
    fig.suptitle(title or "Cost of one gradient: backprop is linear in the parameter count P, finite differences "
                 "quadratic", fontsize=10)
    fig.text(0.5, -0.01, f"Finite differences timed on {k} randomly chosen parameters and scaled by P/{k}; "
             "tanh nets, float64" + (f", batch of {n}" if n else "") + "; medians of repeated runs.",
             ha="center", va="top", fontsize=8, color="0.3")
    return finish(fig, path)
