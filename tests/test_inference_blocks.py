"""Inference by blocks (``kernels.inference.screened_blocks``) and where a model takes it (``backends.products``).

The kernel gives what the whole-layer kernel ``screened`` gives (outputs, probabilities and the
screening count) for any rows, any block size and one thread or several, float32 with its products
by ``matmul`` and float64 by loops; a call gives the same on one thread or several, bit for bit,
and with another block size to rounding. The choice is the measured one (fake timings decide here): only networks whose
layers mostly fit ``matmul``, only for calls of ``BLOCKS_FROM`` rows or more, never in the
deterministic mode; a model predicting by blocks predicts what it did before (float tolerance),
refuses NaN the same way, and many threads can predict with it at once. Each of these with the
layers' products on AMX tiles too (``kernels.tiles``), where this CPU and process may run them, and over the
inputs' nonzero values (``OWN_SPARSE``: rows with zeros as images have), which skip zeros (an infinity in W met
only by zeros is not spread).
"""
import contextlib
import threading

import numba
import numpy as np
import pytest

import fastmlp
from fastmlp import kernels as K
from fastmlp.backends import products, tiles
from fastmlp.backends import thread_choice as tc
from fastmlp.kernels.groups import grouped_room
from fastmlp.kernels.matmul import PLACES, tile_columns
from fastmlp.kernels.structs import B_OFF, OWN_FORWARD, OWN_SPARSE, OWN_TILES, W_OFF

COLUMNS = 64  # a width that fits the tile on every CPU: one tile row of float32 with AVX-512, four with AVX2
assert COLUMNS % tile_columns(4) == 0
N_IN = 100
LAYERS = [N_IN, 2 * COLUMNS, COLUMNS, 10]  # both hidden layers fit matmul; the last one (4% of the work) never does
# The products of the layers that take matmul: by it (vector units), over the inputs' nonzero values (the lists of
# ``matmul_sparse``, where the rows have zeros: ``_images``), or on AMX tiles where they may run here.
PRODUCTS = [pytest.param(0, id="vector"), pytest.param(OWN_SPARSE, id="sparse"),
            pytest.param(OWN_TILES, id="tiles", marks=pytest.mark.skipif(not tiles.available(),
                                                                         reason="AMX tiles cannot run here"))]


def _own(flags, extra):
    """``Net.own`` of ``flags`` (0 or 1 per layer) with ``extra`` added where 1 (``PRODUCTS``)."""
    return np.array([f | extra if f else 0 for f in flags], np.int64)


INFERENCE_SPARSE = products.inference_sparse  # (``fresh`` replaces it; the tests of the choice put it back)


@pytest.fixture
def fresh(monkeypatch):
    """A fresh record of what was measured; layers given the AMX tiles take them in every call by blocks
    (``products.takes_tiles``, measured, is tested in ``test_tiles``), and those given ``OWN_SPARSE`` (or not) keep it
    (``products.inference_sparse``, measured, is tested below: ``_sparse_as_timed``)."""
    monkeypatch.setattr(products, "_chosen", {})
    monkeypatch.setattr(products, "takes_tiles", lambda arch, rows, threads: True)
    monkeypatch.setattr(products, "inference_sparse", lambda arch, own, X, run: own)


def _lists(block, n_in, n_out=LAYERS[1], threads=None, itemsize=4):
    """``screened_blocks``' room for a first layer's product over nonzero inputs (its rows grouped, its lists): a row
    for each thread (or for ``threads``), filled with what was there before (anything)."""
    rows = numba.config.NUMBA_NUM_THREADS if threads is None else threads
    return np.full((rows, grouped_room(block, n_in, n_out, itemsize)), -5, np.int32)


def _images(m, n_in=N_IN, dtype=np.float32, seed=0):
    """Rows in [0, 1) with zeros as an image's: the first 40 inputs zero in 90% of the rows, a fifth of the rest."""
    rng = np.random.default_rng(seed)
    X = rng.random((m, n_in)).astype(dtype)
    X[:, :40][rng.random((m, min(40, n_in))) < 0.9] = 0
    X[X < 0.2] = 0
    return X


