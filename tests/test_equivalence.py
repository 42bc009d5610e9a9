"""The three backends ('loop', 'numpy', 'numba') compute the same numbers.

Closeness criterion used throughout (``assert_close``)::

    max|a - b| <= tol * max(1, max|a|)

with ``a`` the reference array (the first backend in the comparison). It is a
relative error measured against the largest entry of the whole array, with an
absolute floor of ``tol`` for arrays whose entries are all below 1 in size
(a per-entry relative error would blow up on entries that are ~0 by
cancellation, which carry only rounding noise). Tolerances: 1e-10 in float64,
1e-4 in float32. Every gradient array (each layer's dW and db) is compared on
its own, so a small layer is not hidden behind a large one.

The pure-Python ``loop`` backend is slow (~1e-7 s per multiply-add), so it only
joins a comparison when ``batch * n_params`` is below ``LOOP_BUDGET``; the
other configurations compare ``numpy`` against ``numba``.
"""
import numpy as np
import pytest

import fastmlp
from fastmlp import MLP
from fastmlp.kernels import config

TOL = {"float64": 1e-10, "float32": 1e-4}
ACTS = ["identity", "tanh", "sigmoid", "relu", "leaky_relu"]
LOSSES = ["cross_entropy", "mse", "bce"]
LOOP_BUDGET = 60_000  # batch * n_params above which the loop backend is left out


def assert_close(a, b, tol, what=""):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    err = np.abs(a - b).max() if a.size else 0.0
    scale = max(1.0, np.abs(a).max() if a.size else 0.0)
    assert err <= tol * scale, f"{what}: max abs diff {err:.3e} > {tol:g} * {scale:.3e}"


def make_data(layers, loss, m, rng, y_2d=False):
    """X (m, n_in) standard normal and targets suited to ``loss``."""
    X = rng.normal(size=(m, layers[0]))
    n_out = layers[-1]
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, m)
    elif loss == "bce":
        y = rng.integers(0, 2, m).astype(np.float64)
    else:
        y = rng.normal(size=(m, n_out))
        if n_out == 1 and not y_2d:
            y = y[:, 0]  # (m,) targets for one output
    return X, y


def build(layers, activation, loss, dtype, seed=0):
    # glorot_normal keeps the activations O(1) through 4 layers: the hidden
    # units are neither all saturated nor all dead, so every branch is used.
    return MLP(layers, activation=activation, loss=loss, init="glorot_normal",
               bias_init="glorot_normal", dtype=dtype, seed=seed)


def with_backend(model, name):
    other = model.copy()
    other.backend = name
    return other


def compare_backends(layers, activation, loss, m, dtype, backends, seed=0, y_2d=False):
    rng = np.random.default_rng(seed + 1000)
    X, y = make_data(layers, loss, m, rng, y_2d)
    base = build(layers, activation, loss, dtype, seed)
    tol = TOL[dtype]
    results = {}
    for name in backends:
        model = with_backend(base, name)
        loss_v, grads = model.loss_and_grad(X, y)
        assert grads.dtype == np.dtype(dtype), name
        assert np.array_equal(model.params, base.params), f"{name} changed params"
        results[name] = (loss_v, grads, model.layer_outputs(X), model.evaluate(X, y))
    ref_name = backends[0]
    ref_loss, ref_grads, ref_outs, ref_eval = results[ref_name]
    assert np.isfinite(ref_loss)
    split_ref = base.split(ref_grads)
    for name in backends[1:]:
        loss_v, grads, outs, ev = results[name]
        tag = f"{name} vs {ref_name}"
        assert_close(ref_loss, loss_v, tol, f"{tag} loss")
        for l, ((dW0, db0), (dW1, db1)) in enumerate(zip(split_ref, base.split(grads))):
            assert_close(dW0, dW1, tol, f"{tag} dW[{l}]")
            assert_close(db0, db1, tol, f"{tag} db[{l}]")
        assert len(outs) == len(ref_outs) == len(layers) - 1
        for l, (o0, o1) in enumerate(zip(ref_outs, outs)):
            assert o1.shape == (m, layers[l + 1]) and o1.dtype == np.dtype(dtype)
            assert_close(o0, o1, tol, f"{tag} layer_outputs[{l}]")
        assert_close(ref_eval["loss"], ev["loss"], tol, f"{tag} evaluate loss")
        # evaluate's loss is the same mean loss loss_and_grad returns
        assert_close(loss_v, ev["loss"], tol, f"{tag} evaluate vs loss_and_grad")
        if loss == "mse":
            assert np.isnan(ev["accuracy"]) and np.isnan(ref_eval["accuracy"])
        else:
            assert ev["accuracy"] == ref_eval["accuracy"], tag
    return results


