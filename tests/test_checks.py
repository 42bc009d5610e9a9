"""fastmlp.checks: each check, and the one policy at the public entry points.

The policy: a wrong type raises TypeError, a wrong value ValueError, and the
message names the argument, what was expected and what was got.
"""
import numpy as np
import pytest

from fastmlp import MLP, EarlyStopping, History, Optimizer, gradcheck, load, numerical_gradient, save
from fastmlp import checks as C
from fastmlp.datasets import (Standardizer, blobs, circles, grid, load_dataset, mnist, moons, one_hot, spirals,
                              split_indices, write_idx, xor)
from fastmlp.demo import run_demo
from fastmlp.experiments import box_network, count_forward_passes, gradient_cost, signal_propagation
from fastmlp.progress import Progress
from fastmlp.schedules import CosineDecay, ReduceOnPlateau, StepDecay, make_schedule
from fastmlp.sweep import sweep


# -- check_int / check_positive_int -------------------------------------------------------------
@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_int_accepts_python_and_numpy_integers(value):
    out = C.check_int(value, "n")
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, False, np.True_, 3.0, 2.5, "3", None, [3]])
def test_check_int_refuses_other_types_with_type_error(value):
    with pytest.raises(TypeError, match=rf"^n must be an integer; got {type(value).__name__} "):
        C.check_int(value, "n")


@pytest.mark.parametrize("value,low,high,match", [
    (0, 1, None, r"^n must be an integer >= 1; got 0$"),
    (11, None, 10, r"^n must be an integer <= 10; got 11$"),
    (-1, 0, 5, r"^n must be an integer in \[0, 5\]; got -1$"),
    (6, 0, 5, r"^n must be an integer in \[0, 5\]; got 6$"),
])
def test_check_int_bounds_are_inclusive_and_refused_with_value_error(value, low, high, match):
    assert C.check_int(low if low is not None else high, "n", low, high) == (low if low is not None else high)
    with pytest.raises(ValueError, match=match):
        C.check_int(value, "n", low, high)


def test_check_positive_int():
    assert C.check_positive_int(1, "epochs") == 1
    with pytest.raises(ValueError, match=r"^epochs must be a positive integer; got 0$"):
        C.check_positive_int(0, "epochs")
    with pytest.raises(TypeError, match=r"^epochs must be a positive integer; got float 2.0$"):
        C.check_positive_int(2.0, "epochs")
    with pytest.raises(TypeError, match=r"^epochs must be a positive integer; got bool True$"):
        C.check_positive_int(True, "epochs")


# -- check_real / check_positive_float ----------------------------------------------------------
@pytest.mark.parametrize("value", [1, 0.5, np.float32(0.5), np.int16(2)])
def test_check_real_accepts_numbers_and_returns_a_float(value):
    out = C.check_real(value, "x")
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("value", [True, np.False_, "0.5", None, 1j, [0.5]])
def test_check_real_refuses_other_types_with_type_error(value):
    with pytest.raises(TypeError, match=r"^x must be a finite number; got "):
        C.check_real(value, "x")


@pytest.mark.parametrize("kw,value,match", [
    ({}, float("nan"), r"^x must be a finite number; got nan$"),
    ({}, float("inf"), r"^x must be a finite number; got inf$"),
    ({"finite": False}, float("nan"), r"^x must be a number; got nan$"),
    ({"low": 0}, -0.1, r"^x must be a finite number >= 0; got -0.1$"),
    ({"low": 0, "low_open": True}, 0.0, r"^x must be a finite number > 0; got 0.0$"),
    ({"high": 1, "high_open": True}, 1.0, r"^x must be a finite number < 1; got 1.0$"),
    ({"low": 0, "high": 1}, 1.5, r"^x must be a finite number in \[0, 1\]; got 1.5$"),
    ({"low": 0, "high": 1, "low_open": True, "high_open": True}, 0, r"^x must be a finite number in \(0, 1\); got 0$"),
    ({}, 10 ** 400, r"^x must be a finite number; got 1000"),
])
def test_check_real_values_are_refused_with_value_error(kw, value, match):
    with pytest.raises(ValueError, match=match):
        C.check_real(value, "x", **kw)