def _call_both(model, X, own, block, limit=1e6, threads=None):
    """(outputs, probabilities, count) of ``screened`` and of ``screened_blocks`` with ``own`` (``threads``: rows of
    its lists, ``_lists``)."""
    m, net = X.shape[0], model.engine._net
    scratch = np.full(2 * m * max(model.arch.layers[1:-1], default=1), np.nan, model.dtype)
    results = []
    for blocks in (False, True):
        out = np.full((m, model.arch.n_out), np.nan, model.dtype)
        proba = np.full((m, model.arch.n_classes), np.nan)
        flags = np.full(1, -1, np.int64)
        if blocks:
            counts = np.full(-(-m // block), -1, np.int64)
            work, blocks_net = tiles.work(model.arch, own), net._replace(own=own)
            K.refresh_tiles(work, model.params, blocks_net)  # the weights on tiles packed (none: nothing done)
            K.screened_blocks(proba, out, flags, counts, scratch.copy(), model.params, X, blocks_net, limit, block,
                              work, _lists(block, X.shape[1], model.arch.layers[1], threads,
                                           np.dtype(model.dtype).itemsize))
        else:
            K.screened(proba, out, flags, scratch.copy(), np.empty(0, np.int64), model.params, X, net, limit)
        results.append((out, proba, int(flags[0])))
    return results


def _rows(m, n_in, dtype, seed=0):
    X = _images(m, n_in, dtype, seed)
    X[0, 3] = np.nan
    X[m - 1, 0] = np.inf
    X[m // 2, 1] = 2e6  # beyond the limit
    return X


@pytest.mark.parametrize("m", [3, 5, 47, 48, 49, 97, 200])
@pytest.mark.parametrize("block", [6, 48, 96])
@pytest.mark.parametrize("extra", PRODUCTS)
def test_blocks_give_what_whole_layers_give(m, block, extra):
    model = fastmlp.MLP(LAYERS, activation="relu", seed=1)
    own = _own([1, 1, 0], extra)
    (out, proba, bad), (out_b, proba_b, bad_b) = _call_both(model, _rows(m, N_IN, np.float32), own, block)
    assert bad == bad_b == (3 if m > 2 else 2)
    ok = np.isfinite(out).all(axis=1)  # the rows with NaN or inf give NaN either way
    assert ok.sum() >= m - 2 and not np.isfinite(out_b[~ok]).all()
    np.testing.assert_allclose(out_b[ok], out[ok], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(proba_b[ok], proba[ok], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not PLACES, reason="widths of whole tile rows only on this CPU (AVX2)")
@pytest.mark.parametrize("layers", [[N_IN, 100, 70, 10], [784, 300, 10]])
@pytest.mark.parametrize("extra", PRODUCTS)
def test_blocks_of_layers_not_whole_tile_rows_give_what_whole_layers_give(layers, extra):
    """Widths that are not whole tile rows (100, 70, 300: ``matmul._tiles`` places the last over the one before, with
    AVX-512)."""
    model = fastmlp.MLP(layers, activation="relu", seed=2)
    assert products.blocks_possible(model.arch) is not None
    own = _own([1] * (len(layers) - 2) + [0], extra)
    (out, proba, bad), (out_b, proba_b, bad_b) = _call_both(model, _images(97, layers[0]), own, 48)
    assert bad == bad_b == 0 and np.isfinite(out_b).all()
    np.testing.assert_allclose(out_b, out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(proba_b, proba, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss,layers,act", [("cross_entropy", [7, 5, 3, 4], "tanh"), ("bce", [7, 5, 1], "sigmoid"),
                                             ("multilabel", [7, 9, 3], "leaky_relu"), ("mse", [7, 5, 2], "relu")])
def test_blocks_by_loops_in_float64_give_the_reference(loss, layers, act):
    """float64 (matmul never taken): every product by loops, to 1e-10 of the whole-layer kernel."""
    model = fastmlp.MLP(layers, activation=act, loss=loss, dtype="float64", seed=2)
    own = np.zeros(len(layers) - 1, np.int64)
    (out, proba, bad), (out_b, proba_b, bad_b) = _call_both(model, _rows(61, layers[0], np.float64), own, 48)
    assert bad == bad_b == 3
    ok = np.isfinite(out).all(axis=1)
    np.testing.assert_allclose(out_b[ok], out[ok], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(proba_b[ok], proba[ok], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_in,n_out", [(1, 1), (1, 7), (3, 1), (64, 10), (100, 15), (128, 16), (2048, 1),
                                        (204, 10), (205, 10), (1024, 2), (512, 2), (513, 2)])
def test_narrow_layers_by_blocks_give_the_reference(dtype, n_in, n_out):
    """A one-layer net by blocks, its product by loops: ``dense.narrow_product`` where the layer is narrow
    (fewer than 16 float32 or 8 float64 outputs, W within 8 KB: 64x10, 204x10 float32, 512x2 float64),
    ``_matmul`` beyond (16 outputs, 205x10 and 513x2 float64). The whole-layer kernel is the reference:
    1e-10 in float64 (rows of 1 to 2048 values), float32 to its rounding."""
    model = fastmlp.MLP([n_in, n_out], loss="mse", dtype=dtype, seed=8)
    X = np.random.default_rng(9).standard_normal((53, n_in)).astype(dtype)
    (out, _, bad), (out_b, _, bad_b) = _call_both(model, X, np.zeros(1, np.int64), 24)
    assert bad == bad_b == 0 and np.isfinite(out).all()
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5 * np.sqrt(n_in))
    np.testing.assert_allclose(out_b, out, **tol)
    np.testing.assert_allclose(out_b, X.astype(np.float64) @ model.split(model.params)[0][0].astype(np.float64)
                               + model.split(model.params)[0][1], **tol)


@pytest.mark.parametrize("blocks", [False, True])
def test_a_proba_without_classes_is_left_alone(blocks):
    """A network without classes (mse) has an (m, 0) proba: both kernels write the outputs only (they wrote
    the softmax of each row past it, into whatever lay there: a heap corruption, this module's crash once).
    Here the (m, 0) proba is a view at the start of each row of a larger array that must stay as it was."""
    model = fastmlp.MLP([N_IN, COLUMNS, 3], loss="mse", seed=4)
    m, net = 50, model.engine._net
    X = _images(m, seed=5)
    around = np.full((m, 4), 7.0)
    out = np.full((m, 3), np.nan, np.float32)
    flags, scratch = np.full(1, -1, np.int64), np.zeros(2 * m * COLUMNS, np.float32)
    if blocks:
        own = np.array([1, 0], np.int64)
        K.screened_blocks(around[:, :0], out, flags, np.zeros(m, np.int64), scratch, model.params, X,
                          net._replace(own=own), 1e6, 24, tiles.work(model.arch, own), _lists(24, N_IN))
    else:
        K.screened(around[:, :0], out, flags, scratch, np.empty(0, np.int64), model.params, X, net, 1e6)
    assert (around == 7.0).all() and flags[0] == 0
    np.testing.assert_allclose(out, model.forward(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("extra", PRODUCTS)
def test_a_call_gives_the_same_on_one_thread_or_several_and_any_block_to_rounding(extra):
    model = fastmlp.MLP(LAYERS, activation="relu", seed=1)
    own = _own([1, 1, 0], extra)
    X = _images(211, seed=3)
    got = {}
    for block in (6, 48, 97):
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            before = numba.get_num_threads()
            numba.set_num_threads(threads)
            try:
                got[block, threads] = _call_both(model, X, own, block)[1]
            finally:
                numba.set_num_threads(before)
    for block in (6, 48, 97):  # a block's rows go the same way on any thread: bit for bit
        one, every = got[block, 1], got[block, numba.config.NUMBA_NUM_THREADS]
        assert np.array_equal(one[0], every[0]) and np.array_equal(one[1], every[1]) and one[2] == every[2] == 0
        # a row's place in matmul's tile of rows may round its sums otherwise (fastmath contracts)
        np.testing.assert_allclose(one[0], got[6, 1][0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("extra", PRODUCTS)
def test_the_blocks_of_a_deep_net_keep_to_their_own_scratch(extra):
    """Three hidden layers, each narrower: the blocks run through them at their own pace, and a
    block's third layer must not land on the first layer's rows of another (a race, so: many
    blocks on every thread, many times)."""
    model = fastmlp.MLP([N_IN, 3 * COLUMNS, 2 * COLUMNS, COLUMNS, 10], activation="relu", seed=5)
    own = _own([1, 1, 1, 0], extra)
    X = _images(4000, seed=6)
    for _ in range(20):
        (out, proba, _), (out_b, proba_b, _) = _call_both(model, X, own, 48)
        np.testing.assert_allclose(out_b, out, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(proba_b, proba, rtol=1e-5, atol=1e-6)


# -- where a model takes it ----------------------------------------------------------------------------

def _tiles_never_faster(monkeypatch):
    """``products._tiles_timed`` answering that the AMX tiles ran slower than ``matmul`` on every layer: the
    fake timings decide the whole choice (timed for real, a layer would take the tiles on a CPU with AMX
    wherever they happened to run faster under the test suite's load)."""
    monkeypatch.setattr(products, "_tiles_timed", lambda arch, rows, l, rng: (2.0, 1.0))


def _fake_timings(monkeypatch, own_cost, blas_cost):
    """``products._timed`` answering set costs per layer (and the tiles never faster: ``_tiles_never_faster``);
    returns the list of layers it was asked for."""
    asked = []

    def timed(arch, rows, l, rng):
        asked.append((rows, l))
        return own_cost, blas_cost
    monkeypatch.setattr(products, "_timed", timed)
    _tiles_never_faster(monkeypatch)
    return asked


ARCH = fastmlp.MLP(LAYERS, seed=0).arch


@pytest.mark.parametrize("own_cost,blas_cost,taken", [(1.0, 2.0, True), (1.04, 1.0, True), (1.14, 1.0, True),
                                                     (1.2, 1.0, False)])
def test_blocks_taken_unless_matmul_measured_slower(fresh, monkeypatch, own_cost, blas_cost, taken):
    asked = _fake_timings(monkeypatch, own_cost, blas_cost)
    own = products.inference_own(ARCH)
    tries = 1 if taken else products.BLOCKS_TRIES  # a verdict against the blocks is measured again
    assert asked == [(products.BLOCK_ROWS, 0), (products.BLOCK_ROWS, 1)] * tries  # the layers that fit
    assert (own.tolist() == [OWN_FORWARD, OWN_FORWARD, 0]) if taken else own is None  # (``OWN_SPARSE``: a call's)
    assert products.inference_own(ARCH) is own and len(asked) == 2 * tries  # measured once per shape


def test_a_measurement_against_the_blocks_in_a_slow_spell_is_measured_again(fresh, monkeypatch):
    """matmul timed 1.5x slower in the first try (a spell of the VM), tied in the second: blocks;
    each layer's best over the tries is compared."""
    costs = iter([(1.5, 1.0), (1.5, 1.0), (1.0, 1.0), (1.0, 1.0)])
    monkeypatch.setattr(products, "_timed", lambda arch, rows, l, rng: next(costs))
    _tiles_never_faster(monkeypatch)
    assert products.inference_own(ARCH).tolist() == [OWN_FORWARD, OWN_FORWARD, 0]
    products._chosen.clear()
    costs = iter([(1.0, 0.5), (1.0, 0.5)] + [(1.5, 1.5), (1.5, 1.5)] * (products.BLOCKS_TRIES - 1))
    assert products.inference_own(ARCH) is None  # the later tries alone would take the blocks; the bests do not
    products._chosen.clear()
    costs = iter([(2.0, 1.0)] * (2 * products.BLOCKS_TRIES))
    assert products.inference_own(ARCH) is None


def test_no_blocks_when_layers_do_not_fit_or_in_the_deterministic_mode(fresh, monkeypatch):
    asked = _fake_timings(monkeypatch, 1.0, 2.0)
    narrow = fastmlp.MLP([2000, 7, 2000, 10], seed=0).arch  # 7 wide: less than a tile row; 70% of the work by loops
    assert products.blocks_possible(narrow) is None and products.inference_own(narrow) is None
    assert products.blocks_possible(fastmlp.MLP(LAYERS, dtype="float64", seed=0).arch) is None
    monkeypatch.setattr(tc, "_deterministic", True)
    assert products.inference_own(ARCH) is None
    assert asked == []  # nothing even timed
    monkeypatch.setattr(tc, "_deterministic", False)
    assert products.inference_own(ARCH) is not None


def test_no_blocks_for_a_network_of_few_multiply_adds_a_row(fresh, monkeypatch):
    """Below ``BLOCKS_MIN_WORK`` multiply-adds a row whole layers serve, where every layer but a narrow last one fits
    (the blocks' kernels would compile for seconds to gain milliseconds); from it, the blocks are measured."""
    asked = _fake_timings(monkeypatch, 1.0, 2.0)
    width = COLUMNS
    while 5 * width + width * width < products.BLOCKS_MIN_WORK:
        width += COLUMNS
    for w, possible in ((width - COLUMNS, False), (width, True)):
        arch = fastmlp.MLP([2, w, w, 3], seed=0).arch  # the last layer's 3 outputs by loops: under 5% of the work
        work = 2 * w + w * w + 3 * w
        assert (work >= products.BLOCKS_MIN_WORK) is possible and 3 * w <= products.LOOP_SHARE * work
        assert (products.blocks_possible(arch) is not None) is possible
        assert (products.inference_own(arch) is not None) is possible
        assert bool(asked) is possible  # the network under the line not even timed


def test_a_real_measurement(fresh):
    """Timed for real (whatever it chooses): the flags of the layers that fit, or None."""
    own = products.inference_own(ARCH)
    assert own is None or (own & ~OWN_TILES).tolist() == [OWN_FORWARD, OWN_FORWARD, 0]
    assert own is None or tiles.available() or not (own & OWN_TILES).any()


def _model_and_rows(m=300, seed=4):
    model = fastmlp.MLP(LAYERS, activation="relu", seed=seed)
    X = _images(m, seed=seed)
    return model, X


# -- which layers sum over each block's nonzero inputs: timed on a call's rows (``products.inference_sparse``) -------

F, S = OWN_FORWARD, OWN_SPARSE


class _Clock:
    """``products``' ``time`` in these tests: the fake runs below move it on."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


def _sparse_as_timed(monkeypatch, gains):
    """``products.inference_sparse`` (the real one) timing on a fake clock: a run with ``Net.own`` flags costs 1 s less
    ``gains[l]`` for each layer l flagged ``OWN_SPARSE``, after the run it was given (the model's: its kernel on the
    call's rows). Returns the list of (flags, Numba's thread count) of each run, in order."""
    clock, runs = _Clock(), []
    monkeypatch.setattr(products, "time", clock)

    def choose(arch, own, X, run):
        def timed(x, flags):
            runs.append((flags.tolist(), numba.get_num_threads()))
            run(x, flags)
            clock.now += 1.0 - sum(g for l, g in gains.items() if flags[l] & OWN_SPARSE)
        return INFERENCE_SPARSE(arch, own, X, timed)
    monkeypatch.setattr(products, "inference_sparse", choose)
    return runs


@pytest.mark.parametrize("gains,chosen", [({0: 0.1, 1: -0.05}, [F | S, F, 0]), ({0: 0.02, 1: 0.3}, [F | S, F | S, 0]),
                                          ({0: 0.005, 1: 0.0}, [F, F, 0]), ({0: -0.1, 1: -0.01}, [F, F, 0])])
def test_a_layer_sums_over_nonzero_inputs_where_a_call_ran_faster_so(fresh, monkeypatch, gains, chosen):
    """By ``SPARSE_MARGIN`` of the call (gains of 0.5% are not taken), each layer that fits timed flagged alone against
    none, the ways alternated after an untimed round; once per network shape."""
    runs = _sparse_as_timed(monkeypatch, gains)
    own = np.array([F, F, 0])
    X = _images(300)
    got = products.inference_sparse(ARCH, own, X, lambda x, flags: None)
    assert got.tolist() == chosen and own.tolist() == [F, F, 0]
    assert [flags for flags, _ in runs] == [[F, F, 0], [F | S, F, 0], [F, F | S, 0]] * (1 + products.SPARSE_TIMINGS)
    assert products.inference_sparse(ARCH, own, X, lambda x, flags: None) is got
    assert len(runs) == 3 * (1 + products.SPARSE_TIMINGS)


def test_the_sparse_sums_are_judged_by_each_way_s_best_timing_not_the_untimed_round(fresh, monkeypatch):
    """The untimed round (kernels loaded, caches warm) does not count; a way's best timing does (a slow spell of
    the VM in one timing of the sums does not decide against them)."""
    clock, n = _Clock(), []
    monkeypatch.setattr(products, "time", clock)
    monkeypatch.setattr(products, "inference_sparse", INFERENCE_SPARSE)
    ways = 3

    def run(x, flags):  # the untimed round: the sums over nonzero inputs free; then 10% slower but in one timing
        i = len(n)
        n.append(1)
        sparse = bool((flags & OWN_SPARSE).any())
        clock.now += 0.0 if i < ways else (0.5 if i == 2 * ways + 1 else 1.1) if sparse else 1.0
    X = _images(300)
    assert products.inference_sparse(ARCH, np.array([F, F, 0]), X, run).tolist() == [F | S, F, 0]
    products._chosen.clear()
    n.clear()

    def run_without_spell(x, flags):
        i = len(n)
        n.append(1)
        clock.now += 0.0 if i < ways else 1.1 if (flags & OWN_SPARSE).any() else 1.0
    assert products.inference_sparse(ARCH, np.array([F, F, 0]), X, run_without_spell).tolist() == [F, F, 0]


@pytest.mark.parametrize("extra", [pytest.param(0, id="vector"), pytest.param(
    OWN_TILES, id="tiles", marks=pytest.mark.skipif(not tiles.available(), reason="AMX tiles cannot run here"))])
def test_a_model_times_the_sparse_sums_on_its_first_call_s_rows_on_one_thread(fresh, monkeypatch, extra):
    """At its first call by blocks, on up to ``SPARSE_ROWS`` of that call's rows spread over it, by blocks of
    ``BLOCK_ROWS`` rows on one thread (the pool's count put back), once per network shape in the process (another
    model of the shape takes the choice); both nets take it (a layer on the tiles keeps them, ``OWN_TILES`` first),
    and the model predicts what the numpy backend does."""
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], extra))
    runs = _sparse_as_timed(monkeypatch, {1: 0.1})
    sample, samples = products.sparse_sample, []
    monkeypatch.setattr(products, "sparse_sample", lambda X: samples.append(sample(X)) or samples[-1])
    model, X = _model_and_rows(1000)
    before = numba.get_num_threads()
    got = model.predict_proba(X)
    assert model.engine._blocks_net.own.tolist() == [F | extra, F | S | extra, 0]
    assert model.engine._blocks_net_vector.own.tolist() == [F, F | S, 0]
    assert len(runs) == 3 * (1 + products.SPARSE_TIMINGS) and {t for _, t in runs} == {1}
    assert numba.get_num_threads() == before
    assert len(samples) == 1 and samples[0].shape == (products.SPARSE_ROWS, N_IN)
    np.testing.assert_array_equal(samples[0][[0, -1]], X[[0, -1]])  # spread from the first row to the last
    assert all((X == row).all(axis=1).any() for row in samples[0])  # the call's own rows
    reference = fastmlp.MLP(LAYERS, activation="relu", seed=4, backend="numpy")
    np.testing.assert_allclose(got, reference.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.predict_proba(X), got)  # the first call ran on the network the next runs on
    np.testing.assert_allclose(model.predict_proba(X[:200]), got[:200], rtol=1e-5, atol=1e-6)
    other = fastmlp.MLP(LAYERS, activation="relu", seed=5)
    other.predict_proba(X)
    assert len(runs) == 3 * (1 + products.SPARSE_TIMINGS) and len(samples) == 1  # timed once
    assert other.engine._blocks_net_vector.own.tolist() == [F, F | S, 0]


def test_a_call_that_met_the_choice_in_another_thread_takes_it(fresh, monkeypatch):
    """A call that took the blocks' network while another thread's call was timing the sums over nonzero inputs, and
    that looks again only after that call set the choice, runs on the network with the choice, not on the one from
    before it (which pairs its sums otherwise: compared bit for bit with the same call made again alone)."""
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], 0))
    runs = _sparse_as_timed(monkeypatch, {1: 0.1})
    model, X = _model_and_rows(1500)
    engine, errors = model.engine, []
    timing, late_has_net, chosen = threading.Event(), threading.Event(), threading.Event()
    by_blocks, sparse_chosen, time_call = engine._by_blocks, engine._sparse_chosen, products.inference_sparse

    def choose(arch, own, X, run):
        timing.set()
        assert late_has_net.wait(10)  # (the late call took the network from before the choice)
        return time_call(arch, own, X, run)

    def choose_and_tell(*args):
        net = sparse_chosen(*args)
        chosen.set()
        return net

    def by_blocks_then_wait(rows, threads=None):
        net = by_blocks(rows, threads)
        if threading.current_thread().name == "late":
            late_has_net.set()
            assert chosen.wait(10)  # (the other call's choice set meanwhile)
        return net
    monkeypatch.setattr(products, "inference_sparse", choose)
    monkeypatch.setattr(engine, "_sparse_chosen", choose_and_tell)
    monkeypatch.setattr(engine, "_by_blocks", by_blocks_then_wait)
    got = {}

    def call(name, rows):
        try:
            got[name] = model.predict_proba(rows)
        except Exception as e:  # reported below
            errors.append(e)
    first = threading.Thread(target=call, args=("first", X))
    late = threading.Thread(target=call, args=("late", X[300:]), name="late")
    first.start()
    assert timing.wait(10)
    late.start()
    first.join()
    late.join()
    assert not errors and chosen.is_set() and len(runs) == 3 * (1 + products.SPARSE_TIMINGS)
    assert engine._blocks_net_vector.own.tolist() == [F, F | S, 0]
    np.testing.assert_array_equal(got["late"], model.predict_proba(X[300:]))
    np.testing.assert_array_equal(got["first"], model.predict_proba(X))


def test_a_call_of_few_rows_times_the_sparse_sums_on_all_of_them(fresh, monkeypatch):
    runs = _sparse_as_timed(monkeypatch, {0: 0.1})
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], 0))
    sample, samples = products.sparse_sample, []
    monkeypatch.setattr(products, "sparse_sample", lambda X: samples.append(sample(X)) or samples[-1])
    model, X = _model_and_rows(products.BLOCKS_FROM)
    model.predict_proba(X)
    np.testing.assert_array_equal(samples[0], X)
    assert runs and model.engine._blocks_net.own.tolist() == [F | S, F, 0]


def test_a_real_choice_of_the_sparse_sums(fresh, monkeypatch):
    """Timed for real on rows with zeros (whatever it chooses): ``OWN_SPARSE`` only on layers that fit, and the model
    predicts what the numpy backend does."""
    monkeypatch.setattr(products, "inference_sparse", INFERENCE_SPARSE)
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], 0))
    model, X = _model_and_rows(1000)
    got = model.predict_proba(X)
    own = model.engine._blocks_net_vector.own
    assert (own & ~OWN_SPARSE).tolist() == [F, F, 0] and not own[2] & OWN_SPARSE
    reference = fastmlp.MLP(LAYERS, activation="relu", seed=4, backend="numpy")
    np.testing.assert_allclose(got, reference.predict_proba(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("m", [products.BLOCKS_FROM, 300, 5000])  # one chunk with blocks of 48; of 96 in chunks
@pytest.mark.parametrize("extra", PRODUCTS)
def test_a_model_predicts_by_blocks_what_it_predicted_before(fresh, monkeypatch, m, extra):
    model, X = _model_and_rows(m)
    monkeypatch.setattr(products, "inference_own", lambda arch: None)
    before = (model.predict_proba(X), model.forward(X), model.predict(X))
    assert model.engine._blocks_net is None
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], extra))
    after = (model.predict_proba(X), model.forward(X), model.predict(X))
    blocks_net = model.engine._blocks_net
    assert blocks_net is not None and blocks_net.own.tolist() == _own([1, 1, 0], extra).tolist()
    np.testing.assert_allclose(after[0], before[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(after[1], before[1], rtol=1e-5, atol=1e-5)
    assert np.mean(after[2] == before[2]) > 0.99  # a near tie may round the other way


def test_few_rows_go_by_whole_layers(fresh, monkeypatch):
    model, X = _model_and_rows()
    calls = []
    monkeypatch.setattr(products, "inference_own", lambda arch: calls.append(1) or np.array([1, 1, 0], np.int64))
    for m in (products.BLOCKS_FROM - 1, 1, 5, products.BLOCKS_FROM - 1):  # the latency path once set, too
        model.predict_proba(X[:m])
    assert calls == [] and model.engine._blocks_net is None
    model.predict_proba(X[:products.BLOCKS_FROM])
    assert calls == [1] and model.engine._blocks_net is not None


def test_the_deterministic_mode_measures_nothing(fresh, monkeypatch):
    asked = _fake_timings(monkeypatch, 1.0, 2.0)
    model, X = _model_and_rows()
    fastmlp.set_deterministic(True)
    try:
        model.predict_proba(X)
    finally:
        fastmlp.set_deterministic(False)
    assert asked == [] and model.engine._blocks_net is None


@pytest.mark.parametrize("extra", PRODUCTS)
def test_bad_values_are_refused_by_blocks_as_before(fresh, monkeypatch, extra):
    model, X = _model_and_rows()
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], extra))
    X[217, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict_proba(X)
    assert model.engine._blocks_net is not None  # refused on the blocks' own count


@pytest.mark.parametrize("extra", PRODUCTS)
def test_many_threads_predict_by_blocks_at_once(fresh, monkeypatch, extra):
    model, X = _model_and_rows(1500)
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], extra))
    want = [model.predict_proba(X[i * 100:]) for i in range(4)]  # each call alone first
    got, errors = {}, []

    def work(i):
        try:
            for _ in range(5):
                got[i] = model.predict_proba(X[i * 100:])
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(4):
        np.testing.assert_array_equal(got[i], want[i])  # the same call: the same blocks, bit for bit


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("rows", [96, 100, 200, 256, 1000, 1024, 1808, 4096, 10000])
def test_the_blocks_share_a_call_evenly_over_the_threads(rows, threads):
    """As many blocks as threads or a multiple (or fewer, each on a thread of its own), all of one
    size but a shorter last one, about the target size."""
    size = products.block_rows(rows, threads)
    blocks = -(-rows // size)
    target = products.BLOCK_ROWS if rows >= products.BLOCKS_LARGE else products.SMALL_BLOCK_ROWS
    assert blocks % threads == 0 or blocks == -(-rows // target) <= threads
    assert 0 <= blocks * size - rows < blocks  # the last block at most blocks - 1 rows short
    assert size <= target and (blocks <= threads or size > target // 2)
    assert blocks <= products.most_blocks(rows, threads)


def test_a_call_of_256_rows_goes_in_four_blocks_of_64_on_two_threads():
    assert products.block_rows(256, 2) == 64 and products.block_rows(200, 2) == 50
    assert products.block_rows(4096, 2) == 94 and products.block_rows(1808, 2) == 91  # 44 and 20 blocks


@pytest.mark.parametrize("m", [200, 256, 5000])
@pytest.mark.parametrize("extra", PRODUCTS)
def test_blocks_give_the_same_bits_on_one_thread_as_on_every_thread(fresh, monkeypatch, m, extra):
    """The blocks' size follows the pool, not the way the thread choice takes."""
    model, X = _model_and_rows(m)
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], extra))
    choice = model.engine.inference_choice(m)
    if choice is None:
        pytest.skip("no thread choice here (one core, or a fixed count)")
    got = {}
    model.predict_proba(X)  # the first call a choice sees does not judge
    for way in (tc.ALL, tc.ONE, tc.ALL):
        monkeypatch.setattr(choice, "way", lambda way=way: way)
        got[way] = model.predict_proba(X)
        assert choice._probe[way]  # (the call ran on that way and was timed)
    np.testing.assert_array_equal(got[tc.ONE], got[tc.ALL])



def test_a_call_by_blocks_on_one_thread_leaves_the_blas_alone(fresh, monkeypatch):
    """The blocks call no BLAS: on the thread choice's 'one' way the call runs Numba's threads on one and puts them
    back, and takes no limit of the BLAS's (threadpoolctl's passes over the libraries: about 9 us a call)."""
    model, X = _model_and_rows(256)
    monkeypatch.setattr(products, "inference_own", lambda arch: _own([1, 1, 0], 0))
    choice = model.engine.inference_choice(256)
    if choice is None:
        pytest.skip("no thread choice here (one core, or a fixed count)")
    model.predict_proba(X)  # the first call a choice sees does not judge
    limits, pools, clock = [], [], choice.clock
    monkeypatch.setattr(tc, "blas_limited", lambda: limits.append(1) or contextlib.nullcontext())
    monkeypatch.setattr(choice, "way", lambda: tc.ONE)
    monkeypatch.setattr(choice, "clock", lambda: pools.append(numba.get_num_threads()) or clock())
    before = numba.get_num_threads()
    model.predict_proba(X)
    assert pools and set(pools) == {1} and numba.get_num_threads() == before  # (timed within the call, on one)
    assert not limits

def test_a_block_sums_over_its_nonzero_inputs():
    """The evidence that the first layer's blocks skip zeros (``OWN_SPARSE``): an infinity in W met only by zero
    inputs (0 * inf is NaN) is not spread; without the flag it is."""
    model = fastmlp.MLP(LAYERS, activation="relu", seed=1)
    X = _images(200)
    X[:, 7] = 0
    model.params[model.arch.net.lay[0, W_OFF] + 7 * LAYERS[1]] = np.inf  # W[7, 0] of the first layer
    (out, _, _), (out_sparse, _, _) = _call_both(model, X, _own([1, 1, 0], OWN_SPARSE), 48)
    _, (out_plain, _, _) = _call_both(model, X, _own([1, 1, 0], 0), 48)
    assert np.isfinite(out_sparse).all() and not np.isfinite(out_plain).all()


def test_a_hidden_layer_sums_over_its_nonzero_inputs_in_a_block():
    """The evidence that a hidden layer's blocks skip the zeros of the layer below (``OWN_SPARSE`` on it: ReLU's
    zeros): a unit of the first hidden layer that is 0 for every row (its bias far below) meets an infinity in the
    next layer's W, which is not spread; without the flag on that layer it is (0 * inf is NaN)."""
    model = fastmlp.MLP(LAYERS, activation="relu", seed=1)
    lay = model.arch.net.lay
    model.params[lay[0, B_OFF] + 5] = -1e6  # b[5] of the first layer: its unit 5 is 0 after the ReLU
    model.params[lay[1, W_OFF] + 5 * LAYERS[2]] = np.inf  # W[5, 0] of the second layer
    X = _images(200)
    _, (out_sparse, _, _) = _call_both(model, X, np.array([OWN_FORWARD, OWN_FORWARD | OWN_SPARSE, 0]), 48)
    _, (out_plain, _, _) = _call_both(model, X, np.array([OWN_FORWARD | OWN_SPARSE, OWN_FORWARD, 0]), 48)
    assert np.isfinite(out_sparse).all() and not np.isfinite(out_plain).all()


def test_lists_too_small_or_for_fewer_threads_take_the_plain_product():
    """A thread without a row of the lists, or a block too large for them, sums over all the inputs (no write past
    the lists): the same outputs."""
    model = fastmlp.MLP(LAYERS, activation="relu", seed=1)
    X = _images(400)
    for threads in (0, 1):
        (out, proba, _), (out_b, proba_b, _) = _call_both(model, X, _own([1, 1, 0], OWN_SPARSE), 48, threads=threads)
        np.testing.assert_allclose(out_b, out, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(proba_b, proba, rtol=1e-5, atol=1e-6)