def n_params(layers):
    return sum(k * n + n for k, n in zip(layers[:-1], layers[1:]))


def backends_for(layers, m):
    if m * n_params(layers) <= LOOP_BUDGET:
        return ("numpy", "loop", "numba")
    return ("numpy", "numba")


# -- explicit cases: edge shapes, every activation, every loss ---------------------------------
EXPLICIT = [
    # (layers, activation, loss, batch)
    ([3, 2], "relu", "cross_entropy", 1),            # depth 1 (no hidden layer), batch 1
    ([1, 1], "relu", "mse", 1),                      # everything of size 1
    ([1, 1], "relu", "bce", 1),
    ([4, 1, 3], "tanh", "cross_entropy", 5),          # hidden width 1
    ([1, 1, 1, 1, 1], "sigmoid", "mse", 33),          # depth 4, width 1, batch 33
    ([5, 1, 1, 1, 1], "leaky_relu", "bce", 33),
    ([6, 8, 7, 5, 4], "tanh", "cross_entropy", 33),  # depth 4, batch 33
    ([6, 8, 7, 5, 4], ["relu", "sigmoid", "identity"], "mse", 7),  # a different activation per layer
    ([7, 9, 2], "leaky_relu", "cross_entropy", 1),
    ([2, 50, 3], "relu", "mse", 33),                  # width 50
    ([50, 3, 1], "sigmoid", "bce", 2),
    ([3, 4, 2], "identity", "cross_entropy", 9),
]
EXPLICIT += [([5, 6, 4], act, loss, 8) for act in ACTS for loss in ("cross_entropy", "mse")]
EXPLICIT += [([5, 6, 1], act, "bce", 8) for act in ACTS]
EXPLICIT += [([4, 3, 1], act, "mse", 3) for act in ACTS]  # mse with one output


def _id(case):
    layers, act, loss, m = case
    act = act if isinstance(act, str) else "+".join(act)
    return f"{'-'.join(map(str, layers))}_{act}_{loss}_m{m}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", EXPLICIT, ids=[_id(c) for c in EXPLICIT])
def test_backends_agree_explicit(case, dtype):
    layers, act, loss, m = case
    assert ("loop" in backends_for(layers, m))  # the explicit cases are all small enough for loops
    compare_backends(layers, act, loss, m, dtype, ("numpy", "loop", "numba"))


def test_mse_one_output_y_1d_and_2d_agree():
    """(m,) and (m, 1) targets mean the same thing for one mse output."""
    layers = [3, 4, 1]
    r1 = compare_backends(layers, "tanh", "mse", 6, "float64", ("numpy", "loop", "numba"), seed=3)
    r2 = compare_backends(layers, "tanh", "mse", 6, "float64", ("numpy", "loop", "numba"), seed=3, y_2d=True)
    for name in r1:
        assert r1[name][0] == r2[name][0]
        assert np.array_equal(r1[name][1], r2[name][1])


# -- a seeded random sample of configurations --------------------------------------------------
def _random_configs(n, seed=20240607):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        depth = int(rng.integers(1, 5))          # weight layers 1..4
        loss = LOSSES[i % 3]
        widths = [int(w) for w in rng.integers(1, 51, depth)]  # n_in and hidden widths
        if loss == "cross_entropy":
            n_out = int(rng.integers(2, 11))
        elif loss == "bce":
            n_out = 1
        else:
            n_out = int(rng.choice([1, int(rng.integers(2, 8))]))
        layers = widths + [n_out]
        acts = [ACTS[int(j)] for j in rng.integers(0, len(ACTS), depth - 1)]
        m = int(rng.integers(1, 34))
        dtype = "float64" if i % 2 == 0 else "float32"
        cases.append((layers, acts, loss, m, dtype, 100 + i))
    return cases


