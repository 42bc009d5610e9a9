"""fastmlp's own product (``kernels.matmul``) and where a training uses it (``backends.products``).

The product equals the float64 product for any rows (whole tiles of 6 and the 4-, 2- and 1-row
remainders), any k (even and odd) and any width its tile fits; it overwrites its output (its
compiling for the widest vectors: ``test_intrinsics``). The choice is the measured one (a fake clock decides here), only
on one thread and outside the deterministic mode; a training whose forward products go to it
trains what the BLAS trains (float tolerance), allocating nothing per batch.
"""
import numba
import numpy as np
import pytest

import fastmlp
from fastmlp import kernels as K
from fastmlp.backends import numba as backend
from fastmlp.backends import products
from fastmlp.backends import thread_choice as tc
from fastmlp.kernels.intrinsics import vector_bytes
from fastmlp.kernels import matmul
from fastmlp.kernels.matmul import fits, tile_columns
from fastmlp.backends import TrainingData
from fastmlp.checks import check_targets, check_X
from test_epoch_allocations import ZERO, _one_and_hundred, nrt_stats  # noqa: F401  (nrt_stats: switched on)

COLUMNS = tile_columns(4)  # one tile row of float32: 64 with AVX-512, 32 with AVX2


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 64, 65])
@pytest.mark.parametrize("k", [1, 2, 3, 30])
@pytest.mark.parametrize("tiles", [1, 3])
def test_matmul_equals_the_float64_product(m, k, tiles):
    rng = np.random.default_rng(m * 100 + k)
    n = tiles * COLUMNS
    x = rng.standard_normal((m, k)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    out = np.full((m, n), np.nan, np.float32)  # every element written: none stays NaN
    K.repeat_product(out, x, W, True, 1)
    want = x.astype(np.float64) @ W.astype(np.float64)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * np.sqrt(k))


def test_matmul_at_the_fashion_shapes_matches_the_blas():
    rng = np.random.default_rng(1)
    for m, k, n in [(64, 784, 256), (64, 256, 128), (63, 128, 64), (1024, 784, 256)]:
        x = rng.random((m, k), dtype=np.float32)
        W = rng.standard_normal((k, n)).astype(np.float32)
        own, blas = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
        K.repeat_product(own, x, W, True, 2)
        K.repeat_product(blas, x, W, False, 2)
        np.testing.assert_allclose(own, blas, rtol=1e-4, atol=1e-4)


def test_what_fits():
    assert matmul.AVAILABLE == (vector_bytes() == 64)
    assert fits(COLUMNS, 4) == fits(4 * COLUMNS, 4) == matmul.AVAILABLE  # offered with AVX-512 only
    assert not fits(COLUMNS + 1, 4) and not fits(10, 4) and not fits(0, 4)
    assert not fits(COLUMNS, 8) and not fits(4 * COLUMNS, 8)  # float64: not used
    assert COLUMNS == 4 * vector_bytes() // 4


@pytest.fixture
def offered(monkeypatch):
    """The choice's tests run on any CPU: without AVX-512 (where nothing fits, so nothing is ever
    measured) as if the product were offered there too."""
    if not matmul.AVAILABLE:
        monkeypatch.setattr(products, "fits", lambda n, itemsize: itemsize == 4 and n % COLUMNS == 0)


# -- where a training uses it ------------------------------------------------------------------------

class _FakeClock:
    """A clock that advances by a set cost per product run by ``repeat_product`` (no real timing)."""

    def __init__(self, own_cost, blas_cost):
        self.now, self.cost = 0.0, {True: own_cost, False: blas_cost}

    def perf_counter(self):
        return self.now

    def repeat_product(self, out, x, W, own, reps):
        self.now += self.cost[bool(own)] * reps


def _fake(monkeypatch, own_cost, blas_cost, threads=1):
    clock = _FakeClock(own_cost, blas_cost)
    monkeypatch.setattr(products.time, "perf_counter", clock.perf_counter)
    monkeypatch.setattr(products.K, "repeat_product", clock.repeat_product)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", threads)
    monkeypatch.setattr(products, "_chosen", {})
    return clock


LAYERS = [20, 128, 64, 3]  # hidden widths of whole tile rows with AVX-512 and AVX2; the last layer never fits
ARCH = fastmlp.MLP(LAYERS, seed=0).arch


@pytest.mark.parametrize("own_cost,blas_cost,chosen", [(1.0, 2.0, True), (1.0, 1.04, False), (2.0, 1.0, False)])
def test_a_layer_goes_to_matmul_only_when_measured_faster(offered, monkeypatch, own_cost, blas_cost, chosen):
    _fake(monkeypatch, own_cost, blas_cost)
    own = products.own_products(ARCH, 16)
    if not chosen:
        assert own is None  # no layer: nothing of matmul compiled
    else:
        assert own.dtype == np.int64 and own.tolist() == [1, 1, 0]


