"""Comparisons across one setting of a sweep: learning-rate curves and the spread
over seeds of each initialisation."""
import numpy as np
from matplotlib import colormaps

from .base import curve_label, epoch_axis, finish, fmt, log_axis, new_figure
from .sweep_plots import _averaged, _name


def _padded(curves):
    """Stack curves of unequal length (stopped runs) into an array padded with NaN."""
    n = max((len(c) for c in curves), default=0)
    out = np.full((len(curves), n), np.nan)
    for k, c in enumerate(curves):
        out[k, :len(c)] = c
    return out


def plot_lr_comparison(result, key="lr", curves=("loss", "test_accuracy"), title=None, path=None):
    """One line per value of ``key`` (default the learning rate): the mean curve of its runs,
    which average over the sweep's other settings (e.g. the batch sizes; the title says which).

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
                    marker="o" if len(ys) < 8 else None, ms=3,
                    label=f"{_name(key)} {fmt(v)}" + (" (a run diverged)" if div else ""))
        ax.set(ylabel=curve_label(c), title=curve_label(c).capitalize())
        epoch_axis(ax)
        if "loss" in c:
            drawn = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in ax.lines] or [np.ones(1)])
            drawn = drawn[np.isfinite(drawn)]
            if drawn.size and drawn.min() > 0:
                log_axis(ax)
                ax.set_ylabel(f"{curve_label(c)} (log scale)")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8)
    others = _averaged(result, (key,))
    fig.suptitle(title or f"Effect of the {_name(key)}: mean curve of the runs with each value"
                 + (f"\naveraged over {others}" if others else ""))
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
    ax.set(ylabel=curve_label(curve), title=f"{curve_label(curve).capitalize()}: mean and min-max over seeds")
    epoch_axis(ax)
    if "loss" in curve and all(v > 0 for r in result.records for v in r["curves"].get(curve, [])):
        log_axis(ax)
        ax.set_ylabel(f"{curve_label(curve)} (log scale)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=_name(key), title_fontsize=8)
    ax2.set_xticks(range(len(values)), [fmt(v) for v in values], rotation=20)
    ax2.set(xlabel=_name(key), ylabel=f"final {curve_label(metric)}",
            title=f"Final {curve_label(metric)} per seed (bar = mean)")
    ax2.grid(alpha=0.3, axis="y")
    fig.suptitle(title or f"Sensitivity to the {_name(key)} across random seeds")
    return finish(fig, path)
