"""What one process measures: a variant's throughput on a case, the end-to-end recipe's
wall time and test accuracy, and the machine's fp32 matrix-multiply ceiling.

Protocol for a case: loss on its data, ``validate_epochs`` epochs (the
first, which includes any JIT compilation, is timed on its own as
``first_epoch_s``), loss again, which must be finite and lower. Only then the
timed rounds: each trains ``k`` epochs, ``k`` chosen so a round lasts at least
``min_round_s``; throughput is samples per second of the best round.

The recipe (784-256-128-64-10 ReLU, softmax cross-entropy, SGD lr 0.01, batch 64,
pixels / 255): a variant's JIT compilation is done on a few samples first and not
counted; then the 60000 training images for the given epochs, timed as a whole, and
test accuracy and loss on the 10000 test images. Every variant starts from the same weights.
"""
import math
import time

import numpy as np

from .peers import make_runner, missing_reason
from .workloads import RECIPE_NET, fashion_data


class ValidationError(RuntimeError):
    """A variant did not learn (loss not finite or not lower after training): its timings are not used."""


def validate(runner, epochs=2):
    """Train ``epochs`` epochs and check the loss went down.

    Returns
    -------
    dict
        ``loss_before``, ``loss_after``, ``first_epoch_s`` (includes JIT) and
        ``epoch_s`` (the last epoch's seconds; the first's if ``epochs`` is 1).

    Raises
    ------
    ValidationError
        If the loss after training is not finite or not below the loss before.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    before = runner.loss()
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        runner.train(1)
        times.append(time.perf_counter() - t0)
    after = runner.loss()
    if not (math.isfinite(after) and after < before):
        raise ValidationError(f"{runner.name}: loss did not go down over {epochs} epoch(s): "
                              f"{before:.5g} -> {after:.5g}")
    return {"loss_before": before, "loss_after": after, "first_epoch_s": times[0], "epoch_s": times[-1]}


def epochs_per_round(epoch_s, min_round_s):
    """Epochs per timed round so that a round lasts at least ``min_round_s``."""
    return max(1, math.ceil(min_round_s / max(epoch_s, 1e-9)))


def time_rounds(runner, epochs, rounds):
    """Seconds of each of ``rounds`` calls ``runner.train(epochs)``."""
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        runner.train(epochs)
        out.append(time.perf_counter() - t0)
    return out


def measure(runner, n_samples, rounds=3, validate_epochs=2, min_round_s=0.2):
    """Validate ``runner`` then time it; a dict of the validation results plus
    ``epochs_per_round``, ``round_s`` (list), ``samples`` (per epoch) and ``samples_per_s`` (best round)."""
    v = validate(runner, validate_epochs)
    k = epochs_per_round(v["epoch_s"], min_round_s)
    secs = time_rounds(runner, k, rounds)
    return dict(v, epochs_per_round=k, round_s=secs, samples=n_samples, samples_per_s=k * n_samples / min(secs))


def sgemm_gflops(n=2048, repeats=5, seed=0):
    """GFLOP/s of the best of ``repeats`` float32 ``n x n @ n x n`` NumPy products (2 n^3 flops each)."""
    rng = np.random.default_rng(seed)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def run_case(variant, net, X, y, rounds=3, validate_epochs=2, min_round_s=0.2, seed=0):
    """Build the runner of ``variant`` for ``net`` on (X, y) and :func:`measure` it.

    Returns
    -------
    dict
        ``variant``, ``status`` ('ok', 'skipped' when the variant is not
        installed, 'failed' when it did not learn or raised), ``reason``,
        ``note`` and, when 'ok', the fields of :func:`measure` plus ``gflops``.
    """
    reason = missing_reason(variant)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason, "note": ""}
    try:
        runner = make_runner(variant, net, X, y, seed)
        m = measure(runner, X.shape[0], rounds, validate_epochs, min_round_s)
    except ValidationError as e:
        return {"variant": variant, "status": "failed", "reason": str(e), "note": ""}
    except Exception as e:  # a peer's own error must not stop the other measurements
        return {"variant": variant, "status": "failed", "reason": f"{type(e).__name__}: {e}", "note": ""}
    return dict(m, variant=variant, status="ok", reason="", note=runner.note, gflops=net.gflops(m["samples_per_s"]))


def time_recipe(variant, epochs, seed=0):
    """Train the recipe with ``variant`` in this process for ``epochs`` epochs.

    Returns
    -------
    dict
        ``variant``, ``status`` ('ok', or 'skipped' when the variant is not
        installed), ``reason`` and, when 'ok', ``epochs``, ``wall_s``,
        ``test_accuracy`` and ``test_loss``.

    Raises
    ------
    FileNotFoundError
        If Fashion-MNIST is not installed (the recipe needs the real data).
    """
    data = fashion_data()
    if data is None:
        raise FileNotFoundError("the recipe needs Fashion-MNIST (see fastmlp.datasets.fashion_mnist)")
    X, y, X_test, y_test = data
    reason = missing_reason(variant)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason}
    make_runner(variant, RECIPE_NET, X[:256], y[:256], seed).train(1)  # compile, import, warm up
    runner = make_runner(variant, RECIPE_NET, X, y, seed)
    t0 = time.perf_counter()
    runner.train(epochs)
    wall = time.perf_counter() - t0
    loss, acc = runner.evaluate(X_test, y_test)
    return {"variant": variant, "status": "ok", "reason": "", "epochs": epochs, "wall_s": wall,
            "test_accuracy": acc, "test_loss": loss}
