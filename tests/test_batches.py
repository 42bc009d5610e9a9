"""A mini-batch's rows copied into the batch buffers (``kernels.batches``): every row once, in its place."""
import numpy as np
import pytest
from numba import njit

from fastmlp.kernels.batches import batch_rows, copy_ahead, gather_ahead, next_batch
from fastmlp.kernels.structs import Batching, Samples


@njit
def _rows_of(order, size, drop_last, start):
    return batch_rows(Batching(order, size, drop_last), start)


@pytest.mark.parametrize("n,size,drop_last,start,expected", [
    (10, 4, False, 0, 4), (10, 4, False, 8, 2), (10, 4, True, 8, 0), (10, 4, False, 10, 0), (10, 4, False, 12, 0),
    (8, 4, True, 4, 4), (0, 4, False, 0, 0), (1, 4, False, 0, 1)])
def test_a_batch_has_the_rows_left_up_to_its_size_and_none_past_the_end(n, size, drop_last, start, expected):
    assert _rows_of(np.arange(n, dtype=np.int64), size, drop_last, start) == expected


def _data(n, n_in, n_out, rng):
    return Samples(rng.normal(size=(n, n_in)), rng.integers(0, 9, n).astype(np.int64), rng.normal(size=(n, n_out)),
                   rng.random(n))


def _buffers(rows, n_in, n_out):
    """Batch buffers filled with a value no copy writes."""
    return Samples(np.full((rows, n_in), -7.0), np.full(rows, -7, np.int64), np.full((rows, n_out), -7.0),
                   np.full(rows, -7.0))


@njit
def _copy_in_pieces(into, data, order, parts):
    job = copy_ahead(into, data, order)
    for t in range(parts - 1, -1, -1):  # any order: each piece its own rows
        gather_ahead(job, parts, t)


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
@pytest.mark.parametrize("m", [0, 1, 2, 7, 64])
def test_the_pieces_of_a_copy_ahead_write_each_row_of_the_next_batch_once_in_its_place(m, parts):
    rng = np.random.default_rng(m * 10 + parts)
    data = _data(100, 6, 3, rng)
    order = rng.integers(0, 100, m).astype(np.int64)  # with repeats, as sampling with replacement draws
    into = _buffers(70, 6, 3)
    _copy_in_pieces(into, data, order, parts)
    for field, source in zip(into, data):
        np.testing.assert_array_equal(field[:m], source[order])
        assert (field[m:] == -7).all()  # nothing past the batch's rows


@njit
def _next(batch, data, order, size, start):
    return next_batch(batch, data, Batching(order, size, False), start)


def test_a_batch_of_one_row_is_the_data_s_own_row_and_copies_nothing():
    rng = np.random.default_rng(0)
    data = _data(20, 5, 2, rng)
    batch = _buffers(4, 5, 2)
    m, x, y, t, w = _next(batch, data, np.array([3, 11, 7, 0, 5], np.int64), 4, 4)
    assert m == 1
    np.testing.assert_array_equal(x, data.x[5:6])
    assert x.base is data.x or np.shares_memory(x, data.x)
    assert (batch.x == -7).all()
    m, x, y, t, w = _next(batch, data, np.array([3, 11, 7, 0, 5], np.int64), 4, 0)
    assert m == 4 and np.shares_memory(x, batch.x)
    np.testing.assert_array_equal(x, data.x[[3, 11, 7, 0]])
    np.testing.assert_array_equal(w, data.w[[3, 11, 7, 0]])
