"""The Numba kernels called directly (outputs first) against NumPy.

Closeness: ``max|got - want| <= tol * max(1, max|want|)`` (relative to the
array's largest entry, absolute floor tol), tol 1e-12 in float64 and 1e-5 in
float32 for single kernels.
"""
import numpy as np
import pytest

from fastmlp import kernels as K
from fastmlp.architecture import Architecture
from fastmlp.backends import numpy as numpy_backend
from fastmlp.backends.numba import new_workspace
from fastmlp.kernels import config
from fastmlp.kernels.structs import CORRECT, LOSS_SUM

BLAS = config.BLAS_MIN_WORK
PAR = 1 << 17  # elements of a large block: long vectorised passes
TOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]
ACT_IDS = {"identity": K.IDENTITY, "tanh": K.TANH, "sigmoid": K.SIGMOID, "relu": K.RELU,
           "leaky_relu": K.LEAKY_RELU, "step": K.STEP}


def assert_close(got, want, tol, what=""):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape
    if not got.size:
        return
    err = np.abs(got - want).max()
    scale = max(1.0, np.abs(want).max())
    assert err <= tol * scale, f"{what}: {err:.3e} > {tol:g} * {scale:.3e}"


def np_act(name, z, alpha):
    z = z.astype(np.float64)
    return {
        "identity": lambda: z,
        "tanh": lambda: np.tanh(z),
        "sigmoid": lambda: 1 / (1 + np.exp(-z)),
        "relu": lambda: np.maximum(z, 0),
        "leaky_relu": lambda: np.where(z > 0, z, alpha * z),
        "step": lambda: (z >= 0).astype(np.float64),
    }[name]()


