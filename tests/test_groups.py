"""A block's rows grouped by their zeros before the first layer's product over nonzero inputs (``kernels.groups``).

The coarse masks are what their definition says (any k, one word or two, runs of several words); the order is a
permutation that puts rows with like zeros in the same tiles, so that the tiles keep fewer positions than in the
rows' own order; the grouped product is the product (float64 reference), is ``matmul_sparse``'s over the grouped
rows put back in place, bit for bit, still skips the zeros, and leaves inputs without zeros to the plain product.
"""
import numpy as np
import pytest
from numba import njit

from fastmlp import kernels as K
from fastmlp.kernels.config import JIT
from fastmlp.kernels.groups import (MASK_BITS, RUN_BYTES, _flag_words, grouped_room, matmul_grouped, order_rows,
                                    row_masks)
from fastmlp.kernels.matmul import ROWS_PER_TILE, WIDE, has_zeros, matmul, matmul_sparse, sparse_room


@njit(**JIT)
def _masks(lo, hi, flags, x):
    row_masks(lo, hi, flags, x)


@njit(**JIT)
def _order(order, rows, lo, hi, flags, x):
    order_rows(order, rows, lo, hi, flags, x)


@njit(**JIT)
def _grouped(out, x, W, room):
    matmul_grouped(out, x, W, room)


@njit(**JIT)
def _sparse(out, x, W, room):
    matmul_sparse(out, x, W, room)


@njit(**JIT)
def _has_zeros(x):
    return has_zeros(x)


@njit(**JIT)
def _plain(out, x, W):
    matmul(out, x, W)


