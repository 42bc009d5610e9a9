"""Penalties and decoupled weight decay: ``l2`` (scikit-learn's ``alpha``), ``l1``,
``decoupled_weight_decay`` and the 'adamw' optimizer; and, for every option (clipping too,
see tests/test_clipping.py for its formulas), the three backends' agreement.

- The loop, NumPy and Numba backends train to the same weights and report the same loss
  (float64, 1e-10) for each option with every optimizer, at batch 1 and at a batch that
  leaves a partial last batch, on odd shapes; the option changes the result.
- One step by hand for each formula, in every backend: the gradient of ``MLP.loss_and_grad``
  plus the penalty (weights only), the reported loss plus the penalty, p * (1 - lr * wd).
- 'adamw' equals torch.optim.AdamW over several steps (kernel and NumPy reference).
- The scikit-learn wrapper's ``alpha`` gives scikit-learn's own weights and loss curve.
- Bad values are refused and leave the model as it was; the numba paths allocate nothing
  per batch.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastmlp
from fastmlp import MLP
from test_epoch_allocations import _one_and_hundred, _setup, nrt_stats  # noqa: F401  (nrt_stats: autouse fixture)
from test_optimizers import STEPS, _problem, _run, step_numba, step_numpy

BACKENDS = ["loop", "numpy", "numba"]
TOL = dict(rtol=1e-10, atol=1e-10)

# name -> (optimizer, its own hyperparameters, lr)
OPTIMIZERS = {
    "sgd": ("sgd", {}, 0.1),
    "momentum": ("sgd", dict(momentum=0.9), 0.03),
    "nesterov": ("sgd", dict(momentum=0.9, nesterov=True), 0.03),
    "adam": ("adam", {}, 0.01),
    "adamw": ("adamw", {}, 0.01),
    "rmsprop": ("rmsprop", dict(eps=1e-3), 0.01),
    "adagrad": ("adagrad", dict(lr_decay=0.01), 0.05),
}
# name -> the penalties and clipping under test
OPTIONS = {
    "l2": dict(l2=0.3),
    "l1": dict(l1=0.02),
    "decoupled": dict(decoupled_weight_decay=0.5),
    "clip_value": dict(clip_value=0.02),
    "clip_norm": dict(clip_norm=0.05),
    "all": dict(l2=0.2, l1=0.01, decoupled_weight_decay=0.3, clip_value=0.05, clip_norm=0.08, ),
}
# batch size -> (layers, loss): batch 1 on a regression net, 7 (30 rows: a partial last batch) on a classifier
SHAPES = {1: ([3, 6, 2], "mse"), 7: ([5, 7, 4, 3], "cross_entropy")}


def data(layers, loss, n, seed=0, scale=1.0):
    """Inputs N(0, 1) and targets: class ids, or N(0, scale^2) regression targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layers[0]))
    if loss == "cross_entropy":
        return X, rng.integers(0, layers[-1], n)
    if loss == "bce":
        return X, rng.integers(0, 2, n)
    return X, rng.normal(size=(n, layers[-1])) * scale


def train(backend, optimizer, hyper, lr, batch_size, layers, loss, epochs=2, n=30, dtype="float64", seed=3):
    X, y = data(layers, loss, n, seed=len(layers))
    model = MLP(layers, activation="tanh", loss=loss, dtype=dtype, seed=seed, backend=backend)
    history = model.fit(X, y, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=1, verbose=0,
                        **hyper)
    assert not history.diverged
    return model, [row["loss"] for row in history.rows]


def weight_mask(model):
    """True where the params layout holds a weight (not a bias)."""
    mask = np.zeros(model.n_params, bool)
    for W, _ in model.split(mask):
        W[...] = True
    return mask


