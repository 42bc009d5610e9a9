"""Sample weights and class weights in ``fit``: scikit-learn's meaning (each batch's loss is
sum w_i l_i / sum w_i), integer weights as repeated rows in full-batch training, batches of
weight 0 skipped, the three backends agreeing in float64 for every optimizer, the weighted
validation loss, class_weight ('balanced' and dicts), and refused weights that change nothing."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastmlp
from fastmlp import MLP

BACKENDS = ["loop", "numpy", "numba"]
OPTIMIZERS = {
    "sgd": ("sgd", {}, 0.1),
    "sgd_mom_wd": ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.01), 0.05),
    "adam": ("adam", dict(weight_decay=0.01), 0.02),
    "rmsprop": ("rmsprop", {}, 0.01),
    "adagrad": ("adagrad", dict(lr_decay=0.1), 0.1),
}
LOSSES = {"cross_entropy": 3, "mse": 2, "bce": 1, "multilabel": 3, "softmax_mse": 3}


def _data(loss, n, n_in=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    k = LOSSES[loss]
    if loss in ("cross_entropy", "softmax_mse"):
        y = rng.integers(0, k, n)
    elif loss == "mse":
        y = rng.normal(size=(n, k))
    else:
        y = rng.integers(0, 2, (n, k)) if loss == "multilabel" else rng.integers(0, 2, n)
    return X, y


def _fit(backend, loss, X, y, opt="adam", epochs=3, batch_size=None, dtype="float64", **kw):
    name, hyper, lr = OPTIMIZERS[opt]
    m = MLP([X.shape[1], 5, LOSSES[loss]], activation="tanh", loss=loss, dtype=dtype, backend=backend, seed=1)
    h = m.fit(X, y, epochs=epochs, batch_size=batch_size or len(X), lr=lr, optimizer=fastmlp.Optimizer(name, **hyper),
              seed=4, verbose=0, **kw)
    return m, h


# -- the meaning of the weights ----------------------------------------------------------------------
def test_weighted_gradient_is_the_weighted_mean_of_per_sample_gradients():
    X, y = _data("cross_entropy", 6)
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25])
    m = MLP([3, 5, 3], activation="tanh", dtype="float64", seed=0)
    per_sample = [m.loss_and_grad(X[i:i + 1], y[i:i + 1]) for i in range(6)]
    want_loss = sum(wi * l for wi, (l, _) in zip(w, per_sample)) / w.sum()
    want_grad = sum(wi * g for wi, (_, g) in zip(w, per_sample)) / w.sum()
    for b in BACKENDS:
        m.backend = b
        loss, grad = m.loss_and_grad(X, y, sample_weight=w)
        assert loss == pytest.approx(want_loss, rel=1e-12)
        assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-14)
        assert m.evaluate(X, y, sample_weight=w)["loss"] == pytest.approx(want_loss, rel=1e-12)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_weights_are_repeated_rows_in_full_batch_training(backend, opt, loss):
    """Weights [2, 1, ..., 0, ...] in full batch train exactly as row 0 repeated and the zero rows removed."""
    X, y = _data(loss, 9)
    w = np.ones(9)
    w[0], w[5] = 2.0, 0.0
    keep = np.r_[0, np.arange(9)[w > 0]]
    weighted, hw = _fit(backend, loss, X, y, opt, sample_weight=w)
    repeated, hr = _fit(backend, loss, X[keep], y[keep], opt)
    assert_allclose(weighted.params, repeated.params, rtol=1e-10, atol=1e-12)
    assert_allclose(hw["loss"], hr["loss"], rtol=1e-10)
    assert not np.allclose(weighted.params, _fit(backend, loss, X, y, opt)[0].params, atol=1e-6)  # weights matter


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("batch_size", [1, 4])
def test_backends_agree_with_weights(opt, loss, batch_size):
    """Mini-batches of 4 over 11 rows (a partial last batch) and batch 1, zero weights included."""
    X, y = _data(loss, 11, seed=2)
    w = np.random.default_rng(5).integers(0, 4, 11).astype(np.float64)
    w[3] = 1.5
    runs = {b: _fit(b, loss, X, y, opt, batch_size=batch_size, sample_weight=w, validation_data=(X, y, w))
            for b in BACKENDS}
    ref_m, ref_h = runs["numpy"]
    for b in ("loop", "numba"):
        m, h = runs[b]
        assert_allclose(m.params, ref_m.params, rtol=1e-10, atol=1e-10, err_msg=b)
        assert_allclose(h["loss"], ref_h["loss"], rtol=1e-10, err_msg=b)
        assert_allclose(h["val_loss"], ref_h["val_loss"], rtol=1e-10, err_msg=b)
    if batch_size == 1:  # the numba backend trained weighted batch-1 data with the batched kernel
        assert runs["numba"][0].engine.choose_epoch_kernel(fastmlp.Optimizer("sgd"), 1, True) == "fused"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_of_zero_weights_is_skipped(backend):
    """In order, batches of 2: the first batch weighs 0, so training equals training on the
    rows after it (no update, no optimizer step, not counted in the loss)."""
    X, y = _data("cross_entropy", 8)
    w = np.array([0, 0, 1, 1, 1, 1, 1, 1.0])
    a, ha = _fit(backend, "cross_entropy", X, y, "adam", batch_size=2, shuffle=False, sample_weight=w)
    b, hb = _fit(backend, "cross_entropy", X[2:], y[2:], "adam", batch_size=2, shuffle=False)
    assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)
    assert a.optimizer_state.step == b.optimizer_state.step == 9
    assert_allclose(ha["loss"], hb["loss"], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_at_batch_size_one_only_skip_zeros(backend):
    """Each batch's loss is normalised by its own weight sum: with one row per batch a positive
    weight cancels, so only the zero weights change the training (scikit-learn's convention)."""
    X, y = _data("cross_entropy", 7)
    w = np.array([3.0, 0.5, 1.0, 2.0, 7.0, 1.0, 0.25])
    a, _ = _fit(backend, "cross_entropy", X, y, "sgd", batch_size=1, sample_weight=w)
    b, _ = _fit(backend, "cross_entropy", X, y, "sgd", batch_size=1)
    assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)


