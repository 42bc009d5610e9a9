"""A training compiles only the code it runs (``kernels.static``): the numba backend passes the
loss, the weighting, the activations, the optimizer, penalties and global-norm clipping as
compile-time choices; an evaluation and a gradient (``MLP.evaluate``, ``MLP.loss_and_grad``) the loss
and the weighting.

Checked by what Numba compiles (its ``numba:compile`` events, each naming the function) in a
fresh interpreter with an empty kernel cache (``NUMBA_CACHE_DIR``): here the kernels are long
compiled or loaded, and a function loaded from the cache sends no event. The same fits also
check that the kernels still accept a runtime loss id and optimizer id (the reference path
the tests of ``optimizer_step`` and ``loss_and_grad`` use).
"""
import json
import os
import subprocess
import sys

import pytest

# What a fresh interpreter compiles: each function's count of ``numba:compile`` events, in ``compiled``
PREAMBLE = r"""
import json, sys
from collections import Counter
import numpy as np
from numba.core import event
import fastmlp
from fastmlp import kernels as K

compiled = Counter()

class Names(event.Listener):
    def on_start(self, ev):
        compiled[ev.data["dispatcher"].py_func.__qualname__] += 1
    def on_end(self, ev):
        pass

event.register("numba:compile", Names())
rng = np.random.default_rng(0)
X = rng.random((40, 12), dtype=np.float32)
y = rng.integers(0, 3, 40)
out = {}
"""

CHILD = PREAMBLE + r"""
for name, activation, kwargs in json.loads(sys.argv[1]):
    compiled.clear()
    layers, batch_size = kwargs.pop("layers", [12, 8, 3]), kwargs.pop("batch_size", 16)
    fastmlp.MLP(layers, activation=activation, seed=0).fit(X, y, epochs=1, batch_size=batch_size, verbose=0, **kwargs)
    out[name] = dict(compiled, train_epoch_signatures=len(K.train_epoch.signatures))
print(json.dumps(out))
"""

SCORING_CHILD = PREAMBLE + r"""
Y = (rng.random((40, 3)) < 0.5).astype(np.float32)
w = rng.random(40) + 0.5
for name, loss, call, weighted in json.loads(sys.argv[1]):
    model = fastmlp.MLP([12, 8, 3], activation="relu", loss=loss, seed=0)
    target = y if loss in ("cross_entropy", "softmax_mse") else Y
    compiled.clear()
    result = getattr(model, call)(X, target, sample_weight=w if weighted else None)
    loss_value = float(result["loss"] if call == "evaluate" else result[0])
    out[name] = dict(compiled, evaluate_signatures=len(K.evaluate.signatures),
                     loss_and_grad_signatures=len(K.loss_and_grad.signatures), loss=loss_value)
print(json.dumps(out))
"""
# (name, loss, MLP method, sample-weighted), in this order in one process
SCORES = [
    ("evaluate_xent", "cross_entropy", "evaluate", False),
    ("evaluate_xent_again", "cross_entropy", "evaluate", False),
    ("evaluate_xent_weighted", "cross_entropy", "evaluate", True),
    ("evaluate_mse", "mse", "evaluate", False),
]
GRADIENTS = [("grad_multilabel", "multilabel", "loss_and_grad", False)]  # in a process of its own: nothing before

