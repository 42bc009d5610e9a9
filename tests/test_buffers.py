"""Aligned buffers: every flat buffer the kernels stream starts on a 64-byte boundary."""
import pickle

import numpy as np
import pytest

from fastmlp import MLP, buffers
from fastmlp.backends.numba import new_workspace
from fastmlp.optimizers import SLOT_NAMES


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
        assert _aligned(model.optimizer_state.slots) and model.optimizer_state.slots.flags.c_contiguous
    ws = new_workspace(m.arch, 8)  # what the numba backend trains and infers with
    assert _aligned(ws.acts) and _aligned(ws.deltas)


@pytest.mark.parametrize("layers", [[7, 5, 3], [8, 8, 8]], ids=["58-params", "144-params"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adagrad"])
def test_every_optimizer_state_slot_is_aligned(layers, optimizer):
    """Each slot the optimizer kernel streams (velocity, m and v, square_avg, sum_sq) starts on a 64-byte line,
    as the two separate buffers of the dict state did, whatever the number of parameters
    (float32 [7, 5, 3] has 58 parameters: 232 bytes, not a multiple of 64)."""
    rng = np.random.default_rng(0)
    X = rng.random((40, layers[0]), dtype=np.float32)
    y = rng.integers(0, 3, 40)
    m = MLP(layers, seed=0)
    hyper = {"momentum": 0.9} if optimizer == "sgd" else {}
    m.fit(X, y, epochs=1, batch_size=8, optimizer=optimizer, verbose=0, **hyper)
    for model in (m, m.copy(), pickle.loads(pickle.dumps(m))):
        st = model.optimizer_state
        for name in SLOT_NAMES[optimizer]:
            assert _aligned(getattr(st, name)), f"{optimizer}'s {name} ({model.n_params} params) starts off a 64-byte line"