@pytest.mark.parametrize("batch_size", sorted(SHAPES))
@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_backends_agree_in_float64(opt, option, batch_size):
    name, own, lr = OPTIMIZERS[opt]
    layers, loss = SHAPES[batch_size]
    runs = {b: train(b, name, dict(own, **OPTIONS[option]), lr, batch_size, layers, loss) for b in BACKENDS}
    ref_params, ref_loss = runs["numpy"][0].params, runs["numpy"][1]
    for backend in ("loop", "numba"):
        assert_allclose(runs[backend][0].params, ref_params, **TOL, err_msg=backend)
        assert_allclose(runs[backend][1], ref_loss, **TOL, err_msg=backend)
    online = batch_size == 1 and option == "decoupled"  # the online kernel applies the decoupled decay itself
    assert runs["numba"][0].engine.choose_epoch_kernel(fastmlp.Optimizer(name, **own, **OPTIONS[option]),
                                                       batch_size) == ("online" if online else "generic")
    without, _ = train("numpy", name, own, lr, batch_size, layers, loss)
    assert np.abs(without.params - ref_params).max() > 1e-6  # the option changed the training
    start = MLP(layers, activation="tanh", loss=loss, dtype="float64", seed=3).params
    for (W, _), (W0, _) in zip(runs["numba"][0].split(ref_params), runs["numba"][0].split(start)):
        assert np.abs(W - W0).max() > 1e-4  # every layer trained


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_numba_agrees_with_numpy_in_float32_with_every_option(opt):
    name, own, lr = OPTIMIZERS[opt]
    hyper = dict(own, **OPTIONS["all"])
    a, la = train("numba", name, hyper, lr, 7, [5, 7, 4, 3], "cross_entropy", dtype="float32")
    b, lb = train("numpy", name, hyper, lr, 7, [5, 7, 4, 3], "cross_entropy", dtype="float32")
    assert a.params.dtype == np.float32
    assert_allclose(a.params, b.params, rtol=1e-4, atol=1e-5)
    assert_allclose(la, lb, rtol=1e-5)


