"""fastmlp's own product (``kernels.matmul``) and where a training uses it (``backends.products``).

The product equals the float64 product for any rows (whole tiles of 6 and the 4-, 2- and 1-row
remainders), any k (even and odd) and any width its tile fits; it overwrites its output (its
compiling for the widest vectors: ``test_intrinsics``); so does its transposed form for the
backward's dx (``matmul_t``), whatever its scratch held, and its weight product (``matmul_tn``: dW,
plain SGD's W) for any batch rows, any number of inputs and every alpha and beta it is called with. The
choice is the measured one, forward, dx and weight product apart (a fake clock decides here), only on one
thread and outside the deterministic mode; a
training whose products go to it trains what the BLAS trains (float tolerance), allocating
nothing per batch, its scratch sized for the largest W it transposes.
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
from fastmlp.kernels.dense import dense_sgd
from fastmlp.kernels.matmul import PLACES, fits, tile_columns, transposes
from fastmlp.kernels.groups import grouped_room
from fastmlp.kernels.matmul import sparse_room
from fastmlp.kernels.split import ALIGN, over_k, piece
from fastmlp.kernels.structs import OWN_DW, OWN_DX, OWN_FORWARD, OWN_SPARSE
from fastmlp.backends import TrainingData
from fastmlp.checks import check_targets, check_X
from choices import choose_products
from test_epoch_allocations import ZERO, _one_and_hundred, nrt_stats  # noqa: F401  (nrt_stats: switched on)

COLUMNS = tile_columns(4)  # one tile row of float32: 64 with AVX-512, 16 with AVX2
# output widths: whole tile rows, and with AVX-512 others (the last tile row placed over the one before: ``PLACES``),
# common nets' too
WIDTHS = [COLUMNS, 3 * COLUMNS] + ([COLUMNS + 1, 2 * COLUMNS + 5, 100, 300] if PLACES else [])


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 64, 65])
@pytest.mark.parametrize("k", [1, 2, 3, 30])
@pytest.mark.parametrize("n", WIDTHS)
def test_matmul_equals_the_float64_product(m, k, n):
    rng = np.random.default_rng(m * 100 + k)
    x = rng.standard_normal((m, k)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    out = np.full((m, n), np.nan, np.float32)  # every element written: none stays NaN
    K.repeat_product(out, x, W, True, 1)
    want = x.astype(np.float64) @ W.astype(np.float64)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * np.sqrt(k))


@pytest.mark.parametrize("m", [1, 5, 6, 7, 64, 65])
@pytest.mark.parametrize("n", [1, 3, 10, 30, 128])
@pytest.mark.parametrize("k", [COLUMNS, 2 * COLUMNS] + ([COLUMNS + 16] if PLACES else []))
def test_matmul_t_equals_the_float64_product(m, n, k):
    """dx = dz @ W.T for W (k, n): k whole passes of the transpose (``transposes``: whole tile rows or not), any n
    (the layer's outputs, 10 for a classifier's)."""
    rng = np.random.default_rng(m * 1000 + n)
    dz = rng.standard_normal((m, n)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    dx = np.full((m, k), np.nan, np.float32)  # every element written
    wt = np.full(k * n + 5, np.nan, np.float32)  # scratch as left by anything: overwritten before it is read
    K.repeat_dx(dx, dz, W, wt, True, 2)
    want = dz.astype(np.float64) @ W.astype(np.float64).T
    np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-5 * np.sqrt(n))
    assert np.isnan(wt[k * n:]).all()  # nothing past the k * n values of W.T
    blas = np.empty_like(dx)
    K.repeat_dx(blas, dz, W, wt, False, 1)
    np.testing.assert_allclose(dx, blas, rtol=1e-5, atol=1e-5 * np.sqrt(n))


@pytest.mark.parametrize("m", [1, 2, 3, 5, 64, 65])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 11, 13, 30])
@pytest.mark.parametrize("n", WIDTHS)
def test_matmul_tn_equals_the_float64_product(m, k, n):
    """out += x.T @ dout (``repeat_dw``: alpha 1, beta 1) for any batch rows m (pairs and one left over) and any
    k rows of out (tiles of 6 and the 4-, 2- and 1-row remainders), any width (a column under two tiles added
    once); nothing past out's values is touched."""
    rng = np.random.default_rng(m * 100 + k)
    x = rng.standard_normal((m, k)).astype(np.float32)
    dout = rng.standard_normal((m, n)).astype(np.float32)
    start = rng.standard_normal((k, n)).astype(np.float32)
    room = np.full((k + 1, n), np.nan, np.float32)  # a row of NaN past out: left as it is
    out = room[:k]
    out[:] = start
    K.repeat_dw(out, x, dout, True, 2)  # twice: out = start + 2 x.T @ dout
    want = start.astype(np.float64) + 2 * x.astype(np.float64).T @ dout.astype(np.float64)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * np.sqrt(m))
    assert np.isnan(room[k]).all()
    blas = start.copy()
    K.repeat_dw(blas, x, dout, False, 2)
    np.testing.assert_allclose(out, blas, rtol=1e-5, atol=1e-5 * np.sqrt(m))