FITS = [
    ("sgd", "relu", {"optimizer": "sgd", "lr": 0.1}),
    ("adam", "relu", {"optimizer": "adam", "lr": 1e-3}),
    ("adam_l2", "relu", {"optimizer": "adam", "lr": 1e-3, "l2": 1e-4}),
    ("adam_again", "relu", {"optimizer": "adam", "lr": 1e-2}),
    ("adam_clip", "relu", {"optimizer": "adam", "lr": 1e-3, "clip_norm": 1.0}),
    ("sgd_tanh", "tanh", {"optimizer": "sgd", "lr": 0.1}),
]
# Every product of a full batch BLAS-sized (32 rows: 32 * 12 * 64, 32 * 64 * 32, 32 * 32 * 8 >= 4096
# multiply-adds): no loop code. Run in a process of their own, before any loop was compiled there.
WIDE = {"layers": [12, 64, 32, 8], "batch_size": 32}
BLAS_FITS = [
    ("sgd", "relu", {"optimizer": "sgd", "lr": 0.1, **WIDE}),
    ("momentum", "relu", {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, **WIDE}),
    ("adam", "relu", {"optimizer": "adam", "lr": 1e-3, **WIDE}),
    ("adam_dwd", "relu", {"optimizer": "adam", "lr": 1e-3, "decoupled_weight_decay": 0.01, **WIDE}),
]
LOOPS = ("_matmul", "_matmul_t_right", "_outer_sum")
LOSS_KERNELS = ("softmax_xent", "mse", "sigmoid_bce", "sigmoid_xent", "softmax_mse", "loss_grad")
OTHER_ACTIVATIONS = ("_tanh_f32", "_exp_neg_f32", "_tanh_impl", "_sigmoid_impl")  # a relu net needs none of these


