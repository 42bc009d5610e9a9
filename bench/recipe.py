"""The end-to-end Fashion-MNIST recipe, timed for fastmlp and its peers in the same run.

784-256-128-64-10 ReLU, softmax cross-entropy, SGD lr 0.01, batch 64, pixels / 255,
on the 60000 training images; test accuracy and loss on the 10000 test images
(one variant's run: :func:`fastmlp.bench.measure.time_recipe`). Each variant runs
in fresh processes, interleaved with the others, the shortest wall time kept,
unless asked to run here (see :mod:`fastmlp.bench.isolate`).
"""
from .isolate import best_record, run_interleaved
from .measure import time_recipe
from .tasks import recipe_task

FULL_EPOCHS = 50


def run_recipe(variants=("numba", "torch"), epochs=FULL_EPOCHS, seed=0, isolate=True, processes=1):
    """Train the recipe with each variant; returns a list of result dicts.

    Parameters
    ----------
    variants : sequence of str
        Variant names (see :mod:`fastmlp.bench.peers`); unavailable ones are skipped.
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
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    if isolate:
        tasks = {name: recipe_task(name, epochs, seed) for name in variants}  # refuses an unknown name first
        runs = run_interleaved(tasks, processes)
        return [best_record(runs[name], key="wall_s", higher_is_better=False) for name in variants]
    return [time_recipe(name, epochs, seed) for name in variants]
