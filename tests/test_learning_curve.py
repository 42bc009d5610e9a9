"""The learning curve over the training-set size: what it trains on, its statistics, its
refusals and its figure."""
import numpy as np
import pytest

from fastmlp import MLP, datasets
from fastmlp.experiments import LearningCurve, learning_curve
from fastmlp.plots import plot_learning_curve
from fastmlp.sweep import train_subset

SETTINGS = {"hidden": (32,), "activation": "tanh", "optimizer": "adam", "lr": 0.05, "epochs": 150, "batch_size": 8}


@pytest.fixture(scope="module")
def noisy():
    """Overlapping classes: a few points can be memorised, hundreds cannot."""
    return datasets.circles(n_samples=500, noise=0.3, seed=0)


@pytest.fixture(scope="module")
def curve(noisy):
    return learning_curve(noisy, [8, 400], SETTINGS, seeds=(0, 1))


def test_few_points_are_memorised_and_more_data_is_not_fit_better(curve):
    train = curve.mean("train_accuracy")
    assert train[0] == 1.0  # 8 points: memorised by every seed
    assert train[1] < train[0]  # 400 overlapping points cannot all be fit
    assert curve.mean("test_accuracy")[1] > curve.mean("test_accuracy")[0]  # ... and generalise better
    assert curve.mean("train_loss")[0] < curve.mean("train_loss")[1]


def test_shapes_statistics_and_records(curve, noisy):
    values = curve.values("test_accuracy")
    assert values.shape == (2, 2) and np.isfinite(values).all()
    assert np.allclose(curve.mean("test_accuracy"), values.mean(axis=1))
    assert np.allclose(curve.std("test_accuracy"), values.std(axis=1))
    assert sorted(r["params"]["n_train"] for r in curve.result.records) == [8, 8, 400, 400]
    assert all(len(r["curves"]["loss"]) == SETTINGS["epochs"] for r in curve.result.records)
    d = curve.to_dict()
    assert d["sizes"] == [8, 400] and d["seeds"] == [0, 1] and len(d["test_loss"]["mean"]) == 2
    assert "val_loss" not in d  # not measured


def test_train_metrics_are_measured_on_the_n_rows_trained_on(noisy):
    one = learning_curve(noisy, [20], {**SETTINGS, "epochs": 2}, seeds=(3,))
    X, y = train_subset(noisy.X_train, noisy.y_train, 20, 3)
    model = MLP([2, 32, 2], activation="tanh", seed=3)
    model.fit(X, y, epochs=2, batch_size=8, lr=0.05, optimizer="adam", seed=3, verbose=0)
    record = one.result.records[0]
    assert record["train_loss"] == pytest.approx(model.evaluate(X, y)["loss"], rel=1e-6)
    assert record["test_loss"] == pytest.approx(model.evaluate(noisy.X_test, noisy.y_test)["loss"], rel=1e-6)


def test_subsets_are_nested_per_seed_and_differ_between_seeds(noisy):
    X, y = noisy.X_train, noisy.y_train
    small, _ = train_subset(X, y, 10, 0)
    large, _ = train_subset(X, y, 50, 0)
    other, _ = train_subset(X, y, 10, 1)
    assert np.array_equal(large[:10], small) and not np.array_equal(other, small)


def test_generated_data_by_name_with_data_settings():
    c = learning_curve("moons", [10, 40], {"n_samples": 100, "noise": 0.2, "epochs": 1}, seeds=(0,))
    assert all(r["params"]["n_samples"] == 100 for r in c.result.records)
    assert np.isfinite(c.mean("test_accuracy")).all()


@pytest.mark.parametrize("kwargs, exc, says", [
    ({"sizes": [10, 10_000]}, ValueError, "n_train=10000 exceeds the 400 training rows"),
    ({"sizes": []}, ValueError, "non-empty"),
    ({"sizes": [0]}, ValueError, "sizes[0]"),
    ({"seeds": (1, 1)}, ValueError, "distinct"),
    ({"settings": {"seed": 3}}, ValueError, "must not set ['seed']"),
    ({"settings": {"hiden": (3,)}}, ValueError, "unknown sweep setting 'hiden'"),
    ({"settings": {"noise": 0.1}}, ValueError, "make new data"),
    ({"settings": [1]}, TypeError, "settings must be a dict"),
])
def test_bad_arguments_are_refused_before_any_run(noisy, kwargs, exc, says):
    args = {"sizes": [10], "settings": {"epochs": 1}, **kwargs}
    with pytest.raises(exc) as e:
        learning_curve(noisy, args.pop("sizes"), **args)
    assert says in str(e.value)


def test_figure_has_log_x_labels_and_both_splits(curve, tmp_path):
    fig = plot_learning_curve(curve, path=tmp_path / "lc.png")
    assert (tmp_path / "lc.png").stat().st_size > 0
    loss_ax, acc_ax = fig.axes
    for ax in (loss_ax, acc_ax):
        assert ax.get_xscale() == "log" and "training-set size N" in ax.get_xlabel()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("training rows" in t for t in labels) and any("test set" in t for t in labels)
    assert "loss" in loss_ax.get_ylabel() and "accuracy" in acc_ax.get_ylabel()
    assert "2 seeds" in fig._supxlabel.get_text()
    with pytest.raises(TypeError):
        plot_learning_curve(curve.result)
    assert isinstance(curve, LearningCurve) and "sizes=[8, 400]" in repr(curve)
