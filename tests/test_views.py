"""Borrowed views (kernels/views.py): same data as the NumPy views they replace."""
import numpy as np
import pytest
from numba import njit

from fastmlp.kernels.views import borrow, matrix


@njit
def _fill_matrix(buf, off, r, c):
    v = matrix(buf, off, r, c)
    for i in range(r):
        for j in range(c):
            v[i, j] += 10 * i + j
    return v.shape[0], v.shape[1], v.strides[0], v.strides[1]


@njit
def _sum_rows_of_borrowed(a):
    b = borrow(a)
    s = 0.0
    for i in range(b.shape[0]):
        row = b[i]  # a view of a borrowed array
        s += row.sum()
    b[0, 0] = -1.0
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("off,r,c", [(0, 1, 1), (3, 2, 5), (7, 4, 1), (0, 1, 12)])
def test_matrix_is_the_reshaped_slice_and_writes_through(dtype, off, r, c):
    buf = np.zeros(20, dtype)
    shape = _fill_matrix(buf, off, r, c)
    itemsize = np.dtype(dtype).itemsize
    assert shape == (r, c, c * itemsize, itemsize)
    expect = np.zeros(20, dtype)
    expect[off:off + r * c] = (10 * np.arange(r)[:, None] + np.arange(c)).ravel()
    np.testing.assert_array_equal(buf, expect)


def test_borrow_reads_and_writes_the_callers_array():
    a = np.arange(12.0).reshape(3, 4)
    assert _sum_rows_of_borrowed(a) == 66.0
    assert a[0, 0] == -1.0