@pytest.mark.parametrize("m,k", [(1, 7), (7, 13), (64, 30)])
def test_the_weight_product_by_matmul_tn_in_the_dense_kernels(m, k):
    """``own_dw``: ``dense_backward``'s dW = x.T @ dout (alpha 1, beta 0: whatever dW held) and ``dense_sgd``'s
    W -= lr x.T @ dout (alpha -lr, beta 1) by ``matmul_tn``, to float tolerance of the BLAS's and the loops';
    dx, db and b as without it (bit for bit)."""
    rng = np.random.default_rng(m + k)
    n = COLUMNS
    x, dout = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((m, n)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    got = {}
    for own_dw in (None, True):
        dx, dW, db = np.empty((m, k), np.float32), np.full((k, n), np.nan, np.float32), np.empty(n, np.float32)
        K.dense_backward(dx, dW, db, dout, x, W, True, None, None, own_dw)
        dx2, W2, b2 = np.empty((m, k), np.float32), W.copy(), np.zeros(n, np.float32)
        dense_sgd(dx2, W2, b2, x, dout, 0.01, True, None, own_dw)
        got[own_dw] = (dx, dW, db, dx2, W2, b2)
    want = x.astype(np.float64).T @ dout.astype(np.float64)
    (dx0, dW0, db0, dx20, W20, b20), (dx1, dW1, db1, dx21, W21, b21) = got[None], got[True]
    np.testing.assert_allclose(dW1, want, rtol=1e-5, atol=1e-5 * np.sqrt(m))
    np.testing.assert_allclose(dW1, dW0, rtol=1e-5, atol=1e-5 * np.sqrt(m))
    np.testing.assert_allclose(W21, W.astype(np.float64) - 0.01 * want, rtol=1e-5, atol=1e-6 * np.sqrt(m))
    np.testing.assert_allclose(W21, W20, rtol=1e-5, atol=1e-6 * np.sqrt(m))
    for a, b in ((dx0, dx1), (db0, db1), (dx20, dx21), (b20, b21)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sgd", [False, True])
def test_the_dense_backward_with_scratch_takes_dx_by_matmul_t(sgd):
    """``dense_backward`` / ``dense_sgd`` with ``wt``: the same dx (float tolerance), dW, db and step as without."""
    rng = np.random.default_rng(5)
    m, k, n = 33, 2 * COLUMNS, 24
    x, dout = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((m, n)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    results = []
    for wt in (None, np.full(k * n, np.nan, np.float32)):
        dx = np.full((m, k), np.nan, np.float32)
        if sgd:
            W2, b2 = W.copy(), np.zeros(n, np.float32)
            dense_sgd(dx, W2, b2, x, dout, 0.01, True, wt)
            results.append((dx, W2, b2))
        else:
            dW, db = np.empty((k, n), np.float32), np.empty(n, np.float32)
            K.dense_backward(dx, dW, db, dout, x, W, True, None, wt)
            results.append((dx, dW, db))
    (dx0, *rest0), (dx1, *rest1) = results
    np.testing.assert_allclose(dx1, dout.astype(np.float64) @ W.astype(np.float64).T, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dx1, dx0, rtol=1e-5, atol=1e-4)
    for a, b in zip(rest0, rest1):
        np.testing.assert_array_equal(a, b)  # the rest does not depend on how dx was taken


def test_matmul_at_the_fashion_shapes_matches_the_blas():
    rng = np.random.default_rng(1)
    for m, k, n in [(64, 784, 256), (64, 256, 128), (63, 128, 64), (1024, 784, 256)]:
        x = rng.random((m, k), dtype=np.float32)
        W = rng.standard_normal((k, n)).astype(np.float32)
        own, blas = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
        K.repeat_product(own, x, W, True, 2)
        K.repeat_product(blas, x, W, False, 2)
        np.testing.assert_allclose(own, blas, rtol=1e-4, atol=1e-4)
        dz = rng.standard_normal((m, n)).astype(np.float32)  # the weight product of the same layer
        own, blas = W.copy(), W.copy()
        K.repeat_dw(own, x, dz, True, 2)
        K.repeat_dw(blas, x, dz, False, 2)
        np.testing.assert_allclose(own, blas, rtol=1e-4, atol=1e-3)


def test_what_fits():
    assert fits(COLUMNS, 4) and fits(4 * COLUMNS, 4)  # float32 on every CPU (used where measured faster)
    # with AVX-512, the last tile row placed over the one before; with AVX2, whole tile rows only
    assert all(fits(n, 4) == PLACES for n in (COLUMNS + 1, 100, 300)) and PLACES == (vector_bytes() == 64)
    assert not fits(COLUMNS - 1, 4) and not fits(10, 4) and not fits(0, 4)  # less than one tile row
    assert not fits(COLUMNS, 8) and not fits(4 * COLUMNS, 8)  # float64: not used
    assert COLUMNS == (64 if vector_bytes() == 64 else 16)  # 4 registers a row with AVX-512, 2 with AVX2
    assert transposes(2 * COLUMNS, 4) and transposes(COLUMNS, 4) and not transposes(100, 4)
    assert transposes(COLUMNS + 16, 4) == PLACES or COLUMNS == 16  # (80 with AVX-512; 32 with AVX2, whole rows)
    assert not transposes(COLUMNS - 16, 4)  # (AVX2: 0) less than a tile row


# -- where a training uses it ------------------------------------------------------------------------

class _FakeClock:
    """A clock that advances by a set cost per product run by ``repeat_product`` and, at costs of their
    own (the forward's unless given), by ``repeat_dx`` and ``repeat_dw`` (no real timing)."""

    def __init__(self, own_cost, blas_cost, dx_costs=None, dw_costs=None):
        self.now, self.cost = 0.0, {True: own_cost, False: blas_cost}
        self.rooms = []  # the ``room`` of each product timed (None: not over nonzero inputs)
        self.starts = set()  # where in a cache line each operand of each product timed starts (bytes)
        self.threads = []  # the ``threads`` each forward product was cut over (None: not cut)
        self.dx_cost = dict(zip((True, False), dx_costs)) if dx_costs else self.cost
        self.dw_cost = dict(zip((True, False), dw_costs)) if dw_costs else self.cost

    def perf_counter(self):
        return self.now

    def _operands(self, *arrays):
        self.starts.update(a.ctypes.data % 64 for a in arrays)

    def repeat_product(self, out, x, W, own, reps, room=None, threads=None, partial=None):
        self._operands(out, x, W)
        # timed cut as the training cuts it: the first layer along k with room for a piece's sums
        # (``split.forward_product``), a hidden layer's without (an empty room and scratch: ``products._hidden_timed``)
        hidden = room is not None and room.size == 0 and partial is not None and partial.size == 0
        assert (partial is None) == (threads is None) and (partial is None or partial.size >= out.size or hidden)
        self.rooms.append(room)
        self.threads.append(threads)
        self.now += self.cost[bool(own)] * reps

    def repeat_dx(self, dx, dz, W, wt, own, reps):
        assert wt.size >= W.size and dx.shape == (dz.shape[0], W.shape[0])
        self._operands(dx, dz, W, wt)
        self.now += self.dx_cost[bool(own)] * reps

    def repeat_dw(self, out, x, dout, own, reps, room=None):
        assert out.shape == (x.shape[1], dout.shape[1]) and x.shape[0] == dout.shape[0]
        self._operands(out, x, dout)
        self.rooms.append(room)
        self.now += self.dw_cost[bool(own)] * reps


def _fake(monkeypatch, own_cost, blas_cost, threads=1, dx_costs=None, dw_costs=None):
    clock = _FakeClock(own_cost, blas_cost, dx_costs, dw_costs)
    monkeypatch.setattr(products.time, "perf_counter", clock.perf_counter)
    monkeypatch.setattr(products.K, "repeat_product", clock.repeat_product)
    monkeypatch.setattr(products.K, "repeat_dx", clock.repeat_dx)
    monkeypatch.setattr(products.K, "repeat_dw", clock.repeat_dw)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", threads)
    monkeypatch.setattr(products, "_chosen", {})
    return clock


LAYERS = [20, 128, 64, 3]  # hidden widths of whole tile rows with AVX-512 and AVX2; the last layer never fits
ARCH = fastmlp.MLP(LAYERS, seed=0).arch


@pytest.mark.parametrize("own_cost,blas_cost,chosen", [(1.0, 2.0, True), (1.0, 1.04, False), (2.0, 1.0, False)])
def test_a_layer_goes_to_matmul_only_when_measured_faster(monkeypatch, own_cost, blas_cost, chosen):
    _fake(monkeypatch, own_cost, blas_cost)
    own = products.own_products(ARCH, 16)
    if not chosen:
        assert own is None  # no layer: nothing of matmul compiled
    else:  # forward and weight product: the two hidden layers; dx: the second layer's (the first has none, the
        # last's is small); the last layer's outputs (3) fit no tile
        assert own.dtype == np.int64 and own.tolist() == [OWN_FORWARD | OWN_DW, OWN_FORWARD | OWN_DX | OWN_DW, 0]


@pytest.mark.parametrize("forward,dx,dw,flags", [
    ((1.0, 2.0), (2.0, 1.0), (2.0, 1.0), [OWN_FORWARD, OWN_FORWARD, 0]),
    ((2.0, 1.0), (1.0, 2.0), (2.0, 1.0), [0, OWN_DX, 0]),
    ((2.0, 1.0), (2.0, 1.0), (1.0, 2.0), [OWN_DW, OWN_DW, 0]),
])
def test_the_forward_dx_and_weight_product_are_chosen_apart(monkeypatch, forward, dx, dw, flags):
    _fake(monkeypatch, *forward, dx_costs=dx, dw_costs=dw)
    assert products.own_products(ARCH, 16).tolist() == flags


def test_the_choice_is_kept_per_shape(monkeypatch):
    clock = _fake(monkeypatch, 1.0, 2.0)
    first = products.own_products(ARCH, 16)
    spent = clock.now
    assert products.own_products(ARCH, 16) is first and clock.now == spent  # measured once
    products.own_products(ARCH, 8)
    assert clock.now > spent  # another batch size: measured again


def test_nothing_to_choose_on_several_threads_or_when_deterministic(monkeypatch):
    clock = _fake(monkeypatch, 1.0, 2.0, threads=2)
    assert products.own_products(ARCH, 16) is None
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    monkeypatch.setattr(tc, "_deterministic", True)
    assert products.own_products(ARCH, 16) is None
    assert clock.now == 0.0  # nothing even timed


def test_with_several_threads_a_cut_training_s_first_layer_over_nonzero_inputs_is_measured_cut(monkeypatch,
                                                                                                  tmp_path):
    """In a process of several threads: only for a training whose products are cut (``cut``), only with zeros in
    the inputs, and only the forward products: the first layer's over them, timed cut over all the threads against
    the BLAS cut the same way, taken when faster (``OWN_FORWARD | OWN_SPARSE``), and the hidden layers' by
    ``matmul`` on one thread against the BLAS as the cut kernel runs them (``OWN_FORWARD``), per thread count. (The
    AMX tiles' choice beside it, and the hidden layers' apart from the first's: ``test_tiles.py``.)"""
    monkeypatch.setattr(products.tiles, "available", lambda: False)
    clock = _fake(monkeypatch, 1.0, 2.0, threads=2)
    monkeypatch.setattr(numba, "set_num_threads", lambda n: None)  # (the pool may have one thread)
    X = np.random.default_rng(0).standard_normal((100, 20)).astype(np.float32)
    X[:, :12] = 0
    assert products.own_products(ARCH, 16, X) is None  # plain SGD: the BLAS on its threads
    assert products.own_products(ARCH, 16, np.ones((100, 20), np.float32), cut=True) is None  # no zeros
    assert clock.now == 0.0  # nothing timed
    own = products.own_products(ARCH, 16, X, cut=True)
    assert own.tolist() == [OWN_FORWARD | OWN_SPARSE, OWN_FORWARD, 0]  # the last layer's 3 outputs fit no tile
    assert clock.threads and set(clock.threads) == {2} and all(r is not None for r in clock.rooms)
    spent = clock.now
    assert products.own_products(ARCH, 16, X, cut=True) is own and clock.now == spent
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 3)
    assert products.own_products(ARCH, 16, X, cut=True).tolist() == own.tolist() and clock.now > spent  # measured
    _fake(monkeypatch, 2.0, 1.0, threads=2)
    monkeypatch.setattr(products.records, "folder", lambda: str(tmp_path / "another machine"))
    assert products.own_products(ARCH, 16, X, cut=True) is None  # slower: the BLAS's pieces


@pytest.mark.parametrize("threads", [1, 2])
def test_the_timing_kernels_compile_apart_from_the_timing(monkeypatch, threads):
    """``compile_timing`` runs every product the choice would time, both ways, but none of them (no repetition, no
    clock read) and changes no setting of the process (the BLAS's threads: the training runs beside it); the choice
    is made later, by ``own_products``, which ``own_known`` then tells from a choice not made (both None)."""
    monkeypatch.setattr(products.tiles, "available", lambda: False)
    clock = _fake(monkeypatch, 1.0, 2.0, threads=threads)
    monkeypatch.setattr(numba, "set_num_threads", lambda n: None)  # (the pool may have one thread)
    monkeypatch.setattr(products, "_timing_compiled", set())
    reps = []
    product = clock.repeat_product
    monkeypatch.setattr(products.K, "repeat_product", lambda *args: reps.append(args[4]) or product(*args))

    def limited():
        raise AssertionError("the BLAS's threads limited by a compile")
    monkeypatch.setattr(products.thread_choice, "blas_limited", limited)
    X = np.random.default_rng(0).standard_normal((100, 20)).astype(np.float32)
    X[:, :12] = 0
    assert not products.own_known(ARCH, 16, X, cut=True) and not products.timing_compiled(ARCH, 16, X, cut=True)
    products.compile_timing(ARCH, 16, X, cut=True)
    assert products.timing_compiled(ARCH, 16, X, cut=True) and not products.own_known(ARCH, 16, X, cut=True)
    assert reps and set(reps) == {0} and clock.now == 0.0 and products._chosen == {}  # run, not timed, not chosen
    assert not products.timing_compiled(ARCH, 8, X, cut=True)  # another shape's
    if threads > 1:
        monkeypatch.undo()  # (the real blas_limited and set_num_threads for the measurement)
        monkeypatch.setattr(products.tiles, "available", lambda: False)
        clock = _fake(monkeypatch, 1.0, 2.0, threads=threads)
        monkeypatch.setattr(numba, "set_num_threads", lambda n: None)
    own = products.own_products(ARCH, 16, X, cut=True)
    one = [OWN_FORWARD | OWN_DW | OWN_SPARSE, OWN_FORWARD | OWN_DX | OWN_DW, 0]  # every product on one thread
    assert clock.now > 0 and own.tolist() == ([OWN_FORWARD | OWN_SPARSE, OWN_FORWARD, 0] if threads > 1 else one)
    assert products.own_known(ARCH, 16, X, cut=True)
    monkeypatch.setattr(products, "_chosen", {})  # a fresh process on this machine: the record
    assert products.own_known(ARCH, 16, X, cut=True) and products.own_products(ARCH, 16, X, cut=True, measure=False
                                                                                ).tolist() == own.tolist()
    # inputs without zeros: nothing to choose on several threads, another choice (not made) on one
    assert products.own_known(ARCH, 16, np.ones((100, 20)), cut=True) == (threads > 1)
    assert products.own_known(ARCH, 16, X)  # plain SGD: nothing to choose on several threads, the same on one


@pytest.mark.parametrize("zeros", [False, True])
def test_the_products_are_timed_on_operands_that_start_on_a_cache_line_as_a_call_s(monkeypatch, zeros):
    """Every operand of every product timed (forward, dx, weight product; on random values or on a batch of the
    inputs) starts on a cache line, as the parameters, workspace and batch rows of a call do: NumPy's own arrays
    start anywhere on 16 bytes, and a W that does not start on a line made ``matmul`` 20% slower (measured)."""
    clock = _fake(monkeypatch, 1.0, 2.0)
    X = np.zeros(100 * 20 + 1, np.float32)[1:].reshape(100, 20)  # 4 bytes past NumPy's 16: not on a line
    X[:] = np.random.default_rng(0).standard_normal(X.shape)
    if zeros:
        X[:, :12] = 0
    products.own_products(ARCH, 16, X)
    assert clock.rooms and (any(r is not None for r in clock.rooms) == zeros)
    assert clock.starts == {0}


def test_eligible_layers():
    assert products.eligible(ARCH, 16) == [0, 1]
    assert products.eligible(ARCH, 1) == [1]  # 1 x 20 x 128: below the BLAS's size, the loops' product
    wide64 = fastmlp.MLP([20, 128, 3], dtype="float64", seed=0).arch
    assert products.eligible(wide64, 16) == []
    assert products.dx_eligible(ARCH, 16) == [1]  # the first layer has no dx; 16 x 64 x 3 is the loops'
    assert products.dx_eligible(ARCH, 64) == [1, 2]  # dx widths 128 and 64 fit
    assert products.dx_eligible(ARCH, 7) == []  # too few rows: dx by loops
    # 100: the forward's width only with AVX-512 (the last tile row placed), never dx's (whole passes of 16 rows)
    assert products.dx_eligible(fastmlp.MLP([20, 100, 64, 3], seed=0).arch, 64) == [2]
    assert products.dx_eligible(fastmlp.MLP([20, 128, 64, 3], dtype="float64", seed=0).arch, 64) == []
    assert products.dw_eligible(ARCH, 16) == [0, 1]  # the outputs 128 and 64 fit; 3 does not
    assert products.dw_eligible(ARCH, 1) == [1]  # 1 x 20 x 128: the loops' product
    assert products.dw_eligible(fastmlp.MLP([20, 100, 64, 3], seed=0).arch, 16) == ([0, 1] if PLACES else [1])
    assert products.dw_eligible(fastmlp.MLP([20, 7, 64, 3], seed=0).arch, 64) == [1]  # 7: less than a tile row
    assert products.dw_eligible(wide64, 16) == []


def test_the_training_scratch_holds_the_largest_w_it_transposes():
    arch = fastmlp.MLP([20, 128, 64, 96, 3], seed=0).arch
    tb = backend._TrainingBuffers(arch, 16, None, False)
    assert tb.ws.wt.size == 0  # nothing until a training's flags ask
    tb.make_room(arch, None)
    tb.make_room(arch, np.array([OWN_FORWARD, OWN_FORWARD, 0, 0], np.int64))
    assert tb.ws.wt.size == 0  # forward flags need no room
    tb.make_room(arch, np.array([0, OWN_DX, 0, OWN_DX], np.int64))
    assert tb.ws.wt.size == 128 * 64  # the larger of 128 x 64 and 96 x 3
    first = tb.ws.wt
    tb.make_room(arch, np.array([0, 0, OWN_DX, 0], np.int64))  # 64 x 96: less than there is
    assert tb.ws.wt is first
    tb.make_room(arch, np.array([0, 0, OWN_DX | OWN_FORWARD, OWN_DX], np.int64))
    assert tb.ws.wt is first


def test_a_real_measurement_on_one_thread(monkeypatch):
    """Timed for real (whatever it chooses): an int64 flag per layer, 0 where nothing fits, or None."""
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    monkeypatch.setattr(products, "_chosen", {})
    own = products.own_products(ARCH, 64)
    assert own is None or (own.dtype == np.int64 and own.shape == (3,) and own[0] & OWN_DX == 0
                           and own[2] & (OWN_FORWARD | OWN_DW) == 0 and own.any())


# the two hidden layers' forward and weight products by matmul and matmul_tn, the dx of the second and third by
# matmul_t (the third's at every batch size: a flag is followed whatever the size)
FLAGS = np.array([OWN_FORWARD | OWN_DW, OWN_FORWARD | OWN_DX | OWN_DW, OWN_DX], np.int64)
DW_ONLY = np.array([OWN_DW, OWN_DW, 0], np.int64)  # the weight products alone (at every batch size too)
SPARSE = FLAGS | np.array([OWN_SPARSE, 0, 0], np.int64)  # and the first layer's over the nonzero inputs
SPARSE_DW = DW_ONLY | np.array([OWN_SPARSE, 0, 0], np.int64)


def _fit(monkeypatch, own, optimizer, batch_size, n=100, epochs=2, zeros=0.0, **kw):
    """A model trained with the products ``own`` flags (an array like ``FLAGS``) by fastmlp's own, or (None)
    every product by the BLAS; ``zeros``, the share of the inputs set to zero (as an image's dark pixels: the
    same few inputs in most samples, and some more at random). With ``OWN_DW`` or ``OWN_DX``, flags that only a
    process of one thread takes, as in one."""
    asked = []
    choose_products(monkeypatch, own, asked)
    if own is not None and (own & (OWN_DW | OWN_DX)).any():  # flags of a process of one thread (``kernels.network``)
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 20)).astype(np.float32)
    if zeros:
        X[:, :8][rng.random((n, 8)) < 0.95] = 0  # 8 of 20 inputs dark in nearly every sample
        X[rng.random(X.shape) < zeros] = 0
    y = rng.integers(0, 3, n)
    model = fastmlp.MLP(LAYERS, activation="relu", seed=3)
    model.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, verbose=0, **kw)
    assert asked and set(asked) == {batch_size}  # the epoch kernels were given what it said
    return model