RANDOM = _random_configs(30)


def test_random_sample_covers_the_space():
    """The sample really contains each activation, loss, dtype and a loop-backend share."""
    acts = {a for c in RANDOM for a in c[1]}
    assert acts == set(ACTS)
    assert {c[2] for c in RANDOM} == set(LOSSES)
    assert {c[4] for c in RANDOM} == {"float32", "float64"}
    assert {len(c[0]) - 1 for c in RANDOM} == {1, 2, 3, 4}
    assert sum("loop" in backends_for(c[0], c[3]) for c in RANDOM) >= 15


@pytest.mark.parametrize("case", RANDOM, ids=[f"r{i}_{'-'.join(map(str, c[0]))}_{c[2]}_m{c[3]}_{c[4]}"
                                             for i, c in enumerate(RANDOM)])
def test_backends_agree_random(case):
    layers, acts, loss, m, dtype, seed = case
    compare_backends(layers, acts, loss, m, dtype, backends_for(layers, m), seed=seed)


# -- the large path: BLAS products and long element-wise passes in numba -----------------------------------
LARGE = [
    ([300, 300, 300, 10], "relu", "cross_entropy", 600),
    ([300, 300, 300, 10], "tanh", "cross_entropy", 600),
    ([300, 300, 4], "sigmoid", "mse", 600),
    ([300, 300, 1], "leaky_relu", "bce", 600),
    ([300, 300, 300, 3], "identity", "mse", 600),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", LARGE, ids=[_id(c) for c in LARGE])
def test_backends_agree_large_blas(case, dtype):
    layers, act, loss, m = case
    # make sure the numba kernels really take the BLAS branches, on large blocks
    k, n = layers[0], layers[1]
    assert m * k * n >= config.BLAS_MIN_WORK
    assert m * n >= 1 << 17
    compare_backends(layers, act, loss, m, dtype, ("numpy", "numba"), seed=7)


def test_numba_chunked_forward_and_evaluate_agree():
    """Beyond NumbaBackend.EVAL_CHUNK rows, forward/evaluate run in chunks; same numbers."""
    from fastmlp.backends import NumbaBackend
    m = NumbaBackend.EVAL_CHUNK + 37
    layers = [5, 16, 3]
    rng = np.random.default_rng(5)
    X, y = make_data(layers, "cross_entropy", m, rng)
    base = build(layers, "tanh", "cross_entropy", "float64", seed=5)
    nb, npy = with_backend(base, "numba"), with_backend(base, "numpy")
    for o0, o1 in zip(npy.layer_outputs(X), nb.layer_outputs(X)):
        assert_close(o0, o1, 1e-10, "chunked layer_outputs")
    e0, e1 = npy.evaluate(X, y), nb.evaluate(X, y)
    assert_close(e0["loss"], e1["loss"], 1e-10, "chunked evaluate")
    assert e0["accuracy"] == e1["accuracy"]
    # and the gradient over the whole big batch (workspace grows)
    l0, g0 = npy.loss_and_grad(X, y)
    l1, g1 = nb.loss_and_grad(X, y)
    assert_close(l0, l1, 1e-10, "loss")
    assert_close(g0, g1, 1e-10, "grads")


def test_numba_workspace_reuse_across_batch_sizes():
    """A big batch then a small one (workspace bigger than the batch) gives the small-batch numbers."""
    layers = [4, 6, 3]
    base = build(layers, "sigmoid", "cross_entropy", "float64", seed=11)
    nb, npy = with_backend(base, "numba"), with_backend(base, "numpy")
    rng = np.random.default_rng(11)
    for m in (40, 3, 17, 1, 40):
        X, y = make_data(layers, "cross_entropy", m, rng)
        l0, g0 = npy.loss_and_grad(X, y)
        l1, g1 = nb.loss_and_grad(X, y)
        assert_close(l0, l1, 1e-10, f"loss m={m}")
        assert_close(g0, g1, 1e-10, f"grads m={m}")


# -- step activation: forward only ------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layers,loss", [([3, 5, 2], "cross_entropy"), ([4, 6, 5, 1], "bce"),
                                         ([2, 3, 3], "mse"), ([1, 4, 2], "cross_entropy")])