def test_check_real_bounds_and_infinity():
    assert C.check_real(0, "x", low=0) == 0.0 and C.check_real(1, "x", high=1) == 1.0
    assert C.check_real(float("inf"), "x", low=0, finite=False) == float("inf")


def test_check_positive_float():
    assert C.check_positive_float(1e-9, "lr") == 1e-9
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^lr must be a positive finite number; got "):
            C.check_positive_float(bad, "lr")
    with pytest.raises(TypeError, match=r"^lr must be a positive finite number; got str '0.1'$"):
        C.check_positive_float("0.1", "lr")


# -- check_bool, check_choice, check_type, check_callable, check_path, check_pair ----------------
def test_check_bool():
    assert C.check_bool(True, "shuffle") is True
    assert C.check_bool(np.False_, "shuffle") is False
    for bad in (1, 0, None, "True", 1.0):
        with pytest.raises(TypeError, match=rf"^shuffle must be True or False; got {type(bad).__name__} "):
            C.check_bool(bad, "shuffle")


def test_check_choice():
    assert C.check_choice("adam", "optimizer", ["sgd", "adam"]) == "adam"
    assert C.check_choice("sgd", "optimizer", {"sgd": 1}) == "sgd"
    with pytest.raises(ValueError, match=r"^unknown optimizer 'adamw'; expected one of \['sgd', 'adam'\]$"):
        C.check_choice("adamw", "optimizer", ["sgd", "adam"])
    with pytest.raises(TypeError, match=r"^optimizer must be one of \['sgd', 'adam'\] \(a str\); got NoneType None$"):
        C.check_choice(None, "optimizer", ["sgd", "adam"])
    assert C.check_choice(np.int64(2), "verbose", (0, 1, 2)) == 2 and C.check_choice(True, "verbose", (0, 1, 2))
    with pytest.raises(ValueError, match=r"^unknown verbose 3; expected one of \[0, 1, 2\]$"):
        C.check_choice(3, "verbose", (0, 1, 2))
    with pytest.raises(TypeError, match=r"^verbose must be one of \[0, 1, 2\] \(an integer\); got float 1.0$"):
        C.check_choice(1.0, "verbose", (0, 1, 2))
    with pytest.raises(ValueError, match="unknown mixed"):  # mixed choices: compared by ==, an array is no choice
        C.check_choice(np.array([1, 2]), "mixed", ("a", 1))


def test_check_type_callable_path():
    assert C.check_type(None, "base_url", (str, type(None)), "a str or None") is None
    with pytest.raises(TypeError, match=r"^base_url must be a str or None; got bytes b'x'$"):
        C.check_type(b"x", "base_url", (str, type(None)), "a str or None")
    assert C.check_callable(len, "f") is len
    with pytest.raises(TypeError, match=r"^f must be a function; got int 5$"):
        C.check_callable(5, "f")
    from pathlib import Path
    assert C.check_path(Path("a") / "b", "path") == str(Path("a") / "b")
    assert C.check_path(None, "data_home", optional=True) is None
    with pytest.raises(TypeError, match=r"^path must be a path \(str or os.PathLike\); got NoneType None$"):
        C.check_path(None, "path")
    with pytest.raises(TypeError, match=r"or None; got int 3$"):
        C.check_path(3, "data_home", optional=True)


def test_check_pair():
    assert C.check_pair([1, 2], "ring") == (1, 2)
    assert C.check_pair(np.array([1, 2]), "ring") == (1, 2)
    with pytest.raises(ValueError, match=r"^ring must be a pair; got 3 items: \(1, 2, 3\)$"):
        C.check_pair((1, 2, 3), "ring")
    for bad in (5, "ab", None):
        with pytest.raises(TypeError, match=r"^ring must be a pair; got "):
            C.check_pair(bad, "ring")


def test_check_n_jobs():
    import os
    assert C.check_n_jobs(None) == C.check_n_jobs(-1) == (os.cpu_count() or 1)
    assert C.check_n_jobs(np.int32(2)) == 2
    with pytest.raises(ValueError, match=r"^n_jobs must be a positive integer, -1 or None; got 0$"):
        C.check_n_jobs(0)
    with pytest.raises(TypeError, match=r"^n_jobs must be a positive integer, -1 or None; got float 1.5$"):
        C.check_n_jobs(1.5)