# (m, k, n) shapes: size 1, odd sizes, both sides of the BLAS threshold, the parallel threshold.
# The threshold shapes are derived from the config so they stay on the right side if it is tuned.
def _ceil_div(a, b):
    return -(-a // b)


_NB = _ceil_div(BLAS, 64)                  # 8 * 8 * _NB >= BLAS > 8 * 8 * (_NB - 1)
_MP = _ceil_div(PAR, 256)                  # _MP * 256 >= PAR
_MP_ODD = _ceil_div(PAR, 301) | 1          # odd, _MP_ODD * 301 >= PAR
SHAPES = [
    (1, 1, 1), (1, 7, 3), (3, 1, 5), (5, 4, 1), (13, 17, 19),
    (1, 300, 200),            # one row, BLAS-sized work
    (3, 300, 201),            # few rows, BLAS-sized work
    (8, 8, _NB - 1),          # just below BLAS_MIN_WORK: loops
    (8, 8, _NB),              # at BLAS_MIN_WORK: BLAS
    (33, 50, 49),             # BLAS, serial element-wise passes
    (_MP, 3, 256),            # m*n at PAR: a large block
    (_MP_ODD, 37, 301),       # odd sizes above both thresholds
]


def test_shapes_straddle_the_thresholds():
    works = [m * k * n for m, k, n in SHAPES]
    assert 8 * 8 * (_NB - 1) < BLAS <= 8 * 8 * _NB
    assert any(w < BLAS for w in works) and any(w >= BLAS for w in works)
    assert any(m * n >= PAR for m, _, n in SHAPES) and any(m * n < PAR for m, _, n in SHAPES)
    assert _MP * 256 - PAR < 256 and _MP_ODD % 2 == 1 and _MP_ODD * 301 >= PAR
    rows = getattr(config, "BLAS_MIN_ROWS_DX", 1)  # dx may stay on loops for few rows
    assert any(m * k * n >= BLAS and m < rows for m, k, n in SHAPES) or rows <= 1
    assert any(m * k * n >= BLAS and m >= rows for m, k, n in SHAPES)


def shape_id(s):
    return "x".join(map(str, s))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("act", list(ACT_IDS))
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_dense_forward(shape, act, dtype):
    m, k, n = shape
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    x = rng.normal(size=(m, k)).astype(dtype)
    W = rng.normal(size=(k, n)).astype(dtype)
    b = rng.normal(size=n).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    alpha = 0.1
    K.dense_forward(out, x, W, b, ACT_IDS[act], alpha)
    assert out.dtype == dtype
    z = x.astype(np.float64) @ W.astype(np.float64) + b
    want = np_act(act, z, alpha)
    if act == "step":
        # only where z is not within rounding of 0
        safe = np.abs(z) > 1e-4 * np.sqrt(k)
        assert np.array_equal(out[safe], want[safe])
    else:
        # x @ W sums k products: scale the tolerance by the size of those sums
        tol = TOL[dtype] * max(1.0, np.sqrt(k)) * (10 if dtype == np.float32 else 1)
        assert_close(out, want, tol, f"dense_forward {act}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_dense_backward(shape, dtype):
    m, k, n = shape
    rng = np.random.default_rng(m + 7 * k + 31 * n)
    x = rng.normal(size=(m, k)).astype(dtype)
    W = rng.normal(size=(k, n)).astype(dtype)
    dout = rng.normal(size=(m, n)).astype(dtype)
    dx = np.full((m, k), np.nan, dtype)
    dW = np.full((k, n), np.nan, dtype)
    db = np.full(n, np.nan, dtype)
    K.dense_backward(dx, dW, db, dout, x, W)
    for a in (dx, dW, db):
        assert a.dtype == dtype
    x64, W64, d64 = (a.astype(np.float64) for a in (x, W, dout))
    f = 1.0 if dtype == np.float64 else 10.0
    assert_close(dW, x64.T @ d64, TOL[dtype] * f * np.sqrt(m), "dW")
    assert_close(db, d64.sum(axis=0), TOL[dtype] * f * np.sqrt(m), "db")
    assert_close(dx, d64 @ W64.T, TOL[dtype] * f * np.sqrt(n), "dx")


@pytest.mark.parametrize("shape", [(4, 3, 5), (_MP_ODD, 37, 301)], ids=shape_id)
def test_dense_backward_skips_empty_dx(shape):
    """An empty dx (first layer) skips the input gradient but still computes dW, db."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    x, W, dout = rng.normal(size=(m, k)), rng.normal(size=(k, n)), rng.normal(size=(m, n))
    dW, db = np.empty((k, n)), np.empty(n)
    dx = np.empty((0, k))
    K.dense_backward(dx, dW, db, dout, x, W)
    assert_close(dW, x.T @ dout, 1e-12 * np.sqrt(m))
    assert_close(db, dout.sum(axis=0), 1e-12 * np.sqrt(m))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("act", list(ACT_IDS))
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (1, PAR + 3), (_MP, 256)], ids=shape_id)
def test_act_backward(shape, act, dtype):
    """dz *= act'(z) from the outputs a; one row, small, and big (>= PAR) blocks."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=shape)
    a = np_act(act, z, 0.2).astype(dtype)
    dz = rng.normal(size=shape).astype(dtype)
    want = dz.astype(np.float64) * {
        "identity": 1.0, "tanh": 1 - a.astype(np.float64) ** 2,
        "sigmoid": a.astype(np.float64) * (1 - a.astype(np.float64)),
        "relu": (a > 0).astype(np.float64), "leaky_relu": np.where(a > 0, 1.0, 0.2),
        "step": 0.0,
    }[act]
    K.act_backward(dz, a, ACT_IDS[act], 0.2)
    assert dz.dtype == dtype
    assert_close(dz, want, TOL[dtype], act)


# -- losses ------------------------------------------------------------------------------------
def np_softmax_xent(z, y):
    z = z.astype(np.float64)
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
    p = np.exp(z - lse[:, None])
    m = len(y)
    dz = p.copy()
    dz[np.arange(m), y] -= 1
    return (lse - z[np.arange(m), y]).sum(), dz / m, int((z.argmax(axis=1) == y).sum())


LOSS_SHAPES = [(1, 2), (1, 1), (5, 3), (33, 10), (257, 7)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [s for s in LOSS_SHAPES if s[1] >= 2], ids=shape_id)
def test_softmax_xent(shape, dtype):
    m, c = shape
    rng = np.random.default_rng(m * c)
    z = (3 * rng.normal(size=shape)).astype(dtype)
    y = rng.integers(0, c, m).astype(np.int64)
    dz = np.full(shape, np.nan, dtype)
    stats = np.array([1.5, 2.0])  # the kernel adds into stats
    K.softmax_xent(dz, stats, z, y, np.zeros(0, z.dtype))
    loss, g, correct = np_softmax_xent(z, y)
    assert dz.dtype == dtype
    assert_close(stats[0], 1.5 + loss, TOL[dtype] * 10 * m, "loss sum (added into stats)")
    assert stats[1] == 2.0 + correct
    assert_close(dz, g, TOL[dtype], "dz")
    # each row of dz sums to 0 (softmax sums to 1, minus the one-hot)
    assert_close(dz.astype(np.float64).sum(axis=1), np.zeros(m), TOL[dtype])
    # evaluation mode: empty dz, only stats
    stats2 = np.zeros(2)
    K.softmax_xent(np.empty((0, c), dtype), stats2, z, y, np.zeros(0, z.dtype))
    assert_close(stats2[0], loss, TOL[dtype] * 10 * m, "evaluation-mode loss")
    assert stats2[1] == correct


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_softmax_xent_huge_logits(dtype):
    """Logits of +-1000 (exp overflows/underflows) give a finite loss and exact grads."""
    big = 1000.0 if dtype == np.float64 else 1000.0
    z = np.array([[big, -big], [-big, big], [big, -big], [big, big - 5], [-big, -big]], dtype)
    y = np.array([1, 1, 0, 1, 0], np.int64)
    m = len(y)
    dz = np.empty_like(z)
    stats = np.zeros(2)
    K.softmax_xent(dz, stats, z, y, np.zeros(0, z.dtype))
    assert np.isfinite(stats).all() and np.isfinite(dz).all()
    # per-sample losses: 2000, 0, 0, 5 + log(1 + e^-5), log 2
    want_loss = 2 * big + 0 + 0 + (5 + np.log1p(np.exp(-5))) + np.log(2)
    assert stats[0] == pytest.approx(want_loss, rel=1e-6 if dtype == np.float32 else 1e-12)
    assert stats[1] == 2 + 1  # rows 1, 2 right; row 4 a tie -> first index 0 == y
    p4 = 1 / (1 + np.exp(-5))  # softmax of class 0 in row 3
    want_dz = np.array([[1, -1], [0, 0], [0, 0], [p4, 1 - p4 - 1], [0.5 - 1, 0.5]]) / m
    assert_close(dz, want_dz, TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=shape_id)
def test_mse(shape, dtype):
    m, c = shape
    rng = np.random.default_rng(m + c)
    z = rng.normal(size=shape).astype(dtype)
    t = rng.normal(size=shape).astype(dtype)
    dz = np.full(shape, np.nan, dtype)
    stats = np.zeros(2)
    K.mse(dz, stats, z, t, np.zeros(0, z.dtype))
    r = z.astype(np.float64) - t
    assert dz.dtype == dtype
    assert_close(stats[0], (r ** 2).mean(axis=1).sum(), TOL[dtype] * m, "loss sum")
    assert stats[1] == 0
    assert_close(dz, 2 * r / r.size, TOL[dtype], "dz")
    stats2 = np.zeros(2)
    K.mse(np.empty((0, c), dtype), stats2, z, t, np.zeros(0, z.dtype))
    assert stats2[0] == stats[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("m", [1, 2, 9, 100])
def test_sigmoid_bce(m, dtype):
    rng = np.random.default_rng(m)
    z = (4 * rng.normal(size=(m, 1))).astype(dtype)
    t = rng.integers(0, 2, (m, 1)).astype(dtype)
    dz = np.full((m, 1), np.nan, dtype)
    stats = np.zeros(2)
    K.sigmoid_bce(dz, stats, z, t, np.zeros(0, z.dtype))
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    p = 1 / (1 + np.exp(-z64))
    want = -(t64 * np.log(p) + (1 - t64) * np.log(1 - p))
    assert dz.dtype == dtype
    assert_close(stats[0], want.sum(), TOL[dtype] * 10 * m, "loss sum")
    assert stats[1] == int(((z64 > 0) == (t64 > 0.5)).sum())
    assert_close(dz, (p - t64) / m, TOL[dtype], "dz")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_sigmoid_bce_huge_logits(dtype):
    z = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]], dtype)
    t = np.array([[1.0], [0.0], [0.0], [1.0]], dtype)
    dz = np.empty_like(z)
    stats = np.zeros(2)
    K.sigmoid_bce(dz, stats, z, t, np.zeros(0, z.dtype))
    assert np.isfinite(stats).all() and np.isfinite(dz).all()
    assert stats[0] == pytest.approx(2000.0, rel=1e-12)  # two confident mistakes of 1000 each
    assert stats[1] == 2
    assert_close(dz, np.array([[0.0], [0.0], [1.0], [-1.0]]) / 4, TOL[dtype])


