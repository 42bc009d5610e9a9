"""The ``fastmlp`` command: demo, train, sweep, info and bench subcommands (argparse).

Errors from bad arguments or the library print one line, ``fastmlp: error: ...``,
and exit with status 2 (no traceback).
"""
import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time

from .checks import check_hidden_sizes, check_int_list
from .datasets.catalog import DATASET_NAMES, load_dataset


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2."""

    def error(self, message):
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _parsed(check, name, **options):
    """An argparse ``type`` that parses text with ``check(text, name, **options)`` (a fastmlp.checks function)."""
    def parse(text):
        try:
            return list(check(text, name, **options))
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def _floats(text):
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _nonempty(parse):
    """``parse`` refusing an empty list (a grid axis needs at least one value)."""
    def nonempty(text):
        values = parse(text)
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one value, got {text!r}")
        return values
    return nonempty


# -- subcommands ----------------------------------------------------------------------------------
def cmd_demo(args):
    from .demo import run_demo
    print(f"fastmlp demo: writing figures to {os.path.abspath(args.out)} (the first run in a fresh "
          "environment also compiles the Numba kernels, about a minute; later runs load them from the cache)")
    summary = run_demo(args.out, quick=args.quick, n_jobs=args.n_jobs)
    print(f"done in {summary['seconds']:.1f}s: {len(summary['figures'])} figures and summary.json in "
          f"{summary['output_folder']}")
    return 0


def cmd_train(args):
    from . import plots
    from .model import MLP
    data = load_dataset(args.dataset, args.n_samples, args.seed)
    layers = [data.n_features, *args.layers, data.n_classes]
    model = MLP(layers, activation=args.activation, init=args.init, backend=args.backend, seed=args.seed)
    print(f"training {model} on {data.name}: {data.n_train} training / {data.n_test} test samples")
    fit_kw = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                  schedule=args.schedule, verbose=0 if args.quiet else 2, seed=args.seed)
    if args.momentum:
        fit_kw["momentum"] = args.momentum
    if args.validation_split:
        fit_kw["validation_split"] = args.validation_split
    history = model.fit(data.X_train, data.y_train, **fit_kw)
    os.makedirs(args.out, exist_ok=True)
    result = {"dataset": data.name, "layers": layers, "epochs_run": len(history), "diverged": history.diverged}
    if data.n_test:
        result["test"] = model.evaluate(data.X_test, data.y_test)
        print(f"test loss {result['test']['loss']:.4f}  test accuracy {result['test']['accuracy']:.4f}")
    paths = {"model": model.save(os.path.join(args.out, "model.npz"))}
    paths["history"] = os.path.join(args.out, "history.json")
    with open(paths["history"], "w") as f:
        json.dump(dict(history.to_dict(), result=result), f, indent=1, default=float)
    paths["curves"] = os.path.join(args.out, "curves.png")
    plots.plot_history(history, title=f"{data.name}: MLP {'-'.join(map(str, layers))} {args.activation}, "
                       f"{args.optimizer} lr {args.lr:g}, batch {args.batch_size}", path=paths["curves"])
    if data.n_features in (64, 784):
        X, y = (data.X_test, data.y_test) if data.n_test else (data.X_train, data.y_train)
        paths["probabilities"] = os.path.join(args.out, "probabilities.png")
        plots.plot_probabilities(model, X, indices=range(min(6, len(X))), y=y, class_names=data.class_names,
                                 path=paths["probabilities"])
    elif data.n_features == 2:
        paths["boundary"] = os.path.join(args.out, "boundary.png")
        plots.plot_decision_boundary(model, data.X_train, data.y_train, path=paths["boundary"])
    for kind, p in paths.items():
        print(f"wrote {kind}: {p}")
    return 0


def cmd_sweep(args):
    from . import plots
    from .sweep import sweep
    data = load_dataset(args.dataset, args.n_samples, 0)
    grid = {"batch_size": args.batch_sizes, "lr": args.lrs}
    if args.seeds:
        grid["seed"] = args.seeds
    base = {"hidden": tuple(args.layers), "activation": args.activation, "epochs": args.epochs,
            "optimizer": args.optimizer}
    client = None
    if args.scheduler_address:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ValueError("--scheduler-address needs dask.distributed: pip install fastmlp[dask]") from None
        client = Client(args.scheduler_address)
    n_runs = len(args.batch_sizes) * len(args.lrs) * max(1, len(args.seeds or []))
    where = f"Dask scheduler {args.scheduler_address}" if client else f"{args.n_jobs or 'all'} process(es)"
    print(f"sweep on {data.name}: {n_runs} runs on {where}")
    t0 = time.perf_counter()
    try:
        result = sweep(data, grid, base=base, n_jobs=args.n_jobs, client=client, verbose=not args.quiet)
    finally:
        if client is not None:
            client.close()
    os.makedirs(args.out, exist_ok=True)
    paths = {"csv": result.to_csv(os.path.join(args.out, "sweep.csv")),
             "json": os.path.join(args.out, "sweep.json"),
             "heatmaps": os.path.join(args.out, "heatmaps.png"),
             "curves": os.path.join(args.out, "curves.png"),
             "lr_comparison": os.path.join(args.out, "lr_comparison.png")}
    result.to_json(paths["json"])
    title = f"{data.name}: batch size x learning rate, {args.epochs} epochs; hatched/div = diverged"
    plots.plot_sweep_heatmaps(result, title=title, path=paths["heatmaps"])
    plots.plot_sweep_curves(result, path=paths["curves"])
    plots.plot_lr_comparison(result, path=paths["lr_comparison"])
    print(f"{len(result)} runs in {time.perf_counter() - t0:.1f}s, "
          f"{sum(r['diverged'] for r in result.records)} diverged")
    for kind, p in paths.items():
        print(f"wrote {kind}: {p}")
    return 0


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def info():
    """Versions, threads, the Numba cache folder and which datasets are present, as a dict."""
    from . import __version__
    from .datasets import dataset_status
    from .threads import thread_info
    versions = {"fastmlp": __version__, "python": platform.python_version()}
    for name in ("numpy", "numba", "llvmlite", "scipy", "matplotlib", "scikit-learn", "threadpoolctl", "torch",
                 "jax", "dask", "distributed"):
        versions[name] = _version(name) or "not installed"
    from .kernels.intrinsics import kernel_cache_dir
    cache = kernel_cache_dir()
    return {"versions": versions, "threads": thread_info(), "numba_cache_dir": cache,
            "datasets": dataset_status()}


def cmd_info(args):
    data = info()
    if args.json:
        print(json.dumps(data, indent=1, default=str))
        return 0
    print("versions:")
    for k, v in data["versions"].items():
        print(f"  {k:14s} {v}")
    t = data["threads"]
    print(f"threads: numba {t['numba_threads']} of {t['numba_max_threads']} (layer: {t['threading_layer']}), "
          f"cores {t['cores']}")
    blas = t.get("blas")
    if isinstance(blas, list):
        for b in blas:
            print(f"  BLAS {b.get('internal_api')} {b.get('version')}: {b.get('num_threads')} threads "
                  f"({b.get('filepath')})")
    else:
        print(f"  BLAS: {blas}")
    print(f"numba cache: {data['numba_cache_dir']}")
    print("datasets:")
    for name, st in data["datasets"].items():
        where = st.get("path") or st.get("source") or ", ".join(st.get("searched", []))
        print(f"  {name:14s} {'present' if st['available'] else 'missing'}  {where}")
    return 0


def cmd_bench(argv):
    """``fastmlp bench ARGS``: the benchmark report; the benchmarks are imported only here."""
    try:
        from .bench.report import main as bench_main
    except ModuleNotFoundError as e:
        if e.name not in ("fastmlp.bench", "fastmlp.bench.report"):
            raise
        print("fastmlp: error: the benchmarks (fastmlp.bench) are not installed", file=sys.stderr)
        return 2
    return bench_main(argv) or 0


# -- parser ---------------------------------------------------------------------------------------
def build_parser():
    """The argparse parser of the ``fastmlp`` command."""
    p = _Parser(prog="fastmlp", description="Train multi-layer perceptrons on the CPU, fast.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("demo", help="train on built-in data and write figures and a JSON summary")
    d.add_argument("--out", default="fastmlp-demo", help="output folder (default ./fastmlp-demo)")
    d.add_argument("--quick", action="store_true", help="smaller grids and fewer epochs")
    d.add_argument("--n-jobs", type=int, default=1, help="worker processes for the sweeps (default 1)")

    t = sub.add_parser("train", help="train one MLP and save the model, history and figures")
    t.add_argument("--dataset", choices=DATASET_NAMES, default="circles")
    t.add_argument("--n-samples", type=int, default=None, help="points of a synthetic dataset")
    t.add_argument("--layers", type=_parsed(check_hidden_sizes, "layers"), default=[32],
                   help="hidden sizes, e.g. 256,128,64 (default 32)")
    t.add_argument("--activation", default="relu")
    t.add_argument("--init", default="auto")
    t.add_argument("--optimizer", default="sgd", choices=("sgd", "adam", "rmsprop", "adagrad"))
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    t.add_argument("--schedule", default=None, help="constant, step, exponential, inverse_time, cosine, ...")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--backend", default="numba", choices=("numba", "numpy", "loop"))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--validation-split", type=float, default=None, help="fraction held out, e.g. 0.1")
    t.add_argument("--out", default="fastmlp-train", help="output folder (default ./fastmlp-train)")
    t.add_argument("--quiet", action="store_true", help="no per-epoch lines")

    s = sub.add_parser("sweep", help="batch size x learning rate study with figures, CSV and JSON")
    s.add_argument("--dataset", choices=DATASET_NAMES, default="circles")
    s.add_argument("--n-samples", type=int, default=None)
    s.add_argument("--batch-sizes", type=_nonempty(_parsed(check_int_list, "batch-sizes", low=1)),
                   default=[1, 10, 50, 100, 200])
    s.add_argument("--lrs", type=_nonempty(_floats), default=[0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
    s.add_argument("--seeds", type=_nonempty(_parsed(check_int_list, "seeds", low=0)), default=None,
                   help="repeat each cell over these seeds")
    s.add_argument("--layers", type=_parsed(check_hidden_sizes, "layers"), default=[16])
    s.add_argument("--activation", default="tanh")
    s.add_argument("--optimizer", default="sgd", choices=("sgd", "adam", "rmsprop", "adagrad"))
    s.add_argument("--epochs", type=int, default=40)
    s.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: one per core)")
    s.add_argument("--scheduler-address", default=None, help="run on this Dask scheduler, e.g. tcp://host:8786")
    s.add_argument("--out", default="fastmlp-sweep")
    s.add_argument("--quiet", action="store_true")

    i = sub.add_parser("info", help="versions, threads, Numba cache and datasets")
    i.add_argument("--json", action="store_true", help="print as JSON")

    sub.add_parser("bench", add_help=False,
                   help="measure fastmlp against PyTorch, JAX and scikit-learn; Markdown report with charts "
                        "(see fastmlp bench --help)")
    return p


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "sweep": cmd_sweep, "info": cmd_info}


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 bad arguments or failure)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return cmd_bench(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except (_UsageError, ValueError, TypeError, FileNotFoundError, ImportError, KeyError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"fastmlp: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
