"""The numba backend's epochs allocate nothing per batch (Numba NRT statistics).

``model.engine.train_epoch`` (the public ``Backend`` call the trainer makes) runs with each
epoch kernel forced through ``model.engine.epoch_kernel``: 'generic' (any optimizer),
'fused' (plain SGD, update fused into the backward pass) and 'online' (batch 1, plain SGD
or any other optimizer). Each is called once over 1 batch and once over 100 of the same data (the backend's
training buffers, allocated at its first epoch, are reused); the NRT allocation counts of
the two calls must both be zero: the kernels are compiled without reference counting
(``intrinsics.NO_REFCOUNTS``), so a call makes no NRT event at all, not even for its arguments,
and one that allocated anything per batch would show it (``test_the_counters_see_an_allocation``).
"""
import numpy as np
import pytest
from numba.core.runtime import _nrt_python, rtsys

import fastmlp
from fastmlp import kernels as K
from fastmlp.backends import EpochResult, TrainingData

try:
    from fastmlp.checks import check_targets, check_X
except ImportError:  # the checks' module before its rename
    from fastmlp.validation import check_targets, check_X

BATCH = 8
ZERO = {"alloc": 0, "free": 0, "mi_alloc": 0, "mi_free": 0}


def _setup(loss, dtype, optimizer, hyper, kernel, batch=BATCH, n_in=4, hidden=8, weighted=False):
    rng = np.random.default_rng(0)
    n_out = 1 if loss == "bce" else 3
    model = fastmlp.MLP([n_in, hidden, 6, n_out], loss=loss, dtype=dtype, seed=0)
    model.engine.epoch_kernel = kernel
    X = rng.normal(size=(100 * batch, n_in))
    y = {"cross_entropy": rng.integers(0, 3, len(X)), "bce": rng.integers(0, 2, len(X)),
         "mse": rng.normal(size=(len(X), 3)), "softmax_mse": rng.integers(0, 3, len(X)),
         "multilabel": rng.integers(0, 2, (len(X), 3))}[loss]
    X = check_X(X, model.arch.n_in, model.dtype)
    yi, t = check_targets(y, model.arch, X.shape[0])
    opt = fastmlp.Optimizer(optimizer, **hyper)
    state = opt.new_state(model.n_params, model.dtype)
    w = rng.uniform(0.5, 2.0, len(X)).astype(dtype) if weighted else None
    data = TrainingData(X, yi, t, batch, False, w)
    assert data.weighted == weighted
    assert model.engine.choose_epoch_kernel(opt, batch, weighted) == kernel
    return model, opt, state, data


def _epoch_stats(model, opt, state, data, order):
    """(NRT stats delta, EpochResult) of one ``engine.train_epoch`` over ``order``."""
    before = rtsys.get_allocation_stats()
    result = model.engine.train_epoch(model.params, state, opt, data, order, 1e-3)
    after = rtsys.get_allocation_stats()
    return {k: getattr(after, k) - getattr(before, k) for k in ("alloc", "free", "mi_alloc", "mi_free")}, result


def _one_and_hundred(model, opt, state, data):
    batch = data.batch_size
    one, hundred = np.arange(batch), np.arange(100 * batch)
    _epoch_stats(model, opt, state, data, one)  # compile, buffers (and any first-call work) outside the measure
    step0 = state.step
    d1, r1 = _epoch_stats(model, opt, state, data, one)
    d100, r100 = _epoch_stats(model, opt, state, data, hundred)
    assert isinstance(r1, EpochResult) and r1.steps == 1 and r1.seen == batch
    assert r100.steps == 100 and r100.seen == 100 * batch and not r100.diverged
    assert state.step == step0 + 101  # the backend counts the updates into the state
    return d1, d100


def test_the_counters_see_an_allocation():
    """The statistics are on and count: a compiled function that allocates per call is seen."""
    from numba import njit

    @njit
    def allocates(n):
        return np.empty(n).sum()
    allocates(3)
    before = rtsys.get_allocation_stats()
    for _ in range(5):
        allocates(100)
    after = rtsys.get_allocation_stats()
    assert after.mi_alloc - before.mi_alloc >= 5 and after.mi_free - before.mi_free >= 5


@pytest.fixture(scope="module", autouse=True)
def nrt_stats():
    was_enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    yield
    if not was_enabled:
        _nrt_python.memsys_disable_stats()


@pytest.mark.parametrize("loss,dtype,optimizer,hyper,kernel,batch", [
    ("cross_entropy", "float32", "sgd", {}, "fused", BATCH),
    ("cross_entropy", "float64", "sgd", {}, "fused", BATCH),
    ("cross_entropy", "float64", "sgd", {}, "generic", BATCH),  # plain SGD by the generic kernel too
    ("cross_entropy", "float32", "sgd", {"momentum": 0.9}, "generic", BATCH),
    ("cross_entropy", "float64", "adam", {}, "generic", BATCH),
    ("mse", "float32", "rmsprop", {}, "generic", BATCH),
    ("bce", "float64", "adagrad", {}, "generic", BATCH),
    ("cross_entropy", "float32", "sgd", {}, "online", 1),
    ("mse", "float64", "sgd", {}, "online", 1),
    ("cross_entropy", "float32", "adam", {}, "online", 1),  # any optimizer at batch 1: online too
    ("bce", "float64", "sgd", {"momentum": 0.9, "nesterov": True}, "online", 1),
    ("bce", "float32", "sgd", {}, "fused", 1),  # batch 1 through the batched kernel
])
def test_allocations_do_not_grow_with_batches(loss, dtype, optimizer, hyper, kernel, batch):
    model, opt, state, data = _setup(loss, dtype, optimizer, hyper, kernel, batch)
    d1, d100 = _one_and_hundred(model, opt, state, data)
    assert d1 == d100 == ZERO
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("loss,dtype,optimizer,hyper,kernel,batch,weighted", [
    ("multilabel", "float32", "sgd", {}, "fused", BATCH, False),
    ("softmax_mse", "float64", "adam", {}, "generic", BATCH, False),
    ("cross_entropy", "float32", "sgd", {}, "fused", BATCH, True),
    ("multilabel", "float64", "sgd", {"momentum": 0.9}, "generic", BATCH, True),
    ("mse", "float32", "adam", {}, "generic", BATCH, True),
    ("softmax_mse", "float64", "sgd", {}, "fused", 1, True),  # weighted batch 1: fused, not online
])
def test_new_losses_and_weighted_epochs_allocate_nothing_per_batch(loss, dtype, optimizer, hyper, kernel, batch,
                                                                   weighted):
    """The losses 'multilabel' and 'softmax_mse', and sample weights (gathered with each batch),
    add no allocation per batch either."""
    model, opt, state, data = _setup(loss, dtype, optimizer, hyper, kernel, batch, weighted=weighted)
    d1, d100 = _one_and_hundred(model, opt, state, data)
    assert d1 == d100 == ZERO
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("optimizer,hyper,kernel", [("sgd", {}, "fused"), ("sgd", {"momentum": 0.9}, "generic")])
def test_allocations_with_blas_sized_layers(optimizer, hyper, kernel):
    model, opt, state, data = _setup("cross_entropy", "float32", optimizer, hyper, kernel, n_in=64, hidden=128)
    assert BATCH * 64 * 128 >= K.config.BLAS_MIN_WORK  # the gemm / np.dot paths run
    d1, d100 = _one_and_hundred(model, opt, state, data)
    assert d1 == d100 == ZERO
