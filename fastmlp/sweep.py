"""Hyperparameter sweeps: a grid of model, fit and data settings trained in one call.

``sweep(data, grid)`` trains one model per combination of the grid's values
and returns a :class:`SweepResult` with one record per run (its settings,
final train/validation/test metrics, per-epoch curves, wall time and whether
it diverged), savable as CSV or JSON. A setting is anything ``MLP``, ``Trainer``
or ``Trainer.fit`` takes, or a data setting (``fastmlp.settings``): ``n_train``
for any data, and ``n_samples``, ``noise``, ``test_size``, ``data_seed`` when the
data is given by name (or as a function) and generated per run. Runs go to worker
processes (one Numba and one BLAS thread each, so the cores are not
oversubscribed), to a Dask cluster when given a ``dask.distributed.Client``, or
stay in-process with ``n_jobs=1``.
"""
import concurrent.futures as cf
import contextlib
import csv
import itertools
import json
import math
import multiprocessing
import os
import time
import warnings

import numpy as np

from .checks import (check_bool, check_choice, check_int, check_n_jobs, check_path, check_positive_int, check_real,
                     check_type)
from .model import MLP
from .progress import warm_up
from .settings import SHAPE_KEYS, check_keys, hidden_sizes, split_settings
from .trainer import DivergenceWarning, Trainer

#: Settings every run starts from; ``base`` and the grid override them.
DEFAULTS = {"hidden": (32,), "activation": "relu", "epochs": 10, "batch_size": 32, "lr": 0.1,
            "optimizer": "sgd", "seed": 0}
#: Environment of worker processes: one thread for Numba, OpenMP and the BLAS libraries.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")
CURVES = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")
#: Data settings that make a new data set (the others, ``n_train``, pick rows of one).
GENERATOR_KEYS = ("n_samples", "noise", "test_size", "data_seed")
#: Settings whose value does not change which kernels a run compiles (see :func:`rehearse`).
SAME_KERNELS = ("lr", "seed", "epochs", "n_train", "init", "init_std", "init_bound", "bias_init", "schedule",
                "validation_split") + GENERATOR_KEYS + SHAPE_KEYS


# -- the grid -------------------------------------------------------------------------------------
def expand_grid(grid):
    """The runs of a grid: a dict of lists (every combination) or a list of dicts.

    Parameters
    ----------
    grid : dict of {str: sequence} or list of dict
        ``{'batch_size': [1, 10], 'lr': [0.1, 1]}`` gives 4 runs, the last key
        varying fastest. A list of dicts is taken as the runs themselves.

    Returns
    -------
    list of dict
    """
    if isinstance(grid, dict):
        for key, values in grid.items():
            if not isinstance(key, str):
                raise TypeError(f"grid keys must be setting names (str); got {key!r}")
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise TypeError(f"grid[{key!r}] must be a list of values; got {values!r}")
        keys = list(grid)
        lists = [list(grid[k]) for k in keys]
        if any(len(v) == 0 for v in lists):
            raise ValueError("every grid entry needs at least one value")
        return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]
    if isinstance(grid, (list, tuple)) and grid and all(isinstance(g, dict) for g in grid):
        return [dict(g) for g in grid]
    raise TypeError(f"grid must be a dict of lists or a non-empty list of dicts; got {type(grid).__name__}")


def _build(params, n_features, n_classes):
    """(model, trainer, fit keywords, optimizer keywords) for one run's settings: the run is
    ``trainer.fit(X, y, **fit_kw)``, or equally ``model.fit(X, y, **fit_kw, **optimizer_kw)``."""
    hidden = hidden_sizes(params)
    model_kw, optimizer_kw, fit_kw, _ = split_settings({k: v for k, v in params.items() if k not in SHAPE_KEYS})
    n_out = 1 if params.get("loss") == "bce" else n_classes
    model = MLP([n_features, *hidden, n_out], **model_kw)
    trainer = Trainer(model, **optimizer_kw)
    fit_kw.pop("seed", None)  # given to fit on its own
    return model, trainer, fit_kw, optimizer_kw


