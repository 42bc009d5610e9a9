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


# -- what the figures say and how they read ---------------------------------------------------------
def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _nothing_outside(fig):
    """Every artist (titles, labels, legends, notes) lies within the figure: nothing is cut off."""
    tight = fig.get_tightbbox(_drawn(fig))
    w, h = fig.get_size_inches()
    assert tight.x0 >= -0.02 and tight.y0 >= -0.02 and tight.x1 <= w + 0.02 and tight.y1 <= h + 0.02, (tight, w, h)


def _ticklabels_apart(fig):
    """On every axis the shown tick labels do not overlap one another."""
    renderer = _drawn(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            boxes = [t.get_window_extent(renderer) for t in axis.get_ticklabels()
                     if t.get_visible() and t.get_text()]
            for a, b in zip(boxes, boxes[1:]):
                assert not a.overlaps(b), (ax.get_title(), [t.get_text() for t in axis.get_ticklabels()])


def _plain_log_labels(ax):
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and not any("times" in s or "^" in s for s in labels), labels
    assert len(labels) >= 2


def _integer_epochs(ax):
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert ax.get_xlabel() in ("epoch", "")


def test_history_reads_well(trained):
    _, hist = trained
    fig = plots.plot_history(hist)
    _drawn(fig)
    loss, acc = fig.axes[:2]
    for ax in (loss, acc):
        _integer_epochs(ax)
        assert ax.get_ylabel()
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["train loss", "validation loss"]
    assert [t.get_text() for t in acc.get_legend().get_texts()] == ["train accuracy", "validation accuracy"]
    _plain_log_labels(loss)
    _nothing_outside(fig)
    _ticklabels_apart(fig)


def test_sweep_figures_say_what_they_show(study):
    heat = plots.plot_sweep_heatmaps(study)
    assert heat.axes[1].get_title() == "Training wall time (s), compile excluded"
    note = " ".join(heat._supxlabel.get_text().split())
    assert "warm-up fit" in note and "seed (2 values)" in note
    curves = plots.plot_sweep_curves(study)
    _drawn(curves)
    assert [t.get_text() for t in curves.legends[0].get_texts()] == ["train loss", "test loss"]
    assert curves._supylabel.get_text().startswith("train loss and test loss")
    grid = [ax for ax in curves.axes if ax.get_subplotspec() is not None]
    for ax in grid:
        _integer_epochs(ax)
    assert all(ax.get_ylabel().startswith("batch size") for ax in grid if ax.get_subplotspec().is_first_col())
    lr = plots.plot_lr_comparison(study)
    _drawn(lr)
    assert "averaged over batch size (2 values), seed (2 values)" in " ".join(lr._suptitle.get_text().split())
    assert [ax.get_ylabel() for ax in lr.axes[:2]] == ["train loss (log scale)", "test accuracy"]
    for ax in lr.axes[:2]:
        _integer_epochs(ax)
    init = plots.plot_init_sensitivity(study, key="batch_size")
    _drawn(init)
    _integer_epochs(init.axes[0])
    for fig in (heat, curves, lr, init):
        _nothing_outside(fig)
        _ticklabels_apart(fig)


def test_boundary_says_which_points_its_accuracy_is_on(trained, circles):
    model, _ = trained
    fig = plots.plot_decision_boundary(model, circles.X_test, circles.y_test, resolution=20, points="test")
    acc = (model.predict(circles.X_test) == circles.y_test).mean()
    assert fig.axes[0].get_title().endswith(f"accuracy on the {len(circles.y_test)} test points: {acc:.1%}")
    plain = plots.plot_decision_boundary(model, circles.X_test, circles.y_test, resolution=20, title="Mine")
    assert plain.axes[0].get_title().startswith("Mine\naccuracy on the 20 points shown: ")
    with pytest.raises(TypeError, match="points must be a str"):
        plots.plot_decision_boundary(model, circles.X_test, circles.y_test, points=1)


def test_images_are_light_on_dark_on_one_scale():
    rng = np.random.default_rng(0)
    X = rng.random((4, 784)) * 0.5
    fig = plots.plot_probabilities(MLP([784, 10], seed=0, backend="numpy"), X, [0, 1])
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 2 and all(im.get_cmap().name == "gray" for im in images)
    assert all(im.get_clim() == (0.0, 1.0) for im in images)  # 0 is black, 1 white, for every image


def test_gradient_cost_figure_is_readable():
    rows = [{"depth": d, "width": w, "n_params": w * w * d + 10 * w, "fd_timed_params": 5, "n_samples": 32,
             "timing": "best of 5 runs", "backprop_seconds": 1e-5 * w * d, "forward_seconds": 5e-6 * w * d,
             "fd_central_seconds": 1e-9 * (w * w * d) ** 2, "fd_forward_seconds": 5e-10 * (w * w * d) ** 2}
            for d, w in ((1, 64), (2, 64), (4, 64), (8, 64), (16, 64), (2, 16), (2, 32), (2, 128), (2, 256))]
    fig = plots.plot_gradient_cost(rows)
    renderer = _drawn(fig)
    assert "backprop grows about as the parameter count P" in " ".join(fig._suptitle.get_text().split())
    assert "best of 5 runs" in " ".join(fig._supxlabel.get_text().split())
    for ax in fig.axes:
        assert ax.get_ylabel() and ax.get_xlabel().startswith("parameters P")
        marks = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(marks) == 5 and all(not a.overlaps(b) for k, a in enumerate(marks) for b in marks[k + 1:])
        assert all(ax.get_window_extent(renderer).contains(m.x0, m.y0) for m in marks)
        assert any(line.get_label() == "grows as P squared" for line in ax.lines)
        _plain_log_labels(ax)
    _nothing_outside(fig)
    _ticklabels_apart(fig)


def test_other_figures_stay_inside(tmp_path):
    sig = signal_propagation(depth=3, width=16, n_samples=16, backend="numpy")
    box = box_approximation(box_counts=(2, 4, 8), n_points=100)
    for fig in (plots.plot_signal_propagation(sig), plots.plot_box_approximation(box, show=(2, 8))):
        _nothing_outside(fig)
        _ticklabels_apart(fig)
