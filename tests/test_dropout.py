"""Dropout on hidden layers: the same masks in the three backends, seeded, off at inference.

- the backends TRAIN to the same weights with dropout (float64, rtol = atol = 1e-10) for
  every hidden activation, every optimizer (with penalties and clipping), every loss,
  sample and class weights, sampling with replacement, batch 1, partial last batches,
  per-layer rates (one of them 0), odd shapes; and that training differs from training
  without dropout by far more than the tolerance (so ignored masks would fail);
- the masks: the numba kernel, the NumPy function and the scalar loop function give the
  same bits; keep rate 1 - p and mean 1 (expectation preserved) over many units; each
  (step, layer, row) draws its own mask;
- inference never drops (predict, predict_proba, forward, evaluate, validation,
  loss_and_grad without ``dropout_seed``);
- reproducible: the same seed gives the same weights, another seed others; 2 epochs then
  2 more equal 4; chunked epochs equal whole ones; the fit's masks are those of
  ``loss_and_grad(dropout_seed=..., step=...)``, whose gradient passes a finite-difference
  check (the masks fixed);
- the numba dropout epoch allocates nothing per batch; the online and fused kernels are
  not used (and refused when forced);
- the rates are checked, saved and loaded (older files without them still load), pickled,
  copied, shown in repr.
"""
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastmlp
from fastmlp import kernels as K
from fastmlp import modelfile
from fastmlp import trainer as trainer_module
from fastmlp.backends import TrainingData
from fastmlp.backends.loops import keep_scale
from fastmlp.backends.numba import dropout_work, new_dropout_buffers, new_workspace
from fastmlp.backends.numpy import dropout_masks
from fastmlp.checks import check_targets, check_X
from fastmlp.dropout import Dropout
from test_epoch_allocations import _epoch_stats, nrt_stats  # noqa: F401  (the NRT statistics, switched on)

BACKENDS = ("loop", "numpy", "numba")
TOL = dict(rtol=1e-10, atol=1e-10)

# name -> (optimizer, hyperparameters, lr)
OPTIMIZERS = {
    "sgd": ("sgd", {}, 0.1),
    "momentum": ("sgd", dict(momentum=0.9), 0.03),
    "nesterov_wd": ("sgd", dict(momentum=0.8, nesterov=True, weight_decay=0.01), 0.03),
    "adam": ("adam", {}, 0.02),
    "rmsprop": ("rmsprop", {}, 0.01),
    "adagrad": ("adagrad", {}, 0.1),
    "clip_norm_l2": ("sgd", dict(momentum=0.9, clip_norm=0.3, l2=0.01), 0.05),  # the whole backward, then the update
    "adamw_clip_value_l1": ("adamw", dict(clip_value=0.05, l1=0.001), 0.02),
}