def test_equal_weights_train_exactly_as_no_weights():
    X, y = _data("cross_entropy", 10)
    for b in BACKENDS:
        a, ha = _fit(b, "cross_entropy", X, y, batch_size=3, dtype="float32", sample_weight=np.full(10, 2.5))
        c, hc = _fit(b, "cross_entropy", X, y, batch_size=3, dtype="float32")
        assert np.array_equal(a.params, c.params) and ha["loss"] == hc["loss"]


def test_validation_loss_is_weighted_only_when_weights_are_given():
    X, y = _data("cross_entropy", 12)
    Xv, yv = _data("cross_entropy", 6, seed=9)
    wv = np.array([1.0, 5, 0, 2, 1, 3])
    m, h = _fit("numba", "cross_entropy", X, y, validation_data=(Xv, yv, wv), epochs=1)
    assert h["val_loss"][-1] == pytest.approx(m.evaluate(Xv, yv, sample_weight=wv)["loss"], rel=1e-12)
    assert h["val_loss"][-1] != pytest.approx(m.evaluate(Xv, yv)["loss"], rel=1e-6)
    m2, h2 = _fit("numba", "cross_entropy", X, y, sample_weight=np.arange(1.0, 13), validation_data=(Xv, yv),
                  epochs=1)
    assert h2["val_loss"][-1] == pytest.approx(m2.evaluate(Xv, yv)["loss"], rel=1e-12)  # the plain mean


def test_validation_split_keeps_the_weights_of_its_rows():
    X, y = _data("cross_entropy", 20)
    w = np.linspace(0.5, 3, 20)
    m, h = _fit("numpy", "cross_entropy", X, y, epochs=1, validation_split=0.25, sample_weight=w)
    assert np.isfinite(h["val_loss"]).all()


# -- class weights -----------------------------------------------------------------------------------
def test_balanced_class_weight_equals_its_sample_weights():
    X, _ = _data("cross_entropy", 12)
    y = np.array([0] * 8 + [1] * 3 + [2])
    counts = np.bincount(y)
    w = 12 / (3 * counts[y])
    a, _ = _fit("numpy", "cross_entropy", X, y, batch_size=5, class_weight="balanced")
    b, _ = _fit("numpy", "cross_entropy", X, y, batch_size=5, sample_weight=w)
    assert np.array_equal(a.params, b.params)


def test_class_weight_dict_multiplies_sample_weight():
    X, _ = _data("bce", 10)
    y = np.array([0, 1] * 5)
    sw = np.linspace(1, 2, 10)
    a, _ = _fit("numba", "bce", X, y, batch_size=4, class_weight={1: 3.0}, sample_weight=sw)
    b, _ = _fit("numba", "bce", X, y, batch_size=4, sample_weight=sw * np.where(y == 1, 3.0, 1.0))
    assert_allclose(a.params, b.params, rtol=1e-13)


