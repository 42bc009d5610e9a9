"""Products and updates cut over Numba's threads (``kernels.split``): the same numbers as one
call, every output element written by exactly one piece; the epoch kernel with ``Net.parts``
trains what it trains without; the numba backend cuts only the trainings it should, with the
BLAS on one thread during the call and back after."""
import os
import subprocess
import sys
import threading
import warnings

import numba
import numpy as np
import pytest
from numba.core.runtime import rtsys

import fastmlp
from fastmlp import kernels as K
from fastmlp.backends import numba as backend
from fastmlp.backends import TrainingData
from fastmlp.backends import thread_choice as tc
from fastmlp.backends import tiles as backend_tiles
from fastmlp.checks import check_targets, check_X
from fastmlp.optimizers import make_optimizer
from choices import choose_products
from test_epoch_allocations import nrt_stats  # noqa: F401  (the NRT statistics, switched on)
from fastmlp.kernels.blas import gemm
from fastmlp.kernels.config import SPLIT_MIN_UPDATE, SPLIT_MIN_WORK
from fastmlp.kernels.optimizers import step_coeffs, update_range as _update_range
from fastmlp.kernels import intrinsics, split
from fastmlp.kernels import tiles as K_tiles
from fastmlp.kernels.structs import OWN_DW_TILES, OWN_FORWARD, OWN_SPARSE, OWN_TILES, Hyper, UpdateRange
from fastmlp.kernels.static import Static



@pytest.fixture(autouse=True, scope="module")
def thread_pool():
    """Numba's thread pool started, as the numba backend starts it before its first kernel: code that
    links to a cached parallel kernel cannot load before it (``intrinsics.launch_threads``), and the
    wrappers below call the kernels directly."""
    intrinsics.launch_threads()


# The kernels' helpers have no Python entry point (``config.JIT_INNER``): called through these.
@numba.njit
def piece(n, parts, t, align):
    return split.piece(n, parts, t, align)


@numba.njit
def product(C, A, ta, B, tb, alpha, beta, parts):
    split.product(C, A, ta, B, tb, alpha, beta, parts)


@numba.njit
def split_update(params, first, second, grads, hyper, step, parts):
    split.split_update(params, first, second, grads, hyper, step, parts)


@numba.njit
def update_range(params, first, second, grads, hyper, step):
    _update_range(params, first, second, grads, hyper, step)


@numba.njit
def split_step(dx, dW, dz, a_in, W, params, first, second, grads, hyper, step, parts):
    c = step_coeffs(hyper, step, params)
    split.split_step(dx, dW, dz, a_in, W, UpdateRange(params, first, second, grads), hyper.kind, c,
                     hyper.nesterov != 0, parts)