def _data(n_in, loss, n_out, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    if loss in ("cross_entropy", "softmax_mse"):
        y = rng.integers(0, n_out, n)
    elif loss == "bce":
        y = rng.integers(0, 2, n)
    elif loss == "multilabel":
        y = rng.integers(0, 2, (n, n_out))
    else:
        y = rng.normal(size=(n, n_out))
    return X, y


def _train(backend, layers, activation, loss, dropout, opt="sgd", batch_size=4, n=11, epochs=3, dtype="float64",
           seed=7, fits=None, kernel=None, fit_kw=None):
    name, hyper, lr = OPTIMIZERS[opt]
    X, y = _data(layers[0], loss, layers[-1], n)
    model = fastmlp.MLP(layers, activation=activation, loss=loss, dtype=dtype, backend=backend, seed=0,
                        dropout=dropout)
    if kernel:
        model.engine.epoch_kernel = kernel
    for e in fits or (epochs,):
        model.fit(X, y, epochs=e, batch_size=batch_size, lr=lr, optimizer=name, seed=seed, verbose=0, **hyper,
                  **(fit_kw or {}))
    return model


def _agree(layers, activation, loss, dropout, **kw):
    models = {b: _train(b, layers, activation, loss, dropout, **kw) for b in BACKENDS}
    ref = models["numpy"]
    for b in ("loop", "numba"):
        assert_allclose(models[b].params, ref.params, **TOL, err_msg=b)
        assert_allclose(models[b].history["loss"], ref.history["loss"], **TOL, err_msg=b)
    plain = _train("numpy", layers, activation, loss, 0.0, **kw)
    assert np.abs(plain.params - ref.params).max() > 1e-4  # the masks changed the training
    return models


@pytest.mark.parametrize("activation", ["identity", "tanh", "sigmoid", "relu", "leaky_relu"])
def test_backends_agree_for_every_activation(activation):
    _agree([5, 7, 6, 3], activation, "cross_entropy", [0.3, 0.5])


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_backends_agree_for_every_optimizer(opt):
    _agree([4, 9, 2], "tanh", "mse", 0.4, opt=opt)


@pytest.mark.parametrize("loss,n_out", [("cross_entropy", 3), ("mse", 2), ("bce", 1), ("multilabel", 3),
                                         ("softmax_mse", 3)])
@pytest.mark.parametrize("batch_size,n", [(1, 7), (4, 11), (16, 9), (5, 10)])
def test_backends_agree_for_every_loss_and_batch_geometry(loss, n_out, batch_size, n):
    _agree([3, 5, n_out], "sigmoid", loss, 0.25, batch_size=batch_size, n=n)


def test_backends_agree_with_mixed_rates_and_odd_shapes():
    # a rate of 0 in the middle: that layer's outputs pass unmasked; widths 1 and 13
    _agree([7, 13, 1, 5, 2], ["tanh", "relu", "sigmoid"], "cross_entropy", [0.5, 0.0, 0.2], opt="adam",
           batch_size=3, n=10)


@pytest.mark.parametrize("fit_kw", [dict(sample_weight=np.linspace(0.0, 2.0, 11)), dict(sampling="replacement"),
                                    dict(class_weight="balanced", sampling="replacement")])
def test_backends_agree_with_sample_weights_and_sampling(fit_kw):
    _agree([3, 6, 5, 3], "tanh", "cross_entropy", [0.4, 0.3], opt="adam", fit_kw=fit_kw)


def test_backends_agree_in_float32():
    models = {b: _train(b, [5, 8, 3], "tanh", "cross_entropy", 0.3, dtype="float32") for b in BACKENDS}
    for b in ("loop", "numba"):
        assert_allclose(models[b].params, models["numpy"].params, rtol=1e-4, atol=1e-5, err_msg=b)


def test_the_three_mask_functions_give_the_same_bits():
    """The numba kernel's masks (read from its buffers), NumPy's and the loop's, for a
    batch of 33 rows and layers of 70 and 5 units, at a late update step."""
    d = Dropout.from_seed((0.3, 0.6), 11)
    model = fastmlp.MLP([4, 70, 5, 2], dtype="float64", seed=0)
    a = model.arch
    X = np.random.default_rng(0).normal(size=(33, 4))
    yi, t = check_targets(np.zeros(33, np.int64), a, 33)
    ws, bufs = new_workspace(a, 33), new_dropout_buffers(a, 33)
    step = 123456789
    K.loss_and_grad(np.empty(a.n_params), ws, model.params, X, yi, t, np.zeros(0), a.net, dropout_work(a, d, bufs),
                    step)
    masks = bufs[0]
    for l, width in enumerate((70, 5)):
        kernel = masks[33 * a.lay[l, 4]:][:33 * width].reshape(33, width)
        numpy_masks = dropout_masks(d, step, l, 33, width, np.dtype(np.float64))
        assert_array_equal(kernel, numpy_masks)
        loop = [[keep_scale(d, step, l, r, j) for j in range(width)] for r in range(33)]
        assert_array_equal(np.array(loop), numpy_masks)
        assert set(np.unique(numpy_masks)) == {0.0, d.scale(l)}


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_masks_keep_one_minus_p_and_preserve_the_expectation(p):
    d = Dropout.from_seed((p,), 3)
    masks = np.stack([dropout_masks(d, step, 0, 100, 100, np.dtype(np.float64)) for step in range(1, 21)])
    kept = (masks > 0).mean()
    sigma = np.sqrt(p * (1 - p) / masks.size)
    assert abs(kept - (1 - p)) < 5 * sigma
    assert abs(masks.mean() - 1.0) < 5 * sigma / (1 - p)  # E[mask] = 1: a unit's expected output is unchanged
    assert set(np.unique(masks)) == {0.0, 1 / (1 - p)}
    # independent draws along every counter: rows, units, steps, layers, seeds
    flat = (masks > 0).reshape(20, -1).astype(float)
    assert abs(np.corrcoef(flat[0], flat[1])[0, 1]) < 0.05  # steps
    assert abs(np.corrcoef(flat[0, :5000], flat[0, 5000:])[0, 1]) < 0.05  # rows
    other_layer = Dropout(d.rates * 2, d.key)
    assert not np.array_equal(dropout_masks(other_layer, 1, 1, 100, 100, np.dtype(np.float64)), masks[0])
    assert not np.array_equal(dropout_masks(Dropout.from_seed((p,), 4), 1, 0, 100, 100, np.dtype(np.float64)),
                              masks[0])


def test_rates_of_zero_and_tiny_rates_drop_nothing():
    assert Dropout.from_seed((0.0, 0.0), 1) is None
    d = Dropout.from_seed((1e-18,), 1)
    assert not d.active(0)  # below 2**-54: nothing is ever dropped, no mask is made


@pytest.mark.parametrize("backend", BACKENDS)
def test_inference_never_drops(backend):
    X, y = _data(4, "cross_entropy", 3, 40)
    model = fastmlp.MLP([4, 16, 8, 3], dtype="float64", backend=backend, seed=0, dropout=0.5)
    Xv, yv = X[:10], y[:10]
    model.fit(X, y, epochs=2, batch_size=8, lr=0.1, validation_data=(Xv, yv), seed=1, verbose=0)
    plain = fastmlp.MLP([4, 16, 8, 3], dtype="float64", backend=backend)
    plain.params[...] = model.params
    assert_array_equal(model.forward(X), plain.forward(X))
    assert_array_equal(model.predict(X), plain.predict(X))
    assert_array_equal(model.predict_proba(X), plain.predict_proba(X))
    for a, b in zip(model.layer_outputs(X), plain.layer_outputs(X)):
        assert_array_equal(a, b)
    assert model.evaluate(Xv, yv) == plain.evaluate(Xv, yv)
    assert model.history["val_loss"][-1] == pytest.approx(plain.evaluate(Xv, yv)["loss"], rel=1e-12)
    loss, grads = model.loss_and_grad(X, y)
    loss0, grads0 = plain.loss_and_grad(X, y)
    assert loss == loss0
    assert_array_equal(grads, grads0)
    masked_loss, masked_grads = model.loss_and_grad(X, y, dropout_seed=1)
    assert abs(masked_loss - loss) > 1e-6 and not np.allclose(masked_grads, grads)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_seed_reproduces_the_masks_and_another_changes_them(backend):
    def run(seed, model_seed=None):
        X, y = _data(3, "cross_entropy", 2, 12)
        m = fastmlp.MLP([3, 6, 2], dtype="float64", backend=backend, seed=model_seed or 0, dropout=0.5)
        m.fit(X, y, epochs=2, batch_size=4, lr=0.1, shuffle=False, seed=seed, verbose=0)
        return m.params
    assert_array_equal(run(5), run(5))
    assert np.abs(run(5) - run(6)).max() > 1e-4
    assert_array_equal(run(None, model_seed=5), run(5, model_seed=5))  # no fit seed: the model's, as shuffling
    assert_array_equal(run(np.random.default_rng(9)), run(np.random.default_rng(9)))


@pytest.mark.parametrize("backend,opt", [("numba", "adam"), ("numba", "sgd"), ("numpy", "momentum"),
                                         ("loop", "sgd")])
def test_two_epochs_then_two_more_equal_four(backend, opt):
    kw = dict(layers=[4, 6, 5, 3], activation="tanh", loss="cross_entropy", dropout=[0.4, 0.2], opt=opt, n=10)
    four = _train(backend, epochs=4, **kw)
    two_two = _train(backend, fits=(2, 2), **kw)
    assert_array_equal(two_two.params, four.params)


def test_chunked_epochs_give_the_same_bits(monkeypatch):
    kw = dict(layers=[4, 6, 3], activation="relu", loss="cross_entropy", dropout=0.5, opt="adam", n=30)
    monkeypatch.setattr(trainer_module, "FIRST_CHUNK_SAMPLES", 10 ** 9)
    whole = _train("numba", **kw)
    monkeypatch.setattr(trainer_module, "CHUNK_SECONDS", 1e-9)
    monkeypatch.setattr(trainer_module, "FIRST_CHUNK_SAMPLES", 1)  # one batch per chunk
    chunked = _train("numba", **kw)
    assert_array_equal(chunked.params, whole.params)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_fit_uses_the_masks_of_loss_and_grad(backend):
    """Full batch, no shuffle, plain SGD: each update is params -= lr * the gradient of
    ``loss_and_grad(dropout_seed=seed, step=k)``."""
    X, y = _data(3, "cross_entropy", 3, 9)
    model = fastmlp.MLP([3, 8, 7, 3], activation="sigmoid", dtype="float64", backend=backend, seed=0,
                        dropout=[0.5, 0.3])
    expect = model.params.copy()
    for step in (1, 2):
        probe = model.copy()
        probe.params[...] = expect
        expect -= 0.5 * probe.loss_and_grad(X, y, dropout_seed=4, step=step)[1]
    model.fit(X, y, epochs=2, batch_size=9, lr=0.5, shuffle=False, seed=4, verbose=0)
    assert_allclose(model.params, expect, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation,loss,n_out", [("tanh", "cross_entropy", 3), ("sigmoid", "mse", 2),
                                                   ("leaky_relu", "bce", 1)])