# -- seeds ---------------------------------------------------------------------------------------
def test_check_seed_and_make_rng():
    g = np.random.default_rng(0)
    assert C.check_seed(None) is None and C.check_seed(g) is g and C.check_seed(np.int64(7)) == 7
    assert C.make_rng(g) is g and isinstance(C.make_rng(None), np.random.Generator)
    assert C.make_rng(5).integers(1 << 30) == np.random.default_rng(5).integers(1 << 30)
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, a numpy.random.Generator or None; got -1$"):
        C.make_rng(-1)
    for bad in (1.5, True, "1", [1, 2], np.random.RandomState(0)):
        with pytest.raises(TypeError, match=rf"^random_state must be an integer >= 0, .*; got {type(bad).__name__}"):
            C.check_seed(bad, "random_state")


# -- settings ------------------------------------------------------------------------------------
def test_check_dtype():
    assert C.check_dtype("float32") == np.float32 and C.check_dtype(np.float64) == np.float64
    for bad, shown in (("int8", "int8"), (np.int32, "int32"), ("float16", "float16"), ("nope", "'nope'")):
        with pytest.raises(ValueError, match=rf"^dtype must be float32 or float64; got {shown}$"):
            C.check_dtype(bad)
    with pytest.raises(TypeError, match=r"^dtype must be float32 or float64 \(a dtype or its name\); got float 3.5$"):
        C.check_dtype(3.5)


@pytest.mark.parametrize("value,expected", [
    (8, (8,)), (np.int64(8), (8,)), ([64, 32], (64, 32)), ((), ()), ("64,32", (64, 32)), (" 64, 32 ,", (64, 32)),
    ("", ()), (np.array([4, 2]), (4, 2)),
])
def test_check_hidden_sizes_reads_ints_sequences_and_text(value, expected):
    out = C.check_hidden_sizes(value)
    assert out == expected and all(type(n) is int for n in out)


@pytest.mark.parametrize("value,exc,match", [
    ("8,-1", ValueError, r"^hidden\[1\] must be an integer >= 1; got -1$"),
    ([8, 0], ValueError, r"^hidden\[1\] must be an integer >= 1; got 0$"),
    ("8,x", ValueError, r"^hidden must be comma-separated integers; got '8,x'$"),
    ([8, 2.0], TypeError, r"^hidden\[1\] must be an integer >= 1; got float 2.0$"),
    (8.0, TypeError, r"^hidden must be an int, a sequence of ints or text like '64,32'; got float 8.0$"),
    (True, TypeError, r"^hidden must be an int, a sequence of ints"),
])
def test_check_hidden_sizes_refuses(value, exc, match):
    with pytest.raises(exc, match=match):
        C.check_hidden_sizes(value)


def test_check_int_list_low():
    assert C.check_int_list("0,3", "seeds", low=0) == (0, 3)
    with pytest.raises(ValueError, match=r"^seeds\[0\] must be an integer >= 0; got -1$"):
        C.check_int_list([-1], "seeds", low=0)


def test_check_matrix():
    X = C.check_matrix(np.arange(6).reshape(3, 2), "X", n_columns=2, min_rows=1)
    assert X.dtype.kind == "i"
    for bad, exc, match in [
        (np.zeros(3), ValueError, r"^X must be 2-D"),
        (np.zeros((0, 2)), ValueError, r"^X must have at least 1 row; got shape \(0, 2\)$"),
        (np.zeros((2, 3)), ValueError, r"^X must have 2 columns; got shape \(2, 3\)$"),
        (np.array([[np.nan, 0.0]]), ValueError, r"^X contains NaN or inf$"),
        (np.array([["a", "b"]]), TypeError, r"^X must hold real numbers; got dtype <U1$"),
        ([[1.0, 2.0], [1.0]], TypeError, r"^X could not be converted to an array"),
    ]:
        with pytest.raises(exc, match=match):
            C.check_matrix(bad, "X", n_columns=2, min_rows=1)


# -- the one policy at the public entry points ---------------------------------------------------
_RNG = np.random.default_rng(0)
_X, _Y = _RNG.normal(size=(12, 2)), np.arange(12) % 2


def _model():
    return MLP([2, 3, 2], dtype="float64", backend="numpy", seed=0)


