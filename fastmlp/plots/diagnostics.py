"""The per-layer diagnostics' figure: one panel per statistic (activation mean and variance,
weight-gradient variance, delta variance, dead units), one line per layer over the epochs."""
import numpy as np

from .base import epoch_axis, finish, log_axis, new_figure

#: Panel title and y label of each statistic of ``fastmlp.diagnostics.STATS``.
PANELS = {"act_mean": ("Activation mean", "mean of the layer's outputs"),
          "act_var": ("Activation variance", "variance of the layer's outputs"),
          "grad_var": ("Weight-gradient variance", "variance of dL/dW"),
          "delta_var": ("Back-propagated delta variance", "variance of dL/dz per row"),
          "dead": ("Dead units", "fraction of units 0 on every probe row")}


def plot_layer_diagnostics(diagnostics, title=None, path=None):
    """The statistics of a :class:`fastmlp.diagnostics.LayerDiagnostics` over the epochs.

    Variances use a log scale when all are positive; statistics not recorded (delta
    variance with ``deltas=False``) get no panel; epoch 0 is the initial weights.

    Parameters
    ----------
    diagnostics : LayerDiagnostics
        After a fit with it as a callback.
    title : str, optional
    path : str or path, optional
        Write the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..diagnostics import LayerDiagnostics
    from ..recorder import check_recorded
    check_recorded(diagnostics, "diagnostics", LayerDiagnostics)
    data = diagnostics.as_arrays()
    shown = [s for s in PANELS if np.isfinite(data[s]).any()]
    ncols = min(3, len(shown))
    nrows = -(-len(shown) // ncols)
    fig, axes = new_figure(nrows, ncols, 4.3, 3.3)
    epochs = data["epoch"]
    marker = "o" if len(epochs) < 12 else None
    for ax, stat in zip(axes.flat, shown):
        values = data[stat]
        for l, name in enumerate(diagnostics.layer_names):
            if np.isfinite(values[:, l]).any():
                ax.plot(epochs, values[:, l], lw=1.6, marker=marker, ms=3, color=f"C{l % 10}", label=name)
        panel_title, ylabel = PANELS[stat]
        ax.set(title=panel_title, ylabel=ylabel)
        epoch_axis(ax)
        ax.set_xlabel("epoch (0: initial weights)")
        finite = values[np.isfinite(values)]
        if stat.endswith("_var") and finite.size and finite.min() > 0 and finite.max() > finite.min():
            log_axis(ax)
            ax.set_ylabel(f"{ylabel} (log scale)")
        if stat == "dead":
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    n = diagnostics.X_probe.shape[0]
    fig.suptitle(title or f"Per-layer diagnostics on a probe batch of {n} rows")
    return finish(fig, path)