def test_gradient_of_the_masked_loss_matches_finite_differences(backend, activation, loss, n_out):
    X, y = _data(3, loss, n_out, 6, seed=2)
    model = fastmlp.MLP([3, 5, 4, n_out], activation=activation, loss=loss, dtype="float64", backend=backend,
                        seed=1, dropout=[0.4, 0.5])
    _, grads = model.loss_and_grad(X, y, dropout_seed=8, step=3)
    p, eps = model.params, 1e-6
    numerical = np.empty_like(grads)
    for i in range(p.size):
        keep = p[i]
        p[i] = keep + eps
        up = model.loss_and_grad(X, y, dropout_seed=8, step=3)[0]
        p[i] = keep - eps
        down = model.loss_and_grad(X, y, dropout_seed=8, step=3)[0]
        p[i] = keep
        numerical[i] = (up - down) / (2 * eps)
    assert_allclose(grads, numerical, rtol=1e-5, atol=1e-8)
    assert np.abs(grads).max() > 1e-3
    # for one row, exactly the units its mask drops get no gradient in the first layer's weights
    dropped = []
    for step in range(1, 7):
        mask = dropout_masks(Dropout.from_seed(model.dropout, 8), step, 0, 1, 5, np.dtype(np.float64))[0]
        dW0 = model.split(model.loss_and_grad(X[:1], y[:1], dropout_seed=8, step=step)[1])[0][0]
        assert_array_equal(np.all(dW0 == 0, axis=0), mask == 0)
        dropped.extend(mask == 0)
    assert 0 < np.mean(dropped) < 1


