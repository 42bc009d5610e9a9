"""Optimizers: the numba kernel agrees with the NumPy reference, and both with torch.optim;
the state (``OptimizerState``): named views of one aligned buffer, copies, the old dict access."""
import numpy as np
import pytest
from numba import njit

import fastmlp
from fastmlp import buffers
from fastmlp import kernels as K
from fastmlp.optimizers import SLOT_NAMES, OptimizerState, make_optimizer

CONFIGS = [
    ("sgd", {}, 0.1),
    ("sgd", dict(momentum=0.9), 0.05),
    ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.01), 0.05),
    ("adam", {}, 0.01),
    ("adam", dict(beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.01), 0.01),
    ("rmsprop", dict(alpha=0.9, weight_decay=0.001), 0.01),
    ("adagrad", dict(lr_decay=0.05, weight_decay=0.001), 0.1),
]
IDS = [f"{n}-{'-'.join(map(str, h.values())) or 'default'}" for n, h, _ in CONFIGS]
STEPS = 12


def _problem(size, dtype, seed=0):
    rng = np.random.default_rng(seed)
    p0 = rng.normal(size=size).astype(dtype)
    grads = [rng.normal(size=size).astype(dtype) * (1 + k % 3) for k in range(STEPS)]
    return p0, grads


def step_numba(opt, p, g, state, lr):
    """The kernel's update, counted like ``Optimizer.step_numpy`` counts (step is 1-based)."""
    state.step += 1
    K.optimizer_step(p, state.slots, g, opt.kernel_hyper(lr), state.step)


def step_numpy(opt, p, g, state, lr):
    opt.step_numpy(p, g, state, lr)


def _run(opt, p0, grads, lrs, step):
    p = p0.copy()
    state = opt.new_state(p.size, p.dtype)
    for g, lr in zip(grads, lrs):
        step(opt, p, g, state, lr)
    return p, state


def _used_slots(name, hyper):
    """Which of the two slots an optimizer writes: its SLOT_NAMES (plain SGD keeps no velocity)."""
    n = 0 if name == "sgd" and not hyper.get("momentum") else len(SLOT_NAMES[name])
    return [k < n for k in range(2)]


