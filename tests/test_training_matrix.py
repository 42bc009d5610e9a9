"""Training equivalence matrix: the three backends TRAIN to the same final weights.

Each case builds one model per backend ('loop', 'numpy', 'numba') from the same
``seed`` (same initial weights), trains it for a few epochs with the same
``fit(seed=...)`` (same shuffles) and compares the final ``params`` (and the
history's loss and lr). Unlike a one-gradient comparison this also covers the
optimizers and their state, the schedules, the batching (partial last batch,
drop_last, batch larger than the data, online, full batch, no shuffle) and the
epoch kernels of numba (online / fused SGD / generic): each case runs with the
kernel numba picks and again with every other kernel that can train it
(``kernels_for``: plain SGD also through the generic kernel, batch 1 also
through the fused one), so the fused and generic kernels are compared over
whole epochs.

Dimensions (``OPTIMIZERS``, ``LOSSES``, ``ACTIVATIONS``, ``NETS``, ``SCHEDULES``,
``GEOMETRIES``, ``RUNS``, ``WEIGHTS``, ``SAMPLINGS``, ``DTYPES``): the full diagonal (every value of every
dimension once, defaults elsewhere, in each dtype) plus ``N_SAMPLED``
combinations drawn with ``random.Random(14)`` at import time, so the test ids
are stable and name every parameter of their case
(dtype-net-activation-loss-optimizer-schedule-geometry-run-weights-sampling, each a
key of the tables below). Size: 74 diagonal cases (37 per dtype) + 90 sampled (50
float64, 40 float32) = 164 three-backend cases (87 float64, 77 float32), run
once per applicable epoch kernel: 236 tests; and 42 NumPy-vs-Numba cases at
online, BLAS and large sizes (3 sizes x 7 optimizers x 2 dtypes), each also
per applicable kernel: 50 tests. 286 tests. The losses include 'multilabel' and
'softmax_mse'; ``WEIGHTS`` trains with sample weights (integers with zeros, or
reals; weighted batch-1 training never uses the online kernel) and ``SAMPLINGS``
with sampling='replacement'.

Tolerances (``assert_allclose`` on the final params, each layer's W and the
history's loss and val_loss; lr must be equal; measured worst gaps in brackets):
- float64: rtol = atol = 1e-10, loop vs numpy and numba vs numpy [9e-16]: the
  same formulas summed in other orders, over at most ~30 steps;
- float32: rtol 1e-4, atol 1e-5 [numba 6e-7, loop 4.5e-7]. numpy and numba
  both compute in float32 but sum in other orders (a few ulps per gradient,
  accumulated over the steps); the loop backend computes each gradient in
  float64 and rounds it once to float32 (its optimizer steps are in float32),
  so it differs from numpy by numpy's float32 rounding, the same order. The
  weights are O(1) and every layer moves by more than 100 * atol, so a wrong
  formula (off by >1e-3) cannot hide in 1e-5;
- online / BLAS / large sizes: float64 rtol 1e-9, atol 1e-12 [1e-15]: BLAS
  blocks sum in other orders than numpy; float32
  rtol 1e-4, atol 1e-5 [3e-7]: sums of 32-512 float32 terms in other orders.
  The adaptive optimizers run there with eps 1e-3: with a tiny eps, float32
  noise on a near-zero gradient entry becomes a step of size ~lr (see
  ``SIZE_OPTIMIZERS``; measured 1.4e-4 between numpy and numba float32).

Every case also checks that the backends really are the three named ones,
that no two models share their parameter buffer, and that every layer's
weights moved by far more than the tolerance (a comparison of untouched
weights could not fail).

Run time (2 shared cores, measured): 8-15 s with a warm numba cache; cold
50-110 s (busy cores at the top end), the epoch kernels (online, fused SGD,
generic) compiling in both dtypes.
"""
import functools
import random

import numpy as np
import pytest
from numpy.testing import assert_allclose

import fastmlp
from fastmlp import MLP
from fastmlp.schedules import make_schedule

# Numba epoch-kernel choices (``model.engine.epoch_kernel``). ``None`` is the backend's own
# choice (online for batch 1 + plain SGD, fused for plain SGD, generic otherwise); a case
# also runs with every other kernel that can train it (``kernels_for``), against the same
# cached references: plain SGD through the generic kernel, and batch 1 through the fused one.
NUMBA_KERNELS = [None, "online", "fused", "generic"]