_LARGER_WORKSPACE = """
import numpy as np, fastmlp
rng = np.random.default_rng(0)
X, y = rng.normal(size=(300, 2)), rng.integers(0, 2, 300)
model = fastmlp.MLP([2, 64, 64, 2], dropout=[0.2, 0.1], seed=0)
model.evaluate(X, y)  # this thread's workspace: 300 rows
for rows in (16, 1, 300):
    loss, grads = model.loss_and_grad(X[:rows], y[:rows], dropout_seed=0, step=rows)
    model.backend = "numpy"
    ref_loss, ref = model.loss_and_grad(X[:rows], y[:rows], dropout_seed=0, step=rows)
    model.backend = "numba"
    assert abs(loss - ref_loss) < 1e-5 and np.allclose(grads, ref, rtol=1e-4, atol=1e-5), rows
print("ok")
"""


def test_dropout_buffers_follow_a_workspace_kept_from_a_larger_call():
    """A smaller ``loss_and_grad`` after a larger call reuses the larger workspace; the dropout
    buffers must be laid out for its rows (too small ones were written out of bounds, which
    aborted the process at exit): run in a child process that must exit cleanly."""
    run = subprocess.run([sys.executable, "-c", _LARGER_WORKSPACE], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]


def test_numba_trains_dropout_with_the_generic_kernel_only():
    opt = fastmlp.Optimizer("sgd")
    model = fastmlp.MLP([3, 4, 2], dropout=0.5)
    assert model.engine.choose_epoch_kernel(opt, 1, dropout=True) == "generic"
    assert model.engine.choose_epoch_kernel(opt, 8, dropout=True) == "generic"
    assert model.engine.choose_epoch_kernel(opt, 1) == "online"  # without dropout: as before
    X, y = _data(3, "cross_entropy", 2, 8)
    for kernel in ("online", "fused"):
        model.engine.epoch_kernel = kernel
        before = model.params.copy()
        rng = np.random.default_rng(0)
        with pytest.raises(ValueError, match="no dropout"):
            model.fit(X, y, epochs=1, batch_size=1, verbose=0, seed=rng)
        assert_array_equal(model.params, before)
        assert rng.integers(2**63) == np.random.default_rng(0).integers(2**63)  # no key drawn from it
        model.fit(X, y, epochs=1, batch_size=1, verbose=0, dropout=0.0)  # this fit without dropout: allowed