several_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="one core: nothing is cut")


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 100, 1000, 4097])
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
@pytest.mark.parametrize("align", [1, 16])
def test_pieces_cover_the_range_once_in_order_on_aligned_boundaries(n, parts, align):
    bounds = [piece(n, parts, t, align) for t in range(parts)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (lo, hi), (lo2, _) in zip(bounds, bounds[1:]):
        assert lo <= hi == lo2
    assert all(lo % align == 0 or lo == n for lo, _ in bounds)
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= align  # even, to the alignment


# (m, k, n, transpose A, transpose B): C (m, n) = op(A) (m, k) @ op(B) (k, n). Each is cut (m*k*n >=
# SPLIT_MIN_WORK): along C's rows (m > n) or its columns, odd sizes, a piece narrower than the
# alignment, fewer rows than pieces.
SHAPES = [(64, 200, 100, False, False), (300, 64, 70, True, False), (64, 128, 257, False, True),
          (2, 4096, 130, False, False), (1100, 1000, 1, True, False), (33, 301, 129, True, True)]


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("m,k,n,ta,tb", SHAPES)
def test_a_cut_product_equals_one_call(m, k, n, ta, tb, dtype, tol, parts):
    assert m * k * n >= SPLIT_MIN_WORK
    rng = np.random.default_rng(m + k + n)
    A = rng.normal(size=(k, m) if ta else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if tb else (k, n)).astype(dtype)
    C0 = rng.normal(size=(m, n)).astype(dtype)
    for alpha, beta in ((1.0, 0.0), (-0.05, 1.0), (0.5, 0.25)):
        one, cut = C0.copy(), C0.copy()
        gemm(one, A, ta, B, tb, alpha, beta)
        product(cut, A, ta, B, tb, alpha, beta, parts)
        ref = alpha * ((A.T if ta else A).astype(np.float64) @ (B.T if tb else B)) + beta * C0
        scale = max(1.0, np.abs(ref).max())
        assert np.abs(cut - ref).max() <= tol * scale * np.sqrt(k)
        assert np.abs(cut - one).max() <= tol * scale * np.sqrt(k)


# A cut product (256x64 @ 64x128, cut along its rows, one BLAS call per piece on one thread) whose sums of 64
# products of 1e-20 * 1e-20 are denormal: kept by the BLAS alone, 0 in every piece when the caller flushes.
_PIECES_CHECK = """
import numba, numpy as np
from fastmlp.backends import thread_choice as tc
from fastmlp.kernels import intrinsics, split
intrinsics.launch_threads()  # before a cached parallel kernel loads (as the numba backend does)
TINY32 = np.float32(np.finfo(np.float32).tiny)
@numba.njit
def product(C, A, B, flush):
    mode = intrinsics.flush_denormals(flush)
    split.product(C, A, False, B, False, 1.0, 0.0, 2)
    intrinsics.restore_fp_mode(mode)
A, B = np.full((256, 64), 1e-20, np.float32), np.full((64, 128), 1e-20, np.float32)
C = np.full((256, 128), -1.0, np.float32)
with tc.blas_limited():
    product(C, A, B, False)
    assert (C > 0).all() and (C < TINY32).all(), "the BLAS alone flushed"
    for _ in range(20):  # whichever threads take the pieces
        C[:] = -1.0
        product(C, A, B, True)
        assert not C.any(), f"rows {np.flatnonzero(C.any(axis=1))[[0, -1]]} kept denormals"
assert TINY32 * np.float32(0.25) != 0, "the caller's mode was not set back"
print(numba.threading_layer())
"""


@several_threads
@pytest.mark.skipif(not intrinsics.HAS_MXCSR, reason="no MXCSR: no floating-point mode to take")
@pytest.mark.parametrize("layer", ["tbb", "workqueue"])
def test_every_piece_of_a_cut_product_computes_in_its_callers_floating_point_mode(layer):
    """TBB runs a region's tasks in the mode of the thread that started it; Numba's workqueue layer runs
    every piece on threads of its own, in theirs (measured: not flushed there without ``enter_fp_mode``)."""
    if layer not in intrinsics.available_threading_layers() + ["workqueue"]:
        pytest.skip(f"the {layer} layer does not load here")
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    out = subprocess.run([sys.executable, "-c", _PIECES_CHECK], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == layer


@pytest.mark.parametrize("parts", [None, 1, 2])
def test_small_products_and_no_parts_are_one_call(parts):
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(8, 16)), rng.normal(size=(16, 8))  # 1024 multiply-adds < SPLIT_MIN_WORK
    C = np.zeros((8, 8))
    product(C, A, False, B, False, 1.0, 0.0, parts)
    np.testing.assert_allclose(C, A @ B, rtol=1e-13)


def _hyper(kind, **kw):
    base = dict(kind=kind, lr=0.01, momentum=0.0, nesterov=0, weight_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-3,
                alpha=0.9, lr_decay=0.0, l2=0.0, l1=0.0, decoupled_weight_decay=0.0, clip_value=0.0, clip_norm=0.0)
    base.update(kw)
    return Hyper(**base)


UPDATES = {
    "sgd": _hyper(K.SGD), "momentum": _hyper(K.SGD, momentum=0.9), "nesterov": _hyper(K.SGD, momentum=0.9, nesterov=1),
    "sgd_wd": _hyper(K.SGD, weight_decay=0.01), "adam": _hyper(K.ADAM, weight_decay=0.01),
    "adamw": _hyper(K.ADAM, decoupled_weight_decay=0.1), "rmsprop": _hyper(K.RMSPROP), "adagrad": _hyper(K.ADAGRAD),
}


# Every optimizer static in float64; in float32 the two most used; every optimizer chosen per call (one
# compiled update for all) in float64. Each combination is a compile of its own (about 1 s cold).
UPDATE_CASES = ([(name, "float64", True) for name in sorted(UPDATES)]
                + [(name, "float32", True) for name in ("adam", "momentum")]
                + [(name, "float64", False) for name in sorted(UPDATES)])


@pytest.mark.parametrize("n", [SPLIT_MIN_UPDATE - 1, SPLIT_MIN_UPDATE + 7, 3 * SPLIT_MIN_UPDATE + 1])
@pytest.mark.parametrize("name,dtype,static", UPDATE_CASES, ids=lambda v: {True: "static", False: "any"}.get(v, v))
def test_a_cut_update_is_bit_identical_to_one_pass(name, dtype, n, static):
    """Each element's update depends only on itself: a cut changes nothing at all."""
    hyper = UPDATES[name]
    if static:
        from fastmlp.backends.numba import update_choice
        hyper = hyper._replace(kind=Static(update_choice(hyper)))
    rng = np.random.default_rng(n)
    p, g = rng.normal(size=n).astype(dtype), rng.normal(size=n).astype(dtype)
    first, second = rng.random(n).astype(dtype), rng.random(n).astype(dtype)
    one = [a.copy() for a in (p, first, second)]
    cut = [a.copy() for a in (p, first, second)]
    for step in (1, 2, 3):
        update_range(*one, g, hyper, step)
        split_update(*cut, g, hyper, step, 3)
    for a, b, before in zip(one, cut, (p, first, second)):
        assert a.tobytes() == b.tobytes()
    assert not np.array_equal(one[0], p)  # the parameters moved


# Every optimizer chosen per call in float64 (one compile), Adam static in float32; SGD with momentum, plain
# and Nesterov, static (its gradient goes straight into the velocity: ``optimizers.velocity_fused``), with and
# without weight decay, in float64 and float32.
UPDATES["momentum_wd"] = _hyper(K.SGD, momentum=0.9, weight_decay=0.01)
UPDATES["nesterov_wd"] = _hyper(K.SGD, momentum=0.9, nesterov=1, weight_decay=0.01)
INTO_VELOCITY = ("momentum", "momentum_wd", "nesterov", "nesterov_wd")
STEP_CASES = ([(name, "float64", False) for name in sorted(UPDATES)] + [("adam", "float32", True)]
              + [(name, dtype, True) for name in INTO_VELOCITY for dtype in ("float64", "float32")])
STEP_TOLERANCES = {"float64": dict(rtol=1e-12, atol=1e-13), "float32": dict(rtol=2e-5, atol=1e-6)}
# and, for values that hold a product, this fraction of the sum of its terms' magnitudes: two BLAS kernels
# (or one cut in pieces) sum k terms in other orders, and where they cancel, the difference is a share of
# the terms, not of the result (Zen 5 with OpenBLAS's Haswell kernels: 3e-6 on a -0.012 of terms near 10)
PRODUCT_SLACK = {"float64": 1e-14, "float32": 1e-6}


def _assert_close(got, want, terms, dtype):
    """got to want within ``STEP_TOLERANCES`` plus ``PRODUCT_SLACK`` times ``terms``, the sum of
    the magnitudes of the products' terms behind each value."""
    tol = STEP_TOLERANCES[dtype]
    slack = tol["atol"] + tol["rtol"] * np.abs(want) + PRODUCT_SLACK[dtype] * terms
    excess = np.abs(got.astype(np.float64) - want) - slack
    assert not (excess > 0).any() and not np.isnan(got).any(), f"worst excess {np.nanmax(excess):.3g}"


@pytest.mark.parametrize("m,k,n", [(64, 300, 128), (5, 33, 17), (1, 17, 40)])
@pytest.mark.parametrize("below", [True, False], ids=["with_dx", "first_layer"])
@pytest.mark.parametrize("name,dtype,static", STEP_CASES, ids=lambda v: {True: "static", False: "any"}.get(v, v))
def test_a_cut_layer_step_is_the_backward_then_the_update(name, dtype, static, below, m, k, n):
    """dx with the W before the step, dW, and W updated from dW: as the products, then one update
    pass. SGD with momentum, static: no gradient buffer is written (the product went into the velocity); with
    Nesterov momentum the second slot holds the velocity before the step (``optimizers.keep_velocity``). The
    others take W's gradient rows at 0 and leave them at 0 (added into them, each set back to 0 once read)."""
    hyper = UPDATES[name]
    into_velocity = False
    if static:
        from fastmlp.backends.numba import update_choice
        hyper = hyper._replace(kind=Static(update_choice(hyper)))
        into_velocity = K.optimizers.velocity_fused(hyper.kind.value)
    assert into_velocity == (static and name in INTO_VELOCITY)
    keeps_previous = into_velocity and name.startswith("nesterov")
    rng = np.random.default_rng(m + k + n)
    dz, a_in = rng.normal(size=(m, n)).astype(dtype), rng.normal(size=(m, k)).astype(dtype)
    start = [rng.normal(size=k * n).astype(dtype), rng.random(k * n).astype(dtype), rng.random(k * n).astype(dtype)]
    p, first, second = [a.copy() for a in start]
    state, carried = {}, 0.0
    for step in (1, 2):
        W = p.reshape(k, n)
        dx_expected, dW_expected = dz @ W.T, a_in.T @ dz
        dx_terms, dW_terms = np.abs(dz) @ np.abs(W).T, np.abs(a_in).T @ np.abs(dz)
        carried = dW_terms.ravel() + carried  # velocity and weights carry every step's gradient
        update_range(p, first, second, dW_expected.ravel().copy(), hyper, step)
        for parts in (2, 3):
            q, f, s = [a.copy() for a in state[parts]] if step > 1 else [a.copy() for a in start]
            dx = np.full((m, k) if below else (0, k), np.nan, dtype)
            grads = np.full(k * n, np.nan if into_velocity else 0.0, dtype)
            velocity_before = f.copy()
            split_step(dx, grads.reshape(k, n), dz, a_in, q.reshape(k, n), q, f, s, grads, hyper, step, parts)
            if below:
                _assert_close(dx, dx_expected, dx_terms, dtype)
            if into_velocity:
                assert np.isnan(grads).all()
            else:
                assert not grads.any()  # each read, then set back to 0
            if keeps_previous:
                assert s.tobytes() == velocity_before.tobytes()
            for got, expected in zip((q, f, s)[:2 if keeps_previous else 3], (p, first, second)):
                _assert_close(got, expected, carried, dtype)
            state[parts] = (q, f, s)
        dz, a_in = rng.normal(size=(m, n)).astype(dtype), rng.normal(size=(m, k)).astype(dtype)
    assert not np.allclose(p, start[0])  # the parameters moved


needs_tiles = pytest.mark.skipif(not backend_tiles.available(), reason="AMX tiles cannot run here")


@pytest.fixture(autouse=True)
def cut_at_once():
    """The cut kernel prepared at a training's first epoch call (as before ``CUT_AFTER_S``), so that
    these short trainings reach it; the tests of the delay set their own. A patch of its own: the
    tests' ``monkeypatch.undo()`` leaves it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backend, "CUT_AFTER_S", 0.0)
        yield


def _spy(monkeypatch, threads=False):
    """Each epoch call's kernel, Net.parts and the BLAS's thread count during it (and, with ``threads``, the
    calling thread's identifier)."""
    calls = []
    real = backend.NumbaBackend._call_epoch

    def spy(self, kernel, *args):
        net = args[-1]
        calls.append((kernel, net.parts, tc.blas_threads(), net.threads) + ((threading.get_ident(),) if threads
                                                                            else ()))
        return real(self, kernel, *args)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", spy)
    return calls


# -- the epoch kernel with Net.parts -------------------------------------------------------------------
# 300-128-128-10 at batch 64: 64 x 300 x 128 = 2.5M multiply-adds (cut), 64 x 128 x 128 = 1.05M (cut, with
# its dx), then 64 x 128 x 10 (one call); 38,400 and 16,384 weights (cut updates: with a static optimizer
# and no penalty, each in the same region as its layer's products), a partial last batch of 8 rows.
LAYERS = [300, 128, 128, 10]


def _epochs(monkeypatch, parts, optimizer, dtype, dropout=None, own=None, zeros=0.0, **options):
    """A model trained 2 epochs through the generic kernel with ``Net.parts`` = ``parts``: once to have the
    cut kernel compiled (a thread compiles it while the first epochs run uncut), then the measured run,
    every call of which is checked to run cut. ``own``: ``Net.own`` (else None, as ``products.own_products``
    gives on inputs without zeros); ``zeros``: the share of the inputs set to zero."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, LAYERS[0])).astype(dtype)
    X[rng.random(X.shape) < zeros] = 0
    y = rng.integers(0, LAYERS[-1], 200)
    extra = {} if dropout is None else {"dropout": dropout}

    def patch():
        monkeypatch.setattr(backend, "split_parts", lambda kernel, arch, rows: parts)
        choose_products(monkeypatch, own)
    patch()
    fastmlp.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # fixed: no one-thread probe pieces (never cut)
    try:
        for run in range(2):
            m = fastmlp.MLP(LAYERS, activation="relu", seed=3, dtype=dtype, **extra)
            m.engine.epoch_kernel = "generic"
            calls = _spy(monkeypatch)
            m.fit(X, y, epochs=2, batch_size=64, optimizer=optimizer, verbose=0, seed=1, **options)
            backend._wait_for_cut_compiles()
            monkeypatch.undo()
            patch()
    finally:
        fastmlp.set_num_threads("auto")
    assert calls and {c[1] for c in calls} == {parts}
    # the first layer's own product over nonzero inputs cut as the products are (one piece uncut)
    assert {c[3] for c in calls} == {None if own is None else (parts or 1)}
    monkeypatch.undo()
    return m


TRAININGS = {
    "momentum": dict(optimizer="sgd", lr=0.02, momentum=0.9), "nesterov_l2": dict(optimizer="sgd", lr=0.02,
                                                                                    momentum=0.9, nesterov=True, l2=1e-3),
    "adam": dict(optimizer="adam", lr=1e-3), "adamw_clip": dict(optimizer="adam", lr=1e-3, decoupled_weight_decay=0.1,
                                                                 clip_norm=1.0),
    "rmsprop_l1": dict(optimizer="rmsprop", lr=1e-3, l1=1e-4), "adagrad_clip_value": dict(optimizer="adagrad", lr=0.01,
                                                                                           clip_value=0.5),
    "sgd_wd_dropout": dict(optimizer="sgd", lr=0.05, weight_decay=1e-3, dropout=0.2),
}


TOLERANCES = {"float64": (1e-10, 1e-12), "float32": (1e-4, 1e-5)}


def _options(name, dtype):
    """``TRAININGS[name]``'s options for ``dtype``. In float32, Adam's eps is 1e-6 instead of 1e-8: at 1e-8 a weight
    whose gradients are float32's rounding noise (sums that nearly cancel) steps by up to lr whichever way the
    noise falls, and other summation orders (the cut's) then move it apart: one weight of 56,330 by 1.5e-5 here
    (Intel Xeon model 207), by 2.7e-5 with OpenBLAS's Haswell kernel and the kernels compiled for Zen 1 (AVX2),
    where every other weight kept within 2.7e-7. Rounding amplified, not the cut: at 1e-6, 2.9e-6 at most."""
    options = dict(TRAININGS[name])
    if dtype == "float32" and options["optimizer"] == "adam":
        options["eps"] = 1e-6
    return options


def _blas_pieces_round_as_one_call():
    """Whether this BLAS's product cut into three pieces as the cut kernels cut it (``kernels.split``: one call on
    one thread a piece) gives one call's bits, at the first layer's shape at 64 rows: OpenBLAS's AVX-512 kernels
    do; its Haswell kernel (``OPENBLAS_CORETYPE=Zen``: AVX2 CPUs) does not, cut in two or three, along rows or
    columns."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, LAYERS[0])).astype(np.float32)
    W = rng.standard_normal((LAYERS[0], LAYERS[1])).astype(np.float32)
    one, cut = np.empty((64, LAYERS[1]), np.float32), np.empty((64, LAYERS[1]), np.float32)
    with fastmlp.threads.one_blas_thread():  # each piece's call on one thread, as the cut kernels hold the BLAS
        K.repeat_product(one, x, W, False, 1)
        K.repeat_product(cut, x, W, False, 1, None, 3)
    return np.array_equal(one, cut)


@pytest.mark.skipif("+avx2" not in intrinsics.llvm.get_host_cpu_features().flatten().split(","),
                    reason="OpenBLAS's Haswell kernel needs AVX2")
def test_the_check_of_the_blas_s_pieces_tells_the_kernels_apart():
    """``_blas_pieces_round_as_one_call`` as the CPUs differ: run with OpenBLAS's Haswell kernel (the one AVX2 CPUs
    such as Zen 1 run; forced by ``OPENBLAS_CORETYPE``), three pieces do not round as one call, and the sparse
    test's bit-level check is not made there; the pieces' sums still right to float32's tolerance."""
    code = ("import numpy as np, fastmlp, test_split as t; from fastmlp import kernels as K\n"
            "t.intrinsics.launch_threads()\n"  # before a cached parallel kernel loads (as the backend does)
            "rng = np.random.default_rng(1); x = rng.standard_normal((64, 300)).astype(np.float32)\n"
            "W = rng.standard_normal((300, 128)).astype(np.float32); out = np.empty((64, 128), np.float32)\n"
            "with fastmlp.threads.one_blas_thread(): K.repeat_product(out, x, W, False, 1, None, 3)\n"
            "np.testing.assert_allclose(out, x.astype(np.float64) @ W, rtol=1e-5, atol=1e-4)\n"
            "from threadpoolctl import threadpool_info\n"
            "print([p.get('architecture') for p in threadpool_info() if p['internal_api'] == 'openblas'])\n"
            "print(t._blas_pieces_round_as_one_call())")
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell", PYTHONPATH=os.pathsep.join(
        [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    *_, kernels, verdict = out.stdout.split("\n")[:-1]
    if "Haswell" not in kernels:
        pytest.skip(f"NumPy's BLAS is not an OpenBLAS that takes OPENBLAS_CORETYPE ({kernels})")
    assert verdict == "False"


# Every training in float64, the two most used in float32 (each case compiles two epoch kernels cold).
@pytest.mark.parametrize("name,dtype", [(name, "float64") for name in sorted(TRAININGS)]
                         + [("adam", "float32"), ("momentum", "float32")])
def test_the_epoch_kernel_cut_over_threads_trains_the_same_weights(monkeypatch, name, dtype):
    rtol, atol = TOLERANCES[dtype]
    options = _options(name, dtype)
    optimizer = options.pop("optimizer")
    whole = _epochs(monkeypatch, None, optimizer, dtype, **options)
    for parts in (2, 3):
        cut = _epochs(monkeypatch, parts, optimizer, dtype, **options)
        np.testing.assert_allclose(cut.params, whole.params, rtol=rtol, atol=atol)
        assert not np.allclose(cut.params, fastmlp.MLP(LAYERS, activation="relu", seed=3, dtype=dtype).params,
                               rtol=rtol, atol=100 * atol)  # trained: the weights moved
        assert cut.history["loss"] == pytest.approx(whole.history["loss"], rel=1e-6)


# -- the first layer's forward product on AMX tiles -------------------------------------------------------------------
def _unpacked_weights(tiles, k, n):
    """The W (k, n) float64 that the packed weights at the start of a training's ``Workspace.tiles`` hold (the three
    parts summed; ``kernels.tiles``'s layout)."""
    nt, kt = K_tiles.n_tiles(n), K_tiles.k_tiles(k)
    part = nt * kt * K_tiles.TILE_ELEMENTS
    W = np.zeros((kt * K_tiles.K_TILE, nt * K_tiles.N_TILE))
    for p in range(K_tiles.PARTS):
        bits = tiles[p * part:(p + 1) * part].astype(np.uint32) << 16
        v = bits.view(np.float32).astype(np.float64).reshape(nt, kt, K_tiles.TILE_ROWS, K_tiles.N_TILE, 2)
        W += v.transpose(1, 2, 4, 0, 3).reshape(W.shape)  # (t, r, e, c, j): input 32 t + 2 r + e, column 16 c + j
    return W[:k, :n]


TILE_TRAININGS = {"sgd": dict(optimizer="sgd", lr=0.05), "adam": TRAININGS["adam"], "momentum": TRAININGS["momentum"],
                  "nesterov": dict(optimizer="sgd", lr=0.02, momentum=0.9, nesterov=True),
                  "rmsprop": dict(optimizer="rmsprop", lr=1e-3)}


@needs_tiles
@several_threads
@pytest.mark.parametrize("name", list(TILE_TRAININGS))
@pytest.mark.parametrize("flags", [OWN_TILES, OWN_TILES | OWN_DW_TILES, OWN_DW_TILES,
                                   OWN_FORWARD | OWN_SPARSE | OWN_DW_TILES],
                         ids=["forward", "forward-and-weights", "weights", "sparse-forward-and-weights"])
def test_the_first_layer_on_tiles_trains_the_weights_of_the_blas_within_float32_rounding(monkeypatch, name, flags):
    """A cut training whose ``Net.own`` flags the first layer ``OWN_TILES`` (its forward product on AMX tiles, W packed
    again at every step, each thread its rows: ``kernels.split.forward_by_tiles``), ``OWN_DW_TILES`` (its weight
    product on them, the batch and dz packed at every step, each thread the rows of dW it updates:
    ``kernels.split.weight_step_by_tiles``) or both trains the weights the same training trains on the BLAS, within
    float32's rounding, half its inputs 0 and its last batch partial; the packed weights it leaves are its first
    layer's of the last step."""
    options = dict(TILE_TRAININGS[name])
    optimizer = options.pop("optimizer")
    whole = _epochs(monkeypatch, None, optimizer, "float32", zeros=0.5, **options)
    own = np.array([flags, 0, 0], np.int64)
    for parts in (2, 3):
        cut = _epochs(monkeypatch, parts, optimizer, "float32", own=own, zeros=0.5, **options)
        np.testing.assert_allclose(cut.params, whole.params, rtol=1e-4, atol=1e-5)
        assert cut.history["loss"] == pytest.approx(whole.history["loss"], rel=1e-5)
        tiles = cut.engine._train.ws.tiles
        size, room = K_tiles.tiles_sizes(LAYERS[0], LAYERS[1])
        weights = sum(K_tiles.weight_sizes(cut.engine._train.ws.rows, LAYERS[0], LAYERS[1]))
        assert tiles.size == (size + numba.config.NUMBA_NUM_THREADS * room if flags & OWN_TILES else 0) + (
            weights if flags & OWN_DW_TILES else 0)
        if flags & OWN_DW_TILES:  # the weight product's operands there: the last batch and its dz, packed
            assert tiles[tiles.size - weights:].any()
        if flags & OWN_TILES:
            W = cut.params[:LAYERS[0] * LAYERS[1]].reshape(LAYERS[0], LAYERS[1])
            packed = _unpacked_weights(tiles, LAYERS[0], LAYERS[1])
            assert np.abs(packed - W).max() < 0.05 * np.abs(W).max()  # one update away
            assert not np.array_equal(packed, whole.params[:W.size].reshape(W.shape))


def test_plain_sgd_trains_by_the_cut_kernel_where_its_first_layer_takes_the_tiles(monkeypatch):
    """'auto' trains plain SGD by the 'fused' kernel (the update inside the BLAS's dW product, on the BLAS's threads),
    and by the 'generic' one cut over Numba's threads where the training can be cut and its first layer's forward
    product took the tiles (``products.own_products``); the other optimizers by 'generic' either way."""
    m = fastmlp.MLP(LAYERS, seed=0, dtype="float32")
    X = np.zeros((200, LAYERS[0]), np.float32)
    sgd, momentum = fastmlp.Optimizer("sgd"), fastmlp.Optimizer("sgd", momentum=0.9)
    asked = []

    def own_products(arch, rows, X=None, cut=False, tiles=False, measure=True):
        asked.append((rows, cut, tiles, measure))
        return None if flags is None else np.array([flags, 0, 0], np.int64)
    monkeypatch.setattr(backend, "own_products", own_products)
    for possible, flags, want in ((True, OWN_TILES, "generic"), (True, OWN_TILES | OWN_FORWARD, "generic"),
                                  (True, OWN_FORWARD | OWN_SPARSE, "fused"), (True, None, "fused"),
                                  (False, OWN_TILES, "fused")):
        monkeypatch.setattr(backend, "cut_possible", lambda arch, rows: possible)
        asked.clear()
        assert m.engine.choose_epoch_kernel(sgd, 64, X=X) == want
        assert asked == ([(64, True, True, False)] if possible else [])  # a choice made before: nothing measured
        assert m.engine.choose_epoch_kernel(sgd, 64) == "fused"  # the inputs not known: nothing measured
        assert m.engine.choose_epoch_kernel(momentum, 64, X=X) == "generic"
        assert m.engine.choose_epoch_kernel(sgd, 1000, X=X) == want  # (the batch's rows: at most the samples)
        assert asked[-1:] == ([(200, True, True, False)] if possible else [])
    m.engine.epoch_kernel = "fused"  # asked for: kept
    assert m.engine.choose_epoch_kernel(sgd, 64, X=X) == "fused"


@needs_tiles
@several_threads
def test_plain_sgd_asks_for_the_tiles_after_training_by_fused_then_trains_cut_on_them(monkeypatch):
    """Plain SGD by 'auto' starts by 'fused' (nothing of the tiles timed or compiled before its first batch); once
    it has trained ``CUT_AFTER_S`` so, the tiles' choice is measured, and where they were taken the next calls train
    by 'generic', its cut kernel prepared at once (the seconds already trained counted), cut calls on the tiles."""
    events, chosen = [], {}

    def own_products(arch, rows, X=None, cut=False, tiles=False, measure=True):
        if tiles and measure and not chosen:
            events.append("measured")
            chosen["own"] = np.array([OWN_TILES, 0, 0], np.int64)
        return chosen.get("own") if tiles else None
    real = backend.NumbaBackend._call_epoch

    def call(self, kernel, *args):
        events.append((kernel, args[-1].parts))
        return real(self, kernel, *args)
    monkeypatch.setattr(backend, "own_products", own_products)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", call)
    monkeypatch.setattr(backend, "cut_possible", lambda arch, rows: True)
    monkeypatch.setattr(backend, "tiles_eligible", lambda arch, rows: True)
    monkeypatch.setattr(backend, "_fused_seconds", {})
    monkeypatch.setattr(backend, "CUT_AFTER_S", 0.05)
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(640, LAYERS[0])).astype(np.float32), rng.integers(0, LAYERS[-1], 640)
    m = fastmlp.MLP(LAYERS, activation="relu", seed=3, dtype="float32")
    fastmlp.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # fixed: every call on all threads
    try:
        while not chosen:
            m.fit(X, y, epochs=1, batch_size=64, lr=0.05, verbose=0)
        for _ in range(3):
            m.fit(X, y, epochs=1, batch_size=64, lr=0.05, verbose=0)
            backend._wait_for_cut_compiles()
    finally:
        fastmlp.set_num_threads("auto")
    at = events.index("measured")
    assert at > 0 and set(events[:at]) == {("fused", None)} and events[at + 1:]  # after training by 'fused'
    assert {kernel for kernel, _ in events[at + 1:]} == {"generic"}
    assert events[-1] == ("generic", numba.config.NUMBA_NUM_THREADS)  # cut
    assert m.engine._train.ws.tiles.size > 0 and np.isfinite(m.params).all()


@several_threads
def test_plain_sgd_times_the_tiles_on_its_thread_only_once_a_thread_compiled_their_kernels(monkeypatch):
    """Cold (the kernels that time the tiles not compiled in the process, no choice recorded), plain SGD past
    ``CUT_AFTER_S`` does not compile them on the training's thread (19.6 s of one epoch, the recipe's first cold
    process): a thread compiles them as the training goes on by 'fused', and the choice is measured (milliseconds)
    on the training's thread at a call after."""
    events, compiled = [], []

    def own_products(arch, rows, X=None, cut=False, tiles=False, measure=True):
        if tiles and measure and not any(e[0] == "measured" for e in events):
            events.append(("measured", threading.current_thread().name, bool(compiled)))
        return None

    def compile_timing(arch, rows, X=None, cut=False, tiles=False):
        events.append(("compiling", threading.current_thread().name))
        compiled.append(True)
    monkeypatch.setattr(backend, "own_products", own_products)
    monkeypatch.setattr(backend.products, "compile_timing", compile_timing)
    monkeypatch.setattr(backend.products, "timing_compiled", lambda *args, **kwargs: bool(compiled))
    monkeypatch.setattr(backend, "own_known", lambda *args, **kwargs: False)  # (without AMX: nothing to time, known)
    monkeypatch.setattr(backend, "cut_possible", lambda arch, rows: True)
    monkeypatch.setattr(backend, "tiles_eligible", lambda arch, rows: True)
    monkeypatch.setattr(backend, "_fused_seconds", {})
    monkeypatch.setattr(backend, "CUT_AFTER_S", 0.05)
    monkeypatch.setattr(backend, "_plain_cut", set())
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(640, LAYERS[0])).astype(np.float32), rng.integers(0, LAYERS[-1], 640)
    m = fastmlp.MLP(LAYERS, activation="relu", seed=3, dtype="float32")
    fastmlp.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # fixed: every call on all threads
    try:
        for _ in range(200):
            m.fit(X, y, epochs=1, batch_size=64, lr=0.05, verbose=0)
            backend._wait_for_cut_compiles()
            if any(e[0] == "measured" for e in events):
                break
    finally:
        fastmlp.set_num_threads("auto")
    assert events[0] == ("compiling", "fastmlp-compile-products")
    assert events[1:] == [("measured", "MainThread", True)]  # on the training's thread, after the compile


@pytest.mark.parametrize("name", ["adam", "adagrad", "rmsprop"])
def test_a_cut_call_after_an_uncut_one_that_left_its_gradients_trains_the_same_weights(monkeypatch, name):
    """The epoch calls of one fit alternate between the uncut kernel, which leaves its last batch's gradients in the
    training's gradient buffer, and the cut one, whose steps add each W's gradient into rows that must hold 0 (as the
    thread choice's pieces on one thread and the cut calls alternate): each cut call clears the buffer first
    (``network.clear_cut_gradients``), and the fit trains the weights of one never cut."""
    options = {"adam": dict(optimizer="adam", lr=1e-3), "adagrad": dict(optimizer="adagrad", lr=1e-2),
               "rmsprop": dict(optimizer="rmsprop", lr=1e-3)}[name]
    optimizer = options.pop("optimizer")
    whole = _epochs(monkeypatch, None, optimizer, "float64", **options)
    _epochs(monkeypatch, 2, optimizer, "float64", **options)  # the cut kernel compiled (or loaded)
    rng = np.random.default_rng(5)  # the data of ``_epochs``
    X = rng.normal(size=(200, LAYERS[0]))
    rng.random(X.shape)  # (its zeros' draw)
    y = rng.integers(0, LAYERS[-1], 200)
    ways = iter([None, 2])
    seen = []
    real_run = backend.NumbaBackend._run_epoch

    def run(self, kernel, tb, *args, **kwargs):
        seen.append(np.count_nonzero(tb.grads))  # what the call before left in the buffer
        return real_run(self, kernel, tb, *args, **kwargs)
    monkeypatch.setattr(backend, "split_parts", lambda kernel, arch, rows: next(ways))
    choose_products(monkeypatch, None)
    monkeypatch.setattr(backend.NumbaBackend, "_run_epoch", run)
    fastmlp.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # fixed: no thread choice between the calls
    try:
        m = fastmlp.MLP(LAYERS, activation="relu", seed=3, dtype="float64")
        m.engine.epoch_kernel = "generic"
        calls = _spy(monkeypatch)
        m.fit(X, y, epochs=2, batch_size=64, optimizer=optimizer, verbose=0, seed=1, **options)
    finally:
        fastmlp.set_num_threads("auto")
    assert [c[1] for c in calls] == [None, 2]  # the first epoch uncut, the second cut
    assert seen[1] > m.params.size // 2  # the uncut call left its gradients
    np.testing.assert_allclose(m.params, whole.params, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("parts", [None, 2], ids=["whole", "cut"])
def test_momentum_puts_each_weight_gradient_into_its_velocity_not_the_gradient_buffer(monkeypatch, parts, nesterov):
    """SGD with momentum, plain or Nesterov (``optimizers.velocity_fused``): each W's gradient product writes the
    velocity itself (beta = momentum), uncut or cut; the training's gradient buffer gets the biases' only. Adam
    needs every gradient and writes them; a cut layer's W gradients are set back to 0 once read (the next
    step's product adds into them: ``split.split_step``)."""
    def layer_gradients(m):
        return m.split(m.engine._train.grads)

    momentum = _epochs(monkeypatch, parts, "sgd", "float32", lr=0.02, momentum=0.9, nesterov=nesterov)
    for dW, db in layer_gradients(momentum):
        assert not dW.any() and db.any()
    velocity = momentum.optimizer_state.slots[0][:momentum.params.size]
    assert all(dV.any() and dv.any() for dV, dv in momentum.split(velocity))  # where the gradients went
    adam = _epochs(monkeypatch, parts, "adam", "float32", lr=1e-3)
    cut = {0, 1} if parts else set()  # 38,400 and 16,384 weights: cut; the last layer's 1,280 are not
    for l, (dW, db) in enumerate(layer_gradients(adam)):
        assert db.any() and dW.any() == (l not in cut)


# -- the backend's choice and the BLAS limit ----------------------------------------------------------

@pytest.fixture
def fixed_threads():
    top = numba.config.NUMBA_NUM_THREADS
    fastmlp.set_num_threads(top)
    yield top
    fastmlp.set_deterministic(False)
    fastmlp.set_num_threads("auto")


@several_threads
def test_adam_on_large_products_is_cut_with_the_blas_on_one_thread_and_back(monkeypatch, fixed_threads):
    """(The AMX tiles off: where timed faster, plain SGD's first layer would take them, cut: tested on its own.)"""
    monkeypatch.setenv("FASTMLP_TILES", "off")
    top = fixed_threads
    calls = _spy(monkeypatch)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 300)).astype(np.float32), rng.integers(0, 10, 256)
    m = fastmlp.MLP(LAYERS, seed=0)
    m.fit(X, y, epochs=1, batch_size=64, optimizer="adam", verbose=0)  # uncut while the cut kernel compiles
    backend._wait_for_cut_compiles()
    calls.clear()
    m.fit(X, y, epochs=2, batch_size=64, optimizer="adam", verbose=0)
    assert calls and all(c[:3] == ("generic", top, 1) for c in calls)
    assert tc.blas_threads() == top  # restored
    calls.clear()
    monkeypatch.setattr(backend, "_plain_cut", set())  # (no earlier test's plain SGD cut in this process)
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e9)  # plain SGD's cut kernel not prepared (tested below)
    m2 = fastmlp.MLP(LAYERS, seed=0)
    m2.fit(X, y, epochs=1, batch_size=64, optimizer="sgd", verbose=0)  # plain SGD: its update rides in dW
    assert calls and all(c[:3] == ("fused", None, top) for c in calls)
    calls.clear()
    fastmlp.set_deterministic(True)  # one BLAS thread and nothing cut: a cut may round otherwise
    m.fit(X, y, epochs=1, batch_size=64, optimizer="adam", verbose=0)
    assert calls and all(c[:3] == ("generic", None, 1) for c in calls)