def test_step_forward_agrees(layers, loss, dtype):
    rng = np.random.default_rng(2)
    X, y = make_data(layers, loss, 13, rng)
    base = MLP(layers, activation="step", loss=loss, init="normal", init_std=1.0,
               bias_init="normal", dtype=dtype, seed=2)
    outs = {name: with_backend(base, name).layer_outputs(X) for name in ("numpy", "loop", "numba")}
    evals = {name: with_backend(base, name).evaluate(X, y) for name in ("numpy", "loop", "numba")}
    hidden = outs["numpy"][0]
    assert set(np.unique(hidden)) <= {0.0, 1.0}
    assert 0 < hidden.mean() < 1, "test data should switch some units on and some off"
    for name in ("loop", "numba"):
        for l, (o0, o1) in enumerate(zip(outs["numpy"], outs[name])):
            if l < len(layers) - 2:
                assert np.array_equal(o0, o1), f"step layer {l}, {name}"
            assert_close(o0, o1, TOL[dtype], f"{name} layer {l}")
        assert_close(evals["numpy"]["loss"], evals[name]["loss"], TOL[dtype], f"{name} evaluate")
        if loss != "mse":
            assert evals["numpy"]["accuracy"] == evals[name]["accuracy"]


def test_step_at_zero_is_one_in_every_backend():
    """step(0) = 1 (z >= 0) in every backend: a zero pre-activation is an edge case."""
    for name in ("numpy", "loop", "numba"):
        model = MLP([2, 3, 2], activation="step", loss="cross_entropy", init="zeros",
                    dtype="float64", backend=name)
        model.set_layer(0, b=[0.0, -1.0, 1.0])
        out = model.layer_outputs(np.array([[1.0, -2.0]]))[0]
        assert out.tolist() == [[1.0, 0.0, 1.0]], name


def test_correct_counts_agree_with_ties_free_data():
    """Accuracy from evaluate is the fraction where argmax(logits) == y, in every backend."""
    layers = [4, 8, 3]
    rng = np.random.default_rng(9)
    X, y = make_data(layers, "cross_entropy", 30, rng)
    base = build(layers, "tanh", "cross_entropy", "float64", seed=9)
    expected = float(np.mean(base.forward(X).argmax(axis=1) == y))
    for name in fastmlp.BACKEND_NAMES:
        assert with_backend(base, name).evaluate(X, y)["accuracy"] == expected


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-6)])
@pytest.mark.parametrize("layers,loss", [([3, 2], "cross_entropy"), ([5, 7, 4], "cross_entropy"),
                                         ([4, 6, 1], "bce"), ([6, 1, 3], "cross_entropy")])
@pytest.mark.parametrize("rows", [1, 9, 4096 + 37])
def test_probabilities_agree_across_backends(layers, loss, dtype, tol, rows):
    """predict_proba: numba's fused kernel (output, then softmax or sigmoid in float64) equals
    the NumPy and loop backends' softmax of their logits, in chunks beyond EVAL_CHUNK rows too."""
    X = np.random.default_rng(3).normal(size=(rows, layers[0])) * 3
    ref = MLP(layers, loss=loss, dtype=dtype, seed=2, backend="numpy")
    got = ref.copy()
    got.backend = "numba"
    p_ref, p_got = ref.predict_proba(X), got.predict_proba(X)
    assert p_got.dtype == np.float64 and p_got.shape == (rows, max(2, layers[-1]))
    np.testing.assert_allclose(p_got, p_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(p_got.sum(axis=1), 1.0, rtol=1e-12)
    if rows < 20:
        loop = ref.copy()
        loop.backend = "loop"
        np.testing.assert_allclose(loop.predict_proba(X), p_ref, rtol=max(tol, 1e-6), atol=max(tol, 1e-6))