def test_batch_one_matches_the_numpy_reference_through_the_generic_kernel():
    kw = dict(layers=[4, 6, 3], activation="relu", loss="cross_entropy", dropout=0.5, batch_size=1, n=9)
    assert_allclose(_train("numba", **kw).params, _train("numpy", **kw).params, **TOL)


@pytest.mark.parametrize("dtype,optimizer,batch,hidden", [("float32", "sgd", 8, 8), ("float64", "adam", 1, 8),
                                                          ("float32", "adam", 8, 128)])
def test_dropout_epochs_allocate_nothing_per_batch(dtype, optimizer, batch, hidden):
    rng = np.random.default_rng(0)
    model = fastmlp.MLP([64, hidden, 6, 3], dtype=dtype, seed=0, dropout=[0.5, 0.2])
    X = check_X(rng.normal(size=(100 * batch, 64)), 64, model.dtype)
    yi, t = check_targets(rng.integers(0, 3, len(X)), model.arch, len(X))
    opt = fastmlp.Optimizer(optimizer)
    state = opt.new_state(model.n_params, model.dtype)
    data = TrainingData(X, yi, t, batch, False, dropout=Dropout.from_seed(model.dropout, 0))

    _epoch_stats(model, opt, state, data, np.arange(batch))  # compile, buffers
    d1, r1 = _epoch_stats(model, opt, state, data, np.arange(batch))
    d100, r100 = _epoch_stats(model, opt, state, data, np.arange(100 * batch))
    assert r1.steps == 1 and r100.steps == 100 and not r100.diverged
    assert d1 == d100 == {"alloc": 0, "free": 0, "mi_alloc": 0, "mi_free": 0}  # no NRT event (see test_epoch_allocations)


def test_dropout_is_saved_loaded_pickled_copied_and_shown(tmp_path):
    model = fastmlp.MLP([3, 5, 4, 2], seed=0, dropout=[0.25, 0.5])
    assert model.dropout == (0.25, 0.5)
    assert "dropout=[0.25, 0.5]" in repr(model)
    assert "dropout=0.1" in repr(fastmlp.MLP([3, 5, 4, 2], dropout=0.1))
    assert "dropout" not in repr(fastmlp.MLP([3, 5, 4, 2]))
    path = model.save(tmp_path / "m")
    assert fastmlp.MLP.load(path).dropout == (0.25, 0.5)
    assert pickle.loads(pickle.dumps(model)).dropout == (0.25, 0.5)
    assert model.copy().dropout == (0.25, 0.5)
    old = model.__getstate__()
    del old["_dropout"]  # pickled before dropout existed
    unpickled = object.__new__(fastmlp.MLP)
    unpickled.__setstate__(old)
    assert unpickled.dropout == (0.0, 0.0)


