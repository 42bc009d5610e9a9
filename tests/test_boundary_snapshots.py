"""Decision-boundary snapshots: when they are taken, what they hold (the model's own
probabilities over the mesh), what they refuse, and the figure's panels."""
import numpy as np
import pytest

from fastmlp import MLP, datasets
from fastmlp.plots import plot_boundary_snapshots
from fastmlp.snapshots import BoundarySnapshots


@pytest.fixture(scope="module")
def moons():
    return datasets.moons(n_samples=200, seed=0)


@pytest.mark.parametrize("backend", ["numba", "numpy", "loop"])
def test_snapshots_every_k_epochs_hold_the_models_probabilities(backend, moons):
    X, y = moons.X_train, moons.y_train
    kw = dict(epochs=7, lr=0.3, batch_size=16, seed=0, verbose=0)
    plain = MLP([2, 8, 2], activation="tanh", backend=backend, seed=0)
    plain.fit(X, y, **kw)
    model = MLP([2, 8, 2], activation="tanh", backend=backend, seed=0)
    snaps = BoundarySnapshots(X, y, every=3, resolution=15)
    start = model.predict_proba(snaps._mesh).reshape(15, 15, 2)
    model.fit(X, y, callbacks=[snaps], **kw)
    assert np.array_equal(model.params, plain.params)  # snapshots change nothing
    assert snaps.epochs == [0, 3, 6, 7] and len(snaps.probabilities) == len(snaps.accuracies) == 4
    np.testing.assert_allclose(snaps.probabilities[0], start, rtol=1e-6)
    np.testing.assert_allclose(snaps.probabilities[-1], model.predict_proba(snaps._mesh).reshape(15, 15, 2),
                               rtol=1e-6)
    assert snaps.accuracies[-1] == np.mean(model.predict(X) == y)
    assert snaps.probabilities[0].shape == snaps.xx.shape + (2,)
    assert not np.allclose(snaps.probabilities[0], snaps.probabilities[-1])


def test_mesh_covers_the_points(moons):
    snaps = BoundarySnapshots(moons.X_train, moons.y_train, resolution=30, margin=0.0)
    assert snaps.xx.min() == moons.X_train[:, 0].min() and snaps.yy.max() == moons.X_train[:, 1].max()


@pytest.mark.parametrize("layers, loss", [([3, 4, 2], "cross_entropy"), ([2, 4, 1], "mse")])
def test_a_model_it_cannot_draw_is_refused_before_training(layers, loss, moons):
    model = MLP(layers, loss=loss, seed=0)
    before = model.params.copy()
    X = np.zeros((10, layers[0]), np.float32)
    with pytest.raises(ValueError, match="classifier with 2 inputs"):
        model.fit(X, np.zeros(10, int) if loss != "mse" else np.zeros(10), epochs=1, verbose=0,
                  callbacks=[BoundarySnapshots(moons.X_train, moons.y_train)])
    assert np.array_equal(model.params, before)


@pytest.mark.parametrize("kwargs, exc, says", [
    ({"X": np.zeros((4, 3))}, ValueError, "2 columns"),
    ({"y": np.zeros(3)}, ValueError, "one class id per row"),
    ({"every": 0}, ValueError, "every"),
    ({"resolution": 1}, ValueError, "resolution"),
])
def test_bad_arguments(kwargs, exc, says):
    args = {"X": np.zeros((4, 2)), "y": np.zeros(4, int), **kwargs}
    with pytest.raises(exc, match=says):
        BoundarySnapshots(**args)


def test_figure_one_panel_per_snapshot_titled_with_epoch_and_accuracy(moons, tmp_path):
    model = MLP([2, 8, 2], activation="tanh", seed=0)
    snaps = BoundarySnapshots(moons.X_train, moons.y_train, every=2, resolution=20)
    with pytest.raises(ValueError, match="nothing recorded"):
        plot_boundary_snapshots(snaps)
    model.fit(moons.X_train, moons.y_train, epochs=9, lr=0.3, verbose=0, callbacks=[snaps])
    assert snaps.epochs == [0, 2, 4, 6, 8, 9]
    fig = plot_boundary_snapshots(snaps, ncols=4, path=tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6 and len(fig.axes) == 8  # 2 rows of 4, the last two hidden
    titles = [ax.get_title() for ax in visible]
    assert titles[0] == f"initial weights: accuracy {snaps.accuracies[0]:.1%}"
    assert titles[1:] == [f"epoch {e}: accuracy {a:.1%}" for e, a in zip(snaps.epochs[1:], snaps.accuracies[1:])]
    assert visible[0].get_ylabel() == "$x_2$" and fig.axes[4].get_xlabel() == "$x_1$"
    with pytest.raises(TypeError):
        plot_boundary_snapshots(model)