def _check_data(data):
    """(X_train, y_train, X_test, y_test, n_classes) from a Dataset or a tuple."""
    if hasattr(data, "X_train"):
        parts = (data.X_train, data.y_train, data.X_test, data.y_test)
    elif isinstance(data, (tuple, list)) and len(data) in (2, 4):
        parts = tuple(data) if len(data) == 4 else (data[0], data[1], None, None)
    else:
        raise TypeError("data must be a Dataset or a tuple (X_train, y_train[, X_test, y_test])")
    X, y = np.asarray(parts[0]), np.asarray(parts[1])
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
        raise ValueError(f"data needs X_train (n, features) and y_train (n,); got shapes {X.shape} and {y.shape}")
    Xt = None if parts[2] is None or len(parts[2]) == 0 else np.asarray(parts[2])
    yt = None if Xt is None else np.asarray(parts[3])
    n_classes = int(getattr(data, "n_classes", 0) or int(y.max()) + 1)
    return X, y, Xt, yt, n_classes


def train_subset(X, y, n_train, seed):
    """The first ``n_train`` rows of a seeded permutation of (X, y): the subsets of one seed
    are nested (the 50 rows are among the 100), as a learning curve wants.

    Raises ValueError when ``n_train`` exceeds the rows there are.
    """
    n_train = check_positive_int(n_train, "n_train")
    if n_train > len(X):
        raise ValueError(f"n_train={n_train} exceeds the {len(X)} training rows of the data; give at most {len(X)}")
    seed = 0 if seed is None else check_int(seed, "seed", low=0)
    rows = np.random.default_rng([seed, 1]).permutation(len(X))[:n_train]
    return X[rows], y[rows]


# -- one run --------------------------------------------------------------------------------------
def run_one(data, params, index=0):
    """Train one model with ``params`` and return its record (never raises on divergence).

    Parameters
    ----------
    data : Dataset or (X_train, y_train[, X_test, y_test])
        The run's data (already generated with its data settings).
    params : dict
        Complete settings (``DEFAULTS`` merged with the run's values). With
        ``n_train`` the run trains on that many training rows (see :func:`train_subset`);
        its train metrics are measured on those rows.
    index : int
        The run's number, stored as ``record['run']``.

    Returns
    -------
    dict
        ``run, params, train_loss, train_accuracy, val_loss, val_accuracy,
        test_loss, test_accuracy, epochs_run, seconds, diverged, error, curves``.
        A diverged run keeps the metrics of its last finite epoch's weights; a
        run that raised has NaN metrics and the message in ``error``.
    """
    X, y, Xt, yt, n_classes = _check_data(data)
    if params.get("n_train") is not None:
        X, y = train_subset(X, y, params["n_train"], params.get("seed"))
    record = {"run": index, "params": _jsonable(params), **{m: math.nan for m in METRICS},
              "epochs_run": 0, "seconds": math.nan, "diverged": False, "error": None,
              "curves": {c: [] for c in CURVES}}
    test_curve = {"test_loss": [], "test_accuracy": []}
    try:
        model, trainer, fit_kw, optimizer_kw = _build(params, X.shape[1], n_classes)

        def track_test(epoch, logs):
            if Xt is not None:
                ev = model.evaluate(Xt, yt)
                test_curve["test_loss"].append(ev["loss"])
                test_curve["test_accuracy"].append(ev["accuracy"])
            return False

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", DivergenceWarning)
            warm_up(model, X, y, **fit_kw, **optimizer_kw)  # kernels loaded or compiled: not timed
            t0 = time.perf_counter()
            history = trainer.fit(X, y, verbose=0, seed=params.get("seed"), callbacks=[track_test], **fit_kw)
        record["seconds"] = time.perf_counter() - t0
        record["diverged"] = bool(history.diverged)
        record["epochs_run"] = len(history)
        for c in ("loss", "accuracy", "val_loss", "val_accuracy"):
            record["curves"][c] = [float(v) for v in history[c]]
        record["curves"].update(test_curve)
        with np.errstate(all="ignore"):
            if np.isfinite(model.params).all():
                ev = model.evaluate(X, y)
                record["train_loss"], record["train_accuracy"] = ev["loss"], ev["accuracy"]
                if Xt is not None:
                    ev = model.evaluate(Xt, yt)
                    record["test_loss"], record["test_accuracy"] = ev["loss"], ev["accuracy"]
        if len(history):
            record["val_loss"] = float(history.rows[-1]["val_loss"])
            record["val_accuracy"] = float(history.rows[-1]["val_accuracy"])
    except Exception as e:  # a failing run is recorded, the sweep goes on
        record["error"] = f"{type(e).__name__}: {e}"
    for m in METRICS:
        record[m] = float(record[m])
    return record