@several_threads
def test_plain_sgd_takes_its_cut_kernel_once_ready_and_fused_on_one_thread(monkeypatch, fixed_threads,
                                                                           fresh_cut_state):
    """'auto' trains plain SGD by 'fused' until its cut kernel is ready in the process (prepared in a thread once
    the training has run ``CUT_AFTER_S`` by 'fused'), then by the cut 'generic' kernel on several threads; asked on
    one thread (the thread choice's pieces there, a count of one) it is 'fused'; the deterministic mode and an
    epoch kernel set by hand keep theirs. The weights stay those of 'fused' to float tolerance."""
    monkeypatch.setenv("FASTMLP_TILES", "off")
    monkeypatch.setattr(backend, "_plain_cut", set())
    monkeypatch.setattr(backend, "CUT_AFTER_S", 0.0)  # prepared after the first call by 'fused'
    top = fixed_threads
    every = _spy(monkeypatch, threads=True)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 300)).astype(np.float32), rng.integers(0, 10, 256)
    m = fastmlp.MLP(LAYERS, seed=0)
    fused = m.copy()
    m.fit(X, y, epochs=1, batch_size=64, verbose=0)  # by 'fused'; its cut kernel prepared in a thread meanwhile
    calls = [c[:4] for c in every if c[4] == threading.get_ident()]  # the training's (not the compiling thread's)
    assert calls and all(c[:3] == ("fused", None, top) for c in calls)
    backend._wait_for_cut_compiles()  # (the preparing thread finished: no race with it)
    # the cut kernel, compiled by a call over no sample in the preparing thread
    assert any(c[:2] == ("generic", top) and c[4] != threading.get_ident() for c in every)
    done = backend._plain_cut_key(m.engine.arch, 64, False)
    assert done not in backend._plain_cut
    m.fit(X, y, epochs=1, batch_size=64, verbose=0)  # by 'fused', the cut kernel found ready after it
    assert done in backend._plain_cut
    every.clear()
    data = TrainingData(X, y.astype(np.int64), np.zeros((0, 10), np.float32), 64, False)
    assert not m.engine.needs_preparing(make_optimizer("sgd"), data)
    m.fit(X, y, epochs=1, batch_size=64, verbose=0)  # nothing prepared: its uncut 'generic' kernel is never run
    assert every and all(c[:3] == ("generic", top, 1) for c in every)
    every.clear()
    m.fit(X, y, epochs=2, batch_size=64, verbose=0)
    assert every and all(c[:3] == ("generic", top, 1) for c in every)
    assert tc.blas_threads() == top  # restored
    engine, sgd = m.engine, make_optimizer("sgd")
    assert engine.choose_epoch_kernel(sgd, 64, X=X) == "generic"
    with tc.one_thread():
        assert engine.choose_epoch_kernel(sgd, 64, X=X) == "fused"
    assert engine.choose_epoch_kernel(sgd, 32, X=X) == "fused"  # another batch size: not prepared
    fastmlp.set_deterministic(True)
    assert engine.choose_epoch_kernel(sgd, 64, X=X) == "fused"
    fastmlp.set_deterministic(False)
    engine.epoch_kernel = "fused"
    assert engine.choose_epoch_kernel(sgd, 64, X=X) == "fused"
    engine.epoch_kernel = "auto"
    fused.engine.epoch_kernel = "fused"
    for epochs in (1, 1, 1, 2):  # as m's fits
        fused.fit(X, y, epochs=epochs, batch_size=64, verbose=0)
    np.testing.assert_allclose(m.params, fused.params, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(m.params, fused.params)  # the cut kernel's update apart from its product


def test_small_trainings_and_other_kernels_are_not_cut():
    arch = fastmlp.MLP([6, 9, 3], seed=0).engine.arch
    assert backend.split_parts("generic", arch, 32) is None  # products too small to thread
    big = fastmlp.MLP(LAYERS, seed=0).engine.arch
    assert backend.split_parts("fused", big, 64) is None and backend.split_parts("online", big, 1) is None
    assert backend.split_parts("generic", big, 4) is None  # 4 rows: not every product goes to BLAS
    n = numba.get_num_threads()
    assert backend.split_parts("generic", big, 64) == (n if n > 1 else None)
    fastmlp.set_num_threads(1)
    try:
        assert backend.split_parts("generic", big, 64) is None  # one thread: nothing to cut
    finally:
        fastmlp.set_num_threads("auto")


@several_threads
@pytest.mark.parametrize("name", ["adam", "momentum"])
@pytest.mark.parametrize("first,hidden", [(OWN_FORWARD | OWN_SPARSE, 0), (OWN_FORWARD | OWN_SPARSE, OWN_FORWARD),
                                          (0, OWN_FORWARD)], ids=["hidden-blas", "hidden-matmul", "only-hidden-matmul"])
def test_the_first_layer_s_product_over_nonzero_inputs_cut_over_threads_trains_the_same_weights(monkeypatch, name,
                                                                                                first, hidden):
    """``OWN_SPARSE`` on the first layer (``kernels.matmul.matmul_sparse_cut``) in the cut kernel: on three
    threads each of its outputs the same sum as in one call, the other products as the BLAS's pieces (the same
    weights as on one thread where those round as one call: ``_blas_pieces_round_as_one_call``); on two cut
    along k (``kernels.split.forward_product``: each piece's sums, then theirs), the same weights to float32's
    tolerance. So too with the hidden layer's forward product by ``matmul`` on the calling thread (``OWN_FORWARD``
    on the 128 -> 128 layer, as ``products._measure_cut`` chooses where it runs faster than the BLAS's pieces): the
    same sums uncut and cut; also with the first layer's on the BLAS's pieces."""
    options = _options(name, "float32")
    optimizer = options.pop("optimizer")
    own = np.array([first, hidden, 0], np.int64)
    tight = _blas_pieces_round_as_one_call()
    whole = _epochs(monkeypatch, None, optimizer, "float32", zeros=0.6, **options)
    for parts in (None, 2, 3):
        cut = _epochs(monkeypatch, parts, optimizer, "float32", own=own, zeros=0.6, **options)
        np.testing.assert_allclose(cut.params, whole.params, *TOLERANCES["float32"])
        assert cut.history["loss"] == pytest.approx(whole.history["loss"], rel=1e-5)
        if parts is None:
            one = cut
        elif parts == 3 and tight:  # the sparse product's part the same bit for bit (``test_matmul``), and here the
            np.testing.assert_allclose(cut.params, one.params, rtol=1e-6, atol=1e-7)  # BLAS's pieces as one call


@pytest.mark.parametrize("sparse,flags", [(False, None), (True, [OWN_FORWARD | OWN_SPARSE, 0, 0]),
                                          (True, [OWN_FORWARD | OWN_SPARSE, OWN_FORWARD, 0]),
                                          pytest.param(False, [OWN_TILES, 0, 0], marks=needs_tiles),
                                          pytest.param(False, [OWN_TILES | OWN_DW_TILES, 0, 0], marks=needs_tiles)],
                         ids=["blas", "first-layer-sparse", "hidden-matmul", "first-layer-tiles",
                              "first-layer-weights-tiles"])
def test_a_cut_epoch_allocates_nothing(fixed_threads, monkeypatch, sparse, flags):
    """Also with the first layer's product over the batch's nonzero inputs cut over the threads (its lists in
    the training's scratch), a hidden layer's forward product by ``matmul`` on the calling thread, or the first
    layer on AMX tiles (its packed weights and rows there too)."""
    rng = np.random.default_rng(0)
    if flags is not None:
        own = np.array(flags, np.int64)
        choose_products(monkeypatch, own)
    m = fastmlp.MLP(LAYERS, seed=0, dtype="float32")
    X = rng.normal(size=(640, LAYERS[0]))
    X[rng.random(X.shape) < (0.6 if sparse else 0.0)] = 0
    X = check_X(X, LAYERS[0], m.dtype)
    y, t = check_targets(rng.integers(0, 10, 640), m.arch, 640)
    opt = fastmlp.Optimizer("adam")
    state = opt.new_state(m.n_params, m.dtype)
    data = TrainingData(X, y, t, 64, False, None)
    order = np.arange(640)
    m.engine.train_epoch(m.params, state, opt, data, order[:64], 1e-3)  # buffers; starts the cut kernel's compile
    backend._wait_for_cut_compiles()
    for o in (order[:64], order):
        before = rtsys.get_allocation_stats()
        result = m.engine.train_epoch(m.params, state, opt, data, o, 1e-3)
        after = rtsys.get_allocation_stats()
        assert result.seen == len(o)
        assert {k: getattr(after, k) - getattr(before, k) for k in ("alloc", "free", "mi_alloc", "mi_free")} == \
            {"alloc": 0, "free": 0, "mi_alloc": 0, "mi_free": 0}


# -- each next batch copied ahead, in the first layer's cut step ----------------------------------------------------
# The cut kernel copies batch k + 1 into its second batch buffers while batch k's first layer steps
# (``kernels.epoch._steps_copying_ahead``); withheld those buffers, the same kernel copies each batch before its step
# (``kernels.epoch._steps``). Same steps on the same rows: the same bits, whatever the batches' shapes, weights, and
# layers cut.

AHEAD_CASES = {
    "adam": dict(optimizer="adam", lr=1e-3),
    "last_batch_of_one_row": dict(optimizer="adam", lr=1e-3, n=193),
    "one_batch_an_epoch": dict(optimizer="adam", lr=1e-3, n=50),
    "drop_last": dict(optimizer="adam", lr=1e-3, drop_last=True),
    "with_replacement": dict(optimizer="adam", lr=1e-3, sampling="replacement"),
    "a_batch_weighing_nothing": dict(optimizer="adam", lr=1e-3, shuffle=False, weightless=(64, 128)),
    "momentum": dict(optimizer="sgd", lr=0.02, momentum=0.9),
    "nesterov": dict(optimizer="sgd", lr=0.02, momentum=0.9, nesterov=True),
    "rmsprop_dropout": dict(optimizer="rmsprop", lr=1e-3, dropout=0.2),
    "diverging": dict(optimizer="sgd", lr=1e6, momentum=0.9),
    # layer 1 too small to cut (128 x 64 weights, 64 x 128 x 64 multiply-adds): only the first layer's step cut
    "upper_layer_uncut": dict(optimizer="adam", lr=1e-3, layers=[300, 128, 64, 10]),
    # three cut layers, each step in a parallel region of its own
    "three_cut_layers": dict(optimizer="adam", lr=1e-3, layers=[300, 128, 128, 128, 10]),
    "three_cut_layers_momentum": dict(optimizer="sgd", lr=0.02, momentum=0.9, layers=[300, 128, 128, 128, 10]),
}


def _copying_fit(monkeypatch, ahead, parts, optimizer, n=200, weightless=None, dropout=None, layers=LAYERS,
                 **options):
    """A float64 model trained 2 epochs at batch 64 by the kernel cut over ``parts`` threads, with the backend's
    second batch buffers (``ahead``) or without; the second of two such fits (the first has the cut kernel
    compiled), every call of which is checked to run cut, and to be passed the buffers or not. Returns the model
    and its history's losses."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, layers[0]))
    y = rng.integers(0, layers[-1], n)
    if weightless is not None:
        w = np.ones(n)
        w[weightless[0]:weightless[1]] = 0
        options["sample_weight"] = w
    extra = {} if dropout is None else {"dropout": dropout}
    passed = []
    real = backend._TrainingBuffers.ahead

    def buffers(self, arch, following):  # what the cut calls are given
        passed.append(ahead)
        return real(self, arch, following) if ahead else None

    def patch():
        monkeypatch.setattr(backend, "split_parts", lambda kernel, arch, rows: parts)
        choose_products(monkeypatch, None)
        monkeypatch.setattr(backend._TrainingBuffers, "ahead", buffers)
    fastmlp.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # fixed: no one-thread probe pieces (never cut)
    try:
        for run in range(2):
            patch()
            m = fastmlp.MLP(layers, activation="relu", seed=3, dtype="float64", **extra)
            m.engine.epoch_kernel = "generic"
            calls = _spy(monkeypatch)
            passed.clear()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", fastmlp.DivergenceWarning)
                m.fit(X, y, epochs=2, batch_size=64, optimizer=optimizer, verbose=0, seed=1, **options)
            backend._wait_for_cut_compiles()
            monkeypatch.undo()
    finally:
        fastmlp.set_num_threads("auto")
    assert calls and {c[1] for c in calls} == {parts}
    assert passed and set(passed) == {ahead}
    return m, list(m.history["loss"])


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("case", sorted(AHEAD_CASES))
def test_copying_each_next_batch_ahead_trains_the_same_bits(monkeypatch, case, parts):
    options = dict(AHEAD_CASES[case])
    optimizer = options.pop("optimizer")
    before, losses_before = _copying_fit(monkeypatch, False, parts, optimizer, **options)
    ahead, losses_ahead = _copying_fit(monkeypatch, True, parts, optimizer, **options)
    np.testing.assert_array_equal(ahead.params, before.params)
    np.testing.assert_array_equal(losses_ahead, losses_before)  # NaN where both diverged
    if case != "diverging":
        assert not np.allclose(ahead.params, fastmlp.MLP(options.get("layers", LAYERS), activation="relu", seed=3,
                                                     dtype="float64").params)
    # a second copy of the batch rows only where a call has a batch after its first
    assert (ahead.engine._train._ahead is None) == (case == "one_batch_an_epoch")


# -- when the cut kernel is prepared ------------------------------------------------------------------

@pytest.fixture
def fresh_cut_state(monkeypatch):
    """No cut kernel ready, compiling or failed, and no training timed, as in a fresh process; the products' choice
    made before (the BLAS's): in a fresh process a thread would first compile the kernels that time the products, and
    the cut kernel be prepared a call later (``tests.test_chunked_epochs`` tests that way)."""
    backend._wait_for_cut_compiles()
    choose_products(monkeypatch, None)
    for name, empty in (("_cut_ready", set()), ("_own_ready", set()), ("_cut_compiling", {}), ("_cut_failed", {}),
                        ("_uncut_seconds", {})):
        monkeypatch.setattr(backend, name, empty)
    monkeypatch.setattr(backend, "split_parts", lambda kernel, arch, rows: 2)


def _fit_calls(monkeypatch, epochs):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(128, LAYERS[0])).astype(np.float32), rng.integers(0, 10, 128)
    calls = []
    real = backend.NumbaBackend._call_epoch

    def spy(self, kernel, *args):
        if len(args[-3]):  # the training's calls (not the empty one that prepares a kernel)
            calls.append(args[-1].parts)
        return real(self, kernel, *args)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", spy)
    m = fastmlp.MLP(LAYERS, seed=0)
    m.fit(X, y, epochs=epochs, batch_size=64, optimizer="adam", verbose=0)
    return calls, m


def test_a_short_training_never_starts_the_cut_kernels_compile(monkeypatch, fresh_cut_state, fixed_threads):
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1.0)  # the default
    parts, m = _fit_calls(monkeypatch, 1)  # one epoch call (fixed threads: no probes), the first: not counted
    assert parts == [None]
    assert not backend._cut_compiling and not backend._cut_ready
    assert not any(t.name == "fastmlp-compile-cut" for t in threading.enumerate())
    assert list(backend._uncut_seconds.values()) == [0.0]


def test_a_training_past_the_delay_starts_the_compile_then_trains_cut(monkeypatch, fresh_cut_state, fixed_threads):
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e-9)
    held = []  # whether the cut lock was held each time a key became ready

    class Watched(set):
        def add(self, key):
            held.append(backend._cut_lock.locked())
            super().add(key)
    monkeypatch.setattr(backend, "_cut_ready", Watched())
    parts, _ = _fit_calls(monkeypatch, 3)
    # call 1 not counted, call 2 counted (still under the delay when it started), call 3 starts the compile
    assert parts == [None, None, None]
    with backend._cut_lock:  # the compile thread moves the key from compiling to ready under this lock
        assert len(backend._cut_compiling) + len(backend._cut_ready) == 1
    assert list(backend._uncut_seconds.values())[0] > 0
    backend._wait_for_cut_compiles()
    parts, m = _fit_calls(monkeypatch, 2)
    assert parts == [2, 2] and np.isfinite(m.history["loss"]).all()
    assert held == [True]


@pytest.mark.parametrize("on_disk", [True, False])
def test_a_cut_kernel_that_would_load_is_prepared_from_the_first_call(monkeypatch, fresh_cut_state, fixed_threads,
                                                                      on_disk):
    """Before ``CUT_AFTER_S`` the cut kernel is prepared at once where it would load rather than compile
    (``intrinsics.cached``: compiled before, here or in the disk cache), asked once per training and process; where
    it would compile, a short fit starts nothing."""
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1.0)  # the default
    monkeypatch.setattr(backend, "CUT_AT_ONCE_WHEN_CACHED", True)
    asked = []

    def cached(function, args):
        asked.append((function, args[8].parts))  # (the kernel's Net)
        return on_disk
    monkeypatch.setattr(backend.intrinsics, "cached", cached)
    started, start = [], backend._compile_in_thread

    def spy(key, name, ready, work, loads=False):
        started.append((name, loads))
        return start(key, name, ready, work, loads)
    monkeypatch.setattr(backend, "_compile_in_thread", spy)
    parts, _ = _fit_calls(monkeypatch, 1)  # one call, the first (not counted towards the delay)
    assert parts == [None]  # the cut kernel taken once ready, from the next epoch
    assert asked and asked[0] == (K.train_epoch, 2) and all(a[0] is K.train_epoch for a in asked)
    # a load, not said to keep anything waiting (``compiling_aside``)
    assert [s for s in started if s[0] == "fastmlp-compile-cut"] == ([("fastmlp-compile-cut", True)] if on_disk else [])
    backend._wait_for_cut_compiles()
    assert bool(backend._cut_ready) == on_disk
    assert bool(backend._cut_not_cached) != on_disk
    parts, m = _fit_calls(monkeypatch, 2)
    assert parts == ([2, 2] if on_disk else [None, None]) and np.isfinite(m.history["loss"]).all()
    assert len(asked) <= 2  # the cut net (and the uncut one with the products' choice): asked once
    assert not backend._cut_compiling


@several_threads
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_plain_sgd_s_cut_thread_prepares_no_uncut_kernel(monkeypatch, fresh_cut_state, fixed_threads, momentum):
    """The thread that prepares a cut kernel also prepares the uncut calls' kernel with the products' choice made
    then; plain SGD's uncut calls train by 'fused', so its thread prepares the cut kernel only (a compile of 13.4 s
    cold against 18.6 s, the fashion net on Fashion-MNIST, Intel Xeon model 207)."""
    own = np.array([OWN_FORWARD | OWN_SPARSE, 0, 0], np.int64)
    monkeypatch.setenv("FASTMLP_TILES", "off")
    monkeypatch.setattr(backend, "own_known", lambda *args, **kwargs: False)  # the choice made at the cut, not before
    monkeypatch.setattr(backend, "own_products", lambda arch, rows, X=None, cut=False, **kwargs: own)
    monkeypatch.setattr(backend.products, "timing_compiled", lambda *args, **kwargs: True)
    monkeypatch.setattr(backend, "CUT_AFTER_S", 0.0)
    every = _spy(monkeypatch, threads=True)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 300)).astype(np.float32), rng.integers(0, 10, 256)
    X[rng.random(X.shape) < 0.5] = 0
    m = fastmlp.MLP(LAYERS, seed=0)
    m.fit(X, y, epochs=2, batch_size=64, momentum=momentum, verbose=0)
    backend._wait_for_cut_compiles()
    # the 'generic' calls of the thread that prepared the cut kernel ('fused' with the choice: a thread of its own)
    prepared = [c[1] for c in every if c[0] == "generic" and c[4] != threading.get_ident()]
    assert prepared == ([fixed_threads] if momentum == 0 else [fixed_threads, None])


@several_threads
def test_plain_sgd_s_cut_kernel_is_not_news_to_its_thread_choice(monkeypatch, fresh_cut_state):
    """Plain SGD takes 'generic' under 'auto' only once its cut kernel is ready: the adaptive thread choice of that
    kernel never measured it uncut, so it is not told the kernel changed (a probe begun would start again)."""
    monkeypatch.setenv("FASTMLP_TILES", "off")
    monkeypatch.setattr(backend, "CUT_AFTER_S", 0.0)
    changed = []
    real = tc.ThreadChoice.kernel_changed

    def told(self):
        changed.append(self)
        real(self)
    monkeypatch.setattr(tc.ThreadChoice, "kernel_changed", told)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 300)).astype(np.float32), rng.integers(0, 10, 256)
    m = fastmlp.MLP(LAYERS, seed=0)
    m.fit(X, y, epochs=1, batch_size=64, verbose=0)  # by 'fused'; its cut kernel prepared in a thread meanwhile
    backend._wait_for_cut_compiles()
    m.fit(X, y, epochs=1, batch_size=64, verbose=0)  # found ready after it
    assert m.engine.choose_epoch_kernel(make_optimizer("sgd"), 64, X=X) == "generic"
    m.fit(X, y, epochs=3, batch_size=64, verbose=0)  # by the cut kernel
    assert m.engine.thread_choice("generic", 64) is not None and not changed
    m.fit(X, y, epochs=2, batch_size=64, optimizer="sgd", momentum=0.9, verbose=0)  # another: uncut until ready
    backend._wait_for_cut_compiles()
    m.fit(X, y, epochs=2, batch_size=64, optimizer="sgd", momentum=0.9, verbose=0)
    assert changed == [m.engine.thread_choice("generic", 64)]  # told once its cut kernel is ready


@several_threads
def test_one_thread_kept_still_prepares_the_cut_kernel_and_its_readiness_measures_the_threads_again(
        monkeypatch, fresh_cut_state):
    """With the adaptive thread count, a training the choice keeps on one thread (chosen while all
    threads still ran the uncut kernel) counts that time towards ``CUT_AFTER_S`` and so prepares its cut
    kernel; once it is ready, the choice measures both ways again, and all threads now run it cut."""
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e-9)
    monkeypatch.setattr(tc, "RECHECK_SECONDS", 1e9)  # no probe by the clock: only the one readiness asks
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(128, LAYERS[0])).astype(np.float32), rng.integers(0, 10, 128)
    m = fastmlp.MLP(LAYERS, seed=0)
    choice = m.engine.thread_choice("generic", 64)
    assert choice is not None  # adaptive: nothing fixed
    choice.kept = tc.ONE  # as if the probe had chosen one thread
    calls, reprobes = [], []
    real_call, real_reprobe = backend.NumbaBackend._call_epoch, tc.ThreadChoice.reprobe

    def spy(self, kernel, *args):
        if len(args[-3]):  # the training's calls (not the empty ones that prepare kernels)
            calls.append((args[-1].parts, numba.get_num_threads()))
        return real_call(self, kernel, *args)

    def counted(self):
        reprobes.append(self)
        real_reprobe(self)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", spy)
    monkeypatch.setattr(tc.ThreadChoice, "reprobe", counted)
    m.fit(X, y, epochs=3, batch_size=64, optimizer="adam", verbose=0)
    assert calls and all(c == (None, 1) for c in calls)  # one thread, nothing cut
    backend._wait_for_cut_compiles()
    assert len(backend._cut_ready) == 1  # prepared all the same
    assert not reprobes
    calls.clear()
    m.fit(X, y, epochs=3, batch_size=64, optimizer="adam", verbose=0)
    assert reprobes == [choice]  # told once that all threads now run the cut kernel
    assert (2, numba.get_num_threads()) in calls  # all threads measured again: cut
    assert (None, 1) in calls  # and one thread
    calls.clear()
    m.fit(X, y, epochs=1, batch_size=64, optimizer="adam", verbose=0)
    assert reprobes == [choice]  # once only


@several_threads
def test_a_cut_kernel_ready_during_a_call_is_taken_from_the_next_call(monkeypatch, fresh_cut_state, fixed_threads):
    """The compiling thread can finish between ``train_epoch``'s look at the cut kernel and the call: that
    call runs uncut (a thread choice, not yet told, would judge the cut kernel by the uncut one's speed), the
    next ones cut."""
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e-9)
    _fit_calls(monkeypatch, 3)
    backend._wait_for_cut_compiles()
    real, looks = backend.NumbaBackend._cut_newly_ready, []

    def late(self, optimizer, data):
        looks.append(data)
        return False if len(looks) == 1 else real(self, optimizer, data)  # the first look: not ready yet
    monkeypatch.setattr(backend.NumbaBackend, "_cut_newly_ready", late)
    parts, m = _fit_calls(monkeypatch, 3)
    assert parts == [None, 2, 2] and np.isfinite(m.history["loss"]).all()


def test_a_cut_compile_that_fails_leaves_the_training_uncut(monkeypatch, fresh_cut_state, fixed_threads):
    monkeypatch.setattr(backend, "CUT_AFTER_S", 1e-9)
    real = backend.NumbaBackend._call_epoch

    def broken(self, kernel, *args):
        if args[-1].parts is not None:
            raise RuntimeError("the cut compile broke")
        return real(self, kernel, *args)
    monkeypatch.setattr(backend.NumbaBackend, "_call_epoch", broken)
    _fit_calls(monkeypatch, 3)  # the third epoch call starts the compile, which fails
    backend._wait_for_cut_compiles()
    with backend._cut_lock:
        assert not backend._cut_compiling and not backend._cut_ready
        assert [str(e) for e in backend._cut_failed.values()] == ["the cut compile broke"]
    parts, m = _fit_calls(monkeypatch, 2)
    assert parts == [None, None] and np.isfinite(m.history["loss"]).all()
    assert len(backend._cut_failed) == 1 and not backend._cut_compiling