def _reference_masks(x):
    """Each row's mask bits as a set: runs of whole words of 8 positions, as few words a run as keep 128 runs."""
    m, k = x.shape
    words = -(-k // RUN_BYTES)
    per = -(-words // MASK_BITS)
    return [{b for b in range(-(-words // per)) if (x[i, b * per * RUN_BYTES:(b + 1) * per * RUN_BYTES] != 0).any()}
            for i in range(m)]


def _bits(lo, hi):
    return {b for b in range(64) if int(lo) >> b & 1} | {64 + b for b in range(64) if int(hi) >> b & 1}


def _order_of(x):
    m, k = x.shape
    order, rows = np.full(m, -7, np.int32), np.full(m, -7, np.int32)
    lo, hi = np.full(m, 99, np.uint64), np.full(m, 99, np.uint64)
    _order(order, rows, lo, hi, np.full(_flag_words(k), 5, np.uint64), x)
    return order


def _kept(x, order):
    """Positions summed over by the tiles of 6 rows (then 4, 2, 1) of x's rows taken in ``order``."""
    rows = x[order] != 0
    m = len(order)
    sizes = [ROWS_PER_TILE] * (m // ROWS_PER_TILE) + [s for s in (4, 2, 1) if m % ROWS_PER_TILE & s]
    starts = np.cumsum([0] + sizes[:-1])
    return sum(int(rows[s:s + n].any(0).sum()) for s, n in zip(starts, sizes))


@pytest.mark.parametrize("k", [1, 7, 8, 9, 63, 784, 1024, 1025, 1100, 3000])
def test_a_rows_mask_has_a_bit_for_each_run_with_a_nonzero_value(k):
    rng = np.random.default_rng(k)
    m = 9
    x = rng.standard_normal((m, k)).astype(np.float32)
    x[rng.random((m, k)) < 0.9] = 0
    x[0] = 0
    x[1] = 1
    x[2, :] = 0
    x[2, k - 1] = -0.5  # the last position alone: the padding past k must not count
    lo, hi = np.full(m, 7, np.uint64), np.full(m, 7, np.uint64)
    flags = np.full(_flag_words(k), np.uint64(2**64 - 1), np.uint64)
    _masks(lo, hi, flags, x)
    want = _reference_masks(x)
    assert [_bits(a, b) for a, b in zip(lo, hi)] == want
    assert want[0] == set() and want[1] == set(range(len(want[1]))) and 0 < len(want[1]) <= MASK_BITS


@pytest.mark.parametrize("m", [1, 2, 5, 6, 7, 12, 13, 64, 65, 96])
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.95, 1.0])
def test_the_order_is_a_permutation_of_the_rows(m, zeros):
    rng = np.random.default_rng(m)
    x = rng.standard_normal((m, 100)).astype(np.float32)
    x[rng.random(x.shape) < zeros] = 0
    assert sorted(_order_of(x)) == list(range(m))


@pytest.mark.parametrize("m", [12, 24, 60, 96])
def test_rows_with_like_zeros_share_tiles(m):
    """Two kinds of rows, nonzero only in their own half of the inputs, taken turn about: grouped, each tile holds one
    kind (and keeps half of the positions, against all of them in the rows' own order)."""
    rng = np.random.default_rng(m)
    k = 160
    x = np.zeros((m, k), np.float32)
    kind = np.arange(m) % 2
    for i in range(m):
        half = slice(0, k // 2) if kind[i] == 0 else slice(k // 2, k)
        x[i, half] = rng.random(k // 2) + 0.5
    order = _order_of(x)
    for t in range(m // ROWS_PER_TILE):
        assert len(set(kind[order[t * ROWS_PER_TILE:(t + 1) * ROWS_PER_TILE]])) == 1
    assert _kept(x, order) * 2 == _kept(x, np.arange(m)) == (m // ROWS_PER_TILE) * k


def test_a_tile_starts_with_the_row_of_fewest_bits_and_takes_the_fewest_added():
    """Rows 0-5 are wide (each almost every run), 6-11 narrow and nested: the first tile is the narrow ones, the
    narrowest first."""
    k = 128 * RUN_BYTES
    x = np.zeros((12, k), np.float32)
    x[:6, :] = 1
    for i in range(6):
        x[i, i * RUN_BYTES] = 0  # wide rows: one run each left out
        x[11 - i, :(i + 1) * 5 * RUN_BYTES] = 1  # narrow rows 11, 10, ..: 5, 10, .. runs
    order = _order_of(x)
    assert list(order[:6]) == [11, 10, 9, 8, 7, 6]
    assert sorted(order[6:]) == list(range(6))


def test_grouping_keeps_fewer_positions_on_image_like_rows():
    """Rows of three shapes of ink at random places in the block: grouped tiles keep fewer positions."""
    rng = np.random.default_rng(5)
    m, side = 96, 28
    x = np.zeros((m, side, side), np.float32)
    for i in range(m):
        shape = rng.integers(3)
        if shape == 0:
            x[i, :, 10:18] = rng.random((side, 8))  # narrow (trousers)
        elif shape == 1:
            x[i, 14:, :] = rng.random((14, side))  # low (shoes)
        else:
            x[i, 4:24, 4:24] = rng.random((20, 20))  # square (bags)
    x = x.reshape(m, -1)
    assert _kept(x, _order_of(x)) < 0.8 * _kept(x, np.arange(m))


def _rows(rng, m, k, zeros):
    x = rng.standard_normal((m, k)).astype(np.float32)
    x[rng.random((m, k)) < zeros] = 0
    if zeros:
        x[:, ::3] = 0
    return x


@pytest.mark.parametrize("m", [1, 2, 5, 6, 7, 11, 13, 64, 65, 96])
@pytest.mark.parametrize("k", [1, 7, 30, 200])
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.9, 1.0])
def test_the_grouped_product_is_the_product(m, k, zeros):
    """For any rows and inputs, whatever out and the room held: the float64 product to float32 rounding; and bit for
    bit ``matmul_sparse``'s product of the rows in the grouped order, each put back in its own row."""
    rng = np.random.default_rng(m * 1000 + k + int(zeros * 10))
    n = 64
    x = _rows(rng, m, k, zeros)
    W = rng.standard_normal((k, n)).astype(np.float32)
    room = rng.integers(-2**31, 2**31 - 1, grouped_room(m, k, n, 4) + 3).astype(np.int32)
    out = np.full((m, n), np.nan, np.float32)
    _grouped(out, x, W, room[:-3])
    np.testing.assert_allclose(out, x.astype(np.float64) @ W, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    order = _order_of(x) if _has_zeros(x) else np.arange(m)  # (a block without zeros is not grouped)
    by_sparse = np.empty((m, n), np.float32)
    _sparse(by_sparse, np.ascontiguousarray(x[order]), W, np.zeros(sparse_room(m, k), np.int32))
    expected = np.empty_like(by_sparse)
    expected[order] = by_sparse
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("grouped", [True, False])
def test_the_forward_product_groups_the_rows_when_its_room_holds_them(grouped):
    """``matmul_or_sparse`` (the layers' own forward, timed by ``repeat_product``): the grouped product with a room of
    ``grouped_room``'s size, ``matmul_sparse``'s over the rows in their order with a room of ``sparse_room``'s."""
    rng = np.random.default_rng(4)
    m, k, n = 64, 120, 128
    x = _rows(rng, m, k, 0.6)
    W = rng.standard_normal((k, n)).astype(np.float32)
    room = np.zeros(grouped_room(m, k, n, 4) if grouped else sparse_room(m, k), np.int32)
    out, want = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    K.repeat_product(out, x, W, True, 1, room)
    if grouped:
        _grouped(want, x, W, room.copy())
    else:
        _sparse(want, x, W, room.copy())
    np.testing.assert_array_equal(out, want)
    if WIDE:  # (k in pairs: the two ways round otherwise here, so the test tells them apart; AVX2's one by one
        other = np.empty_like(want)  # sums the same bits either way)
        (_sparse if grouped else _grouped)(other, x, W, np.zeros(grouped_room(m, k, n, 4), np.int32))
        assert not np.array_equal(other, want)


def test_inputs_without_zeros_take_the_plain_product_and_zeros_are_still_skipped():
    """No zeros: ``matmul``'s bits. With zeros: an infinity in W met only by zero inputs (0 * inf is NaN) is not
    spread, as in ``matmul_sparse``."""
    rng = np.random.default_rng(1)
    m, k, n = 40, 50, 64
    W = rng.standard_normal((k, n)).astype(np.float32)
    dense = rng.standard_normal((m, k)).astype(np.float32) + 5
    room = np.zeros(grouped_room(m, k, n, 4), np.int32)
    out, plain = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    _grouped(out, dense, W, room)
    _plain(plain, dense, W)
    np.testing.assert_array_equal(out, plain)
    x = _rows(rng, m, k, 0.7)
    x[:, 4] = 0
    W[4, 9] = np.inf
    _grouped(out, x, W, room)
    _plain(plain, x, W)
    assert np.isfinite(out).all() and np.isnan(plain[:, 9]).all()


def test_float64_rows_are_grouped_in_their_own_dtype():
    rng = np.random.default_rng(2)
    m, k, n = 30, 40, 64
    x = _rows(rng, m, k, 0.6).astype(np.float64)
    W = rng.standard_normal((k, n))
    out = np.full((m, n), np.nan)
    _grouped(out, x, W, np.zeros(grouped_room(m, k, n, 8), np.int32))
    np.testing.assert_allclose(out, x @ W, rtol=1e-12, atol=1e-12)
