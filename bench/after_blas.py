"""fastmlp's work on Numba's threads right after work on OpenBLAS's threads, with OpenBLAS's idle threads spinning
briefly (``fastmlp.blas_spin``: NumPy imported after fastmlp, or before it and OpenBLAS restarted at fastmlp's first
kernel) or for OpenBLAS's default (``OPENBLAS_THREAD_TIMEOUT=28`` set by the user, which fastmlp keeps).

Each way runs in fresh processes, alternated; each process trains the fashion net (random data of its shape) and
measures, after each of a few calls on the BLAS's threads (and after nothing, or after a call on Numba's threads):
Adam at batch 64 over 2 epochs of 8,192 samples (samples/s), and ``predict`` of 10,000 rows (ms, the median of the
10 calls that follow). Prints a Markdown table of the medians over the processes of each way.

    python -m fastmlp.bench.after_blas [--processes 3] [--rounds 4]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

WAYS = {  # name: (the child's first imports, its environment's additions)
    "short spin, fastmlp imported first": ("import fastmlp\nimport numpy as np", {}),
    "short spin, NumPy imported first": ("import numpy as np\nimport fastmlp", {}),
    "OpenBLAS's default spin": ("import numpy as np\nimport fastmlp", {"OPENBLAS_THREAD_TIMEOUT": "28"}),
}

CHILD = """
{imports}
import json, time
rng = np.random.default_rng(0)
X = rng.random((8192, 784), dtype=np.float32); y = rng.integers(0, 10, 8192)
Xv = rng.random((10000, 784), dtype=np.float32); yv = rng.integers(0, 10, 10000)
big = rng.random((1024, 1024), dtype=np.float32)
model = fastmlp.MLP([784, 256, 128, 64, 10], activation="relu", seed=0)
sgd = dict(optimizer="sgd", lr=0.01, batch_size=64, verbose=False)
adam = dict(optimizer="adam", lr=1e-3, batch_size=64, verbose=False)
before = {{"nothing": lambda: None, "predict of 10,000 rows (Numba's threads)": lambda: model.predict(Xv),
          "evaluate of 10,000 rows": lambda: model.evaluate(Xv, yv),
          "NumPy product 1024 x 1024 x 1024": lambda: big @ big,
          "plain SGD epoch": lambda: model.fit(X, y, epochs=1, **sgd)}}
t0 = time.perf_counter()
while time.perf_counter() - t0 < 8:  # both kernels compiled or loaded, the cut one too
    model.fit(X, y, epochs=2, **sgd); model.fit(X, y, epochs=2, **adam); model.predict(Xv)
out = {{"adam": {{k: [] for k in before}}, "predict": {{k: [] for k in before}}}}
for r in range({rounds}):
    for name, call in before.items():
        model.fit(X, y, epochs=1, **adam)
        call()
        t = time.perf_counter(); model.fit(X, y, epochs=2, **adam)
        out["adam"][name].append(2 * 8192 / (time.perf_counter() - t))
        model.fit(X, y, epochs=1, **adam)
        call()
        times = []
        for _ in range(10):
            t = time.perf_counter(); model.predict(Xv); times.append(time.perf_counter() - t)
        out["predict"][name].append(sorted(times)[5])
print(json.dumps({{m: {{k: sorted(v)[len(v) // 2] for k, v in d.items()}} for m, d in out.items()}}))
"""


def run(processes, rounds):
    """{way: [each process's medians]}, the ways' processes alternated."""
    got = {way: [] for way in WAYS}
    for p in range(processes):
        for way in (list(WAYS) if p % 2 == 0 else list(WAYS)[::-1]):
            imports, extra = WAYS[way]
            env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
            code = CHILD.format(imports=imports, rounds=rounds)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env={**env, **extra}).stdout
            got[way].append(json.loads(out.strip().splitlines()[-1]))
    return got


def table(got):
    """The Markdown table of the medians over each way's processes: a row per measurement, a column per way."""
    ways = list(got)
    before = list(got[ways[0]][0]["adam"])
    lines = ["| measured | " + " | ".join(ways) + " |", "|---|" + "---|" * len(ways)]
    for name in before:
        adam = [statistics.median(p["adam"][name] for p in got[w]) for w in ways]
        lines.append(f"| Adam b64 (samples/s) after {name} | " + " | ".join(f"{a / 1e3:.1f}k" for a in adam) + " |")
    for name in before:
        pred = [statistics.median(p["predict"][name] for p in got[w]) for w in ways]
        lines.append(f"| predict 10k (ms) after {name} | " + " | ".join(f"{s * 1e3:.1f}" for s in pred) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per way (default 3)")
    parser.add_argument("--rounds", type=int, default=4, help="measurements per case in each process (default 4)")
    args = parser.parse_args(argv)
    print(table(run(args.processes, args.rounds)))


if __name__ == "__main__":
    main()