@pytest.mark.parametrize("optimizer,kw", [("sgd", {}), ("adam", {"lr": 1e-3}), ("sgd", {"momentum": 0.9})])
# 1: the online kernel; 7: tiles of 6 and 1 row; 16: 100 rows leave a last batch of 4
@pytest.mark.parametrize("batch_size", [1, 7, 16])
@pytest.mark.parametrize("flags,zeros", [(FLAGS, 0.0), (DW_ONLY, 0.0), (SPARSE, 0.3), (SPARSE, 0.0), (SPARSE_DW, 0.3)],
                         ids=["all", "dw", "sparse", "sparse-dense-data", "sparse-dw"])
def test_training_with_matmul_trains_what_the_blas_trains(monkeypatch, optimizer, kw, batch_size, flags, zeros):
    """Also with the first layer's products over the batch's nonzero inputs (``SPARSE``): on inputs with zeros,
    and on inputs without (where each batch takes the plain products)."""
    own = _fit(monkeypatch, flags, optimizer, batch_size, zeros=zeros, **kw)
    blas = _fit(monkeypatch, None, optimizer, batch_size, zeros=zeros, **kw)
    np.testing.assert_allclose(own.params, blas.params, rtol=1e-4, atol=5e-5)  # float32: rounding differs
    assert own.history.history["loss"] == pytest.approx(blas.history.history["loss"], rel=1e-4)


