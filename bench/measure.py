"""What one process measures: a variant's training throughput on a case, its inference
throughput and latency (``predict_proba``), the end-to-end recipe's wall time and test
accuracy, the machine's fp32 matrix-multiply ceiling, the machine's state in each process (``machine_check``) and
how its cores work together (``cooperation_check``).

Protocol for a case: loss on its data, ``validate_epochs`` epochs (the
first, which includes any JIT compilation, is timed on its own as
``first_epoch_s``), loss again, which must be finite and lower. Then, for the
reference workloads, a warm-up: whole epochs until ``WARMUP_S`` seconds have passed
(every variant alike: the steady state a training of more than a few seconds reaches;
fastmlp prepares the cut kernels of optimizers other than plain SGD after its first
second of training, and peers warm their own caches and allocators). Only then the
timed rounds: each trains ``k`` epochs, ``k`` chosen from the warm-up's pace (the validation's
last epoch without a warm-up) so that a round lasts at least ``min_round_s``; throughput is
samples per second of the best round. (Counted from the validation's last epoch instead, run
while fastmlp's thread choice still probes, rounds of momentum-b64 lasted 0.14-0.20 s on the
project machine, and 0.06 s after another process had slowed that epoch.)

Protocol for inference: the data is cut into calls of ``rows`` rows each (views; one
row per call for the latency row); one pass over every call (the first call, which
includes any JIT compilation, timed on its own as ``first_call_s``) whose probabilities
must equal the float64 NumPy reference on the same weights within ``PREDICT_ATOL``; then,
for the reference workloads, the same warm-up as training: calls (cycling over the calls)
until ``WARMUP_S`` seconds have passed (the steady state of a model that serves predictions:
fastmlp's choice of threads measures its first calls, peers fill their caches and arenas);
then timed rounds of ``k`` calls each, ``k`` chosen from the time of a call after the first
(never from the first, which includes compiling) so that a round lasts at least
``min_round_s``; rows/s and microseconds per call of the best round.

The recipe (784-256-128-64-10 ReLU, softmax cross-entropy, SGD lr 0.01, batch 64,
pixels / 255): a variant's JIT compilation is done on a few samples first and not
counted; then the 60000 training images for the given epochs, timed as a whole, and
test accuracy and loss on the 10000 test images. Every variant starts from the same weights.
"""
import math
import os
import time

import numpy as np

from fastmlp.checks import check_real

from .peers import initial_weights, make_predictor, make_runner, missing_reason
from .peers.matmul import reference_proba
from .workloads import RECIPE_NET, fashion_data

PREDICT_ATOL = 1e-4  # float32 probabilities against the float64 reference


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


WARMUP_S = 2.0  # the reference workloads' warm-up between validation and the timed rounds (module docstring)


def warm_up(runner, seconds):
    """Train whole epochs until ``seconds`` have passed (none for 0); (seconds it took, epochs trained)."""
    t0, epochs = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        runner.train(1)
        epochs += 1
    return time.perf_counter() - t0, epochs


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


def measure(runner, n_samples, rounds=3, validate_epochs=2, min_round_s=0.2, warmup_s=0.0):
    """Validate ``runner``, warm it up for ``warmup_s`` seconds, then time it; a dict of the validation
    results plus ``warmup_s`` (seconds it took), ``warmup_epochs``, ``epochs_per_round``, ``round_s`` (list),
    ``samples`` (per epoch) and ``samples_per_s`` (best round). A round's epochs are counted from the
    warm-up's pace when there was one, else from the validation's last epoch."""
    v = validate(runner, validate_epochs)
    warm, made = warm_up(runner, warmup_s)
    k = epochs_per_round(warm / made if made else v["epoch_s"], min_round_s)
    secs = time_rounds(runner, k, rounds)
    return dict(v, warmup_s=warm, warmup_epochs=made, epochs_per_round=k, round_s=secs, samples=n_samples,
                samples_per_s=k * n_samples / min(secs))