def one_step(backend, optimizer="sgd", lr=0.1, layers=(5, 7, 4, 3), loss="cross_entropy", n=10, scale=1.0,
             zero_some=False, **hyper):
    """One full-batch step: (model after it, params before, data gradient and loss before, reported loss)."""
    X, y = data(layers, loss, n, seed=2, scale=scale)
    model = MLP(list(layers), activation="tanh", loss=loss, dtype="float64", seed=4, backend=backend)
    if zero_some:  # exact zeros: sign(0) = 0 in the L1 subgradient
        p = model.params.copy()
        p[::5] = 0.0
        model.set_params(p)
    p0 = model.params.copy()
    loss0, g = model.loss_and_grad(X, y)
    history = model.fit(X, y, epochs=1, batch_size=n, lr=lr, optimizer=optimizer, shuffle=False, verbose=0, **hyper)
    assert model.optimizer_state.step == 1
    return model, p0, g, loss0, history.rows[-1]["loss"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_l2_is_scikit_learns_alpha_by_hand(backend):
    l2, lr, n = 0.7, 0.1, 10
    model, p0, g, loss0, reported = one_step(backend, l2=l2, lr=lr, n=n)
    w = weight_mask(model)
    expected = p0 - lr * (g + np.where(w, l2 * p0 / n, 0.0))  # weights only, divided by the batch size
    assert_allclose(model.params, expected, **TOL)
    assert_allclose(reported, loss0 + 0.5 * l2 * np.sum(p0[w] ** 2) / n, **TOL)
    assert_allclose(model.params[~w], p0[~w] - lr * g[~w], **TOL)  # biases: the data gradient alone


@pytest.mark.parametrize("backend", BACKENDS)
def test_l1_by_hand(backend):
    l1, lr = 0.05, 0.1
    model, p0, g, loss0, reported = one_step(backend, l1=l1, lr=lr, zero_some=True)
    w = weight_mask(model)
    assert (p0[w] == 0).sum() > 3
    expected = p0 - lr * (g + np.where(w, l1 * np.sign(p0), 0.0))  # sign(0) = 0; not divided by the batch size
    assert_allclose(model.params, expected, **TOL)
    assert_allclose(reported, loss0 + l1 * np.abs(p0[w]).sum(), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoupled_weight_decay_by_hand(backend):
    wd, lr = 0.4, 0.1
    model, p0, g, loss0, reported = one_step(backend, decoupled_weight_decay=wd, lr=lr)
    assert_allclose(model.params, p0 * (1 - lr * wd) - lr * g, **TOL)  # every parameter, biases too
    assert reported == pytest.approx(loss0, rel=1e-12)  # no penalty in the loss
    # adamw's first step: p (1 - lr wd) - lr g / (|g| + eps)
    model, p0, g, _, _ = one_step(backend, optimizer="adamw", lr=lr)
    assert_allclose(model.params, p0 * (1 - lr * 0.01) - lr * g / (np.abs(g) + 1e-8), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_penalties_and_coupled_weight_decay_add_up(backend):
    l2, l1, wd, dwd, lr, n = 0.3, 0.02, 0.05, 0.2, 0.1, 10
    model, p0, g, loss0, reported = one_step(backend, l2=l2, l1=l1, weight_decay=wd, decoupled_weight_decay=dwd, lr=lr,
                                             n=n)
    w = weight_mask(model)
    g = g + np.where(w, l2 * p0 / n + l1 * np.sign(p0), 0.0)
    shrunk = p0 * (1 - lr * dwd)  # decoupled first; the coupled decay sees the shrunk weights
    assert_allclose(model.params, shrunk - lr * (g + wd * shrunk), **TOL)
    assert_allclose(reported, loss0 + 0.5 * l2 * np.sum(p0[w] ** 2) / n + l1 * np.abs(p0[w]).sum(), **TOL)


@pytest.mark.parametrize("wd", [None, 0.05])
def test_adamw_matches_torch(wd):
    torch = pytest.importorskip("torch")
    p0, grads = _problem(300, "float64", seed=2)
    lr = 0.01
    param = torch.nn.Parameter(torch.tensor(p0.copy()))
    topt = torch.optim.AdamW([param], lr=lr) if wd is None else torch.optim.AdamW([param], lr=lr, weight_decay=wd)
    for g in grads:
        param.grad = torch.tensor(g)
        topt.step()
    expected = param.detach().numpy()
    opt = fastmlp.Optimizer("adamw") if wd is None else fastmlp.Optimizer("adamw", decoupled_weight_decay=wd)
    same = fastmlp.Optimizer("adam", decoupled_weight_decay=0.01 if wd is None else wd)
    for o in (opt, same):
        for step in (step_numba, step_numpy):
            p, state = _run(o, p0, grads, [lr] * STEPS, step)
            assert_allclose(p, expected, rtol=1e-10, atol=1e-12, err_msg=f"{o} {step.__name__}")
            assert state.step == STEPS and state.m.any() and state.v.any()
    assert not np.allclose(expected, _run(fastmlp.Optimizer("adam"), p0, grads, [lr] * STEPS, step_numpy)[0])


def test_adamw_defaults_and_names():
    opt = fastmlp.Optimizer("adamw")
    assert opt.hyper["decoupled_weight_decay"] == 0.01 and "weight_decay" not in opt.hyper
    assert fastmlp.Optimizer("adam").hyper["decoupled_weight_decay"] == 0.0
    assert opt.new_state(4, np.float64).m.shape == (4,)
    with pytest.raises(ValueError, match=r"optimizer 'adamw' has no parameter\(s\) \['weight_decay'\]; .*adamw's "
                                         r"weight decay is decoupled_weight_decay"):
        fastmlp.Optimizer("adamw", weight_decay=0.01)


def test_options_are_saved_with_the_optimizer_state(tmp_path):
    X, y = data([4, 5, 3], "cross_entropy", 20)
    model = MLP([4, 5, 3], dtype="float64", seed=0)
    model.fit(X, y, epochs=1, batch_size=5, optimizer="adamw", l2=1e-3, l1=1e-4, clip_norm=2.0, verbose=0)
    loaded = fastmlp.MLP.load(model.save(tmp_path / "m"))
    assert loaded.optimizer_state.hyper == model.optimizer_state.hyper
    assert loaded.optimizer_state.hyper["clip_norm"] == 2.0 and loaded.optimizer_state.hyper["clip_value"] is None
    a, b = model.copy(), loaded
    for m in (a, b):  # a later fit with the same options resumes the state
        m.fit(X, y, epochs=1, batch_size=5, optimizer="adamw", l2=1e-3, l1=1e-4, clip_norm=2.0, seed=0, verbose=0)
    assert_allclose(a.params, b.params, rtol=0, atol=0)
    assert a.optimizer_state.step == 2 * 4


@pytest.mark.parametrize("batch_size", [30, 7])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sklearn_alpha_gives_scikit_learns_weights_and_loss(backend, batch_size):
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from fastmlp.sklearn import MLPClassifier
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    kw = dict(hidden_layer_sizes=(6,), activation="tanh", solver="sgd", alpha=0.5, batch_size=batch_size,
              learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False, shuffle=False, random_state=0)
    sk = SkMLPClassifier(**kw).partial_fit(X, y, classes=[0, 1, 2])
    ours = MLPClassifier(**kw, dtype="float64", backend=backend).partial_fit(X, y, classes=[0, 1, 2])
    for l, (W, b) in enumerate(zip(sk.coefs_, sk.intercepts_)):
        ours.model_.set_layer(l, W=W, b=b)
    for _ in range(2):
        sk.partial_fit(X, y)
        ours.partial_fit(X, y)
        for a, b in zip(ours.coefs_ + ours.intercepts_, sk.coefs_ + sk.intercepts_):
            assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        assert ours.loss_curve_[-1] == pytest.approx(sk.loss_curve_[-1], rel=1e-10)
    assert ours.model_.optimizer_state.hyper["l2"] == 0.5


BAD = [
    (dict(l2=-0.1), ValueError, "l2 must be"),
    (dict(l2=float("nan")), ValueError, "l2 must be"),
    (dict(l1="0.1"), TypeError, "l1 must be"),
    (dict(l1=float("inf")), ValueError, "l1 must be"),
    (dict(decoupled_weight_decay=-1), ValueError, "decoupled_weight_decay must be"),
    (dict(clip_norm=0), ValueError, "clip_norm must be a positive finite number"),
    (dict(clip_norm=-1.0), ValueError, "clip_norm must be a positive finite number"),
    (dict(clip_value=float("inf")), ValueError, "clip_value must be a positive finite number"),
    (dict(clip_value=True), TypeError, "clip_value must be"),
    (dict(optimizer="adamw", weight_decay=0.1), ValueError, "decoupled_weight_decay"),
    (dict(alpha=1e-4), ValueError, r"optimizer 'sgd' has no parameter\(s\) \['alpha'\].*alpha is l2 here"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs,exc,match", BAD, ids=[m for _, _, m in BAD])
def test_bad_values_are_refused_and_change_nothing(kwargs, exc, match, backend):
    X, y = data([4, 5, 3], "cross_entropy", 20)
    model = MLP([4, 5, 3], dtype="float64", seed=0, backend=backend)
    model.fit(X, y, epochs=1, batch_size=5, optimizer="adam", l2=0.1, verbose=0)
    params, state, n_hist = model.params.copy(), model.optimizer_state.copy(), len(model.history)
    kwargs = dict(kwargs)
    with pytest.raises(exc, match=match):
        model.fit(X, y, epochs=1, batch_size=5, optimizer=kwargs.pop("optimizer", "sgd"), verbose=0, **kwargs)
    assert np.array_equal(model.params, params) and len(model.history) == n_hist
    assert model.optimizer_state.name == "adam" and model.optimizer_state.step == state.step
    assert np.array_equal(model.optimizer_state.slots, state.slots)


@pytest.mark.parametrize("hyper", [dict(l2=1e-3), dict(clip_value=1.0), dict(clip_norm=1.0),
                                   dict(decoupled_weight_decay=1e-3), dict(l1=1e-3)])
@pytest.mark.parametrize("kernel,batch", [("fused", 8), ("online", 1)])
def test_plain_sgd_kernels_are_not_chosen_and_cannot_be_forced(hyper, kernel, batch):
    """'fused' trains plain SGD only; 'online' any optimizer with decoupled weight decay (an
    element-wise shrink it applies in its pass), but no penalty or clipping."""
    opt = fastmlp.Optimizer("sgd", **hyper)
    assert not opt.is_plain_sgd and opt.regularises
    model = MLP([4, 5, 3], dtype="float64", seed=0)
    online_takes_it = kernel == "online" and "decoupled_weight_decay" in hyper
    assert model.engine.choose_epoch_kernel(opt, batch) == ("online" if online_takes_it else "generic")
    model.engine.epoch_kernel = kernel
    if online_takes_it:
        assert model.engine.choose_epoch_kernel(opt, batch) == "online"
        return
    match = "'fused' trains plain SGD only .*no penalty or clipping" if kernel == "fused" else (
        "'online' trains no penalty or clipping")
    with pytest.raises(ValueError, match=match):
        model.engine.choose_epoch_kernel(opt, batch)


@pytest.mark.parametrize("loss,dtype,optimizer,hyper,batch", [
    ("cross_entropy", "float32", "sgd", dict(l2=1e-3), 8),
    ("cross_entropy", "float64", "sgd", dict(l1=1e-3, clip_value=0.5), 8),
    ("mse", "float32", "adamw", {}, 8),
    ("cross_entropy", "float64", "sgd", dict(clip_norm=0.5), 8),
    ("bce", "float32", "adam", dict(clip_norm=0.5, l2=1e-3), 8),
    ("cross_entropy", "float64", "rmsprop", OPTIONS["all"], 8),
    ("mse", "float64", "sgd", dict(clip_norm=0.5, l1=1e-4), 1),
    ("cross_entropy", "float32", "sgd", dict(decoupled_weight_decay=1e-3), 1),
])
def test_no_allocation_per_batch_on_the_new_paths(loss, dtype, optimizer, hyper, batch):
    model, opt, state, data_ = _setup(loss, dtype, optimizer, hyper, "generic", batch)
    d1, d100 = _one_and_hundred(model, opt, state, data_)
    assert d1 == d100
    assert d1["alloc"] == d1["free"] and d1["mi_alloc"] == d1["mi_free"]
    assert np.isfinite(model.params).all()


@pytest.mark.parametrize("hyper,error", [
    (dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0), None),  # a file written before these options
    (dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, clip_norm=-1.0), "clip_norm must be"),
    (dict(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, l2="big"), "l2 must be"),
])
def test_model_files_with_and_without_the_options(tmp_path, hyper, error):
    from hostile import model_members, model_meta, model_zip, npy
    params = np.linspace(-1, 1, 3 * 2 + 2).astype(np.float32)
    members = model_members(model_meta([3, 2], optimizer={"name": "adam", "hyper": hyper}, optimizer_step=3), params)
    members.update(opt_s1=npy(params * 0.1), opt_s2=npy(params * params))
    path = model_zip(tmp_path / "m.npz", members)
    if error:
        with pytest.raises(fastmlp.ModelFormatError, match=error):
            fastmlp.load(path)
        return
    model = fastmlp.load(path)
    assert model.optimizer_state.hyper == fastmlp.Optimizer("adam").hyper  # the options off, as they were
    assert model.optimizer_state.step == 3 and np.array_equal(model.optimizer_state.v, params * params)


@pytest.mark.parametrize("opt", ["momentum", "adamw", "rmsprop"])
def test_numba_agrees_with_numpy_at_large_sizes(opt):
    """A first layer of 300 x 450 weights: long update and column-sum passes, the products in BLAS."""
    name, own, lr = OPTIMIZERS[opt]
    layers = [300, 450, 3]
    assert layers[0] * layers[1] > 1 << 17
    hyper = dict(own, **OPTIONS["all"])
    a, la = train("numba", name, hyper, lr * 0.1, 64, layers, "cross_entropy", n=300)
    b, lb = train("numpy", name, hyper, lr * 0.1, 64, layers, "cross_entropy", n=300)
    assert_allclose(a.params, b.params, rtol=1e-9, atol=1e-12)
    assert_allclose(la, lb, rtol=1e-10)