@pytest.mark.parametrize("optimizer,kw", [("sgd", {}), ("adam", {"lr": 1e-3})])
@pytest.mark.parametrize("batch_size", [7, 16])
def test_a_training_on_one_thread_with_its_rows_grouped_trains_what_the_blas_trains(monkeypatch, optimizer, kw,
                                                                                    batch_size):
    """In a process of one thread the first layer's forward product takes each batch's rows grouped by their zeros
    (``kernels.groups.matmul_grouped``: its room is made for it)."""
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    rooms = []
    make_room = backend._TrainingBuffers.make_room
    monkeypatch.setattr(backend._TrainingBuffers, "make_room",
                        lambda tb, arch, own: make_room(tb, arch, own) or rooms.append(tb.ws.room.size))
    own = _fit(monkeypatch, SPARSE, optimizer, batch_size, zeros=0.3, **kw)
    assert rooms and set(rooms) == {grouped_room(batch_size, 20, LAYERS[1], 4)}
    blas = _fit(monkeypatch, None, optimizer, batch_size, zeros=0.3, **kw)
    np.testing.assert_allclose(own.params, blas.params, rtol=1e-4, atol=5e-5)
    assert own.history.history["loss"] == pytest.approx(blas.history.history["loss"], rel=1e-4)


@pytest.mark.parametrize("optimizer,kernel", [("sgd", "fused"), ("adam", "generic")])
@pytest.mark.parametrize("flags,one_thread", [(FLAGS, True), (SPARSE, False), (SPARSE, True)],
                         ids=["own", "sparse", "sparse-grouped"])
