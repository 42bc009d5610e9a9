"""``fit(sampling='replacement')``: each epoch draws n indices i.i.d. uniformly, seeded and
reproducible per epoch like the shuffle; every backend (and every numba epoch kernel) trains
the same on orders that repeat rows."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastmlp
from fastmlp import MLP
from fastmlp import trainer as trainer_mod
from fastmlp.backends import TrainingData

BACKENDS = ["loop", "numpy", "numba"]


def _data(n=13, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.integers(0, 3, n)


def _orders(monkeypatch, **fit_kw):
    """The order of every epoch a fit trains on (recorded at the backend call)."""
    seen = []
    real = trainer_mod.Trainer._epoch

    def spy(self, state, data, order, lr, clock, progress):
        seen.append(order.copy())
        return real(self, state, data, order, lr, clock, progress)
    monkeypatch.setattr(trainer_mod.Trainer, "_epoch", spy)
    X, y = _data()
    MLP([3, 4, 3], seed=0).fit(X, y, verbose=0, **fit_kw)
    monkeypatch.undo()
    return seen


def test_replacement_draws_n_indices_with_repeats(monkeypatch):
    orders = _orders(monkeypatch, epochs=6, batch_size=4, sampling="replacement", seed=3)
    assert len(orders) == 6
    for order in orders:
        assert order.shape == (13,) and order.dtype == np.int64
        assert order.min() >= 0 and order.max() < 13
    assert any(len(np.unique(o)) < 13 for o in orders)  # some sample drawn twice (P(no repeat) ~ 1e-5)
    assert not all(np.array_equal(orders[0], o) for o in orders[1:])
    # the draw of epoch e depends only on the seed and e
    assert all(np.array_equal(o, np.random.default_rng([3, e]).integers(0, 13, 13)) for e, o in enumerate(orders))


def test_replacement_is_reproducible_and_resumes_like_the_shuffle(monkeypatch):
    a = _orders(monkeypatch, epochs=4, batch_size=4, sampling="replacement", seed=7)
    b = _orders(monkeypatch, epochs=4, batch_size=4, sampling="replacement", seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    X, y = _data()
    one = MLP([3, 4, 3], seed=0)
    one.fit(X, y, epochs=4, batch_size=4, sampling="replacement", seed=7, verbose=0)
    two = MLP([3, 4, 3], seed=0)
    two.fit(X, y, epochs=2, batch_size=4, sampling="replacement", seed=7, verbose=0)
    two.fit(X, y, epochs=2, batch_size=4, sampling="replacement", seed=7, verbose=0)
    assert np.array_equal(one.params, two.params)


def test_epoch_sampling_is_still_a_permutation(monkeypatch):
    for order in _orders(monkeypatch, epochs=3, batch_size=4, seed=3):
        assert np.array_equal(np.sort(order), np.arange(13))
    for order in _orders(monkeypatch, epochs=2, batch_size=4, shuffle=False):
        assert np.array_equal(order, np.arange(13))


def test_replacement_with_shuffle_false_is_refused():
    X, y = _data()
    m = MLP([3, 3], seed=0)
    before = m.params.copy()
    with pytest.raises(ValueError, match="shuffle=False.*replacement"):
        m.fit(X, y, epochs=1, shuffle=False, sampling="replacement", verbose=0)
    assert np.array_equal(m.params, before) and m.history is None


@pytest.mark.parametrize("opt,batch_size,weighted", [("sgd", 4, False), ("sgd", 1, False), ("adam", 5, True),
                                                     ("sgd", 1, True)])
def test_backends_agree_with_replacement(opt, batch_size, weighted):
    X, y = _data(11)
    w = np.linspace(0.0, 2.0, 11) if weighted else None
    runs = {}
    for b in BACKENDS:
        m = MLP([3, 5, 3], activation="tanh", dtype="float64", backend=b, seed=1)
        h = m.fit(X, y, epochs=3, batch_size=batch_size, lr=0.05, optimizer=opt, sampling="replacement", seed=2,
                  sample_weight=w, verbose=0)
        runs[b] = (m, h)
    for b in ("loop", "numba"):
        assert_allclose(runs[b][0].params, runs["numpy"][0].params, rtol=1e-10, atol=1e-12)
        assert_allclose(runs[b][1]["loss"], runs["numpy"][1]["loss"], rtol=1e-10)


@pytest.mark.parametrize("kernel,batch_size,optimizer", [("online", 1, "sgd"), ("online", 1, "adam"), ("fused", 1, "sgd"),
                                                         ("fused", 3, "sgd"), ("generic", 3, "sgd")])
def test_every_numba_kernel_trains_repeated_indices(kernel, batch_size, optimizer):
    """An order that repeats rows (and leaves some out) through each epoch kernel equals the
    NumPy reference on the same order."""
    X, y = _data(9)
    order = np.array([4, 4, 0, 8, 4, 1, 1, 7, 4, 2], np.int64)
    out = []
    for backend in ("numpy", "numba"):
        m = MLP([3, 5, 3], activation="tanh", dtype="float64", backend=backend, seed=1)
        if backend == "numba":
            m.engine.epoch_kernel = kernel
        opt = fastmlp.Optimizer(optimizer)
        state = opt.new_state(m.n_params, m.dtype)
        yi = y.astype(np.int64)
        data = TrainingData(np.ascontiguousarray(X), yi, np.zeros((0, 3)), batch_size, False)
        r = m.engine.train_epoch(m.params, state, opt, data, order, 0.1)
        out.append((m.params.copy(), r))
    assert_allclose(out[1][0], out[0][0], rtol=1e-11, atol=1e-13)
    assert out[1][1].seen == out[0][1].seen == 10
    assert out[1][1].loss_sum == pytest.approx(out[0][1].loss_sum, rel=1e-11)
