"""The demo behind ``fastmlp demo``: trains on data that is always available
(synthetic 2-D problems, and scikit-learn's digits when installed, else says how to get
them), runs the small studies, and writes every figure plus a JSON summary to one folder
(``./fastmlp-demo`` by default, which the repository's .gitignore leaves out).

Before the first study it makes ready every kernel the demo uses (:func:`rehearse`),
announced as "preparing the kernels (compiled on the first run only, then cached)..."
with the time it took, so the studies' own timings and the sweep's wall-time heatmap
hold no compile time.
"""
import json
import os
import time
import warnings

import numpy as np

from . import datasets, plots
from .checks import check_bool, check_callable, check_n_jobs, check_path
from .experiments import box_approximation, gradient_cost, signal_propagation
from .model import MLP
from .progress import kernel_notice, warm_up
from .sweep import json_ready, sweep
from .sweep import rehearse as rehearse_sweep


def _step(log, name, t0):
    log(f"  {name} ({time.perf_counter() - t0:.1f}s)")


def _circles():
    """The circles study's data, model and fit options (trained by :func:`run_demo`, warmed up by :func:`rehearse`)."""
    data = datasets.circles(n_samples=400, noise=0.08, seed=0)
    model = MLP([2, 16, 16, 2], activation="tanh", seed=0)
    return data, model, dict(batch_size=16, lr=0.1, optimizer="sgd", momentum=0.9)


def _spirals():
    """The spirals study's data, model and fit options (as :func:`_circles`)."""
    data = datasets.spirals(n_samples=600, n_arms=3, seed=0)
    model = MLP([2, 64, 64, 3], activation="relu", seed=0)
    return data, model, dict(batch_size=32, lr=0.01, optimizer="adam")


def _batch_lr_sweep(quick):
    """The batch size x learning rate sweep's grid and base settings (on the circles)."""
    grid = ({"batch_size": [1, 10, 100], "lr": [0.01, 0.5, 5.0]} if quick else
            {"batch_size": [1, 10, 50, 100, 200], "lr": [0.01, 0.05, 0.1, 0.5, 1.0, 5.0]})
    return grid, {"hidden": (16,), "activation": "tanh", "epochs": 20 if quick else 40}


def _init_sweep(quick):
    """The initialisation sweep's data, grid and base settings."""
    moons = datasets.moons(n_samples=400, noise=0.15, seed=0)
    grid = {"init": ["normal", "lecun_normal", "glorot_uniform", "he_normal"], "seed": list(range(3 if quick else 8))}
    return moons, grid, {"hidden": (32, 32, 32), "activation": "relu", "epochs": 15 if quick else 40,
                         "batch_size": 32, "lr": 0.05}


def rehearse(quick=False):
    """Load (or, the first time, compile) every kernel the demo uses, and no other: the circles' and the spirals'
    trainings (the digits' Adam trains with the spirals' kernels) and every kernel of the two sweeps
    (``fastmlp.sweep.rehearse``), each on a few of its rows, with their evaluation and prediction; float64 layer
    outputs, gradients and evaluation (the experiments); the step-unit network's output. (It once warmed up a 2-4-2
    network with each epoch kernel instead: three of its four trainings compiled kernels no study used, while the
    studies compiled their own after it, the circles and spirals 26 s of a first demo.)"""
    circles = _circles()
    for data, model, options in (circles, _spirals()):
        warm_up(model, data.X_train, data.y_train, **options)
    rehearse_sweep(circles[0], *_batch_lr_sweep(quick))
    rehearse_sweep(*_init_sweep(quick))
    X = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    y = np.arange(8) % 2
    wide = MLP([2, 4, 2], dtype="float64", seed=0)
    wide.layer_outputs(X)
    wide.loss_and_grad(X, y)
    wide.evaluate(X, y)
    MLP([1, 2, 1], activation="step", loss="mse", dtype="float64", init="zeros").forward(X[:, :1])


def digits_study(save, quick=False, log=print):
    """The demo's digits part: an MLP 64-64-10 on scikit-learn's 8x8 digits, its curves and
    predicted probabilities, saved through ``save(plot_function, file_name, *args, **kwargs)``.

    Returns its summary entry; without scikit-learn it says so through ``log`` (with how
    to install it) and returns ``{'skipped': reason}``.
    """
    t0 = time.perf_counter()
    try:
        dig = datasets.load_dataset("digits", seed=0)  # pixels scaled from 0..16 to [0, 1]
    except ImportError as e:
        log(f"  digits skipped: {e}")
        return {"skipped": str(e)}
    Xtr, Xte = dig.X_train, dig.X_test
    dmodel = MLP([64, 64, 10], seed=0)
    dhist = dmodel.fit(Xtr, dig.y_train, epochs=10 if quick else 30, batch_size=32, lr=0.01,
                       optimizer="adam", validation_data=(Xte, dig.y_test), verbose=0, seed=0)
    save(plots.plot_history, "digits_curves.png", dhist, title="Digits 8x8: MLP 64-64-10 ReLU, Adam")
    wrong = np.flatnonzero(dmodel.predict(Xte) != dig.y_test)[:2].tolist()
    save(plots.plot_probabilities, "digits_probabilities.png", dmodel, Xte, indices=[0, 1, 2, 3] + wrong,
         y=dig.y_test, class_names=dig.class_names)
    _step(log, "digits trained", t0)
    return {"layers": list(dmodel.layers), "test": dmodel.evaluate(Xte, dig.y_test)}