def _jsonable(params):
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


# -- running many ---------------------------------------------------------------------------------
def _init_worker():
    """Process-pool initializer: one Numba and one BLAS thread in this worker."""
    os.environ.update(WORKER_ENV)
    from .threads import set_num_threads
    set_num_threads(1)


def _run_single_thread(data, params, index):
    """``run_one`` after capping this thread's Numba and BLAS threads at one (Dask tasks)."""
    _init_worker()
    return run_one(data, params, index)


@contextlib.contextmanager
def _worker_environment():
    """Set WORKER_ENV while worker processes are spawned (they inherit it), then restore."""
    saved = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update(WORKER_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sweep(data, grid, base=None, n_jobs=None, client=None, verbose=False):
    """Train one model per combination of ``grid`` on ``data``.

    Parameters
    ----------
    data : Dataset, (X_train, y_train[, X_test, y_test]), str or function
        Test metrics and curves are recorded when test data is given. A dataset
        name (``fastmlp.datasets.DATASET_NAMES``) or a function
        ``f(seed=..., n_samples=..., noise=..., test_size=...) -> Dataset`` (only the
        keywords set are passed; a module-level function when runs go to processes) is
        generated once per distinct data setting, so the grid may vary them.
    grid : dict of lists or list of dicts
        The settings to vary (see :func:`expand_grid`). Keys: ``hidden``
        (tuple of sizes or '64,32'), or ``width`` and ``depth``; any ``MLP``
        argument (activation, init, init_std, loss, dtype, backend, ...);
        ``seed`` (weights, shuffling and the ``n_train`` subset); any ``Trainer``
        argument (optimizer, lr, schedule) and optimizer hyperparameter (momentum,
        weight_decay, beta1, ...); any ``Trainer.fit`` argument (epochs, batch_size,
        shuffle, drop_last, validation_split, ...); and the data settings
        ``n_train`` (train on that many rows of the training set) and, for generated
        data, ``n_samples``, ``noise``, ``test_size``, ``data_seed`` (default 0).
        ``fastmlp.settings.known_keys()`` lists them all.
    base : dict, optional
        Settings shared by every run, over :data:`DEFAULTS`.
    n_jobs : int, -1 or None
        Worker processes (None or -1: one per core); 1 runs in this process.
    client : dask.distributed.Client, optional
        Run on this Dask cluster instead (``n_jobs`` is then ignored).
    verbose : bool
        Print one line per finished run.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError, TypeError
        For an unknown setting or a bad value, before any run starts.
    """
    verbose = check_bool(verbose, "verbose")
    n_jobs = None if client is not None else check_n_jobs(n_jobs)
    runs = plan(grid, base)
    datas = _run_data(data, runs)
    for params, run_data in zip(runs, datas):  # validate every run before starting any
        X, y, _, _, n_classes = _check_data(run_data)
        if params.get("n_train") is not None:
            train_subset(X, y, params["n_train"], params.get("seed"))
        _, _, fit_kw, _ = _build({**params, "backend": "numpy"}, X.shape[1], n_classes)
        _check_fit_settings(fit_kw)
    records = [None] * len(runs)

    def done(i, rec):
        records[i] = rec
        if verbose:
            print(_describe(rec), flush=True)

    if client is not None:
        scattered = {}
        for d in datas:
            if id(d) not in scattered:
                scattered[id(d)] = client.scatter(d, broadcast=True)
        futures = client.map(_run_single_thread, [scattered[id(d)] for d in datas], runs, range(len(runs)),
                             pure=False)
        for i, rec in enumerate(client.gather(futures)):
            done(i, rec)
    elif min(n_jobs, len(runs)) == 1:
        for i, (params, run_data) in enumerate(zip(runs, datas)):
            done(i, run_one(run_data, params, i))
    else:
        ctx = multiprocessing.get_context("spawn")
        with _worker_environment():
            pool = cf.ProcessPoolExecutor(min(n_jobs, len(runs)), mp_context=ctx, initializer=_init_worker)
            futures = {pool.submit(run_one, d, params, i): i for i, (params, d) in enumerate(zip(runs, datas))}
        with pool:
            for fut in cf.as_completed(futures):
                done(futures[fut], fut.result())
    return SweepResult(records, varied=list(expand_grid(grid)[0]))


def plan(grid, base=None):
    """The complete settings of every run of ``grid`` over ``base`` over :data:`DEFAULTS`
    (``hidden``'s default left out when ``width`` or ``depth`` is given); unknown setting
    names are refused (ValueError naming them and the known ones)."""
    check_type(base, "base", (dict, type(None)), "a dict of settings or None")
    runs = []
    for combo in expand_grid(grid):
        given = {**(base or {}), **combo}
        defaults = {k: v for k, v in DEFAULTS.items()
                    if not (k == "hidden" and ("width" in given or "depth" in given))}
        params = {**defaults, **given}
        check_keys(params, "sweep setting")
        if "validation_split" in params and params["validation_split"] is None:
            del params["validation_split"]
        runs.append(params)
    return runs


def _run_data(data, runs):
    """Each run's data: ``data`` itself, or generated from it (a name or a function) with
    the run's data settings, once per distinct setting."""
    generated = isinstance(data, str) or (callable(data) and not hasattr(data, "X_train"))
    made, out = {}, []
    for params in runs:
        settings = {k: params[k] for k in GENERATOR_KEYS if k in params}
        if not generated:
            if settings:
                raise ValueError(f"the data settings {sorted(settings)} make new data: give the data as a dataset "
                                 "name (e.g. 'circles') or a function returning a Dataset, not a fixed data set")
            out.append(data)
            continue
        key = repr(sorted(settings.items()))
        if key not in made:
            made[key] = generate_data(data, **settings)
        out.append(made[key])
    return out


def generate_data(data, n_samples=None, noise=None, test_size=None, data_seed=0):
    """The data set named ``data`` (``load_dataset``) or made by the function ``data``, with
    these data settings (those left None are the generator's defaults)."""
    kw = {k: v for k, v in (("n_samples", n_samples), ("noise", noise), ("test_size", test_size)) if v is not None}
    if isinstance(data, str):
        from .datasets.catalog import load_dataset
        return load_dataset(data, seed=data_seed, **kw)
    made = data(seed=data_seed, **kw)
    _check_data(made)
    return made


def rehearse(data, grid, base=None):
    """Load or compile here the kernels every run of ``sweep(data, grid, base)`` needs: one
    warm-up fit (``fastmlp.progress.warm_up``) per distinct setting that changes them (not
    per learning rate, seed, size, ...), so worker processes then load them from the cache."""
    runs = plan(grid, base)
    done = set()
    for params, run_data in zip(runs, _run_data(data, runs)):
        key = repr(sorted((k, repr(v)) for k, v in params.items() if k not in SAME_KERNELS))
        if key in done:
            continue
        done.add(key)
        X, y, _, _, n_classes = _check_data(run_data)
        model, _, fit_kw, optimizer_kw = _build(params, X.shape[1], n_classes)
        warm_up(model, X, y, **fit_kw, **optimizer_kw)


def _check_fit_settings(fit_kw):
    """The fit settings of a run, checked as ``fit`` will (so a bad grid fails before any run)."""
    for key in ("epochs", "batch_size"):
        check_positive_int(fit_kw[key], key)
    for key in ("shuffle", "drop_last"):
        if key in fit_kw:
            check_bool(fit_kw[key], key)
    if "validation_split" in fit_kw:
        check_real(fit_kw["validation_split"], "validation_split", 0, 1, low_open=True, high_open=True)


def _describe(rec):
    p = ", ".join(f"{k}={v}" for k, v in rec["params"].items())
    state = "diverged" if rec["diverged"] else (f"error: {rec['error']}" if rec["error"] else "ok")
    return (f"run {rec['run']}: {p} -> test_acc {rec['test_accuracy']:.3f} train_loss {rec['train_loss']:.4g} "
            f"{rec['seconds']:.2f}s {state}")


# -- results --------------------------------------------------------------------------------------
class SweepResult:
    """The records of a sweep, in grid order, with the names of the varied settings.

    Attributes
    ----------
    records : list of dict
        One per run, as returned by :func:`run_one`.
    varied : list of str
        The grid's keys.
    """

    def __init__(self, records, varied=()):
        self.records = list(records)
        self.varied = list(varied)

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        n_div = sum(r["diverged"] for r in self.records)
        return f"SweepResult(runs={len(self)}, varied={self.varied}, diverged={n_div})"

    def values(self, key):
        """The distinct values of setting ``key``, in order of first appearance."""
        out = []
        for r in self.records:
            v = _hashable(r["params"].get(key))
            if v not in out:
                out.append(v)
        return out

    def select(self, **settings):
        """The records whose settings equal all of ``settings``."""
        return [r for r in self.records
                if all(_hashable(r["params"].get(k)) == _hashable(v) for k, v in settings.items())]

    def table(self, row, col, metric):
        """A 2-D table of ``metric`` over settings ``row`` x ``col`` (mean over other settings).

        Returns
        -------
        rows, cols : list
            The distinct values of ``row`` and ``col``.
        values : ndarray (len(rows), len(cols))
            NaN where no run finished with a finite value.
        diverged : ndarray of bool
            True where any run of the cell diverged.
        """
        check_choice(metric, "metric", METRICS + ("seconds", "epochs_run"))
        rows, cols = self.values(row), self.values(col)
        values = np.full((len(rows), len(cols)), np.nan)
        diverged = np.zeros((len(rows), len(cols)), bool)
        for i, rv in enumerate(rows):
            for j, cv in enumerate(cols):
                recs = self.select(**{row: rv, col: cv})
                vals = [r[metric] for r in recs if math.isfinite(r[metric])]
                values[i, j] = np.mean(vals) if vals else np.nan
                diverged[i, j] = any(r["diverged"] for r in recs)
        return rows, cols, values, diverged

    def rows(self):
        """Flat rows for CSV: the settings, then the scalar results (curves left out)."""
        keys = []
        for r in self.records:
            keys += [k for k in r["params"] if k not in keys]
        out = []
        for r in self.records:
            row = {"run": r["run"]}
            row.update({k: _cell(r["params"].get(k)) for k in keys})
            row.update({k: r[k] for k in METRICS + ("epochs_run", "seconds", "diverged", "error")})
            out.append(row)
        return out

    def to_csv(self, path):
        """Write :meth:`rows` as CSV; returns the path."""
        rows = self.rows()
        path = check_path(path, "path")
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["run"])
            writer.writeheader()
            writer.writerows(rows)
        return path

    def to_dict(self):
        return {"varied": self.varied, "records": self.records}

    def to_json(self, path=None):
        """The records with their curves as JSON; writes ``path`` if given.

        Valid JSON: a metric not measured (NaN) is written as null, and read back as NaN
        by :meth:`from_json`.
        """
        text = json.dumps(json_ready(self.to_dict()), indent=1, allow_nan=False)
        if check_path(path, "path", optional=True) is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    @classmethod
    def from_json(cls, path):
        """Read a result written by :meth:`to_json`."""
        with open(path) as f:
            d = json.load(f)
        for r in d["records"]:
            for k in METRICS + ("seconds",):
                r[k] = math.nan if r.get(k) is None else r[k]
            r["curves"] = {c: [math.nan if v is None else v for v in vs] for c, vs in r.get("curves", {}).items()}
        return cls(d["records"], d.get("varied", ()))


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def _cell(v):
    return ",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else v


def json_ready(o):
    """``o`` as plain JSON data: NaN and infinities as None (null), numpy arrays and numbers
    as lists and Python numbers, tuples as lists, other unknown objects as their text."""
    if isinstance(o, dict):
        return {str(k): json_ready(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, np.ndarray)):
        return [json_ready(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if o is None or isinstance(o, (str, bool, int)):
        return o
    return str(o)