EPOCHS = 3

# name -> (optimizer, hyperparameters, lr)
OPTIMIZERS = {
    "sgd": ("sgd", {}, 0.1),
    "sgd_mom": ("sgd", dict(momentum=0.9), 0.02),
    "sgd_nesterov": ("sgd", dict(momentum=0.9, nesterov=True), 0.02),
    "sgd_wd": ("sgd", dict(weight_decay=0.05), 0.1),  # momentum 0, weight decay > 0: not the fused path
    "sgd_mom_wd": ("sgd", dict(momentum=0.8, weight_decay=0.05), 0.03),
    "adam": ("adam", {}, 0.02),
    "adam_wd": ("adam", dict(beta1=0.8, beta2=0.99, weight_decay=0.05), 0.02),
    "rmsprop": ("rmsprop", dict(alpha=0.9), 0.01),
    "adagrad_decay": ("adagrad", dict(lr_decay=0.1), 0.1),
}
# name -> (loss, output units, 2-D targets)
LOSSES = {
    "xent": ("cross_entropy", 3, False),
    "mse1": ("mse", 1, False),
    "mse2": ("mse", 2, True),
    "bce": ("bce", 1, False),
    "multilabel": ("multilabel", 3, True),
    "softmax_mse": ("softmax_mse", 3, False),
}
# name -> sample weights: none, integers 0..3 (zeros included: an all-zero batch is skipped), reals
WEIGHTS = {"none": None, "int": "int", "real": "real"}
# name -> fit(sampling=...)
SAMPLINGS = {"epoch": "epoch", "replacement": "replacement"}
# name -> (activation, leaky_slope or None for the default, hidden layers needed or None)
ACTIVATIONS = {
    "identity": ("identity", None, None),
    "tanh": ("tanh", None, None),
    "sigmoid": ("sigmoid", None, None),
    "relu": ("relu", None, None),
    "leaky": ("leaky_relu", None, None),
    "leaky0.2": ("leaky_relu", 0.2, None),
    "mix_tanh_relu": (("tanh", "relu"), None, 2),
    "mix_leaky0.2_sigmoid": (("leaky_relu", "sigmoid"), 0.2, 2),
}
# name -> hidden layers (input 4, output from the loss)
NETS = {"4x5": [4, 5], "4x3x3": [4, 3, 3]}
# name -> (schedule name, keyword arguments)
SCHEDULES = {
    "constant": ("constant", {}),
    "step": ("step", dict(step_size=1, gamma=0.5)),
    "exponential": ("exponential", dict(gamma=0.7)),
    "inverse_time": ("inverse_time", dict(decay_rate=0.5)),
    "cosine": ("cosine", dict(total_epochs=3, min_lr=0.001)),
    "warmup": ("warmup", dict(warmup_epochs=2, after="exponential")),
}
# name -> (n samples, batch_size, shuffle, drop_last)
GEOMETRIES = {
    "partial": (11, 4, True, False),      # 4 + 4 + 3
    "bs_gt_n": (7, 16, True, False),      # one batch of 7
    "online": (7, 1, True, False),        # batch 1: numba's online kernel
    "drop_last": (13, 4, True, True),     # 4 + 4 + 4, the 13th sample skipped
    "full": (10, 10, True, False),        # full batch
    "noshuffle": (11, 4, False, False),
}
# name -> (epochs of each successive fit, validation data given)
RUNS = {
    "one_fit": ((EPOCHS,), False),
    "resumed": ((2, 1), False),  # the optimizer state, schedule and shuffles continue in the second fit
    "validation": ((EPOCHS,), True),  # validation between epochs must not disturb the training buffers
}
DTYPES = ["float64", "float32"]
DIMENSIONS = {"net": NETS, "act": ACTIVATIONS, "loss": LOSSES, "opt": OPTIMIZERS, "sched": SCHEDULES,
              "geom": GEOMETRIES, "run": RUNS, "wts": WEIGHTS, "samp": SAMPLINGS}
DEFAULTS = dict(net="4x5", act="tanh", loss="xent", opt="sgd", sched="constant", geom="partial", run="one_fit",
                wts="none", samp="epoch")
N_SAMPLED = 90

