"""Comparisons across one setting of a sweep: learning-rate curves and the spread
over seeds of each initialisation."""
import numpy as np
from matplotlib import colormaps

from .base import finish, fmt, new_figure
from .sweep_plots import _name


def _padded(curves):
    """Stack curves of unequal length (stopped runs) into an array padded with NaN."""
    n = max((len(c) for c in curves), default=0)
    out = np.full((len(curves), n), np.nan)
    for k, c in enumerate(curves):
        out[k, :len(c)] = c
    return out


def plot_lr_comparison(result, key="lr", curves=("loss", "test_accuracy"), title=None, path=None):
    """One line per value of ``key`` (default the learning rate): mean curve over its runs.

    Parameters
    ----------
    result : fastmlp.sweep.SweepResult
    key : str
    curves : sequence of str
        One panel per record curve.
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_figure(1, len(curves), 5.0, 3.8)
    values = result.values(key)
    cmap = colormaps["viridis"]
    for ax, c in zip(axes[0], curves):
        for k, v in enumerate(values):
            recs = result.select(**{key: v})
            ys = np.nanmean(_padded([r["curves"].get(c, []) for r in recs]), axis=0) if recs else []
            color = cmap(k / max(len(values) - 1, 1))
            div = any(r["diverged"] for r in recs)
            ax.plot(range(1, len(ys) + 1), ys, color=color, lw=1.8, ls=":" if div else "-",
                    label=f"{_name(key)} {fmt(v)}" + (" (diverged)" if div else ""))
        ax.set(xlabel="epoch", ylabel=c.replace("_", " "), title=c.replace("_", " ").capitalize())
        if "loss" in c:
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8)
    fig.suptitle(title or f"Effect of the {_name(key)} (mean over runs with the same value)")
    return finish(fig, path)


def plot_init_sensitivity(result, key="init", curve="loss", metric="test_accuracy", title=None, path=None):
    """Spread over seeds per value of ``key``: mean curve with a min-max band, and final values.

    Parameters
    ----------
    result : fastmlp.sweep.SweepResult
        Usually a sweep over ``init`` x ``seed``.
    key : str
    curve : str
        Record curve of the left panel.
    metric : str
        Final metric of the right panel, one dot per run.
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_figure(1, 2, 5.0, 3.8)
    ax, ax2 = axes[0]
    values = result.values(key)
    for k, v in enumerate(values):
        recs = result.select(**{key: v})
        ys = _padded([r["curves"].get(curve, []) for r in recs])
        x = np.arange(1, ys.shape[1] + 1)
        color = f"C{k % 10}"
        if ys.size:
            ax.plot(x, np.nanmean(ys, axis=0), color=color, lw=1.8, label=f"{fmt(v)} ({len(recs)} seeds)")
            ax.fill_between(x, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=color, alpha=0.2, lw=0)
        finals = [r[metric] for r in recs]
        jitter = np.linspace(-0.15, 0.15, len(finals)) if len(finals) > 1 else [0.0]
        ax2.scatter(k + np.asarray(jitter), finals, color=color, s=22, edgecolors="k", linewidths=0.4)
        if finals:
            ax2.hlines(np.nanmean(finals), k - 0.25, k + 0.25, color="k", lw=1.5)
    ax.set(xlabel="epoch", ylabel=curve.replace("_", " "), title=f"{curve.replace('_', ' ').capitalize()}: "
           "mean and min-max over seeds")
    if "loss" in curve:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=_name(key), title_fontsize=8)
    ax2.set_xticks(range(len(values)), [fmt(v) for v in values], rotation=20)
    ax2.set(xlabel=_name(key), ylabel=metric.replace("_", " "),
            title=f"Final {metric.replace('_', ' ')} per seed (bar = mean)")
    ax2.grid(alpha=0.3, axis="y")
    fig.suptitle(title or f"Sensitivity to the {_name(key)} across random seeds")
    return finish(fig, path)
