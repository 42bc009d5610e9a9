"""Decision-boundary snapshots as small multiples: one panel per recorded epoch, titled
with the epoch and the accuracy on the points shown."""
from .base import finish, new_figure
from .boundary import draw_boundary


def plot_boundary_snapshots(snapshots, ncols=4, class_names=None, title=None, path=None):
    """One panel per snapshot of a :class:`fastmlp.snapshots.BoundarySnapshots`, in order.

    Parameters
    ----------
    snapshots : BoundarySnapshots
        After a fit with it as a callback.
    ncols : int >= 1, default 4
        Panels per row.
    class_names : sequence of str, optional
    title : str, optional
    path : str or path, optional
        Write the figure here as PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..checks import check_positive_int
    from ..snapshots import BoundarySnapshots
    from ..recorder import check_recorded
    check_recorded(snapshots, "snapshots", BoundarySnapshots)
    ncols = min(check_positive_int(ncols, "ncols"), len(snapshots.epochs))
    nrows = -(-len(snapshots.epochs) // ncols)
    fig, axes = new_figure(nrows, ncols, 3.0, 2.8, sharex=True, sharey=True)
    panels = list(axes.flat)
    for ax, epoch, proba, acc in zip(panels, snapshots.epochs, snapshots.probabilities, snapshots.accuracies):
        draw_boundary(ax, snapshots.xx, snapshots.yy, proba, snapshots.X, snapshots.y, class_names, size=6)
        what = "initial weights" if epoch == 0 else f"epoch {epoch}"
        ax.set_title(f"{what}: accuracy {acc:.1%}", fontsize=9)
    for ax in panels[len(snapshots.epochs):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("$x_1$")
    for ax in axes[:, 0]:
        ax.set_ylabel("$x_2$")
    panels[0].legend(loc="upper right", fontsize=6, framealpha=0.9)
    fig.suptitle(title or f"Decision boundary during training (accuracy on the {len(snapshots.y)} points shown)")
    return finish(fig, path)