# (rtol, atol) per dtype, for numba vs numpy and loop vs numpy; see the module docstring
TOL = {"float64": (1e-10, 1e-10), "float32": (1e-4, 1e-5)}
SIZE_TOL = {"float64": (1e-9, 1e-12), "float32": (1e-4, 1e-5)}


def _fix(case):
    """Make a case consistent: a per-layer activation list needs as many hidden layers;
    sampling with replacement needs shuffle (the 'noshuffle' geometry keeps epochs)."""
    need = ACTIVATIONS[case["act"]][2]
    if need is not None and len(NETS[case["net"]]) - 1 != need:
        case["net"] = next(k for k, v in NETS.items() if len(v) - 1 == need)
    if case["geom"] == "noshuffle":
        case["samp"] = "epoch"
    return case


def case_id(case):
    return "-".join([case["dtype"].replace("float", "f")] + [case[k] for k in DIMENSIONS])


def _diagonal():
    cases = []
    for dtype in DTYPES:
        cases.append(dict(DEFAULTS, dtype=dtype))
        for dim, values in DIMENSIONS.items():
            for value in values:
                if value != DEFAULTS[dim]:
                    cases.append(_fix(dict(DEFAULTS, dtype=dtype, **{dim: value})))
    return cases


def _sampled(n, seen):
    rnd = random.Random(14)
    cases = []
    while len(cases) < n:
        case = {dim: rnd.choice(sorted(values)) for dim, values in DIMENSIONS.items()}
        case["dtype"] = rnd.choice(DTYPES)
        case = _fix(case)
        if case_id(case) not in seen:
            seen.add(case_id(case))
            cases.append(case)
    return cases


DIAGONAL = _diagonal()
SAMPLED = _sampled(N_SAMPLED, {case_id(c) for c in DIAGONAL})
CASES = DIAGONAL + SAMPLED
assert len({case_id(c) for c in CASES}) == len(CASES)