# -- races: parallel branches are deterministic ------------------------------------------------
def test_dense_backward_parallel_is_deterministic():
    m, k, n = _MP_ODD, 64, 301
    assert m * n >= PAR and m * k * n >= BLAS
    rng = np.random.default_rng(42)
    x, W, dout = rng.normal(size=(m, k)), rng.normal(size=(k, n)), rng.normal(size=(m, n))
    first = None
    for _ in range(20):
        dx, dW, db = np.empty((m, k)), np.empty((k, n)), np.empty(n)
        K.dense_backward(dx, dW, db, dout, x, W)
        if first is None:
            first = (dx, dW, db)
            assert_close(dW, x.T @ dout, 1e-12 * np.sqrt(m))
            assert_close(db, dout.sum(axis=0), 1e-12 * np.sqrt(m))
            assert_close(dx, dout @ W.T, 1e-12 * np.sqrt(n))
        else:
            for a, b in zip(first, (dx, dW, db)):
                assert np.array_equal(a, b)


def test_col_sums_of_a_tall_block_are_deterministic_and_exact():
    """db = column sums of a tall (m*n >= PAR) dout, repeated 20 times."""
    m, n = 4096, 40
    assert m * n >= PAR
    rng = np.random.default_rng(3)
    dout = rng.normal(size=(m, n))
    x = rng.normal(size=(m, 1))
    W = rng.normal(size=(1, n))
    ref = dout.sum(axis=0)
    results = []
    for _ in range(20):
        dW, db = np.empty((1, n)), np.empty(n)
        K.dense_backward(np.empty((0, 1)), dW, db, dout, x, W)
        results.append(db)
    assert all(np.array_equal(results[0], r) for r in results[1:])
    assert_close(results[0], ref, 1e-12 * np.sqrt(m))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_network_loss_and_grad_parallel_is_deterministic(dtype):
    """The whole network kernel on a big batch, 20 times: bit-identical, equal to numpy."""
    m, width = _MP_ODD, 301
    assert m * width >= PAR and m * 8 * width >= BLAS
    arch = Architecture.build([8, width, 10], "tanh", "cross_entropy", 0.01, np.dtype(dtype).name)
    ws = new_workspace(arch, m)
    rng = np.random.default_rng(0)
    params = (rng.normal(size=arch.n_params) * 0.08).astype(dtype)
    X = rng.normal(size=(m, 8)).astype(dtype)
    y = rng.integers(0, 10, m).astype(np.int64)
    t = np.zeros((0, 10), dtype)
    first = None
    for _ in range(20):
        grads = np.empty_like(params)
        ws.stats[:] = 0
        K.loss_and_grad(grads, ws, params, X, y, t, np.zeros(0, arch.dtype), arch.net)
        if first is None:
            first = (grads, ws.stats.copy())
        else:
            assert np.array_equal(first[0], grads)
            assert np.array_equal(first[1], ws.stats)
    loss, g, correct = numpy_backend.loss_and_grad(arch, params, X, y, t)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    assert_close(first[1][LOSS_SUM] / m, loss, tol, "loss")
    assert first[1][CORRECT] == correct
    for (gW0, gb0), (gW1, gb1) in zip(arch.split(g), arch.split(first[0])):
        assert_close(gW1, gW0, tol, "dW")
        assert_close(gb1, gb0, tol, "db")


