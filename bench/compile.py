"""Compile time of the Numba path, measured in fresh processes, per optimizer.

Cold: a new Python process with ``NUMBA_CACHE_DIR`` pointing at an empty
folder, timed from its launch until its first trained batch (``MLP.fit`` of
one epoch of :data:`ROWS` rows with the net's optimizer: plain SGD, SGD with momentum or Adam, see
:data:`fastmlp.bench.workloads.OPTIMIZERS`, on random inputs half of which are zero, as images' dark
pixels: where the inputs have zeros, a cut training (momentum, Adam) chooses its first layer's
products by timing them, once per machine, which a first batch must not wait for, and inputs without
zeros would leave that out): the parent's clock at launch
against the child's when that fit returns (the interpreter's exit is not
counted; ``wall_s`` shows it). :data:`ROWS` rows, not one batch, so that the fit screens its inputs as a fit of a
training set does (``count_flagged``, from ``SCREEN_MIN_VALUES`` values: 1,338 rows of 784), compiling what such a fit
compiles before its first batch; the batches after the first are counted too (about 0.02 s at batch 64, warm).
Warm: a second process with the same, now filled, folder. Each optimizer gets its own empty folder.
Both on every core ('idle') and on one ('onecore': pinned to one core, one thread per library, as the onecore-b64
row's processes), where a machine's first training also chooses every layer's products by timing them.

The children may write Python bytecode (``PYTHONDONTWRITEBYTECODE`` is removed from their
environment) as a user's Python does: fastmlp's own modules are compiled to bytecode by the
first run and read by the next ones, as after any first import (or at ``pip install``). A
shell that forbids writing bytecode would otherwise make every warm run compile all of
fastmlp's sources again (about 0.05 s, measured on the project machine), which no user's
second run does.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from . import settings
from .isolate import best_record
from .workloads import check_choice

# The machine settings the compile rows run in: every core, and one core (a container of one CPU, a sweep worker
# pinned to a core: there a machine's first training also chooses its products by timing them, ``fastmlp.backends
# .products``, which its first batch must not wait for either)
SETTINGS = ("idle", "onecore")
# each setting's key in the report's compile section ('optimizers': the key of the rows before the one-core ones)
REPORT_KEYS = {"idle": "optimizers", "onecore": "onecore"}
WHERE = {"idle": "", "onecore": ", one core"}  # what each setting adds to a row's name (the log, the report)
ROWS = 2048  # rows of the first fit: a training set's (its inputs screened by the kernel), 32 batches of 64


def fit_rows(net):
    """The rows of a compile child's first fit of ``net``: :data:`ROWS`, or one batch where that is larger."""
    return max(ROWS, net.batch_size)

_CHILD = r"""
import json, os, sys, time
if sys.argv[3]:  # pinned before NumPy, Numba or fastmlp load (their pools size from it), as taskset: 'onecore'
    os.sched_setaffinity(0, [int(c) for c in sys.argv[3].split(",")])
t0 = time.perf_counter()
launched = float(sys.argv[2])
import numpy as np
import fastmlp
t1 = time.perf_counter()
layers, activation, bs, rows, fit_kwargs = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
X = rng.random((rows, layers[0]), dtype=np.float32)
X[X < 0.5] = 0  # half the inputs zero, as images' dark pixels (Fashion-MNIST: about half)
y = rng.integers(0, layers[-1], rows)
fastmlp.MLP(layers, activation=activation, seed=0).fit(X, y, epochs=1, batch_size=bs, verbose=0, **fit_kwargs)
t2 = time.perf_counter()
done = time.time()
print(json.dumps({"import_s": t1 - t0, "first_batch_s": t2 - t1, "to_first_batch_s": done - launched}))
"""


def run_child(net, cache_dir, timeout=300, setting="idle"):
    """One fresh process training one epoch of :data:`ROWS` rows (at least a batch) of ``net`` (with its optimizer)
    with ``NUMBA_CACHE_DIR=cache_dir``, in the machine ``setting`` (one of :data:`SETTINGS`: 'onecore' pins it to one
    core with one thread per library, as the onecore-b64 row's processes, :mod:`fastmlp.bench.settings`).

    Returns
    -------
    dict
        ``to_first_batch_s`` (launch to the end of the first fit),
        ``wall_s`` (launch to exit, measured outside), ``import_s`` (import
        numpy and fastmlp) and ``first_batch_s`` (build the model, first fit).
    """
    check_choice(setting, SETTINGS, "compile setting")
    plan = settings.launch(setting)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), **plan.env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode as a user's runs have it (module docstring)
    arg = json.dumps([list(net.layers), net.activation, net.batch_size, fit_rows(net), net.opt.fastmlp_kwargs()])
    cpus = ",".join(map(str, plan.cpus))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, arg, repr(time.time()), cpus], env=env, capture_output=True,
                          text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"compile-time child process failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), wall_s=wall, status="ok", optimizer=net.optimizer,
                setting=setting)


def compile_times(net, warm_runs=2, cold_runs=1, setting="idle"):
    """``{'cold': best cold run, 'warm': best warm run}`` (see :func:`run_child`), in the machine ``setting``.

    Each cold run gets its own empty temporary cache folder; the warm runs use
    the one the last cold run filled. Like the throughput cases, the best of
    ``cold_runs`` processes is kept, with every process's figure in ``per_process``.
    """
    colds = []
    for _ in range(max(1, cold_runs) - 1):
        with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache:
            colds.append(run_child(net, cache, setting=setting))
    with tempfile.TemporaryDirectory(prefix="fastmlp-numba-cache-") as cache:  # the last one also serves warm
        colds.append(run_child(net, cache, setting=setting))
        warms = [run_child(net, cache, setting=setting) for _ in range(max(1, warm_runs))]
    return {"cold": best_record(colds, "to_first_batch_s", higher_is_better=False),
            "warm": best_record(warms, "to_first_batch_s", higher_is_better=False)}


def compile_per_optimizer(net, optimizers, warm_runs=2, cold_runs=1, log=None, setting="idle"):
    """``{optimizer id: compile_times(net trained with it)}`` for each id of ``optimizers``
    (ids of :data:`fastmlp.bench.workloads.OPTIMIZERS`), each from its own empty cache, in the machine ``setting``."""
    out = {}
    for opt in optimizers:
        if log:
            log(f"  compile time, {opt}{WHERE[setting]} (cold, then warm) ...")
        out[opt] = compile_times(net.with_optimizer(opt), warm_runs, cold_runs, setting)
    return out
