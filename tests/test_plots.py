"""Every plot function returns a Figure and writes a non-empty PNG."""
import math
import os

import numpy as np
import pytest
from matplotlib.figure import Figure

from fastmlp import MLP, History, datasets, plots
from fastmlp.experiments import box_approximation, gradient_cost, signal_propagation
from fastmlp.sweep import sweep

PNG = b"\x89PNG"


def _check(fig, path):
    assert isinstance(fig, Figure)
    data = path.read_bytes()
    assert data[:4] == PNG and len(data) > 5000


@pytest.fixture(scope="module")
def circles():
    return datasets.circles(n_samples=100, seed=0)


@pytest.fixture(scope="module")
def trained(circles):
    model = MLP([2, 8, 2], seed=0, backend="numpy")
    hist = model.fit(circles.X_train, circles.y_train, epochs=3, batch_size=16, lr=0.2, verbose=0,
                     validation_data=(circles.X_test, circles.y_test))
    return model, hist


@pytest.fixture(scope="module")
def study(circles):
    return sweep(circles, {"batch_size": [8, 40], "lr": [0.1, 1e30], "seed": [0, 1]}, base={"epochs": 3},
                 n_jobs=1)


def test_history(trained, tmp_path):
    _, hist = trained
    _check(plots.plot_history(hist, path=tmp_path / "h.png"), tmp_path / "h.png")
    fig = plots.plot_history({"a": hist, "b": hist}, path=tmp_path / "h2.png")
    assert len(fig.axes[0].lines) == 4
    with pytest.raises(TypeError):
        plots.plot_history([1, 2])


def test_decision_boundary(trained, circles, tmp_path):
    model, _ = trained
    fig = plots.plot_decision_boundary(model, circles.X_test, circles.y_test, resolution=50, path=tmp_path / "b.png")
    _check(fig, tmp_path / "b.png")
    with pytest.raises(ValueError):
        plots.plot_decision_boundary(model, np.zeros((3, 3)), np.zeros(3, int))


def test_probabilities_with_images(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((10, 64)), rng.integers(0, 10, 10)
    model = MLP([64, 10], seed=0, backend="numpy")
    fig = plots.plot_probabilities(model, X, [0, 3], y=y, class_names=[f"c{k}" for k in range(10)],
                                   path=tmp_path / "p.png")
    _check(fig, tmp_path / "p.png")
    assert len(fig.axes) == 4  # image + bars per sample
    assert len(plots.plot_probabilities(model, X, [1], image_shape=None).axes) == 1
    with pytest.raises(ValueError):
        plots.plot_probabilities(model, X, [99])


def test_sweep_figures_mark_divergence(study, tmp_path):
    fig = plots.plot_sweep_heatmaps(study, path=tmp_path / "heat.png")
    _check(fig, tmp_path / "heat.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum(t.startswith("div") for t in texts) == 2
    _check(plots.plot_sweep_curves(study, path=tmp_path / "c.png"), tmp_path / "c.png")
    _check(plots.plot_lr_comparison(study, path=tmp_path / "lr.png"), tmp_path / "lr.png")
    fig = plots.plot_init_sensitivity(study, key="batch_size", path=tmp_path / "i.png")
    _check(fig, tmp_path / "i.png")


def test_experiment_figures(tmp_path):
    sig = signal_propagation(depth=3, width=16, n_samples=16, backend="numpy")
    _check(plots.plot_signal_propagation(sig, path=tmp_path / "s.png"), tmp_path / "s.png")
    cost = gradient_cost(sizes=((1, 4), (2, 4), (1, 8)), fd_params=2, repeats=1, backend="numpy")
    _check(plots.plot_gradient_cost(cost, path=tmp_path / "g.png"), tmp_path / "g.png")
    box = box_approximation(box_counts=(2, 4, 8), n_points=100)
    _check(plots.plot_box_approximation(box, show=(2, 8), path=tmp_path / "a.png"), tmp_path / "a.png")
    assert math.isfinite(box["max_error"][-1])


def test_no_path_writes_nothing(trained, circles, study, tmp_path, monkeypatch):
    """Without ``path`` a plot only returns its Figure: nothing appears in the working folder."""
    monkeypatch.chdir(tmp_path)
    model, hist = trained
    figures = [plots.plot_history(History(hist.rows)),
               plots.plot_decision_boundary(model, circles.X_test, circles.y_test, resolution=20),
               plots.plot_probabilities(model, circles.X_test, [0], image_shape=None),
               plots.plot_sweep_heatmaps(study), plots.plot_lr_comparison(study),
               plots.plot_box_approximation(box_approximation(box_counts=(2, 4), n_points=50))]
    assert all(isinstance(f, Figure) for f in figures)
    assert list(tmp_path.iterdir()) == []


def test_path_is_written_atomically_and_checked(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, hist = trained
    fig = plots.plot_history(hist, path="sub/h.png")  # relative to the working folder, folders created
    _check(fig, tmp_path / "sub" / "h.png")
    assert os.listdir(tmp_path / "sub") == ["h.png"]  # no temporary file left
    with pytest.raises(TypeError, match="path must be a path"):
        plots.plot_history(hist, path=3)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(indices=[1.0]), TypeError, r"indices\[0\] must be an integer"),
    (dict(indices=[]), ValueError, "at least one row"),
    (dict(image_shape="square"), ValueError, "unknown image_shape 'square'"),
    (dict(image_shape=(8,)), ValueError, "image_shape must be 'auto', None or a pair"),
    (dict(image_shape=(8, 8.0)), TypeError, r"image_shape\[1\] must be a positive integer"),
])
def test_probabilities_arguments(kw, exc, match):
    model = MLP([64, 10], seed=0, backend="numpy")
    with pytest.raises(exc, match=match):
        plots.plot_probabilities(model, np.zeros((3, 64)), **kw)