# -- the network kernels on the named groups (Net, Workspace) ----------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("layers", [[4, 3], [5, 7, 3], [6, 9, 2, 4], [3, 300, 20, 2]], ids=lambda l: "-".join(map(str, l)))
def test_forward_layout_and_output_agree_with_numpy(layers, dtype):
    """forward writes layer l's (m, n_l) block at ws.rows * lay[l, A_OFF] (a workspace sized for
    more rows than the batch), and output (ping-pong scratch, last layer only) gives the last one."""
    from fastmlp.kernels.structs import A_OFF, N_OUT
    arch = Architecture.build(layers, "tanh", "cross_entropy", 0.01, np.dtype(dtype).name)
    m, rows = 5, 9
    ws = new_workspace(arch, rows)
    assert ws.rows == rows and ws.acts.shape == ws.deltas.shape == (rows * arch.width_sum,)
    rng = np.random.default_rng(len(layers))
    params = (rng.normal(size=arch.n_params) * 0.3).astype(dtype)
    X = rng.normal(size=(m, layers[0])).astype(dtype)
    K.forward(ws, params, X, arch.net)
    want = numpy_backend.forward(arch, params, X)
    tol = TOL[dtype] * (10 if dtype == np.float32 else 1) * np.sqrt(max(layers))
    for l, w in enumerate(want):
        assert arch.lay[l, N_OUT] == layers[l + 1]
        off = ws.rows * arch.lay[l, A_OFF]
        assert_close(ws.acts[off:off + m * layers[l + 1]].reshape(m, -1), w, tol, f"layer {l}")
    out = np.full((m, layers[-1]), np.nan, dtype)
    scratch = np.full(2 * m * arch.max_hidden, np.nan, dtype)
    K.output(out, scratch, params, X, arch.net)
    assert out.dtype == dtype
    assert_close(out, want[-1], tol, "output")


