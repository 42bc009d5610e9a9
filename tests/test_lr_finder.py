"""The learning-rate range test: an exponentially growing lr over one pass, the loss
curve (raw and smoothed), a suggestion by the documented rule, the same curve in every
backend, the model left unchanged, and its figure."""
import math

import numpy as np
import pytest

from fastmlp import MLP, lr_finder


def _data(n=200, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(dtype)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)


def test_one_pass_with_an_exponentially_growing_lr():
    X, y = _data()
    r = lr_finder(MLP([4, 8, 3], seed=0), X, y, min_lr=1e-4, max_lr=1.0, batch_size=16, stop_factor=None, seed=0)
    assert len(r.lrs) == len(r.losses) == len(r.smoothed) == math.ceil(200 / 16) and not r.stopped_early
    assert r.lrs[0] == pytest.approx(1e-4, rel=1e-12) and r.lrs[-1] == pytest.approx(1.0, rel=1e-12)
    ratios = r.lrs[1:] / r.lrs[:-1]
    assert np.all(ratios > 1) and np.allclose(ratios, ratios[0], rtol=1e-12)
    assert np.isfinite(r.losses).all() and np.isfinite(r.smoothed).all()
    # the smoothed curve is the bias-corrected moving average of the batch losses
    average, expected = 0.0, []
    for i, loss in enumerate(r.losses):
        average = 0.98 * average + 0.02 * loss
        expected.append(average / (1 - 0.98 ** (i + 1)))
    assert np.allclose(r.smoothed, expected, rtol=1e-12)


def _valley_by_hand(smoothed):
    """The documented rule, written out with plain loops (fastai's lr_find 'valley')."""
    n = len(smoothed)
    longest = [1] * n
    for i in range(n):
        for j in range(i):
            if smoothed[j] > smoothed[i]:
                longest[i] = max(longest[i], longest[j] + 1)
    end = longest.index(max(longest))
    start = max(end - longest[end], 0)
    return start + (end - start) // 3 + (end - start) // 6


@pytest.mark.parametrize("optimizer, batch_size, smooth", [("sgd", 4, 0.9), ("adam", 16, 0.98), ("sgd", 16, 0.0)])
def test_the_suggestion_follows_the_documented_rule(optimizer, batch_size, smooth):
    X, y = _data(800)
    r = lr_finder(MLP([4, 16, 3], seed=0), X, y, min_lr=1e-5, max_lr=10.0, batch_size=batch_size,
                  optimizer=optimizer, smooth=smooth, seed=0)
    assert r.suggestion == r.lrs[_valley_by_hand(list(r.smoothed))]
    assert r.min_loss_lr == r.lrs[np.argmin(r.smoothed)] and r.lrs[0] <= r.suggestion <= r.lrs[-1]
    if smooth == 0:
        assert np.array_equal(r.smoothed, r.losses)  # no averaging


def test_the_suggestion_is_a_rate_that_trains():
    X, y = _data(2000)
    model = MLP([4, 16, 3], seed=0)
    r = lr_finder(model, X, y, batch_size=16, seed=0)  # the defaults: 1e-7 to 10 over one pass
    assert 1e-3 < r.suggestion < r.min_loss_lr
    start = model.evaluate(X, y)["loss"]
    at = {lr: model.copy().fit(X, y, epochs=3, lr=lr, batch_size=16, verbose=0, seed=0)[-1]["loss"]
          for lr in (r.suggestion, 1e-5)}
    assert at[r.suggestion] < 0.7 * start and at[r.suggestion] < at[1e-5]


def test_a_diverging_loss_stops_the_test():
    X, y = _data(400)
    r = lr_finder(MLP([4, 16, 3], seed=0), X, y, min_lr=1e-3, max_lr=1e6, batch_size=4, smooth=0.5, seed=0)
    assert r.stopped_early and len(r.lrs) < 100
    assert r.smoothed[-1] > 4 * r.smoothed.min() or not np.isfinite(r.losses[-1])


def test_more_steps_than_one_pass_reshuffle_and_continue():
    X, y = _data(40)
    r = lr_finder(MLP([4, 5, 3], seed=0), X, y, min_lr=1e-5, max_lr=1e-1, batch_size=8, steps=17, seed=0,
                  stop_factor=None)
    assert len(r.lrs) == 17 and r.lrs[-1] == pytest.approx(1e-1)
    again = lr_finder(MLP([4, 5, 3], seed=0), X, y, min_lr=1e-5, max_lr=1e-1, batch_size=8, steps=17, seed=0,
                      stop_factor=None)
    assert np.array_equal(again.losses, r.losses)  # seeded: the same batches
    other = lr_finder(MLP([4, 5, 3], seed=0), X, y, min_lr=1e-5, max_lr=1e-1, batch_size=8, steps=17, seed=1,
                      stop_factor=None)
    assert not np.array_equal(other.losses, r.losses)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_the_model_is_unchanged(backend):
    X, y = _data()
    model = MLP([4, 8, 3], seed=0, backend=backend)
    model.fit(X, y, epochs=2, optimizer="adam", lr=0.01, verbose=0, seed=0)
    params, slots, step = model.params.copy(), model.optimizer_state.values().copy(), model.optimizer_state.step
    rows = [dict(r) for r in model.history]
    r = lr_finder(model, X, y, batch_size=8, optimizer="sgd", momentum=0.9)
    assert len(r.lrs) > 10
    assert np.array_equal(model.params, params) and model.optimizer_state.step == step
    assert model.optimizer_state.name == "adam" and np.array_equal(model.optimizer_state.values(), slots)
    assert model.history.rows == rows
    again = model.fit(X, y, epochs=1, optimizer="adam", lr=0.01, verbose=0, seed=0)  # still trains as before
    assert again.epoch == [2]


