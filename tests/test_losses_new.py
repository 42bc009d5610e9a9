"""The losses 'multilabel' (a sigmoid + binary cross-entropy per output unit) and 'softmax_mse'
(softmax + squared error to the one-hot target): kernels against independent formulas, the
three backends against each other in float64, gradients against finite differences,
predictions, target checks, save/load, and training that learns."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastmlp import MLP
from fastmlp import kernels as K
from fastmlp.gradcheck import gradcheck

BACKENDS = ["loop", "numpy", "numba"]


def _targets(loss, rng, n, k):
    if loss == "multilabel":
        return rng.integers(0, 2, (n, k))
    return rng.integers(0, k, n)


# -- kernels against independent formulas ---------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m,c", [(1, 1), (1, 4), (7, 3), (64, 5)])
def test_sigmoid_xent_kernel(m, c, dtype):
    rng = np.random.default_rng(m * 10 + c)
    z = (3 * rng.normal(size=(m, c))).astype(dtype)
    t = rng.integers(0, 2, (m, c)).astype(dtype)
    dz = np.full((m, c), np.nan, dtype)
    stats = np.zeros(3)
    K.sigmoid_xent(dz, stats, z, t, np.zeros(0, dtype))
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    p = 1 / (1 + np.exp(-z64))
    per_sample = (-(t64 * np.log(p) + (1 - t64) * np.log(1 - p))).mean(axis=1)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    assert stats[0] == pytest.approx(per_sample.sum(), rel=tol * 10)
    assert stats[1] == ((z64 > 0) == (t64 > 0.5)).all(axis=1).sum()  # subset accuracy
    assert stats[2] == 0  # no weights, no weight sum
    assert_allclose(dz, (p - t64) / (m * c), rtol=tol * 10, atol=tol)
    ev = np.zeros(3)
    K.sigmoid_xent(np.empty((0, c), dtype), ev, z, t, np.zeros(0, dtype))
    assert ev[0] == pytest.approx(stats[0], rel=tol) and ev[1] == stats[1]


def test_sigmoid_xent_of_one_unit_is_bce():
    rng = np.random.default_rng(1)
    z, t = rng.normal(size=(9, 1)) * 4, rng.integers(0, 2, (9, 1)).astype(np.float64)
    out = []
    for kernel in (K.sigmoid_xent, K.sigmoid_bce):
        dz, stats = np.empty_like(z), np.zeros(3)
        kernel(dz, stats, z, t, np.zeros(0))
        out.append((dz, stats))
    assert_allclose(out[0][0], out[1][0], rtol=1e-14)
    assert_allclose(out[0][1], out[1][1], rtol=1e-14)


def test_sigmoid_xent_huge_logits_stay_finite():
    z = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    t = np.array([[1.0, 0.0], [1.0, 1.0]])
    dz, stats = np.empty_like(z), np.zeros(3)
    K.sigmoid_xent(dz, stats, z, t, np.zeros(0))
    assert np.isfinite(stats).all() and np.isfinite(dz).all()
    assert stats[0] == pytest.approx(1000.0 / 2)  # one confident mistake of 1000, averaged over 2 labels
    assert stats[1] == 1
    assert_allclose(dz, np.array([[0.0, 0.0], [-1.0, 0.0]]) / 4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m,c", [(1, 2), (5, 3), (33, 10)])
def test_softmax_mse_kernel_against_the_jacobian(m, c, dtype):
    """dz = J^T dL/dp with the full softmax Jacobian J = diag(p) - p p^T, built explicitly."""
    rng = np.random.default_rng(m + c)
    z = (2 * rng.normal(size=(m, c))).astype(dtype)
    y = rng.integers(0, c, m).astype(np.int64)
    dz = np.full((m, c), np.nan, dtype)
    stats = np.zeros(3)
    K.softmax_mse(dz, stats, z, y, np.zeros(0, dtype))
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(c)[y]
    want_dz = np.empty((m, c))
    for i in range(m):
        J = np.diag(p[i]) - np.outer(p[i], p[i])
        want_dz[i] = J.T @ (2 * (p[i] - onehot[i]) / c) / m
    tol = 1e-12 if dtype == np.float64 else 2e-6
    assert stats[0] == pytest.approx(((p - onehot) ** 2).mean(axis=1).sum(), rel=tol * 10, abs=tol * m)
    assert stats[1] == (z64.argmax(axis=1) == y).sum()
    assert_allclose(dz, want_dz, rtol=tol * 100, atol=tol)
    assert_allclose(dz.astype(np.float64).sum(axis=1), 0, atol=tol * 10)  # softmax: rows of dz sum to 0


def test_softmax_mse_huge_logits_stay_finite():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    y = np.array([1, 1])
    dz, stats = np.empty_like(z), np.zeros(3)
    K.softmax_mse(dz, stats, z, y, np.zeros(0))
    assert np.isfinite(stats).all() and np.isfinite(dz).all()
    assert stats[0] == pytest.approx(2 / 3 + ((1 / (1 + np.e)) ** 2 * 2) / 3)


# -- the three backends in float64 --------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["multilabel", "softmax_mse"])
@pytest.mark.parametrize("layers,n", [([3, 5, 4], 11), ([2, 3], 1), ([4, 7, 3, 2], 6), ([1, 2, 5], 9)])
def test_backends_agree_on_loss_gradient_and_outputs(loss, layers, n):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, layers[0]))
    y = _targets(loss, rng, n, layers[-1])
    w = rng.uniform(0, 2, n)
    w[0] = 1.0
    got = {}
    for b in BACKENDS:
        m = MLP(layers, activation="tanh", loss=loss, dtype="float64", backend=b, seed=2)
        got[b] = (m.loss_and_grad(X, y), m.loss_and_grad(X, y, sample_weight=w), m.evaluate(X, y),
                  m.evaluate(X, y, sample_weight=w), m.predict(X), m.predict_proba(X))
    ref = got["numpy"]
    for b in ("loop", "numba"):
        (l, g), (lw, gw), ev, evw, pred, proba = got[b]
        assert l == pytest.approx(ref[0][0], rel=1e-10) and lw == pytest.approx(ref[1][0], rel=1e-10)
        assert_allclose(g, ref[0][1], rtol=1e-10, atol=1e-12)
        assert_allclose(gw, ref[1][1], rtol=1e-10, atol=1e-12)
        assert ev["loss"] == pytest.approx(ref[2]["loss"], rel=1e-10) and ev["accuracy"] == ref[2]["accuracy"]
        assert evw["loss"] == pytest.approx(ref[3]["loss"], rel=1e-10)
        assert np.array_equal(pred, ref[4])
        assert_allclose(proba, ref[5], rtol=1e-12)


@pytest.mark.parametrize("loss", ["multilabel", "softmax_mse"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_passes(loss, backend):
    rng = np.random.default_rng(3)
    m = MLP([3, 6, 4], activation="sigmoid", loss=loss, dtype="float64", backend=backend, seed=1)
    X = rng.normal(size=(8, 3))
    y = _targets(loss, rng, 8, 4)
    assert gradcheck(m, X, y)["max_rel_error"] < 1e-5


# -- predictions and targets ---------------------------------------------------------------------------
def test_multilabel_predictions_are_indicator_matrix_and_sigmoids():
    m = MLP([2, 3], activation="tanh", loss="multilabel", dtype="float64", seed=0)
    m.set_layer(0, W=[[1.0, -1.0, 0.0], [0.0, 0.0, 2.0]], b=[0.0, 0.5, -1.0])
    X = np.array([[1.0, 0.0], [-1.0, 1.0]])
    z = X @ m.W[0] + m.b[0]
    assert np.array_equal(m.predict(X), (z > 0).astype(int))
    assert m.predict(X).shape == (2, 3)
    assert_allclose(m.predict_proba(X), 1 / (1 + np.exp(-z)), rtol=1e-14)
    assert m.arch.n_classes == 3 and m.arch.is_classifier
    # accuracy: a sample counts when every label is right
    y = np.array([[1, 0, 0], [1, 1, 1]])  # row 0 right on all three labels; row 1 wrong on the first
    assert m.evaluate(X, y)["accuracy"] == 0.5


def test_softmax_mse_predicts_class_ids_and_takes_one_hot_rows():
    rng = np.random.default_rng(0)
    m = MLP([3, 4], loss="softmax_squared_error", dtype="float64", seed=0)
    assert m.loss == "softmax_mse"
    X = rng.normal(size=(6, 3))
    y = rng.integers(0, 4, 6)
    assert np.array_equal(m.predict(X), m.forward(X).argmax(axis=1))
    assert_allclose(m.predict_proba(X).sum(axis=1), 1.0)
    assert m.loss_and_grad(X, np.eye(4)[y])[0] == m.loss_and_grad(X, y)[0]


@pytest.mark.parametrize("loss", ["multilabel", "softmax_mse"])
def test_step_activation_works_in_hand_set_networks(loss):
    """A step layer set by hand computes forward (XOR-like units) with the new output losses."""
    m = MLP([2, 2, 2], activation="step", loss=loss, dtype="float64", backend="numba")
    m.set_layer(0, W=[[1.0, 1.0], [1.0, 1.0]], b=[-0.5, -1.5])  # OR, AND
    m.set_layer(1, W=[[4.0, -4.0], [-8.0, 4.0]], b=[-2.0, 2.0])
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    hidden = m.layer_outputs(X)[0]
    assert np.array_equal(hidden, [[0, 0], [1, 0], [1, 0], [1, 1]])
    xor = np.array([0, 1, 1, 0])
    if loss == "multilabel":
        assert np.array_equal(m.predict(X), np.stack([xor, 1 - xor], axis=1))
    else:
        assert np.array_equal(m.predict(X), 1 - xor)
    for b in ("numpy", "loop"):
        m.backend = b
        assert np.array_equal(m.layer_outputs(X)[0], hidden)
    with pytest.raises(ValueError, match="step"):
        m.loss_and_grad(X, np.stack([xor, 1 - xor], axis=1) if loss == "multilabel" else xor)


def test_target_and_architecture_checks():
    with pytest.raises(ValueError, match="softmax_mse.*at least 2 output units"):
        MLP([3, 1], loss="softmax_mse")
    m = MLP([3, 2], loss="multilabel")
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        m.loss_and_grad(X, [[1, 0, 1], [0, 1, 1]])
    with pytest.raises(ValueError, match="0/1 labels or probabilities"):
        m.loss_and_grad(X, [[1, 2], [0, 1]])
    with pytest.raises(ValueError, match="class ids must be in"):
        MLP([3, 2], loss="softmax_mse").loss_and_grad(X, [0, 2])


@pytest.mark.parametrize("loss", ["multilabel", "softmax_mse"])
def test_save_and_load_keep_the_loss(tmp_path, loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = _targets(loss, rng, 20, 4)
    m = MLP([3, 5, 4], loss=loss, seed=0)
    m.fit(X, y, epochs=2, batch_size=4, optimizer="adam", lr=0.01, verbose=0)
    back = MLP.load(m.save(tmp_path / "m"))
    assert back.loss == loss
    assert np.array_equal(back.params, m.params)
    assert np.array_equal(back.predict(X), m.predict(X))
    assert_allclose(back.predict_proba(X), m.predict_proba(X))
    back.fit(X, y, epochs=1, batch_size=4, optimizer="adam", lr=0.01, verbose=0)  # the optimizer state resumes
    assert back.optimizer_state.step == m.optimizer_state.step + 5


def test_multilabel_learns_independent_labels():
    """Three labels, each a different half-plane: the network learns all three at once."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0.5], axis=1).astype(int)
    m = MLP([2, 16, 3], activation="tanh", loss="multilabel", seed=0)
    h = m.fit(X, Y, epochs=40, batch_size=32, optimizer="adam", lr=0.02, seed=0, verbose=0)
    assert h["loss"][-1] < 0.3 * h["loss"][0]
    assert (m.predict(X) == Y).mean() > 0.95  # per label
    assert m.evaluate(X, Y)["accuracy"] > 0.85  # all three right


def test_softmax_mse_learns_classes():
    rng = np.random.default_rng(1)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, 300)
    X = centers[y] + rng.normal(size=(300, 2))
    m = MLP([2, 16, 3], activation="relu", loss="softmax_mse", seed=0)
    m.fit(X, y, epochs=30, batch_size=16, optimizer="adam", lr=0.01, seed=0, verbose=0)
    assert m.evaluate(X, y)["accuracy"] > 0.95
