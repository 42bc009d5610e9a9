"""What each training option costs in speed on fashion-b64: one fresh process per case.

Each case trains the fashion-b64 network (784-256-128-64-10 relu, batch 64, float32) with
``MLP.fit`` on the first ``n`` Fashion-MNIST training images, with one option switched on
(the case's model and fit keywords), and reports the best epoch's samples/s among the
``epochs`` epochs that follow a warm-up of ``measure.WARMUP_S`` seconds of epochs (compiling,
loading and the thread choice's first probes excluded, and every optimizer but plain SGD on
the cut kernel it prepares after its first second of training, as in the benchmark's rows);
an epoch's time runs from one epoch's end to the next, so it includes what callbacks do. The
cases run in fresh interpreters, in alternating order, ``repeats`` times each, and the best
run is kept: this VM has per-process slow spells. ``python -m fastmlp.bench.features`` prints
a Markdown table with the ratio of each case to its baseline (plain SGD, or the same optimizer
without the option) and to plain SGD.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ADAM = {"optimizer": "adam", "lr": 1e-3}
# name: (baseline name or None, MLP keywords, fit keywords beyond the common ones). Fit values
# given as strings are made in the child: sample_weight 'random' (uniform in [0.5, 1.5]),
# callbacks names of CALLBACKS.
CASES = {
    "sgd": (None, {}, {}),
    "sample_weight": ("sgd", {}, {"sample_weight": "random"}),
    "class_weight": ("sgd", {}, {"class_weight": "balanced"}),
    "replacement": ("sgd", {}, {"sampling": "replacement"}),
    "softmax_mse": ("sgd", {"loss": "softmax_mse"}, {}),
    "dropout": ("sgd", {"dropout": 0.2}, {}),
    "l2": ("sgd", {}, {"l2": 1e-4}),
    "l1": ("sgd", {}, {"l1": 1e-5}),
    "clip_value": ("sgd", {}, {"clip_value": 1.0}),
    "clip_norm": ("sgd", {}, {"clip_norm": 5.0}),
    "adam": ("sgd", {}, ADAM),
    "adamw": ("adam", {}, dict(ADAM, optimizer="adamw")),
    "adam_weight_decay": ("adam", {}, dict(ADAM, weight_decay=5e-4)),
    "sgd_weight_decay": ("sgd", {}, {"weight_decay": 5e-4}),
    "momentum": ("sgd", {}, {"momentum": 0.9}),
    "momentum_weight_decay": ("momentum", {}, {"momentum": 0.9, "weight_decay": 5e-4}),
    "nesterov": ("sgd", {}, {"momentum": 0.9, "nesterov": True}),
    "adam_l2": ("adam", {}, dict(ADAM, l2=1e-4)),
    "adam_clip_norm": ("adam", {}, dict(ADAM, clip_norm=5.0)),
    "diagnostics": ("sgd", {}, {"callbacks": "diagnostics"}),
}
COMMON_FIT = {"batch_size": 64, "lr": 0.01, "verbose": 0, "seed": 0}
LAYERS = [784, 256, 128, 64, 10]


def run_case(name, n, epochs):
    """Train one case in this process; {'samples_per_s': the best of ``epochs`` epochs after the warm-up}."""
    import numpy as np

    import fastmlp
    from fastmlp.bench.measure import WARMUP_S
    from fastmlp.bench.workloads import load_data

    _, model_kw, fit_kw = CASES[name]
    X, y, source = load_data("mnist-size", n)
    kw = dict(COMMON_FIT, **fit_kw)
    if kw.get("sample_weight") == "random":
        kw["sample_weight"] = np.random.default_rng(0).uniform(0.5, 1.5, X.shape[0])
    start, timed = time.perf_counter(), []  # timed: the end of each epoch from the warm-up's last on

    def clock(epoch, logs):
        """Last callback (the epoch's whole cost): True (stop) once ``epochs`` epochs followed the warm-up."""
        now = time.perf_counter()
        if now - start >= WARMUP_S:
            timed.append(now)
        return len(timed) > epochs
    made = CALLBACKS[kw.pop("callbacks")](X, y) if "callbacks" in kw else []
    kw["callbacks"] = made + [clock]
    model = fastmlp.MLP(LAYERS, seed=0, **model_kw)
    model.fit(X, y, epochs=1 << 30, **kw)
    rate = max(X.shape[0] / (b - a) for a, b in zip(timed, timed[1:]))
    return {"case": name, "samples_per_s": rate, "loss": model.history.rows[-1]["loss"], "data": source}


def _diagnostics(X, y):
    import fastmlp
    return [fastmlp.LayerDiagnostics(X[:256], y[:256])]


CALLBACKS = {"diagnostics": _diagnostics}


def measure(names, n, epochs, repeats):
    """Best samples/s per case over ``repeats`` fresh processes, cases alternating."""
    best = {}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            out = subprocess.run([sys.executable, "-m", "fastmlp.bench.features", "--one", name, "--n", str(n),
                                  "--epochs", str(epochs)], capture_output=True, text=True, env=dict(os.environ))
            if out.returncode != 0:
                raise RuntimeError(f"case {name} failed:\n{out.stderr[-2000:]}")
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            if name not in best or rec["samples_per_s"] > best[name]["samples_per_s"]:
                best[name] = rec
    return best


def table(best):
    """The Markdown table of ``measure``'s records: each case's samples/s and its ratios to its
    baseline and to plain SGD ('-' where that case was not measured)."""
    def ratio(name, base):
        return f"{best[name]['samples_per_s'] / best[base]['samples_per_s']:.2f}x" if base in best else "-"
    lines = ["| case | samples/s | vs baseline | baseline | vs plain SGD |", "|---|---|---|---|---|"]
    for name, rec in best.items():
        base = CASES[name][0]
        lines.append(f"| {name} | {rec['samples_per_s'] / 1e3:.1f}k | {ratio(name, base) if base else '-'} | "
                     f"{base or '-'} | {ratio(name, 'sgd') if name != 'sgd' else '-'} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastmlp.bench.features", description=__doc__.split("\n")[0])
    p.add_argument("--one", help="run one case in this process and print its JSON record")
    p.add_argument("--cases", nargs="*", default=list(CASES))
    p.add_argument("--n", type=int, default=16384, help="training rows (default 16384)")
    p.add_argument("--epochs", type=int, default=4, help="epochs timed after the warm-up (default 4)")
    p.add_argument("--repeats", type=int, default=2, help="fresh processes per case (default 2)")
    a = p.parse_args(argv)
    if a.one:
        print(json.dumps(run_case(a.one, a.n, a.epochs)))
        return 0
    unknown = sorted(set(a.cases) - set(CASES))
    if unknown:
        p.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    print(table(measure(a.cases, a.n, a.epochs, a.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
