"""What each training option costs in speed on fashion-b64: one fresh process per case.

Each case trains the fashion-b64 network (784-256-128-64-10 relu, batch 64, float32) with
``MLP.fit`` on the first ``n`` Fashion-MNIST training images, with one option switched on
(the case's model and fit keywords), and reports the best epoch's samples/s after a
warm-up epoch (compiling and loading excluded; an epoch's time runs from one epoch's end
to the next, so it includes what callbacks do). The cases run in fresh interpreters, in
alternating order, ``repeats`` times each, and the best run is kept: this VM has
per-process slow spells. ``python -m fastmlp.bench.features`` prints a Markdown table with
the ratio of each case to its baseline (plain SGD, or the same optimizer without the option).
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
    "adam_l2": ("adam", {}, dict(ADAM, l2=1e-4)),
    "adam_clip_norm": ("adam", {}, dict(ADAM, clip_norm=5.0)),
    "diagnostics": ("sgd", {}, {"callbacks": "diagnostics"}),
}
COMMON_FIT = {"batch_size": 64, "lr": 0.01, "verbose": 0, "seed": 0}
LAYERS = [784, 256, 128, 64, 10]


def run_case(name, n, epochs):
    """Train one case in this process; {'samples_per_s': best epoch after the first}."""
    import numpy as np

    import fastmlp
    from fastmlp.bench.workloads import load_data

    _, model_kw, fit_kw = CASES[name]
    X, y, source = load_data("mnist-size", n)
    kw = dict(COMMON_FIT, **fit_kw)
    if kw.get("sample_weight") == "random":
        kw["sample_weight"] = np.random.default_rng(0).uniform(0.5, 1.5, X.shape[0])
    ends = []  # wall time at each epoch's end, after every other callback: the epoch's whole cost
    made = CALLBACKS[kw.pop("callbacks")](X, y) if "callbacks" in kw else []
    kw["callbacks"] = made + [lambda epoch, logs: ends.append(time.perf_counter())]
    model = fastmlp.MLP(LAYERS, seed=0, **model_kw)
    model.fit(X, y, epochs=epochs, **kw)
    rate = max(X.shape[0] / (b - a) for a, b in zip(ends, ends[1:]))  # epoch 1 (compiling) excluded
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
    lines = ["| case | samples/s | vs baseline | baseline |", "|---|---|---|---|"]
    for name, rec in best.items():
        base = CASES[name][0]
        ratio = f"{rec['samples_per_s'] / best[base]['samples_per_s']:.2f}x" if base in best else "-"
        lines.append(f"| {name} | {rec['samples_per_s'] / 1e3:.1f}k | {ratio} | {base or '-'} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastmlp.bench.features", description=__doc__.split("\n")[0])
    p.add_argument("--one", help="run one case in this process and print its JSON record")
    p.add_argument("--cases", nargs="*", default=list(CASES))
    p.add_argument("--n", type=int, default=16384, help="training rows (default 16384)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up (default 3)")
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
