"""Benchmark tasks: one measurement (a variant training on a case, a variant's ``predict_proba``
on a case, a variant's recipe run) as a small JSON-able dict, and :func:`execute`, which runs
it in this process.

A task is what the parent hands a fresh process (:mod:`fastmlp.bench.isolate`).
It names its data, not the arrays: the child calls
:func:`fastmlp.bench.workloads.load_data` with the same arguments (kind,
size, seed, source), and ``take`` keeps the first rows (the loop variant's
share of a workload), so the child trains on exactly the arrays the parent
would; the record carries ``data_sha1``, a digest of them, to show it. A task also names the
machine ``setting`` its process runs in (:mod:`fastmlp.bench.settings`), which the
parent applies when it launches the child.
"""
import hashlib

import numpy as np

from .measure import WARMUP_S, run_case, run_predict_case, time_recipe
from .peers import cannot_train, missing_reason, variants_for
from .workloads import SETTINGS, Net, check_choice, load_data

# The loop variant's timing everywhere: one validation epoch, one round of one epoch.
LOOP_TIMING = {"rounds": 1, "validate_epochs": 1, "min_round_s": 0.0}


def _common(variant, net, data, setting):
    """Check what every case task shares; its JSON part."""
    if not isinstance(net, Net):
        raise TypeError(f"net must be a fastmlp.bench.workloads.Net; got {type(net).__name__}")
    missing_reason(variant)  # raises ValueError for an unknown variant
    if not isinstance(data, dict) or "kind" not in data or "n" not in data:
        raise ValueError(f"data must be a dict of load_data arguments with 'kind' and 'n'; got {data!r}")
    check_choice(setting, SETTINGS, "setting")
    return {"variant": variant, "net": net.to_list(), "data": dict(data), "setting": setting}


def case_task(variant, net, data, rounds=3, validate_epochs=2, min_round_s=0.2, seed=0, take=None, setting="idle",
              warmup_s=0.0):
    """A task that measures ``variant`` training ``net`` with :func:`fastmlp.bench.measure.run_case`.

    Parameters
    ----------
    variant : str
        One of ``fastmlp.bench.peers.ALL_VARIANTS``.
    net : Net
    data : dict
        Keyword arguments of :func:`fastmlp.bench.workloads.load_data`
        (``kind``, ``n`` and optionally ``n_in``, ``n_out``, ``source``, ``seed``).
    rounds, validate_epochs, min_round_s, seed, warmup_s
        As in ``run_case``.
    take : int, optional
        Train on the first ``take`` samples only.
    setting : {'idle', 'onecore', 'busy'}
        The machine setting of the process that runs it.

    Returns
    -------
    dict
    """
    return dict(_common(variant, net, data, setting), task="case", take=take, rounds=rounds,
                validate_epochs=validate_epochs, min_round_s=min_round_s, seed=seed, warmup_s=warmup_s)


def predict_task(variant, net, data, rows, rounds=3, min_round_s=0.2, seed=0, setting="idle", warmup_s=0.0):
    """A task that measures ``variant``'s ``predict_proba`` on ``net``'s network in calls of
    ``rows`` rows over the data (:func:`fastmlp.bench.measure.run_predict_case`); arguments as
    in :func:`case_task`."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows must be a positive int; got {rows!r}")
    return dict(_common(variant, net, data, setting), task="predict", rows=rows, rounds=rounds,
                min_round_s=min_round_s, seed=seed, warmup_s=warmup_s)


def not_run_reason(workload, variant):
    """Why ``variant`` has no task on ``workload`` ('' when it has one; installation aside)."""
    if variant not in variants_for(workload.kind):
        return f"not a {'training' if workload.kind == 'train' else 'inference'} variant"
    if variant == "loop" and not workload.loop_samples:
        return workload.loop_note
    return cannot_train(variant, workload.net.opt) if workload.kind == "train" else ""


def workload_task(workload, variant, rounds=3, validate_epochs=2, min_round_s=0.2, source="auto", seed=0):
    """The task of ``variant`` on a reference ``workload`` in the workload's setting, or None
    when it is not run there (:func:`not_run_reason`).

    The loop variant trains on the workload's first ``loop_samples`` samples with :data:`LOOP_TIMING`;
    every other variant warms up for ``measure.WARMUP_S`` seconds before its timed rounds; an
    inference workload times ``predict_proba`` in calls of ``workload.predict_rows`` rows, after
    the same warm-up.
    """
    missing_reason(variant)  # raises ValueError for an unknown variant
    if not_run_reason(workload, variant):
        return None
    data = {"kind": workload.data, "n": workload.samples, "n_in": workload.net.layers[0],
            "n_out": workload.net.layers[-1], "source": source, "seed": seed}
    if workload.kind == "predict":
        return predict_task(variant, workload.net, data, workload.predict_rows, rounds, min_round_s, seed,
                            workload.setting, warmup_s=WARMUP_S)
    if variant != "loop":
        return case_task(variant, workload.net, data, rounds, validate_epochs, min_round_s, seed,
                         setting=workload.setting, warmup_s=WARMUP_S)
    return case_task(variant, workload.net, data, seed=seed, take=workload.loop_samples, setting=workload.setting,
                     **LOOP_TIMING)


def recipe_task(variant, epochs, seed=0):
    """A task that trains the end-to-end recipe with ``variant`` (:func:`fastmlp.bench.measure.time_recipe`)."""
    missing_reason(variant)
    return {"task": "recipe", "variant": variant, "epochs": epochs, "seed": seed}


def data_digest(X, y):
    """SHA-1 of the training arrays (values, dtypes and shapes) a case used."""
    h = hashlib.sha1()
    for a in (X, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def execute(task):
    """Run ``task`` in this process and return its result record.

    A case gives ``run_case``'s record (``run_predict_case``'s for a predict task)
    plus ``data`` (the description of the data), ``data_sha1`` and ``setting``; a
    recipe gives ``time_recipe``'s record. The setting itself is applied by whoever
    launched this process (:func:`fastmlp.bench.isolate.run_task`), not here.
    """
    kind = task.get("task") if isinstance(task, dict) else None
    if kind in ("case", "predict"):
        net = Net.from_list(task["net"])
        X, y, description = load_data(**task["data"])
        if task.get("take"):
            X, y = X[:task["take"]], y[:task["take"]]
        if kind == "predict":
            r = run_predict_case(task["variant"], net, X, task["rows"], task["rounds"], task["min_round_s"],
                                 task["seed"], task.get("warmup_s", 0.0))
        else:
            r = run_case(task["variant"], net, X, y, task["rounds"], task["validate_epochs"], task["min_round_s"],
                         task["seed"], task.get("warmup_s", 0.0))
        if task.get("take") and r["status"] == "ok":
            r["note"] = "; ".join(filter(None, [r["note"], f"on {task['take']} samples"]))
        return dict(r, data=description, data_sha1=data_digest(X, y), setting=task.get("setting", "idle"))
    if kind == "recipe":
        return time_recipe(task["variant"], task["epochs"], task["seed"])
    raise ValueError(f"task must be a dict with 'task' 'case', 'predict' or 'recipe'; got {task!r}")
