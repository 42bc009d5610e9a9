"""The kernels allocate nothing per call: proven with Numba's NRT allocation statistics.

Numba's runtime counts every NRT allocation (``alloc``/``free``) and every
MemInfo (``mi_alloc``/``mi_free``). Passing a NumPy array into a jitted function
that counts references wraps it in one MemInfo, which the counters also see (a
no-op with the same arguments as ``loss_and_grad`` costs one per array it is
handed, those inside the named groups of ``fastmlp.kernels.structs`` included).
The kernels are compiled without reference counting (``intrinsics.NO_REFCOUNTS``):
they cannot allocate (an allocation would not compile) and wrap nothing. The proof:

* the counters run and see a no-op's argument wrappers and an allocating function;
* one ``loss_and_grad`` call, ten calls, and every other kernel make no NRT event
  at all, for small networks (loop products) and big ones (BLAS products, long
  element-wise passes), whatever the batch size and number of layers.

The statistics are switched on in-process with ``memsys_enable_stats()`` (no
environment variable needed: checked below) and restored afterwards.
"""
import numpy as np
import pytest
from numba import njit
from numba.core.runtime import _nrt_python, rtsys

from fastmlp import kernels as K
from fastmlp.architecture import Architecture
from fastmlp.backends.numba import new_workspace
from fastmlp.kernels import config
from fastmlp.kernels.structs import LOSS_SUM


@pytest.fixture(scope="module", autouse=True)
def nrt_stats():
    was_enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    assert _nrt_python.memsys_stats_enabled()
    yield
    if not was_enabled:
        _nrt_python.memsys_disable_stats()


def stats():
    s = rtsys.get_allocation_stats()
    return np.array([s.alloc, s.free, s.mi_alloc, s.mi_free], np.int64)


def delta(fn, calls):
    before = stats()
    for _ in range(calls):
        fn()
    after = stats()
    return after - before


@njit
def _noop_8(a0, a1, a2, a3, a4, a5, a6, a7):
    pass


def n_arrays(args):
    """How many arrays a call hands over, counting those inside tuples (the named groups)."""
    return sum(n_arrays(a) if isinstance(a, tuple) else isinstance(a, np.ndarray) for a in args)


@njit
def _allocates(n):
    return np.empty(n).sum()


def setup(layers, m, activation, loss, dtype, weighted=False):
    """Arguments of fastmlp.kernels.loss_and_grad, with buffers built as NumbaBackend does
    (sample weights w empty unless ``weighted``)."""
    arch = Architecture.build(layers, activation, loss, 0.01, dtype)
    ws = new_workspace(arch, m)
    rng = np.random.default_rng(0)
    params = (rng.normal(size=arch.n_params) * 0.1).astype(arch.dtype)
    grads = np.empty_like(params)
    X = rng.normal(size=(m, layers[0])).astype(arch.dtype)
    if arch.takes_class_ids:
        y = rng.integers(0, layers[-1], m).astype(np.int64)
        t = np.zeros((0, layers[-1]), arch.dtype)
    else:
        y = np.zeros(0, np.int64)
        t = rng.normal(size=(m, layers[-1])).astype(arch.dtype)
        if loss in ("bce", "multilabel"):
            t = (t > 0).astype(arch.dtype)
    w = rng.uniform(0.5, 2, m).astype(arch.dtype) if weighted else np.zeros(0, arch.dtype)
    return arch, ws, (grads, ws, params, X, y, t, w, arch.net)


CONFIGS = [
    # small: loop products, serial element-wise passes
    ([5, 7, 3], 4, "tanh", "cross_entropy", "float64"),
    ([5, 7, 3], 33, "relu", "cross_entropy", "float64"),
    ([3, 4, 4, 4, 2], 9, "sigmoid", "mse", "float32"),
    ([2, 1], 1, "identity", "bce", "float64"),
    ([5, 7, 4], 6, "tanh", "multilabel", "float64"),
    ([5, 7, 4], 6, "relu", "softmax_mse", "float32"),
    # big: BLAS products and long element-wise passes (m * n >= LARGE)
    ([16, 440, 10], 300, "relu", "cross_entropy", "float32"),
    ([32, 300, 1], 450, "leaky_relu", "bce", "float64"),
    ([16, 440, 10], 300, "relu", "softmax_mse", "float64"),
    ([16, 440, 6], 300, "tanh", "multilabel", "float32"),
]
FIRST_BIG = 6
LARGE = 1 << 17  # elements of a large block: long vectorised passes, products in the BLAS


def test_stats_are_counting():
    """The counters work in-process: a kernel that allocates is seen."""
    _allocates(3)  # compile
    d = delta(lambda: _allocates(1000), 1)
    assert d[0] >= 1 and d[0] == d[1]