def _fit(**kw):
    return _model().fit(_X, _Y, **dict(dict(epochs=1, batch_size=4, verbose=0), **kw))


def _sk(cls_name, **params):
    sk = pytest.importorskip("fastmlp.sklearn")
    return lambda: getattr(sk, cls_name)(**params).fit(_X, _Y)


def _sweep(grid, **kw):
    return lambda: sweep((_X, _Y), grid, **dict(dict(n_jobs=1), **kw))


POLICY = [
    # datasets
    (lambda: circles(n_samples=2.5), TypeError, r"n_samples must be a positive integer; got float 2.5"),
    (lambda: circles(n_samples=0), ValueError, r"n_samples must be a positive integer; got 0"),
    (lambda: circles(ring=0.7), TypeError, r"ring must be a pair \(r_min, r_max\); got float 0.7"),
    (lambda: circles(ring=(1.0, 0.8)), ValueError, r"need inner_radius <= ring\[0\] < ring\[1\]"),
    (lambda: moons(noise="big"), TypeError, r"noise must be a finite number >= 0; got str 'big'"),
    (lambda: moons(noise=-0.1), ValueError, r"noise must be a finite number >= 0; got -0.1"),
    (lambda: moons(seed=1.5), TypeError, r"seed must be an integer >= 0, .*; got float 1.5"),
    (lambda: moons(seed=-1), ValueError, r"seed must be an integer >= 0, .*; got -1"),
    (lambda: spirals(n_arms=3.0), TypeError, r"n_arms must be an integer >= 2; got float 3.0"),
    (lambda: spirals(n_arms=1), ValueError, r"n_arms must be an integer >= 2; got 1"),
    (lambda: spirals(test_size=1.0), ValueError, r"test_size must be a finite number in \[0, 1\); got 1.0"),
    (lambda: spirals(dtype="float16"), ValueError, r"dtype must be float32 or float64; got float16"),
    (lambda: xor(margin=None), TypeError, r"margin must be a finite number in \[0, 1\); got NoneType None"),
    (lambda: blobs(radius=0), ValueError, r"radius must be a positive finite number; got 0"),
    (lambda: grid(_X, resolution=2.5), TypeError, r"resolution must be an integer >= 2; got float 2.5"),
    (lambda: split_indices(_Y, 0.5, stratify=1), TypeError, r"stratify must be True or False; got int 1"),
    (lambda: one_hot(_Y, n_classes=2.0), TypeError, r"n_classes must be an integer >= 1; got float 2.0"),
    (lambda: Standardizer(dtype=np.int8), ValueError, r"dtype must be float32 or float64; got int8"),
    (lambda: mnist(kind="validation"), ValueError, r"unknown kind 'validation'; expected one of"),
    (lambda: mnist(download="yes"), TypeError, r"download must be True or False; got str 'yes'"),
    (lambda: mnist(flatten=1), TypeError, r"flatten must be True or False; got int 1"),
    (lambda: mnist(timeout=0), ValueError, r"timeout must be a positive finite number; got 0"),
    (lambda: mnist(data_home=3), TypeError, r"data_home must be a path \(str or os.PathLike\) or None; got int 3"),
    (lambda: write_idx(3, np.zeros(2, np.uint8)), TypeError, r"path must be a path"),
    (lambda: load_dataset("cifar"), ValueError, r"unknown dataset 'cifar'; expected one of \['circles'"),
    (lambda: load_dataset(None), TypeError, r"dataset must be one of .*; got NoneType None"),
    (lambda: load_dataset("mnist", n_samples=10), ValueError, r"n_samples applies to the synthetic datasets"),
    # schedules, optimizers, callbacks, history, progress
    (lambda: StepDecay(step_size=2.5), TypeError, r"step_size must be a positive integer; got float 2.5"),
    (lambda: StepDecay(gamma=1.5), ValueError, r"gamma must be a finite number in \(0, 1\]; got 1.5"),
    (lambda: CosineDecay(min_lr="0"), TypeError, r"min_lr must be a finite number >= 0; got str '0'"),
    (lambda: ReduceOnPlateau(monitor="accuracy"), ValueError, r"unknown monitor 'accuracy'"),
    (lambda: make_schedule(3), TypeError, r"schedule must be one of .* \(a str\); got int 3"),
    (lambda: make_schedule("cyclic"), ValueError, r"unknown schedule 'cyclic'"),
    (lambda: make_schedule("step", size=2), ValueError, r"schedule 'step' has no parameter\(s\) \['size'\]"),
    (lambda: Optimizer(3), TypeError, r"optimizer must be one of .*; got int 3"),
    (lambda: Optimizer("lbfgs"), ValueError, r"unknown optimizer 'lbfgs'"),
    (lambda: Optimizer("sgd", momentum="0.9"), TypeError, r"momentum must be a finite number in \[0, 1\); got str"),
    (lambda: Optimizer("sgd", momentum=1.0), ValueError, r"momentum must be a finite number in \[0, 1\); got 1.0"),
    (lambda: Optimizer("sgd", momentum=0.5, nesterov=1), TypeError, r"nesterov must be True or False; got int 1"),
    (lambda: Optimizer("adam", eps=0), ValueError, r"eps must be a finite number > 0; got 0"),
    (lambda: EarlyStopping(patience=1.5), TypeError, r"patience must be an integer >= 0; got float 1.5"),
    (lambda: EarlyStopping(patience=-1), ValueError, r"patience must be an integer >= 0; got -1"),
    (lambda: EarlyStopping(restore_best="yes"), TypeError, r"restore_best must be True or False"),
    (lambda: History(diverged=1), TypeError, r"diverged must be True or False; got int 1"),
    (lambda: History(best_epoch=-1), ValueError, r"best_epoch must be an integer >= 0; got -1"),
    (lambda: Progress(3, 10), ValueError, r"unknown verbose 3; expected one of \[0, 1, 2\]"),
    (lambda: Progress(1, 0), ValueError, r"epochs must be a positive integer; got 0"),
    # the model's initialisation and fit's checks that come from fastmlp.checks
    (lambda: MLP([2, 2], init=None), TypeError, r"init must be one of .* \(a str\) or a list of one per layer \(1\); got NoneType None"),
    (lambda: MLP([2, 2], init="normal", init_std="0.1"), TypeError, r"init_std must be a positive finite number"),
    (lambda: MLP([2, 2], bias_init=[0.0]), TypeError, r"bias_init must be a finite number; got list"),
    (lambda: MLP([2, 2], seed=2.5), TypeError, r"seed must be an integer >= 0, .*; got float 2.5"),
    (lambda: MLP([2, 2], seed=-2), ValueError, r"seed must be an integer >= 0, .*; got -2"),
    (lambda: _fit(epochs=2.5), TypeError, r"epochs must be a positive integer; got float 2.5"),
    (lambda: _fit(epochs=0), ValueError, r"epochs must be a positive integer; got 0"),
    (lambda: _fit(batch_size="4"), TypeError, r"batch_size must be a positive integer; got str '4'"),
    (lambda: _fit(lr="0.1"), TypeError, r"lr must be a positive finite number; got str '0.1'"),
    (lambda: _fit(lr=-0.1), ValueError, r"lr must be a positive finite number; got -0.1"),
    (lambda: _fit(schedule=3), TypeError, r"schedule must be one of"),
    (lambda: _fit(momentum=True), TypeError, r"momentum must be a finite number in \[0, 1\); got bool True"),
    # io, gradients, experiments, demo
    (lambda: save(_model(), 3), TypeError, r"path must be a path \(str or os.PathLike\); got int 3"),
    (lambda: load(None), TypeError, r"path must be a path \(str or os.PathLike\); got NoneType None"),
    (lambda: numerical_gradient(_model(), _X, _Y, eps=0), ValueError, r"eps must be a positive finite number; got 0"),
    (lambda: numerical_gradient(_model(), _X, _Y, method="backward"), ValueError, r"unknown method 'backward'"),
    (lambda: numerical_gradient(_model(), _X, _Y, index=[0.5]), TypeError, r"index must be integer positions"),
    (lambda: numerical_gradient(_model(), _X, _Y, index=[99]), ValueError, r"index must be in \[0, 16\]"),
    (lambda: gradcheck(_model(), _X, _Y, max_params=2.5), TypeError, r"max_params must be a positive integer"),
    (lambda: signal_propagation(depth=2.5), TypeError, r"depth must be a positive integer; got float 2.5"),
    (lambda: gradient_cost(sizes=[(1, 4.0)]), TypeError, r"sizes\[0\]\[1\] must be a positive integer; got float"),
    (lambda: gradient_cost(sizes=[(1, 4, 2)]), ValueError, r"sizes\[0\] must be a pair \(depth, width\)"),
    (lambda: gradient_cost(repeats=0), ValueError, r"repeats must be a positive integer; got 0"),
    (lambda: count_forward_passes(_model(), _X, _Y, method="exact"), ValueError, r"unknown method 'exact'"),
    (lambda: box_network(np.sin, 2.5), TypeError, r"n_boxes must be a positive integer; got float 2.5"),
    (lambda: run_demo(out=3), TypeError, r"out must be a path"),
    (lambda: run_demo(out="unused", quick=1), TypeError, r"quick must be True or False; got int 1"),
    # sweeps: every run's settings are checked before any run starts
    (_sweep({"epochs": [2.5]}), TypeError, r"epochs must be a positive integer; got float 2.5"),
    (_sweep({"epochs": [0]}), ValueError, r"epochs must be a positive integer; got 0"),
    (_sweep({"hidden": ["8,x"]}), ValueError, r"hidden must be comma-separated integers; got '8,x'"),
    (_sweep({"width": [4.5]}), TypeError, r"width must be a positive integer; got float 4.5"),
    (_sweep({"shuffle": ["no"]}), TypeError, r"shuffle must be True or False; got str 'no'"),
    (_sweep({"lr": [0.1]}, n_jobs=0), ValueError, r"n_jobs must be a positive integer, -1 or None; got 0"),
    (_sweep({"lr": [0.1]}, n_jobs=1.5), TypeError, r"n_jobs must be a positive integer, -1 or None; got float"),
    (_sweep({"lr": [0.1]}, verbose="yes"), TypeError, r"verbose must be True or False"),
    (_sweep({"lr": [0.1]}, base=[1]), TypeError, r"base must be a dict of settings or None; got list"),
    (_sweep({"optimizer": ["nadam"]}), ValueError, r"unknown optimizer 'nadam'"),
    # scikit-learn estimators (checked at fit, as scikit-learn does)
    (_sk("MLPClassifier", max_iter=2.5), TypeError, r"max_iter must be a positive integer; got float 2.5"),
    (_sk("MLPClassifier", max_iter=0), ValueError, r"max_iter must be a positive integer; got 0"),
    (_sk("MLPClassifier", shuffle=1), TypeError, r"shuffle must be True or False; got int 1"),
    (_sk("MLPClassifier", batch_size="big"), ValueError, r"unknown batch_size 'big'; expected one of \['auto'\]"),
    (_sk("MLPClassifier", batch_size=0.5), TypeError, r"batch_size must be a positive integer; got float 0.5"),
    (_sk("MLPClassifier", solver="lbfgs"), ValueError, r"unknown solver 'lbfgs'.*not available"),
    (_sk("MLPRegressor", hidden_layer_sizes=(8, 0)), ValueError, r"hidden_layer_sizes\[1\] must be an integer >= 1"),
    (_sk("MLPRegressor", hidden_layer_sizes=(8, 2.0)), TypeError, r"hidden_layer_sizes\[1\] must be an integer"),
    (_sk("MLPRegressor", beta_1=1.0), ValueError, r"beta_1 must be a finite number in \[0, 1\); got 1.0"),
    (_sk("MLPRegressor", alpha="0"), TypeError, r"alpha must be a finite number >= 0; got str '0'"),
    (_sk("MLPRegressor", dtype="int8"), ValueError, r"dtype must be float32 or float64; got int8"),
    (_sk("MLPRegressor", backend="gpu"), ValueError, r"unknown backend 'gpu'"),
]


@pytest.mark.parametrize("call,exc,match", POLICY, ids=[m[:60] for _, _, m in POLICY])
def test_one_policy_at_public_entry_points(call, exc, match):
    """A wrong type is a TypeError, a wrong value a ValueError, with the argument named in the message."""
    with pytest.raises(exc, match=match) as info:
        call()
    assert type(info.value) is exc  # not a subclass standing in for the other kind