def test_training_with_matmul_allocates_nothing_per_batch(monkeypatch, optimizer, kernel, flags, one_thread):
    """Also with the first layer's rows grouped by their zeros (a process of one thread: ``one_thread``); ``OWN_DW``
    and ``OWN_DX`` in a process of one thread, the only one that takes them."""
    rooms = []
    if one_thread:
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
        make_room = backend._TrainingBuffers.make_room
        monkeypatch.setattr(backend._TrainingBuffers, "make_room",
                            lambda tb, arch, own: make_room(tb, arch, own) or rooms.append(tb.ws.room.size))
    asked = []
    choose_products(monkeypatch, flags, asked)
    rng = np.random.default_rng(0)
    model = fastmlp.MLP(LAYERS, activation="relu", seed=0)
    model.engine.epoch_kernel = kernel
    X = rng.standard_normal((100 * 16, 20))
    X[rng.random(X.shape) < 0.5] = 0
    X = check_X(X, model.arch.n_in, model.dtype)
    yi, t = check_targets(rng.integers(0, 3, len(X)), model.arch, X.shape[0])
    opt = fastmlp.Optimizer(optimizer)
    state = opt.new_state(model.n_params, model.dtype)
    data = TrainingData(X, yi, t, 16, False, None)
    d1, d100 = _one_and_hundred(model, opt, state, data)
    assert asked and set(asked) == {16}
    assert d1 == ZERO and d100 == ZERO
    if one_thread and flags[0] & OWN_SPARSE:
        assert set(rooms) == {grouped_room(16, 20, LAYERS[1], 4)}  # (grouped: its room made for it)


