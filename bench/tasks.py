"""Benchmark tasks: one measurement (a variant on a case, a variant's recipe run) as a small
JSON-able dict, and :func:`execute`, which runs it in this process.

A task is what the parent hands a fresh process (:mod:`fastmlp.bench.isolate`).
It names its data, not the arrays: the child calls
:func:`fastmlp.bench.workloads.load_data` with the same arguments (kind,
size, seed, source), and ``take`` keeps the first rows (the loop variant's
share of a workload), so the child trains on exactly the arrays the parent
would; the record carries ``data_sha1``, a digest of them, to show it.
"""
import hashlib

import numpy as np

from .measure import run_case, time_recipe
from .peers import missing_reason
from .workloads import Net, load_data

# The loop variant's timing everywhere: one validation epoch, one round of one epoch.
LOOP_TIMING = {"rounds": 1, "validate_epochs": 1, "min_round_s": 0.0}


def case_task(variant, net, data, rounds=3, validate_epochs=2, min_round_s=0.2, seed=0, take=None):
    """A task that measures ``variant`` on ``net`` with :func:`fastmlp.bench.measure.run_case`.

    Parameters
    ----------
    variant : str
        One of ``fastmlp.bench.peers.ALL_VARIANTS``.
    net : Net
    data : dict
        Keyword arguments of :func:`fastmlp.bench.workloads.load_data`
        (``kind``, ``n`` and optionally ``n_in``, ``n_out``, ``source``, ``seed``).
    rounds, validate_epochs, min_round_s, seed
        As in ``run_case``.
    take : int, optional
        Train on the first ``take`` samples only.

    Returns
    -------
    dict
    """
    if not isinstance(net, Net):
        raise TypeError(f"net must be a fastmlp.bench.workloads.Net; got {type(net).__name__}")
    missing_reason(variant)  # raises ValueError for an unknown variant
    if not isinstance(data, dict) or "kind" not in data or "n" not in data:
        raise ValueError(f"data must be a dict of load_data arguments with 'kind' and 'n'; got {data!r}")
    return {"task": "case", "variant": variant, "net": [list(net.layers), net.activation, net.batch_size],
            "data": dict(data), "take": take, "rounds": rounds, "validate_epochs": validate_epochs,
            "min_round_s": min_round_s, "seed": seed}


def workload_task(workload, variant, rounds=3, validate_epochs=2, min_round_s=0.2, source="auto", seed=0):
    """The task of ``variant`` on a reference ``workload``, or None when the loop variant is not run there.

    The loop variant trains on the workload's first ``loop_samples`` samples with :data:`LOOP_TIMING`.
    """
    data = {"kind": workload.data, "n": workload.samples, "n_in": workload.net.layers[0],
            "n_out": workload.net.layers[-1], "source": source, "seed": seed}
    if variant != "loop":
        return case_task(variant, workload.net, data, rounds, validate_epochs, min_round_s, seed)
    if not workload.loop_samples:
        return None
    return case_task(variant, workload.net, data, seed=seed, take=workload.loop_samples, **LOOP_TIMING)


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

    A case gives ``run_case``'s record plus ``data`` (the description of the
    data) and ``data_sha1``; a recipe gives ``time_recipe``'s record.
    """
    kind = task.get("task") if isinstance(task, dict) else None
    if kind == "case":
        layers, activation, batch_size = task["net"]
        X, y, description = load_data(**task["data"])
        if task.get("take"):
            X, y = X[:task["take"]], y[:task["take"]]
        r = run_case(task["variant"], Net(tuple(layers), activation, batch_size), X, y, task["rounds"],
                     task["validate_epochs"], task["min_round_s"], task["seed"])
        if task.get("take") and r["status"] == "ok":
            r["note"] = "; ".join(filter(None, [r["note"], f"on {task['take']} samples"]))
        return dict(r, data=description, data_sha1=data_digest(X, y))
    if kind == "recipe":
        return time_recipe(task["variant"], task["epochs"], task["seed"])
    raise ValueError(f"task must be a dict with 'task' 'case' or 'recipe'; got {task!r}")
