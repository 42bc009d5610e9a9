"""The end-to-end Fashion-MNIST recipe, timed for fastmlp and its peers in the same run.

784-256-128-64-10 ReLU, softmax cross-entropy, SGD lr 0.01, batch 64, pixels / 255,
on the 60000 training images; test accuracy and loss on the 10000 test images.
Every variant starts from the same weights; its JIT compilation is done on a few
samples first and not counted in the wall time. Each variant runs in a fresh
process unless asked otherwise (see :mod:`fastmlp.bench.isolate`).
"""
import time

from .peers import make_runner
from .workloads import RECIPE_NET, fashion_data

FULL_EPOCHS = 50


def run_recipe(variants=("numba", "torch"), epochs=FULL_EPOCHS, seed=0, isolate=True, processes=1):
    """Train the recipe with each variant; returns a list of result dicts.

    Parameters
    ----------
    variants : sequence of str
        Variant names (see ``fastmlp.bench.peers``); unavailable ones are skipped.
    epochs : int
    seed : int
    isolate : bool
        True: each variant trains in a fresh Python process; False: in this one.
    processes : int
        With ``isolate``, fresh processes per variant, interleaved across the variants;
        the shortest wall time is kept.

    Returns
    -------
    list of dict
        ``variant``, ``status`` ('ok' or 'skipped'), ``reason``, ``epochs``,
        ``wall_s``, ``test_accuracy``, ``test_loss`` ('failed' with ``reason``
        when an isolated variant's process crashed).

    Raises
    ------
    FileNotFoundError
        If Fashion-MNIST is not installed (the recipe needs the real data).
    """
    from .peers import missing_reason
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    if isolate:
        from .isolate import best_record, recipe_task, run_interleaved
        tasks = {name: recipe_task(name, epochs, seed) for name in variants}  # refuses an unknown name first
        runs = run_interleaved(tasks, processes)
        return [best_record(runs[name], key="wall_s", higher_is_better=False) for name in variants]
    data = fashion_data()
    if data is None:
        raise FileNotFoundError("the recipe needs Fashion-MNIST (see fastmlp.datasets.fashion_mnist)")
    X, y, X_test, y_test = data
    results = []
    for name in variants:
        reason = missing_reason(name)
        if reason:
            results.append({"variant": name, "status": "skipped", "reason": reason})
            continue
        make_runner(name, RECIPE_NET, X[:256], y[:256], seed).train(1)  # compile, import, warm up
        runner = make_runner(name, RECIPE_NET, X, y, seed)
        t0 = time.perf_counter()
        runner.train(epochs)
        wall = time.perf_counter() - t0
        loss, acc = runner.evaluate(X_test, y_test)
        results.append({"variant": name, "status": "ok", "reason": "", "epochs": epochs, "wall_s": wall,
                        "test_accuracy": acc, "test_loss": loss})
    return results
