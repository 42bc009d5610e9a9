"""The grid study's figures: heatmaps of final accuracy and of wall time over two
settings (diverged cells hatched), and small multiples of the loss curves."""
import math

import numpy as np

from .base import curve_label, epoch_axis, finish, fmt, log_axis, new_figure

_LABELS = {"test_accuracy": "final test accuracy", "train_accuracy": "final training accuracy",
           "val_accuracy": "final validation accuracy", "test_loss": "final test loss",
           "train_loss": "final training loss", "val_loss": "final validation loss",
           "seconds": "training wall time (s), compile excluded", "epochs_run": "epochs run"}
_NAMES = {"batch_size": "batch size", "lr": "learning rate", "init": "initialisation"}


def _name(key):
    return _NAMES.get(key, key.replace("_", " "))


def _heatmap(fig, ax, result, row, col, metric, cmap, fmt_value):
    rows, cols, values, diverged = result.table(row, col, metric)
    finite = values[np.isfinite(values)]
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0, 1)
    if metric.endswith("accuracy"):
        vmin, vmax = 0.0, 1.0
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fig.colorbar(im, ax=ax, label=_LABELS.get(metric, metric))
    ax.set_xticks(range(len(cols)), [fmt(c) for c in cols])
    ax.set_yticks(range(len(rows)), [fmt(r) for r in rows])
    ax.set(xlabel=_name(col), ylabel=_name(row))
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = values[i, j]
            if diverged[i, j]:
                ax.add_patch(_hatch(j, i))
            text = ("div" + ("\n" if not math.isnan(v) else "")) if diverged[i, j] else ""
            if not math.isnan(v):
                text += fmt_value(v)
            shade = (v - vmin) / (vmax - vmin) if vmax > vmin and not math.isnan(v) else 0.5
            color = "white" if (shade < 0.45 if cmap == "viridis" else shade > 0.55) else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="red" if diverged[i, j] else color,
                    fontweight="bold" if diverged[i, j] else "normal")


def _hatch(x, y):
    from matplotlib.patches import Rectangle
    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", edgecolor="red", lw=0)


def plot_sweep_heatmaps(result, row="batch_size", col="lr", metric="test_accuracy", title=None, path=None):
    """Heatmaps over two settings of the final ``metric`` and of the wall time.

    Cells average over the sweep's other settings (e.g. seeds); a cell where a
    run diverged is hatched in red and labelled "div" (its value is that of
    the last finite weights). The wall time is each run's ``fit`` (its per-epoch test
    evaluation included); the kernels were loaded or compiled by a warm-up fit before it
    (:func:`fastmlp.sweep.run_one`), so compile time is not in it.

    Parameters
    ----------
    result : fastmlp.sweep.SweepResult
    row, col : str
        Settings on the y and x axes.
    metric : str
        A record metric, e.g. 'test_accuracy', 'train_accuracy', 'val_loss'.
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = new_figure(1, 2, 5.4, 4.2)
    _heatmap(fig, axes[0, 0], result, row, col, metric, "viridis", lambda v: f"{v:.2f}")
    axes[0, 0].set_title(_LABELS.get(metric, metric).capitalize())
    _heatmap(fig, axes[0, 1], result, row, col, "seconds", "magma_r", lambda v: f"{v:.2g}")
    axes[0, 1].set_title("Training wall time (s), compile excluded")
    epochs = sorted({r["params"].get("epochs") for r in result.records} - {None})
    others = _averaged(result, (row, col))
    fig.suptitle(title or f"{_name(row).capitalize()} x {_name(col)} study"
                 + (f" ({fmt(epochs[0])} epochs)" if len(epochs) == 1 else ""))
    fig.supxlabel("hatched, 'div': diverged (value of the last finite weights); wall time: each run's fit after "
                  "a warm-up fit that loaded or compiled the kernels" + (f"; cells average over {others}" if others
                                                                          else ""), fontsize=8, color="0.3")
    return finish(fig, path)


def _averaged(result, shown):
    """'seed (3 values)': the varied settings a figure averages over (not among ``shown``)."""
    others = [k for k in result.varied if k not in shown and len(result.values(k)) > 1]
    return ", ".join(f"{_name(k)} ({len(result.values(k))} values)" for k in others)


def plot_sweep_curves(result, row="batch_size", col="lr", curves=("loss", "test_loss"), title=None, path=None):
    """Small multiples: one panel per (row, col) cell with its runs' curves per epoch.

    Parameters
    ----------
    result : fastmlp.sweep.SweepResult
    row, col : str
    curves : sequence of str
        Record curves to draw: 'loss' (training), 'test_loss', 'val_loss', 'accuracy', ...
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows, cols = result.values(row), result.values(col)
    fig, axes = new_figure(len(rows), len(cols), 1.9, 1.5, sharex=True, sharey=True)
    fig.set_size_inches(max(6.0, 1.9 * len(cols) + 1.2), max(3.0, 1.5 * len(rows) + 1.4))
    styles = {c: (f"C{k}", "-" if k == 0 else "--") for k, c in enumerate(curves)}
    values = [v for r in result.records for c in curves for v in r["curves"].get(c, [])]
    positive = bool(values) and all(v > 0 for v in values)
    for i, rv in enumerate(rows):
        for j, cv in enumerate(cols):
            ax = axes[i, j]
            recs = result.select(**{row: rv, col: cv})
            for rec in recs:
                for c in curves:
                    ys = rec["curves"].get(c, [])
                    ax.plot(range(1, len(ys) + 1), ys, color=styles[c][0], ls=styles[c][1], lw=1.2,
                            marker="o" if len(ys) < 8 else None, ms=2.5)
            if any(r["diverged"] for r in recs):
                ax.set_facecolor("#fde0e0")
                ax.text(0.5, 0.5, "diverged", transform=ax.transAxes, ha="center", va="center", color="red",
                        fontsize=9, fontweight="bold")
            if i == 0:
                ax.set_title(f"{_name(col)} {fmt(cv)}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{_name(row)} {fmt(rv)}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            epoch_axis(ax, label=i == len(rows) - 1)
    if positive:
        log_axis(axes[0, 0])
    handles = [axes[0, 0].plot([], [], color=s[0], ls=s[1])[0] for s in styles.values()]
    fig.legend(handles, [curve_label(c) for c in curves], loc="outside lower center", ncols=len(curves),
               fontsize=8)
    what = " and ".join(curve_label(c) for c in curves)
    fig.supylabel(f"{what}{' (log scale)' if positive else ''}", fontsize=9)
    fig.suptitle(title or f"{what.capitalize()} per epoch\nfor each {_name(row)} (rows) and {_name(col)} (columns)",
                 fontsize=10)
    return finish(fig, path)
