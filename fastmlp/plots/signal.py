"""Signal propagation figure: per-layer variance of activations and of weight
gradients for several initialisations and activations."""
from .base import finish, new_figure


def plot_signal_propagation(results, title=None, path=None):
    """Two rows (activation variance, gradient variance) by one column per activation.

    Parameters
    ----------
    results : list of dict
        As returned by ``fastmlp.experiments.signal_propagation``.
    title : str, optional
    path : optional PNG path

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not results:
        raise ValueError("results is empty: run fastmlp.experiments.signal_propagation first")
    acts = list(dict.fromkeys(r["activation"] for r in results))
    labels = list(dict.fromkeys(r["label"] for r in results))
    fig, axes = new_figure(2, len(acts), 4.6, 3.4)
    for j, act in enumerate(acts):
        for r in (r for r in results if r["activation"] == act):
            k = labels.index(r["label"])
            style = dict(color=f"C{k % 10}", ls=("-", "--", ":", "-.")[k % 4], marker="o", ms=3, label=r["label"])
            axes[0, j].plot(range(1, len(r["act_var"]) + 1), r["act_var"], **style)
            axes[1, j].plot(range(1, len(r["grad_var"]) + 1), r["grad_var"], **style)
        depth = max(len(r["act_var"]) for r in results)
        axes[0, j].set(title=f"{act}: activations, forward", xlabel="hidden layer (1 = nearest the input)",
                       ylabel="variance of layer outputs", yscale="log")
        axes[0, j].axhspan(1 / 3, 3, color="green", alpha=0.08, lw=0)
        axes[1, j].set(title=f"{act}: gradients, backward", xlabel=f"weight layer (1 = input, {depth + 1} = output)",
                       ylabel="variance of dL/dW", yscale="log")
        for ax in axes[:, j]:
            ax.grid(alpha=0.3, which="major")
        axes[0, j].legend(fontsize=8, title="initialisation", title_fontsize=8)
    fig.suptitle(title or "Signal propagation at initialisation: variance per layer (log scale; green band = "
                 "within 3x of 1)\nGlorot equals LeCun here: every hidden layer has fan-in = fan-out", fontsize=10)
    return finish(fig, path)
