"""AMX tile products (``kernels.tiles``) and where inference takes them (``backends.tiles``, ``backends.products``).

The three bfloat16 parts of any float32 sum back to it exactly; the tile product of any shape (a row,
odd widths, a last block of fewer than 32 rows, inputs and outputs that fill no whole tile) is within
a float32 product's rounding of float64's; a model predicting on tiles predicts what its float32
products predict and follows its weights when they change (in place, or by a fit), and a call compares
them with those packed without packing again when none changed. (Inference by blocks with tiles, many
threads at once among it: ``test_inference_blocks.py``.) Where AMX cannot run here (another CPU,
``FASTMLP_TILES=off``), nothing flags a layer for tiles, and the kernels that could call them still
compile (``test_intrinsics.py``).
"""
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import numba
from numba import njit

import fastmlp
from fastmlp import blas_spin, buffers
from fastmlp.backends import products, tiles
from fastmlp.kernels import tiles as K
from fastmlp.kernels.structs import OWN_DW_TILES, OWN_FORWARD, OWN_SPARSE, OWN_TILES

needs_tiles = pytest.mark.skipif(not tiles.available(), reason="AMX tiles cannot run here")
LAYERS = [784, 256, 128, 64, 10]  # the fashion net


@njit
def _parts_of_rows(rows_buf, x, rows):
    K.pack_rows(rows_buf, x, 0, rows, False, np.float32(0))


