"""The learning curve's figure: loss and accuracy over the training-set size N (log scale),
on the N training rows and on the test set, mean over seeds with a band of one standard
deviation and every run as a dot."""
import numpy as np

from .base import finish, log_axis, new_figure

_SPLITS = (("train", "on the N training rows", "-"), ("test", "on the test set", "--"))


def plot_learning_curve(curve, title=None, path=None):
    """Final loss (left) and accuracy (right) against N, train and test.

    Parameters
    ----------
    curve : fastmlp.experiments.LearningCurve
    title : str, optional
    path : str or path, optional
        Write the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..experiments.learning_curve import LearningCurve
    if not isinstance(curve, LearningCurve):
        raise TypeError(f"curve must be a LearningCurve (fastmlp.experiments.learning_curve); got {curve!r}")
    fig, axes = new_figure(1, 2, 5.2, 3.9)
    sizes = np.asarray(curve.sizes, float)
    for ax, kind in zip(axes[0], ("loss", "accuracy")):
        for color, (split, label, style) in zip(("C0", "C1"), _SPLITS):
            metric = f"{split}_{kind}"
            values = curve.values(metric)
            if not np.isfinite(values).any():
                continue
            mean, std = curve.mean(metric), curve.std(metric)
            ax.plot(sizes, mean, style, color=color, lw=1.8, marker="o", ms=4, label=f"{kind} {label} (mean)")
            ax.fill_between(sizes, mean - std, mean + std, color=color, alpha=0.18, lw=0)
            for j in range(values.shape[1]):
                ax.plot(sizes, values[:, j], ".", color=color, ms=3, alpha=0.5)
        ax.set_xlabel("training-set size N (log scale)")
        ax.grid(alpha=0.3)
        if len(sizes) > 1:
            log_axis(ax, "x")
        ax.legend(fontsize=8)
    axes[0, 0].set(ylabel="final loss (mean per sample)", title="Loss")
    axes[0, 1].set(ylabel="final accuracy (fraction correct)", title="Accuracy", ylim=(-0.02, 1.02))
    n_seeds = len(curve.seeds)
    spread = f"band: one standard deviation over {n_seeds} seeds; dots: each run" if n_seeds > 1 else "one seed"
    fig.suptitle(title or "Learning curve: the influence of the training-set size N")
    fig.supxlabel(spread, fontsize=8)
    return finish(fig, path)