def _compile_in_a_fresh_process(fits, tmp_path_factory, child=CHILD):
    """What each of ``fits`` compiled, in order, in one fresh interpreter with an empty cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path_factory.mktemp("empty-numba-cache")))
    proc = subprocess.run([sys.executable, "-c", child, json.dumps(fits)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return _compile_in_a_fresh_process(FITS, tmp_path_factory)


@pytest.fixture(scope="module")
def compiled_blas(tmp_path_factory):
    return _compile_in_a_fresh_process(BLAS_FITS, tmp_path_factory)


@pytest.fixture(scope="module")
def compiled_scores(tmp_path_factory):
    return _compile_in_a_fresh_process(SCORES, tmp_path_factory, SCORING_CHILD)


@pytest.fixture(scope="module")
def compiled_gradients(tmp_path_factory):
    return _compile_in_a_fresh_process(GRADIENTS, tmp_path_factory, SCORING_CHILD)


def test_an_evaluation_compiles_its_loss_only(compiled_scores):
    """``evaluate`` compiles the body of its model's loss (inlined), not every loss behind a test of the loss id
    (``LOSS_KERNELS``): 1.4 s of a first evaluation instead of 4.5 (float32, Intel Xeon model 207)."""
    xent = compiled_scores["evaluate_xent"]
    assert xent.get("evaluate") == 1 and xent["evaluate_signatures"] == 1, xent
    assert not [k for k in LOSS_KERNELS if k in xent], f"an evaluation compiled every loss: {xent}"
    assert "evaluate" not in compiled_scores["evaluate_xent_again"]  # another model of the same loss: compiled
    mse = compiled_scores["evaluate_mse"]  # another loss: its own specialisation
    assert mse.get("evaluate") == 1 and mse["evaluate_signatures"] == 3, mse
    assert not [k for k in LOSS_KERNELS if k in mse], mse


def test_a_weighted_evaluation_has_its_own_specialisation(compiled_scores):
    weighted = compiled_scores["evaluate_xent_weighted"]
    assert weighted.get("evaluate") == 1 and weighted["evaluate_signatures"] == 2, weighted
    assert weighted["loss"] != compiled_scores["evaluate_xent"]["loss"]  # the weights were read


def test_a_gradient_compiles_its_loss_only(compiled_gradients):
    grad = compiled_gradients["grad_multilabel"]
    assert grad.get("loss_and_grad") == 1 and grad["loss_and_grad_signatures"] == 1, grad
    assert not [k for k in LOSS_KERNELS if k in grad], f"a gradient compiled every loss: {grad}"


def test_plain_sgd_compiles_its_own_kernel_and_one_loss_only(compiled):
    sgd = compiled["sgd"]
    assert sgd.get("train_epoch_sgd") == 1
    assert "train_epoch" not in sgd
    assert not [k for k in LOSS_KERNELS if k in sgd], sgd  # the loss body only, inlined: no dispatch over losses


def test_adam_compiles_adam_only(compiled):
    adam = compiled["adam"]
    assert adam.get("train_epoch") == 1 and adam["train_epoch_signatures"] == 1
    assert adam.get("_adam") == 1
    for unused in ("_sgd", "_rmsprop", "_adagrad", "_penalise", "_clip_values", "_sum_sq", "_scale"):
        assert unused not in adam, f"an Adam fit compiled {unused}: {adam}"
    assert not [k for k in LOSS_KERNELS if k in adam], adam


def test_an_option_compiles_when_used_once(compiled):
    l2 = compiled["adam_l2"]
    assert l2.get("train_epoch") == 1 and l2["train_epoch_signatures"] == 2  # a second specialisation
    assert l2.get("_penalise") == 1
    assert "_sum_sq" not in l2 and "_scale" not in l2  # no global-norm clipping asked
    again = compiled["adam_again"]  # another learning rate: the same specialisation, nothing compiled
    assert "train_epoch" not in again and again["train_epoch_signatures"] == 2


def test_a_relu_network_compiles_no_other_activation(compiled):
    for name in ("sgd", "adam"):
        found = [k for k in compiled[name] if k.split(".")[0] in OTHER_ACTIVATIONS]
        assert not found, f"the relu fit {name} compiled {found}"
    tanh = compiled["sgd_tanh"]  # another activation set: its own specialisation, with tanh's code
    assert tanh.get("train_epoch_sgd") == 1 and "_tanh_f32" in tanh
    assert "_exp_neg_f32" not in tanh  # no sigmoid


def test_each_helper_compiles_once_per_training(compiled):
    """No helper compiles twice for one training (e.g. once per array layout or per constant argument)."""
    for name in ("sgd", "adam"):
        twice = {k: n for k, n in compiled[name].items() if n > 1 and k != "ol_min.<locals>.impl"}
        assert not twice, f"{name}: {twice}"


def test_global_norm_clipping_compiles_its_path_only_when_asked(compiled):
    clip = compiled["adam_clip"]
    assert clip.get("train_epoch") == 1 and clip["train_epoch_signatures"] == 3
    assert "_sum_sq" in clip and "_scale" in clip


def test_blas_sized_batches_compile_no_loop_products(compiled_blas, compiled):
    """Full batches whose products all go to BLAS compile none of the small-product loops
    (``Net.loops`` None), with any optimizer; small products still compile and use them."""
    for name, fit in compiled_blas.items():
        if name != "adam_dwd":  # AdamW runs Adam's kernel (test_decoupled_decay_is_in_the_update_pass)
            assert fit.get("train_epoch_sgd" if name == "sgd" else "train_epoch") == 1, fit  # compiled, not loaded
        found = [k for k in LOOPS if k in fit]
        assert not found, f"{name} compiled {found} for BLAS-sized products"
    assert "_matmul" in compiled["sgd"] and "_outer_sum" in compiled["adam"]


def test_sgd_compiles_its_momentum_form_only(compiled_blas):
    momentum = compiled_blas["momentum"]
    assert momentum.get("_momentum") == 1
    for unused in ("_sgd", "_nesterov", "_adam"):
        assert unused not in momentum, f"a momentum fit compiled {unused}: {momentum}"


def test_decoupled_decay_is_in_the_update_pass(compiled_blas):
    """AdamW (fit after Adam in the same process) runs Adam's kernel, the decay folded into each
    element's update: it compiles no epoch specialisation and no pass of its own (no decay pass)."""
    assert compiled_blas["adam"].get("_adam") == 1
    adamw = compiled_blas["adam_dwd"]
    assert "train_epoch" not in adamw, adamw  # Adam's specialisation, loaded
    passes = [k for k in adamw if k.startswith("_") and k.lstrip("_").split(".")[0] in
              ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad", "decay")]
    assert not passes, f"an AdamW fit after an Adam fit compiled {passes}: {adamw}"