def test_files_without_dropout_load_and_bad_rates_are_refused(tmp_path):
    model = fastmlp.MLP([3, 5, 2], seed=0, dropout=0.3)
    f = modelfile.read(model.save(tmp_path / "m"))
    old = dict(f.meta)
    del old["dropout"]  # as written before dropout existed
    modelfile.write(tmp_path / "old", old, f.params)
    assert fastmlp.MLP.load(tmp_path / "old").dropout == (0.0,)
    for bad in ([1.0], [0.2, 0.2], ["0.2"], 0.2, [-0.1]):
        meta = dict(f.meta, dropout=bad)
        modelfile.write(tmp_path / "bad", meta, f.params)
        with pytest.raises(modelfile.ModelFormatError, match="dropout"):
            fastmlp.MLP.load(tmp_path / "bad")
    assert json.loads(json.dumps(f.meta))["dropout"] == [0.3]


@pytest.mark.parametrize("value,error", [(1.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                         ("0.2", TypeError), (True, TypeError), ([0.1], ValueError),
                                         ([0.1, 0.2, 0.3], ValueError), ([0.1, 1.5], ValueError), (object(), TypeError)])
def test_bad_rates_are_refused(value, error):
    with pytest.raises(error, match="dropout"):
        fastmlp.MLP([3, 5, 4, 2], dropout=value)
    model = fastmlp.MLP([3, 5, 4, 2], dropout=0.2, seed=0)
    with pytest.raises(error, match="dropout"):
        model.dropout = value
    assert model.dropout == (0.2, 0.2)
    X, y = _data(3, "cross_entropy", 2, 8)
    before = model.params.copy()
    with pytest.raises(error, match="dropout"):
        model.fit(X, y, epochs=1, verbose=0, dropout=value)
    assert_array_equal(model.params, before) and model.history is None


def test_dropout_needs_hidden_layers():
    with pytest.raises(ValueError, match="hidden layers"):
        fastmlp.MLP([3, 2], dropout=0.5)
    assert fastmlp.MLP([3, 2], dropout=0.0).dropout == ()
    with pytest.raises(ValueError, match="dropout_seed"):
        fastmlp.MLP([3, 4, 2], dropout=0.5).loss_and_grad(np.zeros((2, 3)), [0, 1], dropout_seed=-1)


def test_fit_time_rates_override_the_models_for_that_fit_only():
    kw = dict(layers=[4, 6, 3], activation="tanh", loss="cross_entropy", n=10)
    X, y = _data(4, "cross_entropy", 3, 10)
    model = fastmlp.MLP([4, 6, 3], activation="tanh", dtype="float64", seed=0)
    model.fit(X, y, epochs=3, batch_size=4, lr=0.1, seed=7, verbose=0, dropout=0.5)
    assert model.dropout == (0.0,)
    assert_array_equal(model.params, _train("numba", dropout=0.5, **kw).params)
    with_model_rate = fastmlp.MLP([4, 6, 3], activation="tanh", dtype="float64", seed=0, dropout=0.5)
    with_model_rate.fit(X, y, epochs=3, batch_size=4, lr=0.1, seed=7, verbose=0, dropout=0.0)
    assert_array_equal(with_model_rate.params, _train("numba", dropout=0.0, **kw).params)


def test_a_network_with_dropout_still_learns():
    from fastmlp.datasets import circles
    data = circles(n_samples=600, noise=0.05, seed=0, test_size=0.25)
    model = fastmlp.MLP([2, 64, 64, 2], activation="relu", seed=0, dropout=0.2)
    model.fit(data.X_train, data.y_train, epochs=40, batch_size=16, lr=0.05, optimizer="sgd", momentum=0.9, seed=0,
              verbose=0)
    assert model.evaluate(data.X_test, data.y_test)["accuracy"] > 0.9