def test_the_choice_is_kept_per_shape(offered, monkeypatch):
    clock = _fake(monkeypatch, 1.0, 2.0)
    first = products.own_products(ARCH, 16)
    spent = clock.now
    assert products.own_products(ARCH, 16) is first and clock.now == spent  # measured once
    products.own_products(ARCH, 8)
    assert clock.now > spent  # another batch size: measured again


def test_nothing_to_choose_on_several_threads_or_when_deterministic(offered, monkeypatch):
    clock = _fake(monkeypatch, 1.0, 2.0, threads=2)
    assert products.own_products(ARCH, 16) is None
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    monkeypatch.setattr(tc, "_deterministic", True)
    assert products.own_products(ARCH, 16) is None
    assert clock.now == 0.0  # nothing even timed


def test_eligible_layers(offered):
    assert products.eligible(ARCH, 16) == [0, 1]
    assert products.eligible(ARCH, 1) == [1]  # 1 x 20 x 128: below the BLAS's size, the loops' product
    wide64 = fastmlp.MLP([20, 128, 3], dtype="float64", seed=0).arch
    assert products.eligible(wide64, 16) == []


def test_a_real_measurement_on_one_thread(offered, monkeypatch):
    """Timed for real (whatever it chooses): an int64 flag per layer, 0 where nothing fits, or None."""
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    monkeypatch.setattr(products, "_chosen", {})
    own = products.own_products(ARCH, 64)
    assert own is None or (own.dtype == np.int64 and own.shape == (3,) and own[2] == 0 and own.any())


FLAGS = np.array([1, 1, 0], np.int64)  # the two hidden layers' forward products by matmul


def _fit(monkeypatch, own, optimizer, batch_size, n=100, epochs=2, **kw):
    """A model trained with its layers' forward products by ``matmul`` (``own``) or by the BLAS."""
    asked = []
    monkeypatch.setattr(backend, "own_products", lambda arch, rows: asked.append(rows) or (FLAGS if own else None))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 20)).astype(np.float32)
    y = rng.integers(0, 3, n)
    model = fastmlp.MLP(LAYERS, activation="relu", seed=3)
    model.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, verbose=0, **kw)
    assert asked and set(asked) == {batch_size}  # the epoch kernels were given what it said
    return model


@pytest.mark.parametrize("optimizer,kw", [("sgd", {}), ("adam", {"lr": 1e-3}), ("sgd", {"momentum": 0.9})])
# 1: the online kernel; 7: tiles of 6 and 1 row; 16: 100 rows leave a last batch of 4
@pytest.mark.parametrize("batch_size", [1, 7, 16])
def test_training_with_matmul_trains_what_the_blas_trains(monkeypatch, optimizer, kw, batch_size):
    own = _fit(monkeypatch, True, optimizer, batch_size, **kw)
    blas = _fit(monkeypatch, False, optimizer, batch_size, **kw)
    np.testing.assert_allclose(own.params, blas.params, rtol=1e-4, atol=5e-5)  # float32: rounding differs
    assert own.history.history["loss"] == pytest.approx(blas.history.history["loss"], rel=1e-4)


@pytest.mark.parametrize("optimizer,kernel", [("sgd", "fused"), ("adam", "generic")])
def test_training_with_matmul_allocates_nothing_per_batch(monkeypatch, optimizer, kernel):
    asked = []
    monkeypatch.setattr(backend, "own_products", lambda arch, rows: asked.append(rows) or FLAGS)
    rng = np.random.default_rng(0)
    model = fastmlp.MLP(LAYERS, activation="relu", seed=0)
    model.engine.epoch_kernel = kernel
    X = check_X(rng.standard_normal((100 * 16, 20)), model.arch.n_in, model.dtype)
    yi, t = check_targets(rng.integers(0, 3, len(X)), model.arch, X.shape[0])
    opt = fastmlp.Optimizer(optimizer)
    state = opt.new_state(model.n_params, model.dtype)
    data = TrainingData(X, yi, t, 16, False, None)
    d1, d100 = _one_and_hundred(model, opt, state, data)
    assert asked and set(asked) == {16}
    assert d1 == ZERO and d100 == ZERO


def test_the_deterministic_mode_set_after_a_measurement_gets_none(offered, monkeypatch):
    """The choice is asked for at every epoch call: a mode set after it was measured is kept to."""
    _fake(monkeypatch, 1.0, 2.0)
    assert products.own_products(ARCH, 16) is not None
    monkeypatch.setattr(tc, "_deterministic", True)
    assert products.own_products(ARCH, 16) is None
