"""Aligned buffers: every flat buffer the kernels stream starts on a 64-byte boundary."""
import pickle

import numpy as np
import pytest

from fastmlp import MLP, buffers


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shape", [1, 7, 33, (5, 3), (1, 784)])
def test_empty_zeros_copy_are_aligned_contiguous_and_right(dtype, shape):
    for _ in range(8):  # different heap positions
        e = buffers.empty(shape, dtype)
        z = buffers.zeros(shape, dtype)
        src = np.arange(np.prod(shape), dtype=dtype).reshape(shape)[..., ::1]
        c = buffers.copy(src)
        for a in (e, z, c):
            assert a.ctypes.data % buffers.ALIGN == 0
            assert a.flags.c_contiguous and a.flags.writeable
            assert a.dtype == np.dtype(dtype) and a.shape == np.empty(shape).shape
        assert not z.any()
        np.testing.assert_array_equal(c, src)
        assert not np.shares_memory(c, src)


def test_copy_of_readonly_and_strided_input_is_writable():
    src = np.arange(20.0)[::2]
    src.flags.writeable = False
    c = buffers.copy(src)
    assert c.flags.writeable and c.flags.c_contiguous
    np.testing.assert_array_equal(c, src)


def _aligned(a):
    return a.ctypes.data % buffers.ALIGN == 0


def test_model_copy_pickle_and_trainer_buffers_are_aligned():
    rng = np.random.default_rng(0)
    X = rng.random((40, 7), dtype=np.float32)
    y = rng.integers(0, 3, 40)
    m = MLP([7, 5, 3], seed=0)
    m.fit(X, y, epochs=1, batch_size=8, optimizer="adam", verbose=0)
    for model in (m, m.copy(), pickle.loads(pickle.dumps(m))):
        assert _aligned(model.params)
        assert all(_aligned(v) for v in model.optimizer_state.values() if isinstance(v, np.ndarray))
    ws = m._impl.workspace(8)
    assert _aligned(ws.acts) and _aligned(ws.deltas)