def test_class_weight_shifts_an_imbalanced_classifier():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(int)
    X = rng.normal(size=(400, 2)) + y[:, None] * 1.0
    plain, _ = _fit("numba", "cross_entropy", X, y, epochs=30, batch_size=32)
    plain_pred = MLP.predict(plain, X)
    m = MLP([2, 5, 2], activation="tanh", dtype="float64", seed=1)
    m.fit(X, y, epochs=30, batch_size=32, lr=0.02, optimizer="adam", seed=4, verbose=0, class_weight="balanced")
    assert (m.predict(X) == 1).sum() > 3 * max((plain_pred == 1).sum(), 5)
    assert (m.predict(X)[y == 1] == 1).mean() > 0.6  # the minority class is found


# -- refused weights change nothing ------------------------------------------------------------------
@pytest.mark.parametrize("kw,exc,match", [
    (dict(sample_weight=-np.ones(8)), ValueError, "must be >= 0"),
    (dict(sample_weight=np.r_[np.nan, np.ones(7)]), ValueError, "NaN"),
    (dict(sample_weight=np.ones(7)), ValueError, r"shape \(8,\)"),
    (dict(sample_weight=np.ones((8, 1))), ValueError, r"shape \(8,\)"),
    (dict(sample_weight=np.zeros(8)), ValueError, "all zero"),
    (dict(sample_weight=np.array(["a"] * 8)), TypeError, "real numbers"),
    (dict(class_weight="balance"), ValueError, "balanced"),
    (dict(class_weight=[1, 2]), TypeError, "class_weight"),
    (dict(class_weight={5: 1.0}), ValueError, "not a class id"),
    (dict(class_weight={0: -1.0}), ValueError, r"class_weight\[0\]"),
    (dict(class_weight={0: 0.0, 1: 0.0, 2: 0.0}), ValueError, "zero for every sample"),
    (dict(sampling="bootstrap"), ValueError, "sampling"),
])
def test_bad_weights_are_refused_and_change_nothing(kw, exc, match):
    X, y = _data("cross_entropy", 8)
    m = MLP([3, 5, 3], dtype="float64", seed=0)
    m.fit(X, y, epochs=1, batch_size=4, optimizer="adam", verbose=0)
    params, step, n_hist = m.params.copy(), m.optimizer_state.step, len(m.history)
    with pytest.raises(exc, match=match):
        m.fit(X, y, epochs=1, batch_size=4, optimizer="adam", verbose=0, **kw)
    assert np.array_equal(m.params, params) and m.optimizer_state.step == step and len(m.history) == n_hist


def test_class_weight_needs_one_class_per_sample():
    for loss in ("mse", "multilabel"):
        X, y = _data(loss, 6)
        m = MLP([3, LOSSES[loss]], loss=loss)
        with pytest.raises(ValueError, match="use sample_weight"):
            m.fit(X, y, epochs=1, verbose=0, class_weight="balanced")
    m = MLP([3, 1], loss="bce")
    with pytest.raises(ValueError, match="0/1 labels"):
        m.fit(np.zeros((2, 3)), [0.3, 1.0], epochs=1, verbose=0, class_weight="balanced")


def test_online_kernel_refuses_weights():
    m = MLP([3, 3])
    m.engine.epoch_kernel = "online"
    X, y = _data("cross_entropy", 5)
    with pytest.raises(ValueError, match="unweighted data only"):
        m.fit(X, y, epochs=1, batch_size=1, verbose=0, sample_weight=np.arange(1.0, 6))


def test_warm_up_rehearses_a_weighted_fit_without_changing_the_model():
    from fastmlp.progress import warm_up
    X, y = _data("cross_entropy", 40)
    m = MLP([3, 5, 3], seed=0)
    before = m.params.copy()
    warm_up(m, X, y, batch_size=8, epochs=3, sample_weight=np.arange(40.0), class_weight="balanced")
    assert np.array_equal(m.params, before) and m.history is None


@pytest.mark.parametrize("hyper", [dict(l2=0.1, clip_norm=0.5), dict(l1=0.01, clip_value=0.05, momentum=0.9)])
def test_backends_agree_with_weights_penalties_and_clipping(hyper):
    X, y = _data("cross_entropy", 11, seed=3)
    w = np.random.default_rng(6).integers(0, 3, 11).astype(np.float64)
    w[0] = 2.0
    runs = []
    for b in BACKENDS:
        m = MLP([3, 5, 3], activation="tanh", dtype="float64", backend=b, seed=1)
        h = m.fit(X, y, epochs=3, batch_size=4, lr=0.05, optimizer="sgd" if "momentum" in hyper else "adam",
                  seed=4, verbose=0, sample_weight=w, **hyper)
        runs.append((m.params.copy(), h["loss"]))
    for params, loss in runs[:2]:
        assert_allclose(params, runs[2][0], rtol=1e-10, atol=1e-12)
        assert_allclose(loss, runs[2][1], rtol=1e-10)
