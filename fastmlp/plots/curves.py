"""Training curves: loss and accuracy per epoch, training versus validation."""
import math

from ..history import History
from .base import epoch_axis, finish, log_axis, new_figure


def _runs(histories, labels):
    if isinstance(histories, History):
        histories = [histories]
    if isinstance(histories, dict):
        labels, histories = list(histories), list(histories.values())
    histories = list(histories)
    if not histories or not all(isinstance(h, History) for h in histories):
        raise TypeError("histories must be a History, a list of them or a dict label -> History")
    if labels is None:
        labels = [""] * len(histories) if len(histories) == 1 else [f"run {i + 1}" for i in range(len(histories))]
    if len(labels) != len(histories):
        raise ValueError(f"got {len(labels)} labels for {len(histories)} histories")
    return histories, labels


def plot_history(histories, labels=None, title=None, path=None):
    """Loss and accuracy per epoch (counted from 1), training (solid) and validation (dashed).

    Parameters
    ----------
    histories : History, list of History or dict {label: History}
    labels : list of str, optional
    title : str, optional
    path : str or path, optional
        Write the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    histories, labels = _runs(histories, labels)
    fig, axes = new_figure(1, 2, 5.2, 3.8)
    colors = [f"C{i % 10}" for i in range(len(histories))]
    for h, label, c in zip(histories, labels, colors):
        epochs = [e + 1 for e in h["epoch"]]
        for ax, key in zip(axes[0], ("loss", "accuracy")):
            prefix = f"{label}: " if label else ""
            ax.plot(epochs, h[key], color=c, lw=1.8, marker="o" if len(epochs) < 8 else None, ms=3,
                    label=f"{prefix}train {key}")
            val = h[f"val_{key}"]
            if any(not math.isnan(v) for v in val):
                ax.plot(epochs, val, color=c, lw=1.8, ls="--", marker="o" if len(epochs) < 8 else None, ms=3,
                        label=f"{prefix}validation {key}")
            if h.diverged and epochs:
                ax.plot(epochs[-1], h[key][-1], "x", color="red", ms=9, mew=2)
    ax_loss, ax_acc = axes[0]
    ax_loss.set(ylabel="loss (mean per sample)", title="Loss")
    ax_acc.set(ylabel="accuracy (fraction correct)", title="Accuracy", ylim=(-0.02, 1.02))
    if all(min(h["loss"], default=1) > 0 for h in histories) and any(len(h) > 1 for h in histories):
        log_axis(ax_loss)
        ax_loss.set_ylabel("loss (mean per sample, log scale)")
    for ax in axes[0]:
        epoch_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if any(h.diverged for h in histories):
        ax_loss.annotate("x = diverged (stopped)", xy=(0.02, 0.02), xycoords="axes fraction", color="red", fontsize=8)
    fig.suptitle(title or "Training curves")
    return finish(fig, path)