def _data(layers, loss, n_out_2d, n, seed):
    """X (n, n_in) standard normal and targets for the loss."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, layers[0]))
    if loss in ("cross_entropy", "softmax_mse"):
        y = rng.integers(0, layers[-1], n)
    elif loss == "bce":
        y = rng.integers(0, 2, n).astype(np.float64)
    elif loss == "multilabel":
        y = rng.integers(0, 2, (n, layers[-1]))
    else:
        y = rng.normal(size=(n, layers[-1]))
        if not n_out_2d:
            y = y[:, 0]
    return X, y


def _weights(kind, n, seed):
    """Sample weights of a WEIGHTS kind for n rows (None: unweighted)."""
    rng = np.random.default_rng(seed)
    if kind is None:
        return None
    w = rng.integers(0, 4, n).astype(np.float64) if kind == "int" else rng.uniform(0.1, 3.0, n)
    w[0] = max(w[0], 1.0)  # never all 0
    return w


def kernels_for(opt, batch_size, weighted=False):
    """The NUMBA_KERNELS entries that can train ``opt`` at ``batch_size`` besides the automatic
    choice: fused needs plain SGD, online batch 1, no sample weights and no penalty or clipping
    (none in OPTIMIZERS: every optimizer)."""
    name, hyper, _ = opt
    plain = name == "sgd" and not hyper.get("momentum") and not hyper.get("weight_decay")
    online = batch_size == 1 and not weighted
    auto = "online" if online else "fused" if plain else "generic"
    usable = {"generic": True, "fused": plain, "online": online}
    return [None] + [k for k in NUMBA_KERNELS[1:] if usable[k] and k != auto]


def _spec(case):
    """The full training recipe of a matrix case (the table entries its names point to)."""
    loss, n_out, y_2d = LOSSES[case["loss"]]
    activation, slope, _ = ACTIVATIONS[case["act"]]
    n, batch_size, shuffle, drop_last = GEOMETRIES[case["geom"]]
    fits, validate = RUNS[case["run"]]
    return dict(layers=NETS[case["net"]] + [n_out], activation=activation, leaky_slope=slope, loss=loss,
                y_2d=y_2d, dtype=case["dtype"], optimizer=OPTIMIZERS[case["opt"]], schedule=SCHEDULES[case["sched"]],
                n=n, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, fits=fits, validate=validate,
                weights=WEIGHTS[case.get("wts", "none")], sampling=SAMPLINGS[case.get("samp", "epoch")])


def train(spec, backend, kernel=None):
    """Build the model of a recipe (see ``_spec``) on ``backend`` and train it;
    returns (model, initial params, history)."""
    layers, loss = spec["layers"], spec["loss"]
    opt, hyper, lr = spec["optimizer"]
    sched_name, sched_kw = spec["schedule"]
    X, y = _data(layers, loss, spec["y_2d"], spec["n"], seed=7)
    w = _weights(spec.get("weights"), spec["n"], seed=8)
    # validation rows: every other training row, moved a little (its labels occur in training),
    # with their weights when the training is weighted
    val = ((X[::2] + 0.1, y[::2]) + (() if w is None else (w[::2],))) if spec["validate"] else None
    extra = {} if spec["leaky_slope"] is None else {"leaky_slope": spec["leaky_slope"]}
    # glorot_normal weights and biases keep every unit in its active range, so each
    # activation's branches (relu's both sides, sigmoid's curve) are all exercised.
    model = MLP(layers, activation=spec["activation"], loss=loss, init="glorot_normal", bias_init="glorot_normal",
                dtype=spec["dtype"], backend=backend, seed=3, **extra)
    if kernel is not None:
        assert backend == "numba", "a kernel choice applies to the numba backend only"
        model.engine.epoch_kernel = kernel
    init = model.params.copy()
    for epochs in spec["fits"]:
        model.fit(X, y, epochs=epochs, batch_size=spec["batch_size"], lr=lr, optimizer=fastmlp.Optimizer(opt, **hyper),
                  schedule=make_schedule(sched_name, **sched_kw), shuffle=spec["shuffle"],
                  drop_last=spec["drop_last"], seed=5, validation_data=val, verbose=0, sample_weight=w,
                  sampling=spec.get("sampling", "epoch"))
    return model, init, model.history


@functools.cache
def _reference(key):
    """The loop and numpy runs of a case, computed once whatever NUMBA_KERNELS holds."""
    case = CASES_BY_ID[key]
    return {name: train(_spec(case), name) for name in ("loop", "numpy")}


CASES_BY_ID = {case_id(c): c for c in CASES}


def _check_moved(init, model, atol):
    """Every layer's weights moved by far more than the tolerance (else comparing them proves nothing)."""
    for l, ((W0, _), W1) in enumerate(zip(model.split(init), model.W)):
        moved = np.abs(W1 - W0).max()
        assert moved > 100 * atol, f"layer {l} weights moved only {moved:.3g}"


def _check_same(ref, got, rtol, atol, what):
    (m_ref, _, h_ref), (m_got, _, h_got) = ref, got
    assert m_got.params.dtype == m_ref.params.dtype == np.dtype(m_ref.dtype)
    assert_allclose(m_got.params, m_ref.params, rtol=rtol, atol=atol, err_msg=f"final params, {what}")
    for l, (W_ref, W_got) in enumerate(zip(m_ref.W, m_got.W)):
        assert_allclose(W_got, W_ref, rtol=rtol, atol=atol, err_msg=f"final W[{l}], {what}")
    assert len(h_got) == len(h_ref) == len(h_ref.rows)
    for key in ("loss", "val_loss"):  # val_loss: NaN in both without validation data
        assert_allclose(h_got[key], h_ref[key], rtol=rtol, atol=atol, err_msg=f"history {key}, {what}")
    assert h_got["lr"] == h_ref["lr"], what


@pytest.mark.parametrize("key,kernel", [(case_id(c), k) for c in CASES
                                        for k in kernels_for(OPTIMIZERS[c["opt"]], GEOMETRIES[c["geom"]][1],
                                                             WEIGHTS[c["wts"]] is not None)],
                         ids=lambda v: v if isinstance(v, str) and "-" in v else f"kernel={v or 'auto'}")