def test_the_deterministic_mode_set_after_a_measurement_gets_none(monkeypatch):
    """The choice is asked for at every epoch call: a mode set after it was measured is kept to."""
    _fake(monkeypatch, 1.0, 2.0)
    assert products.own_products(ARCH, 16) is not None
    monkeypatch.setattr(tc, "_deterministic", True)
    assert products.own_products(ARCH, 16) is None


# -- the first layer's products over the batch's nonzero inputs (matmul_sparse, matmul_tn_sparse) ---------------

def _sparse_inputs(rng, m, k, zeros):
    """x (m, k) float32 with about ``zeros`` of its values zero, and some inputs zero in every sample."""
    x = rng.standard_normal((m, k)).astype(np.float32)
    x[rng.random((m, k)) < zeros] = 0
    x[:, ::3] = 0 if zeros else x[:, ::3]
    return x


@pytest.mark.parametrize("m", [1, 2, 5, 6, 7, 11, 13, 64, 65])
@pytest.mark.parametrize("k", [1, 5, 6, 7, 13, 30])
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("n", [COLUMNS] + ([COLUMNS + 21] if PLACES else []))
def test_the_products_over_nonzero_inputs_equal_the_float64_products(m, k, zeros, n):
    """Forward (out written whatever it held), dW (alpha 1, beta 0) and SGD's form (alpha -lr, beta 1), for any
    rows and inputs (tiles of 6 and the 4-, 2- and 1-row remainders both ways), inputs all zero, none or some,
    whatever the room held before."""
    rng = np.random.default_rng(m * 1000 + k + int(zeros * 10))
    x = _sparse_inputs(rng, m, k, zeros)
    W = rng.standard_normal((k, n)).astype(np.float32)
    dz = rng.standard_normal((m, n)).astype(np.float32)
    room = rng.integers(-2**31, 2**31 - 1, sparse_room(m, k) + 3).astype(np.int32)
    x64 = x.astype(np.float64)
    out = np.full((m, n), np.nan, np.float32)
    K.repeat_product(out, x, W, True, 2, room[:-3])
    np.testing.assert_allclose(out, x64 @ W, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    dW = np.full((k, n), np.nan, np.float32)
    K.repeat_dw(dW, x, dz, True, 1, room[:-3], 1.0, 0.0)
    np.testing.assert_allclose(dW, x64.T @ dz, rtol=1e-5, atol=1e-5 * np.sqrt(m))
    W2 = W.copy()
    K.repeat_dw(W2, x, dz, True, 2, room[:-3], -0.01, 1.0)
    np.testing.assert_allclose(W2, W - 0.02 * (x64.T @ dz), rtol=1e-5, atol=1e-6 * np.sqrt(m))


def test_zero_inputs_are_skipped_and_a_dense_batch_takes_the_plain_products():
    """The evidence that zeros are skipped: an infinity met only by zero inputs (0 * inf is NaN) is not spread
    (the module's docstring says so), in W by the forward, in dz by the weight product; a batch without zeros
    gives :func:`matmul`'s and :func:`matmul_tn`'s numbers bit for bit."""
    rng = np.random.default_rng(3)
    m, k, n = 12, 30, COLUMNS
    x = _sparse_inputs(rng, m, k, 0.8)  # input 0 is zero in every sample; lists that skip enough
    x[0, 6:12] = 0  # sample 0 meets the second tile of inputs (6-11) only with zeros
    room = np.zeros(sparse_room(m, k), np.int32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    W[0, 5] = np.inf
    plain, sparse = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    K.repeat_product(plain, x, W, True, 1)
    K.repeat_product(sparse, x, W, True, 1, room)
    assert np.isnan(plain[:, 5]).all() and np.isfinite(sparse).all()
    dz = rng.standard_normal((m, n)).astype(np.float32)
    dz[0] = np.inf
    plain_dW, sparse_dW = np.empty((k, n), np.float32), np.empty((k, n), np.float32)
    K.repeat_dw(plain_dW, x, dz, True, 1, None, 1.0, 0.0)
    K.repeat_dw(sparse_dW, x, dz, True, 1, room, 1.0, 0.0)
    assert np.isnan(plain_dW[6:12]).all() and np.isfinite(sparse_dW[6:12]).all()
    dense = rng.standard_normal((m, k)).astype(np.float32)
    W[0, 5] = 1.0
    K.repeat_product(plain, dense, W, True, 1)
    K.repeat_product(sparse, dense, W, True, 1, room)
    np.testing.assert_array_equal(sparse, plain)
    K.repeat_dw(plain_dW, dense, dz[::-1].copy(), True, 1, None, 1.0, 0.0)
    K.repeat_dw(sparse_dW, dense, dz[::-1].copy(), True, 1, room, 1.0, 0.0)
    np.testing.assert_array_equal(sparse_dW, plain_dW)


@pytest.mark.parametrize("m,k,n", [(64, 784, 256), (1, 7, 64), (5, 13, 128), (13, 5, 192), (65, 40, 320), (7, 33, 64)]
                         + ([(64, 784, 300), (13, 20, 100), (7, 33, 65)] if PLACES else []))
@pytest.mark.parametrize("zeros", [0.0, 0.6, 1.0])
def test_the_sparse_product_cut_over_threads_is_one_call_s_bit_for_bit(m, k, n, zeros):
    """``matmul_sparse_cut``: each thread a range of whole tile columns of the same tiles (the last range's placed
    tile row too), the lists made once: every output the same sum in the same order as one call's, on 1, 2 or 3 pieces
    (more than the blocks, or than Numba's threads, too); and right. All-zero inputs, dense ones (the plain tiles)
    and one block too; widths of whole tile rows (multiples of 64 on every CPU) and others."""
    rng = np.random.default_rng(m * 100 + k)
    x = _sparse_inputs(rng, m, k, zeros) if zeros < 1 else np.zeros((m, k), np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    room = np.zeros(sparse_room(m, k), np.int32)
    whole = np.full((m, n), np.nan, np.float32)
    K.repeat_product(whole, x, W, True, 1, room)
    np.testing.assert_allclose(whole, x.astype(np.float64) @ W, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    for threads in (1, 2, 3):
        out = np.full((m, n), np.nan, np.float32)
        K.repeat_product(out, x, W, True, 2, room, threads)
        np.testing.assert_array_equal(out, whole)


def test_the_register_blocks_compile_once_whatever_the_ranges():
    """The own products' register blocks (``matmul._columns``, ``matmul._columns_listed``: each seconds of a cold
    compile) compile for int64 ranges only, whichever product calls them (whole, cut by columns, cut along k): Numba
    compiles a function once per literal argument, and literal starts (0) made three copies (18 of a cold 31 s
    compile of ``repeat_product``, Intel Xeon model 207). The callers are compiled afresh here (uncached copies):
    loaded from the cache, a kernel types none of its calls."""
    from fastmlp.kernels.config import JIT
    from fastmlp.kernels.split import JIT_SPLIT
    rng = np.random.default_rng(0)
    m, k, n = 12, 64, 2 * COLUMNS
    x = _sparse_inputs(rng, m, k, 0.6)
    W = rng.standard_normal((k, n)).astype(np.float32)
    room = np.zeros(sparse_room(m, k), np.int32)
    out = np.empty((m, n), np.float32)
    for caller, options, args in [(matmul.matmul, JIT, (out, x, W)), (matmul.matmul_sparse, JIT, (out, x, W, room)),
                                  (matmul.matmul_sparse_cut, JIT_SPLIT,  # all three calls: over k, whole, by columns
                                   (out, x, W, room, 2, np.empty(m * n, np.float32)))]:
        numba.njit(**dict(options, cache=False, no_cpython_wrapper=False))(caller.py_func)(*args)
    for blocks in (matmul._columns, matmul._columns_listed):
        assert blocks.signatures
        for signature in blocks.signatures:
            assert not any(isinstance(t, numba.types.Literal) for t in signature), (blocks, signature)


@pytest.mark.parametrize("m,k,columns", [(64, 784, 4), (61, 800, 1), (7, 3000, 2), (64, 200, 4), (2, 9000, 1)])
@pytest.mark.parametrize("zeros", [0.0, 0.6, 1.0])
def test_the_first_layer_s_product_cut_along_k_sums_each_piece_s_rows_of_w_then_adds(m, k, columns, zeros):
    """With a ``partial`` (a training's first layer on two threads: ``split.forward_product``), a product with W
    taller than wide and work enough to cut is cut along k where ``split.split_step`` cuts W's rows: each piece's
    sums over its rows, piece 1's (in the partial, whose values past m * n stay as they were) added to piece
    0's. The own product over nonzero inputs: bit for bit one call on each piece's columns of x and rows of W, then
    their sum; the BLAS's: right. W wider than tall (64, 200, 256) is cut by columns as without a partial."""
    rng = np.random.default_rng(m * 100 + k)
    n = columns * 64  # (64: whole tile rows on every CPU)
    x = _sparse_inputs(rng, m, k, zeros) if zeros < 1 else np.zeros((m, k), np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    split = piece.py_func(k, 2, 1, ALIGN)[0]
    assert over_k.py_func(np.empty((m, n)), k, np.empty(m * n), 2) == (k >= n)  # (work enough in each)
    for own in (True, False):
        room = np.zeros(sparse_room(m, k), np.int32) if own else None
        partial = np.full(m * n + 5, 7.0, np.float32)
        out = np.full((m, n), np.nan, np.float32)
        K.repeat_product(out, x, W, own, 2, room, 2, partial)
        assert (partial[m * n:] == 7.0).all()
        np.testing.assert_allclose(out, x.astype(np.float64) @ W, rtol=1e-5, atol=1e-5 * np.sqrt(k))
        if not own:
            continue
        if k < n:  # not cut along k: one call's bits
            want = np.full((m, n), np.nan, np.float32)
            K.repeat_product(want, x, W, True, 1, room)
        else:
            sums = []
            for lo, hi in ((0, split), (split, k)):
                part = np.full((m, n), np.nan, np.float32)
                K.repeat_product(part, np.ascontiguousarray(x[:, lo:hi]), np.ascontiguousarray(W[lo:hi]), True, 1,
                                 np.zeros(sparse_room(m, hi - lo), np.int32))
                sums.append(part)
            want = sums[0] + sums[1]
        np.testing.assert_array_equal(out, want)


def test_the_inputs_sampled_for_the_choice():
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((500, 20))
    assert products.sample_batch(dense, 16) is None and products.sample_batch(None, 16) is None
    assert products.sample_batch(dense[:0], 16) is None
    images = dense.copy()
    images[:, :10] = 0  # half the inputs dark
    batch = products.sample_batch(images, 16)
    assert batch.shape == (16, 20) and batch.flags.c_contiguous
    np.testing.assert_array_equal(batch, images[np.linspace(0, 499, 16).astype(int)])


def test_with_zeros_in_the_inputs_the_first_layer_is_timed_over_them(monkeypatch, tmp_path):
    """The first layer's own products timed with a room on a batch of the inputs, chosen with ``OWN_SPARSE``; the
    other layers' as before; inputs with zeros and without are two choices, each measured once."""
    clock = _fake(monkeypatch, 1.0, 2.0)
    X = np.random.default_rng(0).standard_normal((100, 20)).astype(np.float32)
    X[:, :12] = 0
    own = products.own_products(ARCH, 16, X)
    assert own.tolist() == [OWN_FORWARD | OWN_DW | OWN_SPARSE, OWN_FORWARD | OWN_DX | OWN_DW, 0]
    # the first layer's forward and dW, each way, an untimed round and TIMINGS timed
    assert sum(r is not None for r in clock.rooms) == 2 * 2 * (1 + products.TIMINGS)
    assert all(r.dtype == np.int32 and r.size >= sparse_room(16, 20) for r in clock.rooms if r is not None)
    spent = clock.now
    assert products.own_products(ARCH, 16, X) is own and clock.now == spent
    dense = products.own_products(ARCH, 16, np.ones((100, 20), np.float32))
    assert clock.now > spent and dense.tolist() == [OWN_FORWARD | OWN_DW, OWN_FORWARD | OWN_DX | OWN_DW, 0]
    _fake(monkeypatch, 2.0, 1.0)
    monkeypatch.setattr(products.records, "folder", lambda: str(tmp_path / "another machine"))
    assert products.own_products(ARCH, 16, X) is None  # slower: neither taken, so no OWN_SPARSE either


def test_the_training_scratch_holds_the_lists_and_the_grouped_rows():
    arch = fastmlp.MLP([20, 128, 64, 3], seed=0).arch
    tb = backend._TrainingBuffers(arch, 16, None, False)
    assert tb.ws.room.size == 0 and tb.ws.room.dtype == np.int32
    tb.make_room(arch, np.array([OWN_FORWARD | OWN_DW, 0, 0], np.int64))
    assert tb.ws.room.size == 0
    tb.make_room(arch, np.array([OWN_FORWARD | OWN_SPARSE, 0, 0], np.int64))
    grouped = numba.config.NUMBA_NUM_THREADS < 2  # one thread: the batch's rows grouped; several: the cut
    assert tb.ws.room.size == (grouped_room(16, 20, 128, 4) if grouped else sparse_room(16, 20))