def _unpack(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _special_values():
    f = np.finfo(np.float32)
    rng = np.random.default_rng(0)
    v = (rng.standard_normal(2000) * 10.0 ** rng.uniform(-30, 30, 2000)).astype(np.float32)
    return np.concatenate([v, np.array([0.0, -0.0, 1.0, -1.0, f.max, -f.max, f.tiny, -f.tiny, 1 / 3, np.pi,
                                        np.nextafter(np.float32(1), np.float32(2))], np.float32)])


def test_the_three_parts_sum_to_the_value_exactly():
    v = _special_values()
    k = v.shape[0]
    rows_buf = np.full(K.rows_size(k), 0xFFFF, np.uint16)
    _parts_of_rows(rows_buf, v[None, :], 1)
    width = K.rows_size(k) // (3 * K.ROWS)
    hi, mid, lo = (_unpack(rows_buf[p * K.ROWS * width:p * K.ROWS * width + k]) for p in range(3))
    assert np.array_equal(hi + mid + lo, v.astype(np.float64))  # three 8-bit parts in float64: exact
    assert np.all(np.abs(mid) <= 2.0 ** -7 * np.abs(v)) and np.all(np.abs(lo) <= 2.0 ** -15 * np.abs(v))
    assert np.isfinite(hi).all()  # the float32 maximum does not round up to inf
    assert not rows_buf[K.ROWS * width - width:K.ROWS * width].any()  # rows beyond those given: 0


def _product(x, W):
    packed = buffers.zeros(K.packed_size(*W.shape), np.uint16)
    K.pack_weights(packed, W)
    out = np.full((x.shape[0], W.shape[1]), np.nan, np.float32)
    K.tile_product(out, x, packed, buffers.zeros(K.rows_size(W.shape[0]), np.uint16))
    return out


@njit
def _counted_rows(rows_buf, x, i0, rows, screened, limit):
    return K.pack_rows(rows_buf, x, i0, rows, screened, np.float32(limit))


@njit
def _screen_count(flags, x, limit):
    fastmlp.kernels.screen.screen(flags, x, limit)


@pytest.mark.parametrize("rows", [1, 17, K.ROWS])
def test_packing_rows_counts_what_the_screen_counts(rows):
    """The rows a tile product packs are counted on the way as ``screen`` counts them (NaN, inf, beyond the limit in
    magnitude; the limit itself and -0.0 pass), those of its block only (not the rows after), and not at all unless
    asked. Any CPU: packing is plain code."""
    v = np.concatenate([_special_values(), np.array([np.nan, -np.inf, np.inf, 100.0, -100.0, 100.5, -0.0],
                                                    np.float32)])
    x = np.resize(v, (K.ROWS + 3, 97)).astype(np.float32)  # every value somewhere, the specials in several rows
    rows_buf = np.zeros(K.rows_size(x.shape[1]), np.uint16)
    flags = np.zeros(1, np.int64)
    for i0 in (0, 3):
        _screen_count(flags, x[i0:i0 + rows], 100.0)
        assert flags[0] > 0
        assert _counted_rows(rows_buf, x, i0, rows, True, 100.0) == flags[0]
        assert _counted_rows(rows_buf, x, i0, rows, False, 100.0) == 0


@needs_tiles
def test_a_tile_product_counts_its_inputs_only_when_asked():
    x = _data(70)[:, :100].copy()
    x[3, 5], x[40, 0], x[69, 99] = np.nan, np.inf, -3e6
    W = np.random.default_rng(3).standard_normal((100, 48)).astype(np.float32)
    packed = buffers.zeros(K.packed_size(*W.shape), np.uint16)
    K.pack_weights(packed, W)
    rows_buf = buffers.zeros(K.rows_size(100), np.uint16)
    plain, counted = (np.zeros((70, 48), np.float32) for _ in range(2))
    K.tile_product(plain, x, packed, rows_buf)
    assert K.tile_product_screened(counted, x, packed, rows_buf, True, 1e6) == 3
    assert K.tile_product_screened(counted, x, packed, rows_buf, False, 1e6) == 0
    np.testing.assert_array_equal(counted, plain)


@needs_tiles
@pytest.mark.parametrize("m", [1, 5, 31, 32, 33, 96, 100])
@pytest.mark.parametrize("k,n", [(1, 1), (7, 10), (32, 16), (33, 17), (100, 64), (784, 256), (50, 100)])
def test_a_tile_product_is_within_float32_rounding_of_float64(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    x = (rng.standard_normal((m, k)) * (rng.random((m, k)) > 0.3)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    got = _product(x, W)
    exact = x.astype(np.float64) @ W.astype(np.float64)
    # a rounding for each pair of inputs of each of the six products at most (float32's product: one per input)
    bound = (np.abs(x).astype(np.float64) @ np.abs(W).astype(np.float64)) * (3 * k + 6) * 2.0 ** -24
    assert np.all(np.abs(got - exact) <= bound)
    if k >= 32:  # in practice as close as float32's own product
        assert np.abs(got - exact).max() <= 4 * np.abs(x @ W - exact).max()


@needs_tiles
def test_a_row_gives_the_same_bits_in_any_block():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((70, 100)).astype(np.float32)
    W = rng.standard_normal((100, 48)).astype(np.float32)
    whole = _product(x, W)
    for i in (0, 31, 32, 69):
        assert np.array_equal(_product(x[i:i + 1], W)[0], whole[i])


@needs_tiles
def test_non_finite_inputs_stay_in_their_rows():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 40)).astype(np.float32)
    x[3, 5], x[7, 0] = np.nan, np.inf
    got = _product(x, rng.standard_normal((40, 20)).astype(np.float32))
    assert not np.isfinite(got[[3, 7]]).any() and np.isfinite(np.delete(got, [3, 7], axis=0)).all()


# -- where inference takes them -----------------------------------------------------------------------

def _data(m=3000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((m, LAYERS[0])) * (rng.random((m, LAYERS[0])) > 0.5)).astype(np.float32)


def _on_tiles(monkeypatch, own):
    """Inference by blocks with the layers ``own`` on the tiles, in every call by blocks (not measured)."""
    monkeypatch.setattr(products, "_chosen", {})
    monkeypatch.setattr(products, "inference_own", lambda arch: np.array(own, np.int64))
    monkeypatch.setattr(products, "takes_tiles", lambda arch, rows, threads: True)
    monkeypatch.setattr(products, "inference_sparse", lambda arch, own, X, run: own)  # (timed in test_inference_blocks)


@needs_tiles
def test_a_model_on_tiles_predicts_what_its_float32_products_predict(monkeypatch):
    model, X = fastmlp.MLP(LAYERS, activation="relu", seed=3), _data()
    reference = fastmlp.MLP(LAYERS, activation="relu", seed=3, backend="numpy")
    _on_tiles(monkeypatch, [5, 5, 1, 0])
    got = model.predict_proba(X)
    assert model.engine._blocks_net.own.tolist() == [5, 5, 1, 0]
    np.testing.assert_allclose(got, reference.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert np.mean(model.predict(X) == reference.predict(X)) > 0.999


@needs_tiles
def test_the_packed_weights_follow_the_params(monkeypatch):
    """Changed in place, set, or fitted: the next call packs the changed layers again."""
    model, X = fastmlp.MLP(LAYERS, activation="relu", seed=4), _data()
    _on_tiles(monkeypatch, [5, 5, 1, 0])
    model.predict_proba(X)
    work = model.engine._local.inference.tiles[0].work
    assert work.packed_ok.tolist() == [1, 1, 0, 0]

    def expect():
        ref = fastmlp.MLP(LAYERS, activation="relu", backend="numpy")
        ref.set_params(model.params)
        np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(X), rtol=1e-5, atol=1e-6)

    model.params[:1000] *= -2.0  # the first layer's weights, in place
    expect()
    model.set_params(model.params[::-1].copy())
    expect()
    y = np.random.default_rng(0).integers(0, 10, X.shape[0])
    model.fit(X, y, epochs=1, batch_size=64, lr=0.05)
    expect()
    assert model.engine._local.inference.tiles[-1].work is work  # the same buffers throughout


@needs_tiles
def test_a_call_compares_the_weights_only_when_someone_could_have_written_them(monkeypatch):
    """No array over the model's buffer alive and none handed out since the last comparison: a call trusts its packed
    weights (``fastmlp.aliases``). One alive (a corner of ``W[0]``, its parents dropped): every call compares, and
    follows a write through it; one handed out since (``b[1]`` changed in place, a fit): the next call compares."""
    model, X = fastmlp.MLP(LAYERS, activation="relu", seed=5), _data(600)
    _on_tiles(monkeypatch, [5, 5, 1, 0])
    model.predict_proba(X)  # packs (compiled, or loaded)
    entries = model.engine._entries
    compare = entries[fastmlp.kernels.refresh_tiles]
    calls = []
    entries[fastmlp.kernels.refresh_tiles] = lambda *args: calls.append(1) or compare(*args)

    def compared():
        """How many comparisons a call made; and that it predicted from the weights as they are."""
        before = len(calls)
        got = model.predict_proba(X)
        ref = fastmlp.MLP(LAYERS, activation="relu", backend="numpy")
        ref.set_params(model._params)
        np.testing.assert_allclose(got, ref.predict_proba(X), rtol=1e-5, atol=1e-6)
        return len(calls) - before

    assert [compared(), compared()] == [0, 0]
    corner = model.W[0][100:400, :3]
    assert [compared(), compared()] == [1, 1]
    corner[...] = 0.25
    assert compared() == 1
    del corner
    assert [compared(), compared()] == [1, 0]  # the last comparison was made while it lived
    model.b[1][:] += 1.0
    assert [compared(), compared()] == [1, 0]
    model.fit(X, np.arange(X.shape[0]) % 10, epochs=1, batch_size=64, lr=0.05, verbose=0)
    assert [compared(), compared()] == [1, 0]


def _fake_tile_timings(monkeypatch, tile_cost):
    asked = []

    def timed(arch, rows, l, rng):
        asked.append(l)
        return tile_cost[l], 1.0
    monkeypatch.setattr(products, "_tiles_timed", timed)
    return asked


@pytest.mark.parametrize("dtype,available,want", [(np.float32, True, [5, 1, 5, 0]), (np.float32, False, [1, 1, 1, 0]),
                                                  (np.float64, True, [1, 1, 1, 0])])
def test_layers_take_tiles_where_they_measured_faster(monkeypatch, dtype, available, want):
    asked = _fake_tile_timings(monkeypatch, {0: 0.5, 1: 0.97, 2: 0.9})
    monkeypatch.setattr(tiles, "available", lambda: available)
    monkeypatch.setattr(products, "_refresh_seconds", lambda arch, own: 1e-4)
    monkeypatch.setattr(products, "_tiles_costs", {})
    arch = fastmlp.MLP(LAYERS, dtype=dtype).arch
    own = products._with_tiles(arch, np.array([OWN_FORWARD] * 3 + [0], np.int64), np.random.default_rng(0))
    assert own.tolist() == want
    assert asked == ([0, 1, 2] if available and dtype == np.float32 else [])
    if want[0] & OWN_TILES:  # what a call weighs: the pass, and a row's products of the layers on tiles both ways
        rows = {l: products._reps(products.BLOCK_ROWS * LAYERS[l] * LAYERS[l + 1]) * products.BLOCK_ROWS
                for l in (0, 2)}
        assert products._tiles_costs[products._key(arch)] == pytest.approx(
            (1e-4, 1.0 / rows[0] + 1.0 / rows[2], 0.5 / rows[0] + 0.9 / rows[2]))
    else:
        assert products._key(arch) not in products._tiles_costs
        assert not products.takes_tiles(arch, 1 << 20, 2)


# Costs as measured on the Xeon model 167 (fashion net, the other core busy): a pass over the weights of 80 us, a
# row's products of the layers on tiles 2.42 us by matmul and 1.46 us on the tiles.
XEON = products.TilesCosts(80e-6, 2.42e-6, 1.46e-6)


@pytest.mark.parametrize("rows,threads,taken", [
    (256, 2, True),  # 4 blocks of 64 on two threads: saves 123 us a thread, the pass 80 (x 0.8: 64)
    (224, 2, True),  # 4 blocks of 56, each paying for 64 rows on the tiles: 84 us a thread
    (192, 2, False),  # 4 blocks of 48, each paying for 64: 45 us a thread
    (160, 2, False),  # 4 blocks of 40: 7 us
    (128, 1, True),  # 2 blocks of 64 on one thread: 123 us
    (96, 1, False),  # 2 blocks of 48: 45 us
    (95, 1, False),  # fewer rows than blocks are taken from
    (2048, 2, True)])
def test_a_call_takes_the_tiles_where_its_blocks_save_more_than_the_pass_costs(monkeypatch, rows, threads, taken):
    """``products.takes_tiles``: a call takes the tiles where the time its blocks' products save on them, each block
    paying for its rows rounded up to the tile product's 32, shared over the pool's threads, pays ``TILES_MARGIN``
    times for the pass over the weights the call makes first. As measured in calls on the Xeon (the other core busy,
    two threads): 256 rows 388k rows/s on tiles against 304k without, 224 rows 337k against 324k, 192 rows 293k
    against 300k, 160 rows 243k against 320k."""
    arch = fastmlp.MLP(LAYERS).arch
    monkeypatch.setattr(products, "_tiles_costs", {products._key(arch): XEON})
    assert products.takes_tiles(arch, rows, threads) == taken
    assert not products.takes_tiles(fastmlp.MLP(LAYERS[:-1] + [4]).arch, rows, threads)  # another net: not measured


def test_a_call_takes_the_tiles_by_its_rows_and_its_pool_s_threads(monkeypatch):
    """A model's call by blocks runs its layers on the tiles where ``takes_tiles`` says, for the call's rows and the
    pool's thread count (whichever way the thread choice then runs it), else on the vector units."""
    model = fastmlp.MLP(LAYERS, activation="relu", seed=3)
    monkeypatch.setattr(products, "_chosen", {})
    monkeypatch.setattr(products, "inference_own", lambda arch: np.array([5, 5, 1, 0], np.int64))
    monkeypatch.setattr(products, "_tiles_costs", {products._key(model.arch): XEON})
    for threads, rows, taken in [(2, 256, True), (2, 192, False), (2, 128, False), (1, 128, True), (1, 96, False)]:
        monkeypatch.setattr(numba, "get_num_threads", lambda: threads)
        assert model.engine._by_blocks(rows).own.tolist() == ([5, 5, 1, 0] if taken else [1, 1, 1, 0])


@njit
def _same_bits(a, b):
    return fastmlp.kernels.inference._same_bits(a, b)


@pytest.mark.parametrize("n", [1, 255, 256, 257, 3 * 256 + 17])
def test_the_weights_compare_equal_only_bit_for_bit(n):
    """``refresh_tiles``' comparison (``kernels.inference._same_bits``, by chunks that stop at the first that differs):
    any one value changed is found, wherever it sits in its chunk (first, last, the short last chunk); NaN equals
    itself; -0.0 differs from 0.0 (equal as floats), and a NaN from a NaN of another payload."""
    chunk = fastmlp.kernels.inference.SAME_BITS_CHUNK
    a = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    a[n // 2] = np.nan
    assert _same_bits(a, a.copy())
    positions = {0, n - 1, n // 2} | {p for s in range(0, n, chunk) for p in (s, min(s + chunk, n) - 1)}
    for p in sorted(positions):
        for value in (np.float32(12345.0), np.float32(np.inf)) + ((-a[p],) if np.isfinite(a[p]) else ()):
            b = a.copy()
            b[p] = value
            assert not _same_bits(a, b), (p, value)
    zeros = np.zeros(n, np.float32)
    negative = zeros.copy()
    negative[n - 1] = -0.0
    assert not _same_bits(zeros, negative)
    quiet = np.full(n, np.nan, np.float32)
    other_nan = quiet.copy()
    other_nan.view(np.uint32)[0] |= 1  # another NaN payload: the same float (unordered), other bits
    assert not _same_bits(quiet, other_nan)


@needs_tiles
def test_a_pass_over_unchanged_weights_packs_nothing():
    arch = fastmlp.MLP(LAYERS).arch
    own = np.array([5, 5, 1, 0], np.int64)
    seconds = products._refresh_seconds(arch, own)
    assert 0 < seconds < 0.05
    model, work = fastmlp.MLP(LAYERS, seed=2), tiles.work(arch, own)
    net = arch.net._replace(own=own)
    fastmlp.kernels.refresh_tiles(work, model.params, net)
    packed = work.packed.copy()
    work.packed[:] = 0  # would be packed again if the pass thought the weights had changed
    fastmlp.kernels.refresh_tiles(work, model.params, net)
    assert not work.packed.any() and work.packed_ok.tolist() == [1, 1, 0, 0]
    model.params[arch.net.lay[1, 2]] += 1.0  # a weight of the second layer
    fastmlp.kernels.refresh_tiles(work, model.params, net)
    offset = work.offsets[1]
    assert not work.packed[:offset].any() and np.array_equal(work.packed[offset:], packed[offset:]) is False


def test_the_pass_over_the_weights_is_timed_by_its_best(monkeypatch):
    """``products._refresh_seconds`` keeps the fastest of its timings, as the products it is weighed against are
    timed: one slow timing (a slow spell of the machine) does not raise the tiles' threshold. Any CPU: the pass is
    faked, and so is the clock (each timing's length in turn: 9, 3, 7, 4, ...)."""
    monkeypatch.setattr(tiles, "available", lambda: True)
    monkeypatch.setattr(products.K, "refresh_tiles", lambda work, params, net: None)
    lengths = [9.0, 3.0, 7.0, 4.0, 8.0, 5.0, 6.0, 9.5, 10.0][:products.REFRESH_TIMINGS]
    ticks = iter([t for length in lengths for t in (0.0, length)])
    monkeypatch.setattr(products, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))  # this module's clock
    seconds = products._refresh_seconds(fastmlp.MLP(LAYERS).arch, np.array([5, 5, 1, 0], np.int64))
    assert seconds == min(lengths) == 3.0


def test_no_tiles_without_leave_to_run_them(monkeypatch):
    monkeypatch.setattr(tiles, "available", lambda: False)
    arch = fastmlp.MLP(LAYERS).arch
    with pytest.raises(RuntimeError, match="may not run them"):
        tiles.work(arch, np.array([OWN_FORWARD | OWN_TILES, 1, 1, 0], np.int64))
    empty = tiles.work(arch, np.array([1, 1, 1, 0], np.int64))
    assert empty.packed.size == empty.rows.size == empty.source.size == 0


def test_the_setting_turns_them_off_and_refuses_other_values(monkeypatch):
    monkeypatch.setenv(tiles.TILES_VARIABLE, "off")
    assert tiles.available() is False
    monkeypatch.setenv(tiles.TILES_VARIABLE, "fast")
    with pytest.raises(ValueError, match="FASTMLP_TILES must be one of"):
        tiles.available()


FORKED = r"""
import os
import numpy as np
import fastmlp
from fastmlp.backends import products

model = fastmlp.MLP([784, 256, 128, 64, 10], seed=0)
X = np.random.default_rng(0).random((2000, 784), dtype=np.float32)
products.inference_own = lambda arch: np.array([5, 5, 1, 0], np.int64)  # the tiles, as a measurement may choose
parent = model.predict_proba(X)
pid = os.fork()
if pid == 0:  # the child predicts on tiles with the leave its parent was given
    os._exit(0 if np.array_equal(model.predict_proba(X), parent) else 3)
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), flush=True)
"""


@needs_tiles
def test_a_forked_child_predicts_on_tiles(tmp_path):
    """Linux's leave to use AMX is the process's: a child forked after its parent predicted on tiles keeps it
    (a tile instruction without it would kill the child)."""
    script = tmp_path / "forked.py"
    script.write_text(FORKED)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "child 0" in done.stdout


@njit
def _pack_tiles(packed, W, c0, c1):
    K.pack_weight_tiles(packed, W, c0, c1)


def _reference_packing(W):
    """``pack_weights``' layout built by NumPy: (3 parts, column tiles, input tiles, 16 rows, 16 columns, 2 inputs)."""
    k, n = W.shape
    nt, kt = K.n_tiles(n), K.k_tiles(k)
    padded = np.zeros((kt * K.K_TILE, nt * K.N_TILE), np.float32)
    padded[:k, :n] = W
    u = padded.view(np.uint32)
    hi = u & np.uint32(0xFFFF0000)
    rest = padded - hi.view(np.float32)
    r = rest.view(np.uint32)
    mid = (r + np.uint32(0x7FFF) + ((r >> 16) & 1)) & np.uint32(0xFFFF0000)
    lo = (rest - mid.view(np.float32)).view(np.uint32)
    parts = [(p >> 16).astype(np.uint16).reshape(kt, K.TILE_ROWS, 2, nt, K.N_TILE).transpose(3, 0, 1, 4, 2)
             for p in (hi, mid, lo)]
    return np.concatenate([p.reshape(-1) for p in parts])


@pytest.mark.parametrize("k,n", [(1, 1), (2, 40), (7, 10), (33, 17), (61, 37), (64, 10), (784, 256)])
def test_the_packed_weights_are_the_layout_s_parts_column_tiles_at_a_time(k, n):
    """``pack_weights`` (16 columns of a tile row a vector operation, as uint32 pairs of inputs) writes the layout the
    module docstring gives, special values too; ``pack_weight_tiles`` writes only its column tiles of it."""
    rng = np.random.default_rng(k * 1000 + n)
    W = (rng.standard_normal((k, n)) * 0.05).astype(np.float32)
    special = _special_values()[-11:]
    W.reshape(-1)[:min(W.size, special.size)] = special[:min(W.size, special.size)]
    W.reshape(-1)[-1:] = np.float32(1e-40)  # a subnormal
    want = _reference_packing(W)
    with np.errstate(invalid="ignore", over="ignore"):
        got = buffers.zeros(K.packed_size(k, n), np.uint16) + 7
        K.pack_weights(got, W)
    np.testing.assert_array_equal(got, want)
    nt = K.n_tiles(n)
    tile = K.k_tiles(k) * K.TILE_ELEMENTS  # a column tile of a part
    for c0, c1 in ((0, 1), (1, nt), (nt - 1, nt)):
        got = buffers.zeros(K.packed_size(k, n), np.uint16) + 7
        _pack_tiles(got, W, c0, c1)
        inside = np.zeros(got.shape, bool)
        for p in range(K.PARTS):
            inside[(p * nt + c0) * tile:(p * nt + c1) * tile] = True
        np.testing.assert_array_equal(got[inside], want[inside])
        assert (got[~inside] == 7).all()


@pytest.mark.parametrize("sparse_s,tiles_s,dw_s,want", [
    (0.8, 0.5, 1.0, OWN_TILES),  # the tiles beat both by the margin
    (0.5, 0.49, 1.0, OWN_FORWARD | OWN_SPARSE),  # the tiles faster than the sparse product, not by the margin
    (0.99, 0.97, 0.97, None),  # nothing beats the BLAS by the margin
    (None, 0.5, 1.0, OWN_TILES),  # inputs without zeros: the tiles against the BLAS only
    (None, 0.99, 1.0, None),
    (0.8, 0.5, 0.9, OWN_TILES | OWN_DW_TILES),  # the weight product on tiles too: a choice of its own
    (0.5, 0.49, 0.9, OWN_FORWARD | OWN_SPARSE | OWN_DW_TILES),
    (None, 0.99, 0.9, OWN_DW_TILES)])
def test_a_cut_training_s_first_layer_takes_the_fastest_way_by_the_margin(monkeypatch, sparse_s, tiles_s, dw_s, want):
    """``products._measure_cut``: the first layer's forward product, cut over the threads, timed by the BLAS (1.0 s
    here), over the batch's nonzero inputs (where it has zeros) and on AMX tiles (where they may run); its weight
    product by the BLAS's pieces (1.0 s) and on the tiles."""
    timed = []
    monkeypatch.setattr(tiles, "available", lambda: True)
    monkeypatch.setattr(blas_spin, "spin_seconds", lambda: 0.0)
    monkeypatch.setattr(products, "_hidden_timed", lambda *args: (1.0, 1.0))  # (the hidden layers: next test)
    monkeypatch.setattr(products, "_timed", lambda *args: timed.append("sparse") or (sparse_s, 1.0))
    monkeypatch.setattr(products, "_tiles_cut_timed", lambda *args: timed.append("tiles") or (tiles_s, 1.0))
    monkeypatch.setattr(products, "_weight_tiles_timed", lambda *args: timed.append("dw") or (dw_s, 1.0))
    arch = fastmlp.MLP(LAYERS).arch
    own = products._measure_cut(arch, 64, None if sparse_s is None else np.zeros((64, LAYERS[0]), np.float32))
    assert (None if own is None else own.tolist()) == (None if want is None else [want, 0, 0, 0])
    assert timed == (["tiles", "dw"] if sparse_s is None else ["sparse", "tiles", "dw"])
    monkeypatch.setattr(tiles, "available", lambda: False)  # no tiles: never timed, never taken
    timed.clear()
    own = products._measure_cut(arch, 64, None if sparse_s is None else np.zeros((64, LAYERS[0]), np.float32))
    assert timed == ([] if sparse_s is None else ["sparse"]) and (own is None or own[0] == OWN_FORWARD | OWN_SPARSE)
    arch64 = fastmlp.MLP(LAYERS, dtype="float64").arch  # float32 only
    monkeypatch.setattr(tiles, "available", lambda: True)
    assert not products.tiles_eligible(arch64, 64) and products.tiles_eligible(arch, 64)


@pytest.mark.parametrize("hidden_s,want", [
    ({1: 0.5, 2: 0.97}, [0, OWN_FORWARD, 0, 0]),  # 256 -> 128 faster by the margin, 128 -> 64 not
    ({1: 0.99, 2: 0.5}, [0, 0, OWN_FORWARD, 0]),
    ({1: 0.5, 2: 0.5}, [0, OWN_FORWARD, OWN_FORWARD, 0]),
    ({1: 0.99, 2: 0.97}, None)])  # nothing beats the BLAS by the margin anywhere
@pytest.mark.parametrize("first", [0, OWN_FORWARD | OWN_SPARSE])
def test_a_cut_training_s_hidden_layers_take_matmul_on_one_thread_where_faster_by_the_margin(monkeypatch, hidden_s,
                                                                                            want, first):
    """``products._measure_cut``: each hidden layer's forward product that could go to ``matmul`` (``eligible``: not
    the last, of 10 outputs) timed by ``matmul`` on one thread against the BLAS as the cut kernel runs it (1.0 s
    here), with all of Numba's threads, after the BLAS's own threads' spin is waited out; the first layer's choice
    beside them as before."""
    timed, slept = [], []
    monkeypatch.setattr(tiles, "available", lambda: False)
    monkeypatch.setattr(blas_spin, "spin_seconds", lambda: 0.017)
    monkeypatch.setattr(products.time, "sleep", slept.append)
    monkeypatch.setattr(products, "_timed", lambda *args: (0.5 if first else 1.0, 1.0))
    monkeypatch.setattr(products, "_hidden_timed",
                        lambda arch, rows, l, rng, threads: timed.append((l, threads)) or (hidden_s[l], 1.0))
    arch = fastmlp.MLP(LAYERS).arch
    assert [l for l in products.eligible(arch, 64) if l > 0] == [1, 2]
    own = products._measure_cut(arch, 64, np.zeros((64, LAYERS[0]), np.float32))
    if want is None and not first:
        assert own is None
    else:
        assert own.tolist() == [first] + (want or [0, 0, 0, 0])[1:]
    assert timed == [(1, numba.config.NUMBA_NUM_THREADS), (2, numba.config.NUMBA_NUM_THREADS)]
    assert slept == [0.017]


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="a cut training's choice needs several threads")
def test_a_hidden_layer_s_timing_runs_both_ways_and_compiles_no_kernel_of_its_own():
    """``products._hidden_timed`` on the fashion net's 256 -> 128 layer at batch 64: both ways run (positive times),
    through the first layer's timing kernel's one signature (an empty room and scratch)."""
    arch = fastmlp.MLP(LAYERS, dtype="float32").arch
    batch = np.random.default_rng(0).random((64, LAYERS[0]), np.float32)
    products._timed(arch, 64, 0, np.random.default_rng(0), batch, 2)  # the first layer's
    signatures = len(fastmlp.kernels.repeat_product.signatures)
    own_s, blas_s = products._hidden_timed(arch, 64, 1, np.random.default_rng(0), 2)
    assert own_s > 0 and blas_s > 0
    assert len(fastmlp.kernels.repeat_product.signatures) == signatures


@needs_tiles
@pytest.mark.parametrize("m", [1, 31, 32, 64, 100, 1024])
@pytest.mark.parametrize("parts", [2, 3])
def test_the_cut_tile_forward_gives_each_row_the_bits_of_one_tile_product(m, parts):
    """A training's first layer on tiles (``kernels.split._tile_forward`` through ``repeat_tile_forward``): W packed by
    the threads' share of its column tiles, each thread's rows in whole blocks: each row the bits one
    ``tile_product`` gives it, whatever the cut; cut into no more pieces than its room has rooms for (two here)."""
    rng = np.random.default_rng(m + parts)
    x = (rng.standard_normal((m, 200)) * (rng.random((m, 200)) > 0.5)).astype(np.float32)
    W = rng.standard_normal((200, 80)).astype(np.float32)
    size, room = K.tiles_sizes(200, 80)
    buf = buffers.zeros(size + 3 * room, np.uint16)
    buf[size + 2 * room:] = 7
    out = np.full((m, 80), np.nan, np.float32)
    fastmlp.kernels.repeat_tile_forward(out, x, W, buf[:size + 2 * room], parts, 2)
    np.testing.assert_array_equal(out, _product(x, W))
    assert (buf[size + 2 * room:] == 7).all()  # nothing written past its room


@njit
def _rows_at(rows_buf, x, i0, rows):
    K.pack_rows(rows_buf, x, i0, rows, False, np.float32(0))


@njit
def _transposed(blocks_buf, x, b0, b1):
    K.pack_transposed(blocks_buf, x, b0, b1)


@pytest.mark.parametrize("m,n", [(1, 1), (5, 40), (16, 16), (33, 17), (64, 256), (100, 70)])
def test_a_matrix_s_columns_are_packed_as_pack_rows_packs_its_transpose(m, n):
    """``pack_transposed`` (16 x 16 squares transposed on the stack, each row of one cut 16 values at a time): each
    block of 32 columns of x gets the bits ``pack_rows`` writes for those rows of x.T, special values too; given
    blocks b0..b1, only those are written."""
    rng = np.random.default_rng(m * 1000 + n)
    x = rng.standard_normal((m, n)).astype(np.float32)
    special = _special_values()[-11:]
    x.flat[:min(x.size, special.size)] = special[:x.size]
    blocks, size = -(-n // K.ROWS), K.rows_size(m)
    want = np.zeros(blocks * size, np.uint16)
    xT = np.ascontiguousarray(x.T)
    for b in range(blocks):
        _rows_at(want[b * size:(b + 1) * size], xT, b * K.ROWS, min(K.ROWS, n - b * K.ROWS))
    got = np.full(blocks * size, 7, np.uint16)
    _transposed(got, x, 0, blocks)
    np.testing.assert_array_equal(got, want)
    got[:] = 7
    _transposed(got, x, blocks - 1, blocks)
    assert (got[:(blocks - 1) * size] == 7).all() and np.array_equal(got[(blocks - 1) * size:], want[-size:])


@needs_tiles
@pytest.mark.parametrize("m", [1, 31, 32, 100, 1024])
@pytest.mark.parametrize("k,n", [(7, 10), (50, 40), (784, 256)])
def test_a_weight_product_on_tiles_is_the_tile_product_of_the_transposes(m, k, n):
    """A training's first-layer weight product on tiles (``kernels.split._tile_weight_step`` through
    ``repeat_weight_product``, cut over two threads: dW = x.T @ dz, x packed as a (m, k) W by each thread's column
    tiles, dz's columns as rows, dW.T's tiles written transposed): the bits ``tile_product`` gives dz.T @ x,
    transposed; within float32's rounding of the float64 product."""
    rng = np.random.default_rng(m + k + n)
    x = (rng.standard_normal((m, k)) * (rng.random((m, k)) > 0.5)).astype(np.float32)
    dz = rng.standard_normal((m, n)).astype(np.float32)
    dW = np.full((k, n), np.nan, np.float32)
    room = buffers.zeros(sum(K.weight_sizes(m, k, n)), np.uint16)
    fastmlp.kernels.repeat_weight_product(dW, x, dz, room, 2, 2)
    np.testing.assert_array_equal(dW, _product(np.ascontiguousarray(dz.T), x).T)
    exact = x.T.astype(np.float64) @ dz.astype(np.float64)
    scale = np.abs(x.T).astype(np.float64) @ np.abs(dz).astype(np.float64)
    assert (np.abs(dW - exact) <= 2.0 ** -21 * scale + 1e-30).all()


def test_the_tiles_are_timed_only_when_asked_and_a_choice_is_read_without_measuring(monkeypatch, tmp_path):
    """``own_products`` with several threads: without ``tiles`` (a cut training's calls before its cut kernel is
    prepared, plain SGD's first calls) the tiles are never timed, their kernels never compiled; with them they are,
    a choice of its own. ``measure`` False: the choice made before in this process or recorded on the machine, else
    None, nothing timed."""
    timed = []
    monkeypatch.setattr(products, "_chosen", {})
    monkeypatch.setattr(products.records, "folder", lambda: str(tmp_path / "records"))
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 2)
    # (the timings below are stubs: nothing runs on the threads, and a process of one core has no second to set)
    monkeypatch.setattr(numba, "set_num_threads", lambda n: None)
    monkeypatch.setattr(tiles, "available", lambda: True)
    monkeypatch.setattr(products, "_timed", lambda *args: timed.append("sparse") or (0.5, 1.0))
    monkeypatch.setattr(products, "_tiles_cut_timed", lambda *args: timed.append("tiles") or (0.1, 1.0))
    monkeypatch.setattr(products, "_weight_tiles_timed", lambda *args: timed.append("dw") or (1.0, 1.0))
    monkeypatch.setattr(products, "_hidden_timed", lambda *args: (1.0, 1.0))  # (not faster: the BLAS's)
    monkeypatch.setattr(blas_spin, "spin_seconds", lambda: 0.0)
    arch = fastmlp.MLP(LAYERS).arch
    X = np.zeros((100, LAYERS[0]), np.float32)
    assert products.own_products(arch, 64, X, cut=True, tiles=True, measure=False) is None and timed == []
    assert products.own_products(arch, 64, X, cut=True).tolist() == [OWN_FORWARD | OWN_SPARSE, 0, 0, 0]
    assert timed == ["sparse"]
    assert products.own_products(arch, 64, X, cut=True, tiles=True, measure=False) is None
    assert products.own_products(arch, 64, X, cut=True, tiles=True).tolist() == [OWN_TILES, 0, 0, 0]
    assert timed == ["sparse", "sparse", "tiles", "dw"]
    monkeypatch.setattr(products, "_chosen", {})  # another process on this machine: the records
    assert products.own_products(arch, 64, X, cut=True, tiles=True, measure=False).tolist() == [OWN_TILES, 0, 0, 0]
    assert products.own_products(arch, 64, X, cut=True).tolist() == [OWN_FORWARD | OWN_SPARSE, 0, 0, 0]
    assert timed == ["sparse", "sparse", "tiles", "dw"]