def test_backends_train_to_the_same_weights(key, kernel):
    case = CASES_BY_ID[key]
    rtol, atol = TOL[case["dtype"]]
    runs = dict(_reference(key))
    runs["numba"] = train(_spec(case), "numba", kernel)
    assert [runs[b][0].backend for b in ("loop", "numpy", "numba")] == ["loop", "numpy", "numba"]
    models = [r[0] for r in runs.values()]
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            assert not np.shares_memory(a.params, b.params)
    for name, (model, init, history) in runs.items():
        assert len(history) == EPOCHS and not history.diverged, name
        assert np.isfinite(history["val_loss"]).all() == RUNS[case["run"]][1], name
        assert np.array_equal(init, runs["numpy"][1]), f"{name}: another initialisation"
        _check_moved(init, model, atol)
    _check_same(runs["numpy"], runs["numba"], rtol, atol, f"numba vs numpy, {key}")
    _check_same(runs["numpy"], runs["loop"], rtol, atol, f"loop vs numpy, {key}")


# -- NumPy vs Numba where the numba kernels switch to BLAS and to long passes------------------------
# online: numba's online kernel (any optimizer) and the generic one with one row per batch, through
# layers whose products reach the BLAS size (1 x 64 x 96 = 6144).
# blas: every product has m*k*n >= 4096 (32 x 32 x 64 ...) and >= 8 rows, with a partial last batch.
# large: n_params = 133898 and batch * width = 512 * 256 = 131072 (long update and column-sum
# passes), then a partial last batch of 488 rows.
SIZES = {
    "online": dict(layers=[64, 96, 10], activation="sigmoid", n=24, batch_size=1),
    "blas": dict(layers=[32, 64, 48, 5], activation="tanh", n=80, batch_size=32),
    "large": dict(layers=[512, 256, 10], activation="relu", n=1000, batch_size=512),
}
# The adaptive optimizers run with eps = 1e-3 here, about the typical gradient entry. They divide
# by sqrt(v) + eps: with the default eps (1e-8, 1e-10) an entry whose gradient cancels to ~0 has
# its float32 rounding noise normalised into a step of size ~lr, even its sign flipped. Measured on
# 'large' at lr 0.002-0.02: numpy and numba float32 each 1e-4 to 3e-3 away from float64 on such
# an element, 1.4e-4 apart from each other (not a bug: float64 numba = numpy to 1e-12). With
# eps 1e-3 small entries take small steps and float32 numba = numpy to 3e-7 over 4 data seeds.
SIZE_OPTIMIZERS = {
    "sgd": OPTIMIZERS["sgd"], "sgd_wd": OPTIMIZERS["sgd_wd"], "sgd_mom": OPTIMIZERS["sgd_mom"],
    "sgd_nesterov": OPTIMIZERS["sgd_nesterov"],
    # decoupled decay keeps Nesterov off the path whose gradient goes into the velocity (it does not decay)
    "sgd_nesterov_dwd": ("sgd", dict(momentum=0.9, nesterov=True, decoupled_weight_decay=0.1), 0.02),
    "adam_wd": ("adam", dict(weight_decay=0.05, eps=1e-3), 0.01),
    "rmsprop": ("rmsprop", dict(alpha=0.9, eps=1e-3), 0.003),
    "adagrad_decay": ("adagrad", dict(lr_decay=0.1, eps=1e-3), 0.03),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,opt,kernel", [(size, opt, k) for size in sorted(SIZES) for opt in sorted(SIZE_OPTIMIZERS)
                                             for k in kernels_for(SIZE_OPTIMIZERS[opt], SIZES[size]["batch_size"])],
                         ids=lambda v: f"kernel={v or 'auto'}" if v is None or v in NUMBA_KERNELS else str(v))
def test_numpy_and_numba_agree_at_online_blas_and_large_sizes(size, opt, dtype, kernel):
    spec = dict(SIZES[size], leaky_slope=None, loss="cross_entropy", y_2d=False, dtype=dtype,
                optimizer=SIZE_OPTIMIZERS[opt], schedule=SCHEDULES["constant"], shuffle=True, drop_last=False,
                fits=(2,), validate=False)
    runs = {"numpy": train(spec, "numpy"), "numba": train(spec, "numba", kernel)}
    assert runs["numba"][0].backend == "numba" and runs["numpy"][0].backend == "numpy"
    assert not np.shares_memory(runs["numba"][0].params, runs["numpy"][0].params)
    rtol, atol = SIZE_TOL[dtype]
    for model, init, history in runs.values():
        assert len(history) == 2 and not history.diverged
        _check_moved(init, model, atol)
    _check_same(runs["numpy"], runs["numba"], rtol, atol, f"numba vs numpy, {size}-{opt}-{dtype}")