def _product_operands(m, k, n, seed):
    """Random float32 ``a`` (m x k), ``b`` (k x n) and ``out`` (m x n), after one untimed ``a @ b``
    into ``out`` (a first call's thread wake-up and buffers are not what the timings measure)."""
    rng = np.random.default_rng(seed)
    a = rng.random((m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    np.matmul(a, b, out=out)
    return a, b, out


def sgemm_gflops(n=2048, repeats=5, seed=0, threads=None):
    """GFLOP/s of the best of ``repeats`` float32 ``n x n @ n x n`` NumPy products (2 n^3 flops each),
    on NumPy's BLAS threads, or on ``threads`` of them (1: the one-core ceiling)."""
    if threads is not None:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=threads, user_api="blas"):
            return sgemm_gflops(n, repeats, seed)
    a, b, out = _product_operands(n, n, n, seed)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


MACHINE_CHECK_SHAPE = (64, 784, 256)  # the fashion net's first-layer product at batch 64: (rows, inputs, outputs)
MACHINE_CHECK_S = 0.1


def machine_check(seconds=MACHINE_CHECK_S, shape=MACHINE_CHECK_SHAPE, seed=0):
    """GFLOP/s of a float32 ``rows x inputs @ inputs x outputs`` NumPy product repeated for ``seconds``
    on the process's BLAS threads as they are: the mean over the window, slow calls included. Run
    by each benchmark process after its case, so that a slow process can be told from a slow
    machine: on the 2-core project VM (AMD EPYC Zen 4) NumPy alone ran this product on two threads
    at 108-128 GFLOP/s in some fresh processes and 155-174 in others, while each core alone ran it
    at 80-93. The level changes within a process too, for a second or more at a time
    (:func:`cooperation_check`): the check says how the machine was when the case ended."""
    seconds = check_real(seconds, "seconds", 0, 10, low_open=True)
    m, k, n = shape
    a, b, out = _product_operands(m, k, n, seed)
    calls, t0 = 0, time.perf_counter()
    while True:
        np.matmul(a, b, out=out)
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return 2.0 * m * k * n * calls / elapsed / 1e9


COOPERATION_S = 3.0  # seconds of ``cooperation_check`` at the start and at the end of a run
COOPERATION_WINDOW_S = 0.1
SLOW_COOPERATION = 0.8  # a round is slow when all threads ran below this fraction of their usual speed


def cooperation_check(seconds=COOPERATION_S, window=COOPERATION_WINDOW_S, shape=MACHINE_CHECK_SHAPE, seed=0):
    """Whether the cores slow down together or one by one: for ``seconds``, rounds of two windows of
    ``window`` seconds each, the :func:`machine_check` product on all of the BLAS's threads, then on
    one BLAS thread pinned to one core (each core the process may run on in turn; unpinned where the
    OS does not allow it). Returns ``{'rounds': [[all threads GFLOP/s, one thread GFLOP/s, core or
    None], ...]}`` and :func:`cooperation_summary`'s figures.

    Why: on the 2-core project VM (AMD EPYC Zen 4, KVM) every variant's speed on two threads comes
    and goes for a second or more at a time while each core alone keeps its speed: measured with
    this check, 40 s, 65 of 197 rounds ran two threads at 92-118 GFLOP/s against 150-165 in the
    others, one core alone 85-90 in both kinds. A slow round with a steady one-core figure is the
    cores' working together that slowed (how the hypervisor runs the two vCPUs), not the cores."""
    seconds = check_real(seconds, "seconds", 0, 60, low_open=True)
    window = check_real(window, "window", 0, 10, low_open=True)
    from threadpoolctl import threadpool_limits
    pinnable = hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity")
    mask = os.sched_getaffinity(0) if pinnable else None
    cores = sorted(mask) if pinnable else [None]
    rounds, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        core = cores[len(rounds) % len(cores)]
        every = machine_check(window, shape, seed)
        with threadpool_limits(limits=1, user_api="blas"):
            if core is None:
                one = machine_check(window, shape, seed)
            else:
                os.sched_setaffinity(0, {core})
                try:
                    one = machine_check(window, shape, seed)
                finally:
                    os.sched_setaffinity(0, mask)
        rounds.append([every, one, core])
    return dict(cooperation_summary(rounds), rounds=rounds)


def cooperation_summary(rounds, slow=SLOW_COOPERATION):
    """Figures of :func:`cooperation_check`'s ``rounds`` ([all threads, one thread, core], GFLOP/s):
    ``usual`` (the 90th percentile of all threads' figures: their speed when the cores work well
    together), ``slow_share`` (the share of rounds whose all-threads figure is below ``slow`` x
    ``usual``), ``all_slow`` (the median all-threads figure of those rounds) and ``one_slow`` /
    ``one_fast`` (the median one-thread figure in the slow rounds / in the others; None where there
    is no such round), and ``usual_per_core`` (``usual`` over the median one-thread figure: about the
    number of cores when they work well together; near 1 when the whole check fell in a slow spell,
    which the share of slow rounds cannot tell)."""
    if not rounds:
        raise ValueError("no rounds to summarise: run the check for at least one round")
    every = np.array([r[0] for r in rounds], dtype=float)
    one = np.array([r[1] for r in rounds], dtype=float)
    usual = float(np.percentile(every, 90))
    is_slow = every < slow * usual

    def median(values):
        return float(np.median(values)) if values.size else None
    return {"usual": usual, "slow_share": float(is_slow.mean()), "all_slow": median(every[is_slow]),
            "one_slow": median(one[is_slow]), "one_fast": median(one[~is_slow]),
            "usual_per_core": usual / float(np.median(one))}


def validate_predict(predictor, calls, reference, atol=PREDICT_ATOL):
    """Run ``predictor`` once over every call and compare with ``reference`` (their rows stacked).

    Returns
    -------
    dict
        ``first_call_s`` (includes JIT), ``call_s`` (mean seconds per call after the first; with
        one call, of that call made a second time) and ``max_abs_error`` against the reference.

    Raises
    ------
    ValidationError
        If the probabilities have the wrong shape or differ from the reference by more than ``atol``.
    """
    f = predictor.predict_proba
    t0 = time.perf_counter()
    out = [np.asarray(f(calls[0]))]
    t1 = time.perf_counter()
    out += [np.asarray(f(x)) for x in calls[1:]]
    t2 = time.perf_counter()
    got = np.concatenate(out)
    if got.shape != reference.shape:
        raise ValidationError(f"{predictor.name}: predict_proba gave shape {got.shape}, expected {reference.shape}")
    err = float(np.max(np.abs(got - reference)))
    if not err <= atol:
        raise ValidationError(f"{predictor.name}: probabilities differ from the float64 reference by {err:.3g} "
                              f"(> {atol:g})")
    if len(calls) == 1:  # the first call includes compiling: time a second one
        t1 = time.perf_counter()
        f(calls[0])
        t2 = time.perf_counter()
    return {"first_call_s": t1 - t0, "call_s": (t2 - t1) / max(1, len(calls) - 1), "max_abs_error": err}


def time_calls(predictor, calls, k, rounds):
    """Seconds of each of ``rounds`` rounds of ``k`` calls (cycling over ``calls``)."""
    f, n, out = predictor.predict_proba, len(calls), []
    order = [calls[i % n] for i in range(k)]
    for _ in range(rounds):
        t0 = time.perf_counter()
        for x in order:
            f(x)
        out.append(time.perf_counter() - t0)
    return out


def warm_up_calls(predictor, calls, seconds):
    """Call ``predictor`` (cycling over ``calls``) until ``seconds`` have passed (none for 0);
    (seconds it took, calls made)."""
    f, n, made = predictor.predict_proba, len(calls), 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        f(calls[made % n])
        made += 1
    return time.perf_counter() - t0, made


def measure_predict(predictor, X, rows, reference, rounds=3, min_round_s=0.2, warmup_s=0.0):
    """Validate ``predictor`` on ``X`` in calls of ``rows`` rows, warm it up for ``warmup_s``
    seconds, then time it; a dict of the validation results plus ``warmup_s`` (seconds it took),
    ``warmup_calls``, ``rows`` (per call), ``calls_per_round``, ``round_s``, ``samples_per_s`` (rows
    per second) and ``us_per_call`` (both of the best round). A round's calls are counted from the
    warm-up's pace when there was one, else from the validation's calls after the first."""
    n = (X.shape[0] // rows) * rows
    if n == 0:
        raise ValueError(f"need at least {rows} rows of data; got {X.shape[0]}")
    calls = [X[i:i + rows] for i in range(0, n, rows)]
    v = validate_predict(predictor, calls, reference[:n])
    warm, made = warm_up_calls(predictor, calls, warmup_s)
    k = epochs_per_round(warm / made if made else v["call_s"], min_round_s)
    secs = time_calls(predictor, calls, k, rounds)
    best = min(secs)
    return dict(v, warmup_s=warm, warmup_calls=made, rows=rows, calls_per_round=k, round_s=secs,
                samples_per_s=k * rows / best, us_per_call=1e6 * best / k)


def _guarded(variant, optimizer, work):
    """``work()``'s record, or a 'skipped' record when ``variant`` is not installed, or a 'failed'
    one when it did not validate or raised (a peer's error must not stop the other measurements)."""
    reason = missing_reason(variant, optimizer)
    if reason:
        return {"variant": variant, "status": "skipped", "reason": reason, "note": ""}
    try:
        return work()
    except ValidationError as e:
        return {"variant": variant, "status": "failed", "reason": str(e), "note": ""}
    except Exception as e:
        return {"variant": variant, "status": "failed", "reason": f"{type(e).__name__}: {e}", "note": ""}


def run_predict_case(variant, net, X, rows, rounds=3, min_round_s=0.2, seed=0, warmup_s=0.0):
    """Build the predictor of ``variant`` for ``net`` (``initial_weights(net, seed)``) and
    :func:`measure_predict` it on ``X`` in calls of ``rows`` rows, after ``warmup_s`` seconds of calls.

    Returns
    -------
    dict
        ``variant``, ``status`` ('ok', 'skipped', 'failed'), ``reason``, ``note`` and, when
        'ok', the fields of :func:`measure_predict` plus ``gflops`` (2 flops per weight and row).
    """
    def work():
        predictor = make_predictor(variant, net, seed)
        reference = reference_proba(initial_weights(net, seed), net.activation, X)
        m = measure_predict(predictor, X, rows, reference, rounds, min_round_s, warmup_s)
        return dict(m, variant=variant, status="ok", reason="", note=predictor.note,
                    gflops=2.0 * net.n_weights * m["samples_per_s"] / 1e9)
    return _guarded(variant, "sgd", work)


def run_case(variant, net, X, y, rounds=3, validate_epochs=2, min_round_s=0.2, seed=0, warmup_s=0.0):
    """Build the runner of ``variant`` for ``net`` on (X, y) and :func:`measure` it.

    Returns
    -------
    dict
        ``variant``, ``status`` ('ok', 'skipped' when the variant is not
        installed, 'failed' when it did not learn or raised), ``reason``,
        ``note`` and, when 'ok', the fields of :func:`measure` plus ``gflops``.
    """
    def work():
        runner = make_runner(variant, net, X, y, seed)
        m = measure(runner, X.shape[0], rounds, validate_epochs, min_round_s, warmup_s)
        return dict(m, variant=variant, status="ok", reason="", note=runner.note,
                    gflops=net.gflops(m["samples_per_s"]))
    return _guarded(variant, net.optimizer, work)


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