def test_a_models_generator_seed_is_not_advanced():
    X, y = _data()
    model = MLP([4, 8, 3], seed=np.random.default_rng(3))
    before = model.seed.bit_generator.state
    lr_finder(model, X, y, batch_size=16)
    assert model.seed.bit_generator.state == before


@pytest.mark.parametrize("optimizer, hyper", [("sgd", {}), ("sgd", {"momentum": 0.9, "nesterov": True}),
                                              ("adam", {}), ("rmsprop", {})])
def test_every_backend_gives_the_same_curve_in_float64(optimizer, hyper):
    X, y = _data(37, dtype=np.float64)  # odd size: a last partial batch
    curves = {}
    for backend in ("numba", "numpy", "loop"):
        model = MLP([4, 5, 3], activation="tanh", dtype="float64", seed=1, backend=backend)
        curves[backend] = lr_finder(model, X, y, min_lr=1e-3, max_lr=1.0, batch_size=6, optimizer=optimizer,
                                    seed=0, stop_factor=None, **hyper)
    for backend in ("numpy", "loop"):
        assert np.allclose(curves[backend].losses, curves["numba"].losses, rtol=1e-10, atol=1e-12)
        assert curves[backend].suggestion == curves["numba"].suggestion


def test_bad_settings_are_refused_and_change_nothing():
    X, y = _data()
    model = MLP([4, 8, 3], seed=0)
    before = model.params.copy()
    for kwargs, error, message in [
        (dict(min_lr=1.0, max_lr=0.5), ValueError, "max_lr"), (dict(min_lr=0.0), ValueError, "min_lr"),
        (dict(steps=1), ValueError, "steps"), (dict(batch_size=len(X)), ValueError, "at least 2"),
        (dict(smooth=1.0), ValueError, "smooth"), (dict(stop_factor=1.0), ValueError, "stop_factor"),
        (dict(optimizer="lbfgs"), ValueError, "optimizer"), (dict(seed=-1), ValueError, "seed"),
        (dict(momentum=0.9, optimizer="adam"), ValueError, "momentum"),
    ]:
        with pytest.raises(error, match=message):
            lr_finder(model, X, y, **kwargs)
    with pytest.raises(TypeError, match="model"):
        lr_finder("model", X, y)
    with pytest.raises(ValueError, match="features|columns|n_in|shape"):
        lr_finder(model, X[:, :3], y)
    assert np.array_equal(model.params, before) and model.history is None


def test_the_figure():
    from matplotlib.figure import Figure
    X, y = _data(400)
    r = lr_finder(MLP([4, 16, 3], seed=0), X, y, min_lr=1e-4, max_lr=10.0, batch_size=4, smooth=0.9, seed=0)
    assert r.stopped_early  # the plot's y range leaves out the divergence at the end
    fig = r.plot(title="range test")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "learning rate" in ax.get_xlabel() and "loss" in ax.get_ylabel()
    assert ax.get_title() == "range test"
    assert any(np.array_equal(line.get_xdata(), r.lrs) and np.array_equal(line.get_ydata(), r.smoothed)
               for line in ax.get_lines())
    marked = [line for line in ax.get_lines() if list(line.get_xdata()) == [r.suggestion, r.suggestion]]
    assert marked, "the suggestion is marked by a vertical line"
    assert any(f"{r.suggestion:.3g}" in t.get_text() for t in ax.get_legend().get_texts())
    host = Figure()
    own = host.subplots(1, 2)[1]
    assert r.plot(ax=own) is host and own.get_xscale() == "log"


def test_the_figure_is_written_when_given_a_path(tmp_path):
    X, y = _data()
    r = lr_finder(MLP([4, 8, 3], seed=0), X, y, batch_size=8, seed=0)
    r.plot(path=tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_model_with_dropout_is_tested_with_its_dropout_in_every_backend():
    X, y = _data(37, dtype=np.float64)
    curves = {}
    for backend in ("numba", "numpy", "loop"):
        model = MLP([4, 6, 5, 3], activation="relu", dtype="float64", dropout=[0.3, 0.5], seed=1, backend=backend)
        curves[backend] = lr_finder(model, X, y, min_lr=1e-3, max_lr=1.0, batch_size=6, optimizer="adam", seed=0,
                                    stop_factor=None)
        assert model.dropout == (0.3, 0.5)
    for backend in ("numpy", "loop"):
        assert np.allclose(curves[backend].losses, curves["numba"].losses, rtol=1e-10, atol=1e-12)
    plain = lr_finder(MLP([4, 6, 5, 3], dtype="float64", seed=1), X, y, min_lr=1e-3, max_lr=1.0, batch_size=6,
                      optimizer="adam", seed=0, stop_factor=None)
    assert not np.allclose(plain.losses, curves["numba"].losses)  # the masks were applied