@pytest.mark.parametrize("size", [1000, (1 << 17) + 7], ids=["small", "large"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,hyper,lr", CONFIGS, ids=IDS)
def test_numba_kernel_matches_numpy_reference(name, hyper, lr, dtype, size):
    opt = fastmlp.Optimizer(name, **hyper)
    p0, grads = _problem(size, dtype)
    lrs = [lr * (1 - 0.05 * k) for k in range(STEPS)]  # the lr may change between steps
    p_nb, s_nb = _run(opt, p0, grads, lrs, step_numba)
    p_np, s_np = _run(opt, p0, grads, lrs, step_numpy)
    rtol = 1e-5 if dtype == "float32" else 1e-12  # a few ulps after 12 steps (FMA contraction)
    assert p_nb.dtype == p_np.dtype == s_nb.slots.dtype == s_np.slots.dtype == np.dtype(dtype)
    for a, b in ((p_nb, p_np), (s_nb.slots[0], s_np.slots[0]), (s_nb.slots[1], s_np.slots[1])):
        # absolute slack relative to the buffer's scale: cancellation may leave values near 0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    assert s_nb.step == s_np.step == STEPS
    assert not np.allclose(p_nb, p0)
    for slot, used in zip(s_np.slots, _used_slots(name, hyper)):
        assert slot.any() == used  # each optimizer writes exactly the slots it names


def _torch_optimizer(torch, name, hyper, lr, param):
    wd = hyper.get("weight_decay", 0.0)
    if name == "sgd":
        return torch.optim.SGD([param], lr=lr, momentum=hyper.get("momentum", 0.0),
                               nesterov=hyper.get("nesterov", False), weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam([param], lr=lr, betas=(hyper.get("beta1", 0.9), hyper.get("beta2", 0.999)),
                                eps=hyper.get("eps", 1e-8), weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop([param], lr=lr, alpha=hyper.get("alpha", 0.99), eps=1e-8, weight_decay=wd)
    return torch.optim.Adagrad([param], lr=lr, lr_decay=hyper.get("lr_decay", 0.0), eps=1e-10, weight_decay=wd)


@pytest.mark.parametrize("name,hyper,lr", CONFIGS, ids=IDS)
def test_matches_torch_optim(name, hyper, lr):
    torch = pytest.importorskip("torch")
    p0, grads = _problem(500, "float64", seed=1)
    param = torch.nn.Parameter(torch.tensor(p0.copy(), dtype=torch.float64))
    topt = _torch_optimizer(torch, name, hyper, lr, param)
    for g in grads:
        topt.zero_grad()
        param.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
    expected = param.detach().numpy()
    opt = fastmlp.Optimizer(name, **hyper)
    for step in (step_numba, step_numpy):
        p, _ = _run(opt, p0, grads, [lr] * STEPS, step)
        np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-12, err_msg=step.__name__)


def test_defaults_and_repr():
    opt = fastmlp.Optimizer("adam")
    assert opt.hyper == dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, l2=0.0, l1=0.0,
                             decoupled_weight_decay=0.0, clip_norm=None, clip_value=None)
    assert "Optimizer('adam'" in repr(opt)
    assert make_optimizer(opt) is opt
    with pytest.raises(ValueError, match="not both"):
        make_optimizer(opt, beta1=0.5)


def test_nesterov_is_stored_as_a_plain_bool():
    opt = fastmlp.Optimizer("sgd", momentum=0.5, nesterov=np.bool_(True))
    assert opt.hyper["nesterov"] is True


@pytest.mark.parametrize("name,hyper,match", [
    (None, {}, r"optimizer must be one of \['adagrad', 'adam', 'adamw', 'rmsprop', 'sgd'\] \(a str\); got NoneType None"),
    ("sgd", dict(momentum="0.9"), r"momentum must be a finite number in \[0, 1\); got str '0.9'"),
    ("sgd", dict(momentum=0.9, nesterov=1), r"nesterov must be True or False; got int 1"),
])
def test_hyperparameters_of_a_wrong_type_are_refused(name, hyper, match):
    with pytest.raises(TypeError, match=match):
        fastmlp.Optimizer(name, **hyper)


@pytest.mark.parametrize("name,hyper,match", [
    ("lbfgs", {}, "unknown optimizer 'lbfgs'"),
    ("sgd", dict(momentum=1.0), r"momentum must be a finite number in \[0, 1\); got 1.0"),
    ("sgd", dict(momentum=-0.1), "momentum"),
    ("sgd", dict(momentum=float("nan")), "momentum"),
    ("sgd", dict(nesterov=True), "nesterov"),
    ("sgd", dict(weight_decay=-1e-4), "weight_decay"), ("sgd", dict(weight_decay=float("inf")), "weight_decay"),
    ("sgd", dict(beta1=0.9), "no parameter"),
    ("adam", dict(beta1=1.0), "beta1"), ("adam", dict(beta2=1.0), "beta2"), ("adam", dict(beta1=-0.1), "beta1"),
    ("adam", dict(eps=0.0), "eps"), ("adam", dict(eps=-1e-8), "eps"), ("adam", dict(momentum=0.9), "no parameter"),
    ("rmsprop", dict(alpha=1.0), "alpha"), ("rmsprop", dict(eps=0), "eps"),
    ("adagrad", dict(lr_decay=-0.1), "lr_decay"), ("adagrad", dict(eps=0.0), "eps"),
])
def test_bad_hyperparameters_are_refused(name, hyper, match):
    with pytest.raises(ValueError, match=match):
        fastmlp.Optimizer(name, **hyper)


# -- the state -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,hyper,lr", CONFIGS, ids=IDS)
def test_state_is_one_aligned_buffer_seen_by_name(name, hyper, lr):
    opt = fastmlp.Optimizer(name, **hyper)
    state = opt.new_state(37, np.float32)
    assert isinstance(state, OptimizerState)
    assert state.name == name and state.hyper == opt.hyper and state.hyper is not opt.hyper and state.step == 0
    assert state.values().shape == (2, 37) and state.slots.shape == (2, 48)  # rows padded to whole 64-byte lines
    assert state.slots.dtype == np.float32 and not state.slots.any()
    assert state.slots.flags.c_contiguous
    assert all(row.ctypes.data % buffers.ALIGN == 0 for row in state.slots)  # both slots start on a line
    for k, attr in enumerate(SLOT_NAMES[name]):
        view = getattr(state, attr)
        assert view.shape == (37,) and np.shares_memory(view, state.slots[k])
        view[3] = 7.0  # writes through to the slot
        assert state.slots[k, 3] == 7.0
    others = {a for names in SLOT_NAMES.values() for a in names} - set(SLOT_NAMES[name])
    for attr in others:
        with pytest.raises(AttributeError, match="slots are"):
            getattr(state, attr)
    assert repr(state) == f"OptimizerState({name!r}, step=0, slots={list(SLOT_NAMES[name])})"


def test_state_names_after_steps_hold_what_they_say():
    """Adam's m and v, by name, after one step from zero: (1 - beta1) g and (1 - beta2) g^2."""
    opt = fastmlp.Optimizer("adam", beta1=0.8, beta2=0.9)
    g = np.array([1.0, -2.0, 0.5])
    for step in (step_numba, step_numpy):
        state = opt.new_state(3, np.float64)
        step(opt, np.zeros(3), g, state, 0.1)
        assert state.step == 1
        np.testing.assert_allclose(state.m, 0.2 * g, rtol=1e-15)
        np.testing.assert_allclose(state.v, 0.1 * g * g, rtol=1e-15)


def test_state_copy_copy_from_and_fits():
    opt = fastmlp.Optimizer("sgd", momentum=0.9)
    p0, grads = _problem(50, "float64")
    p, state = _run(opt, p0, grads[:3], [0.1] * 3, step_numba)
    snap = state.copy()
    assert snap.step == 3 and snap.name == "sgd" and snap.hyper == state.hyper
    assert np.array_equal(snap.velocity, state.velocity) and not np.shares_memory(snap.slots, state.slots)
    assert snap.slots.ctypes.data % buffers.ALIGN == 0 and snap.slots.flags.c_contiguous
    slots = state.slots
    for g in grads[3:6]:
        step_numba(opt, p, g, state, 0.1)
    assert state.step == 6 and not np.array_equal(snap.velocity, state.velocity)
    state.copy_from(snap)  # in place: the same buffer, the snapshot's values
    assert state.slots is slots and state.step == 3 and np.array_equal(state.slots, snap.slots)
    assert state.fits(opt, 50, np.float64)
    assert not state.fits(fastmlp.Optimizer("sgd", momentum=0.5), 50, np.float64)
    assert not state.fits(fastmlp.Optimizer("adam"), 50, np.float64)
    assert not state.fits(opt, 51, np.float64) and not state.fits(opt, 50, np.float32)


def test_deprecated_dict_access_still_works_and_warns():
    opt = fastmlp.Optimizer("adam")
    p0, grads = _problem(20, "float64")
    _, state = _run(opt, p0, grads[:2], [0.01] * 2, step_numpy)
    expected = {"t": (2, "optimizer_state.step"), "name": ("adam", "optimizer_state.name"),
                "hyper": (opt.hyper, "optimizer_state.hyper"), "s1": (state.m, r"optimizer_state.values\(\)\[0\]"),
                "s2": (state.v, r"optimizer_state.values\(\)\[1\]")}
    for key, (value, new) in expected.items():
        with pytest.warns(DeprecationWarning, match=rf"optimizer_state\['{key}'\] is deprecated; use {new}"):
            got = state[key]
        if isinstance(value, np.ndarray):
            assert np.shares_memory(got, value) and np.array_equal(got, value)
        else:
            assert got == value
    with pytest.raises(KeyError, match=r"'s3': OptimizerState has attributes, not keys; the 0.1 keys were \[.*'t'"):
        state["s3"]


def test_kernel_hyper_names_every_field():
    h = fastmlp.Optimizer("rmsprop", alpha=0.9, weight_decay=0.01).kernel_hyper(0.05)
    assert isinstance(h, K.Hyper) and h.kind == K.RMSPROP and h.lr == 0.05
    assert (h.alpha, h.weight_decay, h.eps) == (0.9, 0.01, 1e-8)
    assert h.momentum == h.beta1 == h.beta2 == h.lr_decay == h.nesterov == 0.0
    assert all(isinstance(v, float) for v in h[1:])
    assert fastmlp.Optimizer("sgd", momentum=0.5, nesterov=True).kernel_hyper(1).nesterov == 1.0


# -- denormals: every kernel update flushes them (kernels/optimizers.py) ------------------------------

TINY32 = float(np.finfo(np.float32).tiny)  # the smallest normal float32


def _denormal_state(name, hyper, size=64):
    """An optimizer with state slots of denormal float32 values, as long training leaves them under
    gradients that stay 0 (m decays by beta1 a step, v by beta2)."""
    opt = fastmlp.Optimizer(name, **hyper)
    state = opt.new_state(size, np.float32)
    for slot, used in zip(state.slots, _used_slots(name, hyper)):
        if used:
            slot[:size] = np.float32(TINY32 * 0.5)
    return opt, state


@pytest.mark.parametrize("name,hyper", [("adam", {}), ("sgd", dict(momentum=0.9)), ("rmsprop", {}), ("adagrad", {})])
def test_the_kernel_update_flushes_denormal_state_and_leaves_the_thread_as_it_was(name, hyper):
    opt, state = _denormal_state(name, hyper)
    p0 = np.linspace(-1, 1, 64).astype(np.float32)
    p_nb, p_np, s_np = p0.copy(), p0.copy(), opt.new_state(64, np.float32)
    s_np.slots[:] = state.slots
    g = np.zeros(64, np.float32)
    step_numba(opt, p_nb, g, state, 1e-3)
    step_numpy(opt, p_np, g, s_np, 1e-3)
    used = _used_slots(name, hyper)
    for k in range(2):
        if used[k]:  # decayed (or, Adagrad's sum of squares, read as 0): flushed to 0
            assert not state.slots[k].any(), "a denormal state value was kept"
            assert s_np.slots[k].any() and (np.abs(s_np.slots[k]) < TINY32).all()  # the reference keeps them
    np.testing.assert_array_equal(p_nb, p_np)  # their share of the step is below the parameters' rounding
    # the caller's thread computes with denormals again after the call
    assert np.multiply(np.float32(TINY32), np.float32(0.25)) != 0


def test_an_eps_below_the_smallest_normal_float32_keeps_denormals():
    opt, state = _denormal_state("adam", dict(eps=1e-40))
    p = np.ones(64, np.float32)
    step_numba(opt, p, np.zeros(64, np.float32), state, 1e-3)
    m = state.slots[0][:64]
    assert m.all() and (np.abs(m) < TINY32).all()  # beta1 * m: still denormal, not flushed
    np.testing.assert_array_equal(m, np.float32(np.float32(TINY32 * 0.5) * np.float32(0.9)))


# -- descend: SGD with momentum whose gradient product wrote the velocity (kernels/optimizers.py) ---------

@njit
def _coeffs(hyper, step, like):
    return K.optimizers.step_coeffs(hyper, step, like)


@njit
def _descend(p, velocity, c):
    K.optimizers.descend(p, velocity, c)


def test_descend_writes_the_velocities_back_with_weight_decay_or_every_so_many_updates_to_flush_them():
    like = np.zeros(1, np.float32)
    every = K.optimizers.VELOCITY_FLUSH_EVERY
    plain = fastmlp.Optimizer("sgd", momentum=0.9).kernel_hyper(0.1)
    writes = [step for step in range(1, 3 * every + 1) if _coeffs(plain, step, like).write_velocity]
    assert writes == [every, 2 * every, 3 * every]
    decayed = fastmlp.Optimizer("sgd", momentum=0.9, weight_decay=1e-4).kernel_hyper(0.1)
    assert all(_coeffs(decayed, step, like).write_velocity for step in range(1, every + 1))
    # denormals kept (an eps below the smallest normal float32, as the kernels see it): nothing written
    keeps = plain._replace(eps=1e-40)
    assert not any(_coeffs(keeps, step, like).write_velocity for step in range(1, 3 * every + 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_descend_without_weight_decay_gives_the_momentum_update_and_leaves_the_velocity_between_flushes(dtype):
    """The parameters are the same bits whether the velocities are written back or not, and
    p - lr * velocity (momentum_element's, the velocity holding momentum * v + g already); the
    velocity is left as it is, denormals included, except on the flushing updates."""
    rng = np.random.default_rng(0)
    n = 1003
    p0 = rng.normal(size=n).astype(dtype)
    velocity = rng.normal(size=n).astype(dtype)
    velocity[:3] = np.float32(TINY32 * 0.5)  # denormal in float32
    hyper = fastmlp.Optimizer("sgd", momentum=0.9).kernel_hyper(0.05)
    every = K.optimizers.VELOCITY_FLUSH_EVERY
    kept = velocity if dtype == "float64" else np.where(np.abs(velocity) < TINY32, 0, velocity)  # read as 0
    out = {}
    for step in (1, every):
        c = _coeffs(hyper, step, p0)
        p, v = p0.copy(), velocity.copy()
        _descend(p, v, c)
        out[c.write_velocity] = p
        np.testing.assert_array_equal(v, kept if c.write_velocity else velocity)  # flushed / untouched
    np.testing.assert_array_equal(out[False], out[True])
    exact = p0.astype(np.longdouble) - np.longdouble(p0.dtype.type(0.05)) * kept.astype(np.longdouble)
    np.testing.assert_array_max_ulp(out[False], exact.astype(dtype), maxulp=1)  # one rounding (FMA) or two


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_descend_with_weight_decay_adds_it_to_the_velocity_then_steps_by_the_new_velocity(dtype):
    """With weight decay: velocity += wd * p (the p before the step), then p -= lr * velocity (the new one)."""
    rng = np.random.default_rng(1)
    n = 2051
    p0 = rng.normal(size=n).astype(dtype)
    velocity = rng.normal(size=n).astype(dtype)
    hyper = fastmlp.Optimizer("sgd", momentum=0.9, weight_decay=0.25).kernel_hyper(0.05)
    c = _coeffs(hyper, 1, p0)
    p, v = p0.copy(), velocity.copy()
    _descend(p, v, c)
    T, L = p0.dtype.type, np.longdouble
    new_v = (velocity.astype(L) + L(T(0.25)) * p0.astype(L)).astype(dtype)
    np.testing.assert_array_max_ulp(v, new_v, maxulp=1)  # one rounding (FMA) or two
    new_p = (p0.astype(L) - L(T(0.05)) * v.astype(L)).astype(dtype)
    np.testing.assert_array_max_ulp(p, new_p, maxulp=1)


# -- nesterov_descend: Nesterov momentum whose gradient product wrote the velocity ------------------------

@njit
def _nesterov_descend(p, velocity, previous, c):
    K.optimizers.nesterov_descend(p, velocity, previous, c)


@njit
def _keep_velocity(previous, velocity):
    K.optimizers.keep_velocity(previous, velocity)


@pytest.mark.parametrize("weight_decay", [0.0, 0.25], ids=["no_decay", "weight_decay"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nesterov_descend_recovers_the_gradient_from_the_two_velocities(dtype, weight_decay):
    """``keep_velocity`` kept v, the product wrote momentum * v + g into the velocity: p steps by Nesterov's
    g' + momentum * (momentum * v + g'), g' = g + wd p, to the new velocity's rounding (the recovered gradient
    carries it); with weight decay the velocity gets wd * p added (``descend``'s), without it stays as written."""
    rng = np.random.default_rng(2)
    n = 1031
    p0, v0, g = (rng.normal(size=n).astype(dtype) for _ in range(3))
    v0[:5] = 0  # a velocity's first step
    hyper = fastmlp.Optimizer("sgd", momentum=0.9, nesterov=True, weight_decay=weight_decay).kernel_hyper(0.05)
    c = _coeffs(hyper, 1, p0)
    previous = np.full(n, np.nan, dtype)
    _keep_velocity(previous, v0)
    assert previous.tobytes() == v0.tobytes()
    written = (c.momentum * v0 + g).astype(dtype)  # what the product leaves (beta = momentum)
    p, velocity = p0.copy(), written.copy()
    _nesterov_descend(p, velocity, previous, c)
    L = np.longdouble
    mu, lr, wd = L(c.momentum), L(c.lr), L(c.weight_decay)
    g_decayed = g.astype(L) + wd * p0.astype(L)
    new_v = mu * v0.astype(L) + g_decayed
    exact = p0.astype(L) - lr * (g_decayed + mu * new_v)
    eps = L(np.finfo(dtype).eps)
    slack = 4 * eps * (np.abs(exact) + lr * (np.abs(g_decayed) + 2 * np.abs(new_v)))
    assert (np.abs(p.astype(L) - exact) <= slack).all()
    if weight_decay:
        np.testing.assert_array_max_ulp(velocity, (written.astype(L) + wd * p0.astype(L)).astype(dtype), maxulp=1)
    else:
        assert velocity.tobytes() == written.tobytes()
    assert previous.tobytes() == v0.tobytes()  # read only


@pytest.mark.parametrize("batch_size", [1, 4], ids=["online", "mini-batch"])
@pytest.mark.parametrize("name,hyper,steps", [("adam", {}, 800), ("sgd", dict(momentum=0.9), 850)])
def test_training_flushes_the_moments_a_zero_input_leaves_decaying(name, hyper, steps, batch_size):
    """Input 0 is nonzero in the first sample only: the moments (velocities) of its weights then
    decay for ``steps`` steps, into denormals in the reference, to 0 in the kernels. The weights agree."""
    n = steps * batch_size + 1
    rng = np.random.default_rng(0)
    X = rng.random((n, 3)).astype(np.float32)
    X[1:, 0] = 0.0
    y = rng.integers(0, 2, n)
    fitted = {}
    for backend in ("numba", "numpy"):
        m = fastmlp.MLP([3, 4, 2], activation="tanh", dtype="float32", seed=0, backend=backend)
        m.fit(X, y, epochs=1, batch_size=batch_size, shuffle=False, optimizer=name, lr=1e-3, verbose=0, **hyper)
        W0 = m.split(m.params)[0][0]
        first = m.split(m.optimizer_state.slots[0][:m.n_params])[0][0]  # m, or the velocity, of W[0]'s weights
        fitted[backend] = (m.params.copy(), W0[0].copy(), first[0].copy())
    ref_first, nb_first = fitted["numpy"][2], fitted["numba"][2]
    assert ref_first.all() and (np.abs(ref_first) < TINY32).all(), "the reference's moments are not denormal"
    assert not nb_first.any()
    np.testing.assert_allclose(fitted["numba"][0], fitted["numpy"][0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fitted["numba"][1], fitted["numpy"][1], rtol=1e-6)  # input 0's weights: an ulp