def run_demo(out="fastmlp-demo", quick=False, n_jobs=1, log=print):
    """Run the demo and write its figures and ``summary.json`` into ``out``.

    Parameters
    ----------
    out : str or path
        Output folder (created).
    quick : bool
        Smaller grids and fewer epochs (for tests: a few seconds).
    n_jobs : int
        Worker processes of the sweeps (1: in this process).
    log : callable
        Receives one progress line at a time.

    Returns
    -------
    dict
        The summary written to ``summary.json``: per part its numbers and the
        figure files.
    """
    out = check_path(out, "out")
    quick = check_bool(quick, "quick")
    n_jobs = check_n_jobs(n_jobs)
    check_callable(log, "log", "a function of one line of text")
    os.makedirs(out, exist_ok=True)
    t_start = time.perf_counter()
    summary = {"output_folder": os.path.abspath(out), "quick": quick, "figures": []}
    summary["kernels_seconds"] = kernel_notice(lambda: rehearse(quick), log)

    def save(fig_fn, name, *args, **kwargs):
        path = os.path.join(out, name)
        fig_fn(*args, path=path, **kwargs)
        summary["figures"].append(name)

    epochs = 15 if quick else 60
    # 1. one classifier on circles: curves and boundary
    t0 = time.perf_counter()
    data, model, options = _circles()
    hist = model.fit(data.X_train, data.y_train, epochs=epochs, validation_data=(data.X_test, data.y_test), verbose=0,
                     seed=0, **options)
    summary["circles"] = {"layers": list(model.layers), "epochs": len(hist),
                          "test": model.evaluate(data.X_test, data.y_test)}
    save(plots.plot_history, "circles_curves.png", hist, title="Circles, MLP 2-16-16-2 tanh, SGD momentum 0.9")
    save(plots.plot_decision_boundary, "circles_boundary.png", model, data.X_test, data.y_test,
         title="Circles: decision boundary of the trained MLP", points="test")
    spir, smodel, options = _spirals()
    shist = smodel.fit(spir.X_train, spir.y_train, epochs=epochs * 3, validation_data=(spir.X_test, spir.y_test),
                       verbose=0, seed=0, **options)
    summary["spirals"] = {"layers": list(smodel.layers), "epochs": len(shist),
                          "test": smodel.evaluate(spir.X_test, spir.y_test)}
    save(plots.plot_decision_boundary, "spirals_boundary.png", smodel, spir.X_train, spir.y_train,
         title="3 spirals: MLP 2-64-64-3 ReLU, Adam", points="training")
    _step(log, "circles and spirals trained", t0)

    # 2. batch size x learning rate on circles
    t0 = time.perf_counter()
    grid, base = _batch_lr_sweep(quick)
    study = sweep(data, grid, base=base, n_jobs=n_jobs)
    study.to_csv(os.path.join(out, "batch_lr_sweep.csv"))
    study.to_json(os.path.join(out, "batch_lr_sweep.json"))
    best = max(study.records, key=lambda r: -1 if np.isnan(r["test_accuracy"]) else r["test_accuracy"])
    summary["batch_lr_sweep"] = {"runs": len(study), "diverged": sum(r["diverged"] for r in study.records),
                                 "best": {**best["params"], "test_accuracy": best["test_accuracy"]}}
    save(plots.plot_sweep_heatmaps, "batch_lr_heatmaps.png", study, title="Circles: batch size x learning rate, "
         "MLP 2-16-2 tanh, plain SGD")
    save(plots.plot_sweep_curves, "batch_lr_curves.png", study)
    save(plots.plot_lr_comparison, "lr_comparison.png", study)
    _step(log, f"batch size x learning rate sweep, {len(study)} runs", t0)

    # 3. initialisation sensitivity over seeds on moons
    t0 = time.perf_counter()
    moons, grid, base = _init_sweep(quick)
    inits = sweep(moons, grid, base=base, n_jobs=n_jobs)
    summary["init_sensitivity"] = {
        v: float(np.nanmean([r["test_accuracy"] for r in inits.select(init=v)])) for v in inits.values("init")}
    save(plots.plot_init_sensitivity, "init_sensitivity.png", inits,
         title="Moons: MLP 2-32-32-32-2 ReLU, SGD lr 0.05 ('normal' is std 0.01)")
    _step(log, f"initialisation sweep, {len(inits)} runs", t0)

    # 4. digits (scikit-learn) with class probabilities
    summary["digits"] = digits_study(save, quick, log)

    # 5. explanatory experiments
    t0 = time.perf_counter()
    sig = signal_propagation(depth=10, width=128 if quick else 256, n_samples=128 if quick else 256)
    summary["signal_propagation"] = {f"{r['activation']} {r['label']}": {
        "first_layer_var": r["act_var"][0], "last_layer_var": r["act_var"][-1]} for r in sig}
    save(plots.plot_signal_propagation, "signal_propagation.png", sig)
    sizes = ((1, 16), (2, 16), (4, 16), (2, 8), (2, 32)) if quick else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cost = gradient_cost(sizes=sizes, fd_params=5, repeats=2) if quick else gradient_cost(fd_params=20, repeats=3)
    summary["gradient_cost"] = cost
    save(plots.plot_gradient_cost, "gradient_cost.png", cost)
    box = box_approximation()
    summary["box_approximation"] = {"box_counts": box["box_counts"], "max_error": box["max_error"],
                                    "mean_error": box["mean_error"]}
    save(plots.plot_box_approximation, "box_approximation.png", box,
         title="Universal approximation of sin on [0, 2π] by hand-set step units")
    _step(log, "signal propagation, gradient cost, box approximation", t0)

    summary["seconds"] = time.perf_counter() - t_start
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(json_ready(summary), f, indent=1, allow_nan=False)
    return summary