# -- float32 stays float32 ----------------------------------------------------------------------
def test_float32_kernels_keep_float32():
    """float32 buffers in, float32 results out, equal to the float64 computation up to float32 rounding."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(40, 30)).astype(np.float32)
    W = rng.normal(size=(30, 20)).astype(np.float32)
    b = rng.normal(size=20).astype(np.float32)
    out32 = np.empty((40, 20), np.float32)
    K.dense_forward(out32, x, W, b, K.TANH, 0.0)
    out64 = np.empty((40, 20))
    K.dense_forward(out64, x.astype(np.float64), W.astype(np.float64), b.astype(np.float64), K.TANH, 0.0)
    assert out32.dtype == np.float32
    assert np.abs(out32 - out64).max() < 1e-5
    dx, dW, db = np.empty((40, 30), np.float32), np.empty((30, 20), np.float32), np.empty(20, np.float32)
    K.dense_backward(dx, dW, db, out32, x, W)
    assert dx.dtype == dW.dtype == db.dtype == np.float32
    # the float32 entry points were compiled for float32 arrays (no silent float64 path)
    assert any([str(t.dtype) for t in sig[:4]] == ["float32"] * 4 for sig in K.dense_forward.signatures)


def test_float32_model_numba_outputs_are_float32():
    from fastmlp import MLP
    model = MLP([5, 7, 3], activation="sigmoid", dtype="float32", seed=0)
    X = np.random.default_rng(0).normal(size=(4, 5))  # float64 in: converted
    outs = model.layer_outputs(X)
    assert all(o.dtype == np.float32 for o in outs)
    loss, g = model.loss_and_grad(X, [0, 1, 2, 0])
    assert g.dtype == np.float32 and isinstance(loss, float)
    assert model.params.dtype == np.float32
