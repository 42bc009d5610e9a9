"""Per-layer diagnostics: what each statistic measures (against direct computations), in
every backend, when it is recorded, that it leaves training alone, and its figure."""
import numpy as np
import pytest

from fastmlp import MLP, datasets
from fastmlp.diagnostics import STATS, LayerDiagnostics, measure
from fastmlp.plots import plot_layer_diagnostics

BACKENDS = ("numba", "numpy", "loop")


@pytest.fixture(scope="module")
def data():
    return datasets.blobs(n_samples=200, seed=0, n_centers=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_negative_biases_kill_every_relu(backend, data):
    model = MLP([2, 8, 6, 3], activation="relu", init="normal", init_std=0.01, bias_init=-5.0, backend=backend,
                seed=0)
    stats = measure(model, data.X_train[:40], data.y_train[:40])
    assert stats["dead"][:2] == [1.0, 1.0] and np.isnan(stats["dead"][2])
    assert stats["act_var"][:2] == [0.0, 0.0] and stats["grad_var"][0] == 0.0  # no signal, no gradient below


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_init_shrinks_tanh_activations_layer_by_layer(backend):
    X = np.random.default_rng(0).standard_normal((64, 16))
    y = np.arange(64) % 4
    small = MLP([16] * 6 + [4], activation="tanh", init="normal", init_std=0.05, dtype="float64", backend=backend,
                seed=0)
    glorot = MLP([16] * 6 + [4], activation="tanh", init="glorot_normal", dtype="float64", backend=backend, seed=0)
    v_small = measure(small, X, y, deltas=False)["act_var"][:5]
    v_glorot = measure(glorot, X, y, deltas=False)["act_var"][:5]
    assert all(b < 0.1 * a for a, b in zip(v_small, v_small[1:]))  # collapses by 10x per layer
    assert v_glorot[-1] > 0.1 * v_glorot[0]  # keeps its scale


def test_statistics_equal_direct_computation():
    """One hidden tanh layer in float64: activations, gradients and deltas written out by hand."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 4, 10)
    model = MLP([3, 5, 4], activation="tanh", dtype="float64", backend="numpy", seed=2)
    (W1, b1), (W2, b2) = model.split(model.params)
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d2 = p - np.eye(4)[y]  # dL/dz of the output, per row
    d1 = (d2 @ W2.T) * (1 - h ** 2)
    stats = measure(model, X, y)
    assert stats["act_mean"] == pytest.approx([h.mean(), z.mean()], rel=1e-12)
    assert stats["act_var"] == pytest.approx([h.var(), z.var()], rel=1e-12)
    assert stats["grad_var"] == pytest.approx([np.var(X.T @ d1 / 10), np.var(h.T @ d2 / 10)], rel=1e-10)
    assert stats["delta_var"] == pytest.approx([d1.var(), d2.var()], rel=1e-10)
    assert stats["dead"][0] == 0.0


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_backends_agree_in_float64(loss, data):
    X = data.X_train[:17].astype(np.float64)
    y = data.y_train[:17] if loss == "cross_entropy" else X.sum(axis=1, keepdims=True)
    out = [measure(MLP([2, 7, 5, 3 if loss == "cross_entropy" else 1], activation=["relu", "sigmoid"], loss=loss,
                       dtype="float64", backend=b, seed=4), X, y) for b in BACKENDS]
    for other in out[1:]:
        for s in STATS:
            np.testing.assert_allclose(other[s], out[0][s], rtol=1e-10, atol=1e-14, err_msg=s)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recorded_every_k_epochs_plus_start_and_end_and_training_unchanged(backend, data):
    kw = dict(epochs=7, batch_size=16, lr=0.1, optimizer="adam", seed=0, verbose=0)
    plain = MLP([2, 6, 3], backend=backend, seed=0)
    plain.fit(data.X_train, data.y_train, **kw)
    model = MLP([2, 6, 3], backend=backend, seed=0)
    diag = LayerDiagnostics(data.X_train[:30], data.y_train[:30], every=3)
    model.fit(data.X_train, data.y_train, callbacks=[diag], **kw)
    assert np.array_equal(model.params, plain.params)  # measuring changes nothing
    assert diag.epochs == [0, 3, 6, 7]
    arrays = diag.as_arrays()
    assert all(arrays[s].shape == (4, 2) for s in STATS)
    assert np.all(arrays["grad_var"][0] != arrays["grad_var"][-1])  # the weights moved
    model.fit(data.X_train, data.y_train, callbacks=[diag], **{**kw, "epochs": 2})  # resumed: counts on
    assert diag.epochs == [0, 3, 6, 7, 9]
    assert diag.to_dict()["layers"] == ["layer 1: relu, 6 units", "output: 3 units"]


def test_a_bad_probe_fails_before_training_and_changes_nothing(data):
    model = MLP([2, 6, 3], seed=0)
    before = model.params.copy()
    with pytest.raises(ValueError, match="X"):
        model.fit(data.X_train, data.y_train, epochs=2, verbose=0,
                  callbacks=[LayerDiagnostics(np.zeros((5, 3)), np.zeros(5, int))])
    assert np.array_equal(model.params, before) and model.history is None
    with pytest.raises(ValueError, match="one target per row"):
        LayerDiagnostics(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="every"):
        LayerDiagnostics(np.zeros((5, 2)), np.zeros(5), every=0)
    with pytest.raises(TypeError, match="deltas"):
        LayerDiagnostics(np.zeros((5, 2)), np.zeros(5), deltas="yes")


def test_figure_one_panel_per_statistic_one_line_per_layer(data, tmp_path):
    model = MLP([2, 6, 5, 3], activation="relu", seed=0)
    diag = LayerDiagnostics(data.X_train[:30], data.y_train[:30])
    with pytest.raises(ValueError, match="nothing recorded"):
        plot_layer_diagnostics(diag)
    model.fit(data.X_train, data.y_train, epochs=3, verbose=0, callbacks=[diag])
    fig = plot_layer_diagnostics(diag, path=tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 0
    visible = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in visible]
    assert titles == ["Activation mean", "Activation variance", "Weight-gradient variance",
                      "Back-propagated delta variance", "Dead units"]
    assert all(ax.get_xlabel().startswith("epoch") for ax in visible)
    assert len(visible[1].get_lines()) == 3 and len(visible[4].get_lines()) == 2  # no dead fraction for outputs
    assert [t.get_text() for t in visible[0].get_legend().get_texts()][-1] == "output: 3 units"
    quick = LayerDiagnostics(data.X_train[:30], data.y_train[:30], deltas=False)
    model.fit(data.X_train, data.y_train, epochs=1, verbose=0, callbacks=[quick])
    assert "Back-propagated delta variance" not in [ax.get_title() for ax in plot_layer_diagnostics(quick).axes]