def test_passing_arrays_costs_one_meminfo_each():
    args = setup([5, 7, 3], 4, "tanh", "cross_entropy", "float64")[2]
    n = n_arrays(args)
    # grads, params, x, y, t, w + Workspace (acts, deltas, stats, wt, room, tiles) + Net (lay, kinds, alphas)
    assert n == 15
    _noop_8(*args)
    d = delta(lambda: _noop_8(*args), 1)
    assert d.tolist() == [n] * 4


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{'-'.join(map(str, c[0]))}_m{c[1]}_{c[3]}_{c[4]}")
def test_loss_and_grad_allocates_nothing_inside(cfg):
    layers, m, act, loss, dtype = cfg
    arch, ws, args = setup(layers, m, act, loss, dtype)
    big = m * max(layers[1:]) >= LARGE
    if cfg in CONFIGS[FIRST_BIG:]:
        assert big and m * layers[0] * layers[1] >= config.BLAS_MIN_WORK
    K.loss_and_grad(*args)  # warm up (compile / load from cache)
    _noop_8(*args)
    assert delta(lambda: _noop_8(*args), 1).tolist() == [n_arrays(args)] * 4  # a counting function's wrappers

    one = delta(lambda: K.loss_and_grad(*args), 1)
    ten = delta(lambda: K.loss_and_grad(*args), 10)
    assert one.tolist() == [0] * 4, f"loss_and_grad made NRT events: {one}"
    assert ten.tolist() == [0] * 4
    assert np.isfinite(ws.stats).all()


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[4], CONFIGS[FIRST_BIG + 1]], ids=["xent", "multilabel", "big-bce"])
def test_weighted_loss_and_grad_allocates_nothing_inside(cfg):
    """Sample weights (w not empty) take their own path through the losses: it allocates nothing either."""
    layers, m, act, loss, dtype = cfg
    arch, ws, args = setup(layers, m, act, loss, dtype, weighted=True)
    assert args[6].shape == (m,)
    K.loss_and_grad(*args)
    assert delta(lambda: K.loss_and_grad(*args), 1).tolist() == [0] * 4
    assert delta(lambda: K.loss_and_grad(*args), 10).tolist() == [0] * 4
    assert np.isfinite(ws.stats).all() and ws.stats[2] > 0  # the weight sum was added


def test_alloc_count_independent_of_batch_and_depth():
    """Across batch sizes 1..600 and 1..4 weight layers, a call makes no NRT event."""
    costs = set()
    for layers, m in [([4, 3], 1), ([4, 3], 600), ([4, 50, 3], 7), ([4, 220, 220, 220, 3], 600),
                      ([4, 8, 8, 8, 3], 2)]:
        _, _, args = setup(layers, m, "tanh", "cross_entropy", "float64")
        K.loss_and_grad(*args)
        costs.add(tuple(delta(lambda: K.loss_and_grad(*args), 3).tolist()))
    assert costs == {(0, 0, 0, 0)}


@pytest.mark.parametrize("cfg", [CONFIGS[0], CONFIGS[FIRST_BIG]], ids=["small", "big"])
def test_forward_backward_evaluate_allocate_nothing_inside(cfg):
    layers, m, act, loss, dtype = cfg
    arch, ws, args = setup(layers, m, act, loss, dtype)
    grads, ws, params, X, y, t, w, net = args
    K.loss_and_grad(*args)  # fills deltas' top block
    out = np.empty((m, layers[-1]), arch.dtype)
    scratch = np.empty(2 * m * arch.max_hidden, arch.dtype)
    calls = {
        "forward": (K.forward, (ws, params, X, net)),
        "backward": (K.backward, (grads, ws, params, X, net)),
        "evaluate": (K.evaluate, (ws, params, X, y, t, w, net)),
        "output": (K.output, (out, scratch, params, X, net)),
    }
    for name, (kernel, kargs) in calls.items():
        kernel(*kargs)
        one = delta(lambda: kernel(*kargs), 1)
        assert one.tolist() == [0] * 4, f"{name}: {one}"
        assert delta(lambda: kernel(*kargs), 10).tolist() == [0] * 4, name
    assert np.isfinite(ws.stats[LOSS_SUM]) and np.isfinite(out).all()


def test_numba_backend_step_allocates_only_outside_kernels():
    """Through the model's numba backend (``model.engine``) the kernels still allocate nothing inside."""
    from fastmlp import MLP
    model = MLP([20, 64, 5], activation="relu", dtype="float32", seed=0)
    X = np.random.default_rng(0).normal(size=(32, 20)).astype(np.float32)
    y = np.arange(32) % 5
    model.loss_and_grad(X, y)
    one = delta(lambda: model.loss_and_grad(X, y), 1)
    ten = delta(lambda: model.loss_and_grad(X, y), 10)
    assert one.tolist() == [0] * 4 and ten.tolist() == [0] * 4
    # inference: the engine's screened kernel gets proba (empty), out, flags, scratch, nz, params,
    # x and Net (3 arrays): 10
    model.predict(X)
    assert delta(lambda: model.predict(X), 1).tolist() == [0] * 4  # the screened inference kernel
    assert delta(lambda: model.predict(X), 10).tolist() == [0] * 4
