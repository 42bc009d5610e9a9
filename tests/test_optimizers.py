"""Optimizers: the numba kernel agrees with the NumPy reference, and both with torch.optim."""
import numpy as np
import pytest

import fastmlp
from fastmlp.kernels.config import PARALLEL_MIN_WORK
from fastmlp.optimizers import make_optimizer

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


def _run(opt, p0, grads, lrs, method):
    p = p0.copy()
    state = opt.new_state(p.size, p.dtype)
    for g, lr in zip(grads, lrs):
        getattr(opt, method)(p, g, state, lr)
    return p, state


@pytest.mark.parametrize("size", [1000, PARALLEL_MIN_WORK + 7], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,hyper,lr", CONFIGS, ids=IDS)
def test_numba_kernel_matches_numpy_reference(name, hyper, lr, dtype, size):
    opt = fastmlp.Optimizer(name, **hyper)
    p0, grads = _problem(size, dtype)
    lrs = [lr * (1 - 0.05 * k) for k in range(STEPS)]  # the lr may change between steps
    p_nb, s_nb = _run(opt, p0, grads, lrs, "step_numba")
    p_np, s_np = _run(opt, p0, grads, lrs, "step_numpy")
    rtol = 1e-5 if dtype == "float32" else 1e-12  # a few ulps after 12 steps (FMA contraction)
    assert p_nb.dtype == p_np.dtype == np.dtype(dtype)
    for a, b in ((p_nb, p_np), (s_nb["s1"], s_np["s1"]), (s_nb["s2"], s_np["s2"])):
        # absolute slack relative to the buffer's scale: cancellation may leave values near 0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    assert s_nb["t"] == s_np["t"] == STEPS
    assert not np.allclose(p_nb, p0)


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
    for method in ("step_numba", "step_numpy"):
        p, _ = _run(opt, p0, grads, [lr] * STEPS, method)
        np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-12, err_msg=method)


def test_defaults_and_repr():
    opt = fastmlp.Optimizer("adam")
    assert opt.hyper == dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    assert "Optimizer('adam'" in repr(opt)
    assert make_optimizer(opt) is opt
    with pytest.raises(ValueError, match="not both"):
        make_optimizer(opt, beta1=0.5)


def test_nesterov_is_stored_as_a_plain_bool():
    opt = fastmlp.Optimizer("sgd", momentum=0.5, nesterov=np.bool_(True))
    assert opt.hyper["nesterov"] is True


@pytest.mark.parametrize("name,hyper,match", [
    (None, {}, r"optimizer must be one of \['adagrad', 'adam', 'rmsprop', 'sgd'\] \(a str\); got NoneType None"),
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
