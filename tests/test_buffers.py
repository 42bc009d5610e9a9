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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_staggered_arrays_share_one_allocation_at_fixed_distances(dtype):
    """Each array starts on a 64-byte line, STAGGER bytes (rounded up to a line) after the previous one's
    last line, all in one allocation; shapes and dtype as asked, writable and C-contiguous; an empty shape
    is fine."""
    shapes = [(3, 7), (2, 5), (2, 0, 5), (1,)]
    parts = buffers.staggered(shapes, dtype)
    itemsize = np.dtype(dtype).itemsize
    assert [p.shape for p in parts] == shapes and all(p.dtype == np.dtype(dtype) for p in parts)
    assert all(_aligned(p) and p.flags.c_contiguous and p.flags.writeable for p in parts)
    step = -(-buffers.STAGGER // buffers.ALIGN) * buffers.ALIGN
    at = parts[0].ctypes.data
    for shape, part in zip(shapes, parts):
        assert part.ctypes.data == at or part.size == 0  # an empty array's address means nothing
        at += -(-int(np.prod(shape)) * itemsize // buffers.ALIGN) * buffers.ALIGN + step
    base = parts[0].base
    while base.base is not None:
        base = base.base
    assert all(np.shares_memory(p, base) for p in parts if p.size)
    for i, p in enumerate(parts):  # no two overlap: writing one leaves the others as they were
        for q in parts:
            q[...] = 0
        p[...] = 1
        assert all(not q.any() for j, q in enumerate(parts) if j != i)
    odd = buffers.staggered([(4,), (4,)], dtype, gap=100)  # a gap rounds up to whole lines
    assert odd[1].ctypes.data - odd[0].ctypes.data == buffers.ALIGN + 128


def test_the_batch_one_scratch_is_laid_out_staggered():
    """The online (batch-1) kernel's transposed weights, sample rows and transposed optimizer state are one
    staggered allocation (``buffers.staggered``): their distances are the same in every model."""
    rng = np.random.default_rng(0)
    X = rng.random((20, 9), dtype=np.float32)
    y = rng.integers(0, 3, 20)
    distances = []
    for _ in range(2):
        m = MLP([9, 6, 3], seed=0)
        m.fit(X, y, epochs=1, batch_size=1, optimizer="adam", verbose=0)
        online = m._impl._train.online
        assert online is not None and all(_aligned(a) for a in online)
        distances.append([online.xs.ctypes.data - online.WT.ctypes.data, online.ST.ctypes.data - online.xs.ctypes.data])
    step = -(-buffers.STAGGER // buffers.ALIGN) * buffers.ALIGN
    line = buffers.ALIGN
    assert distances[0] == distances[1] == [-(-6 * 9 * 4 // line) * line + step, -(-2 * 9 * 4 // line) * line + step]
