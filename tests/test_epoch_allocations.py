"""The numba epoch kernel allocates nothing per batch (Numba NRT statistics).

``fastmlp.kernels.train_epoch`` (any optimizer) and ``train_epoch_sgd`` (plain
SGD, fused) are called directly with the buffers the trainer's
``_EpochRunner`` builds, once over 1 batch and once over 100; the
NRT allocation counts of the two calls must be equal (only the arguments'
boxing counts) and every allocation freed.
"""
import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys

import fastmlp
from fastmlp import kernels as K
from fastmlp.trainer import _EpochRunner

BATCH = 8


def _runner(loss, dtype, optimizer, hyper, n_in=4, hidden=8):
    rng = np.random.default_rng(0)
    n_out = 1 if loss == "bce" else 3
    model = fastmlp.MLP([n_in, hidden, 6, n_out], loss=loss, dtype=dtype, seed=0)
    X = rng.normal(size=(100 * BATCH, n_in))
    y = {"cross_entropy": rng.integers(0, 3, len(X)), "bce": rng.integers(0, 2, len(X)),
         "mse": rng.normal(size=(len(X), 3))}[loss]
    X, yi, t = model._data(X, y)
    opt = fastmlp.Optimizer(optimizer, **hyper)
    state = opt.new_state(model.n_params, model.dtype)
    return model, opt, state, _EpochRunner(model, opt, state, X, yi, t, BATCH, False)


def _epoch_stats(model, opt, state, r, order):
    """(NRT stats delta, kernel out) of one epoch-kernel call over ``order``."""
    a, ws, out = model.arch, r.ws, np.zeros(5)
    data = (r.xb, r.yb, r.tb, r.X, r.y, r.t, order, BATCH, False, ws.lay, a.kinds, a.alphas, a.loss_id)
    before = rtsys.get_allocation_stats()
    if opt.is_plain_sgd:
        K.train_epoch_sgd(out, model.params, ws.acts, ws.deltas, ws.stats, *data, 1e-3)
    else:
        K.train_epoch(out, model.params, r.grads, state["s1"], state["s2"], ws.acts, ws.deltas, ws.stats,
                      *data, opt.kind, 1e-3, opt.hp, state["t"])
    after = rtsys.get_allocation_stats()
    return {k: getattr(after, k) - getattr(before, k) for k in ("alloc", "free", "mi_alloc", "mi_free")}, out


@pytest.fixture(scope="module", autouse=True)
def nrt_stats():
    _nrt_python.memsys_enable_stats()
    yield
    _nrt_python.memsys_disable_stats()


@pytest.mark.parametrize("loss,dtype,optimizer,hyper", [
    ("cross_entropy", "float32", "sgd", {}),  # fused kernel (BLAS and loop paths below)
    ("cross_entropy", "float64", "sgd", {}),
    ("cross_entropy", "float32", "sgd", {"momentum": 0.9}),
    ("cross_entropy", "float64", "adam", {}),
    ("mse", "float32", "rmsprop", {}), ("bce", "float64", "adagrad", {})])
def test_allocations_do_not_grow_with_batches(loss, dtype, optimizer, hyper):
    model, opt, state, r = _runner(loss, dtype, optimizer, hyper)
    one, hundred = np.arange(BATCH), np.arange(100 * BATCH)
    _epoch_stats(model, opt, state, r, one)  # compile (and any first-call work) outside the measure
    d1, out1 = _epoch_stats(model, opt, state, r, one)
    d100, out100 = _epoch_stats(model, opt, state, r, hundred)
    assert out1[K.epoch.STEPS] == 1 and out100[K.epoch.STEPS] == 100
    assert out100[K.epoch.SEEN] == 100 * BATCH and out100[K.epoch.DIVERGED] == 0
    assert d1 == d100
    assert d1["alloc"] == d1["free"] and d1["mi_alloc"] == d1["mi_free"]
    assert d100["alloc"] == d100["free"] and d100["mi_alloc"] == d100["mi_free"]
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("optimizer,hyper", [("sgd", {}), ("sgd", {"momentum": 0.9})])
def test_allocations_with_blas_sized_layers(optimizer, hyper):
    model, opt, state, r = _runner("cross_entropy", "float32", optimizer, hyper, n_in=64, hidden=128)
    assert BATCH * 64 * 128 >= K.config.BLAS_MIN_WORK  # the gemm / np.dot paths run
    one, hundred = np.arange(BATCH), np.arange(100 * BATCH)
    _epoch_stats(model, opt, state, r, one)
    d1, _ = _epoch_stats(model, opt, state, r, one)
    d100, out100 = _epoch_stats(model, opt, state, r, hundred)
    assert out100[K.epoch.STEPS] == 100 and d1 == d100 and d100["alloc"] == d100["free"]
