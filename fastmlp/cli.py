"""The ``fastmlp`` command (also ``python -m fastmlp``): demo, train, sweep, info and bench.

``fastmlp`` alone prints the version, the commands and examples; ``fastmlp COMMAND --help``
a command's options with their defaults. Words mean what they mean in the Python API:
``--hidden`` are the hidden-layer sizes (``MLP``'s ``layers`` is the whole list
``[inputs, *hidden, outputs]``), and ``--lr``, ``--batch-size``, ``--optimizer`` default to
``MLP.fit``'s values.

Every error is one line on stderr, ``fastmlp: error: ...``, with exit status 2 and no
traceback, before any work when it is about the arguments or the output folder; warnings
are one line ``fastmlp: warning: ...``. Output cut short by the reader (``fastmlp info
--json | head``) ends quietly.
"""
import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
import warnings

from .checks import check_hidden_sizes, check_int_list
from .datasets.catalog import DATASET_NAMES, SYNTHETIC, load_dataset

ACTIVATION_CHOICES = ("identity", "tanh", "sigmoid", "relu", "leaky_relu")
OPTIMIZER_CHOICES = ("sgd", "adam", "rmsprop", "adagrad")
BACKEND_CHOICES = ("numba", "numpy", "loop")
DOWNLOADABLE = {"mnist": "mnist", "fashion-mnist": "fashion_mnist"}  # CLI name -> fastmlp.datasets name


class _UsageError(Exception):
    """A mistake in the command line (argparse's, or one found before any work)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit 2 (raised, printed by :func:`main`)."""

    def error(self, message):
        raise _UsageError(f"{message} (see {self.prog} --help)")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that keeps the epilog's examples as written and appends each option's default
    (unless the help already says it, or there is none to say)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or not action.option_strings or action.default is None or action.default is False
                or action.default is argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


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


def _csv(values):
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


# -- shared steps ---------------------------------------------------------------------------------
def _set_threads(args):
    if getattr(args, "threads", None) is not None:
        from .threads import set_num_threads
        set_num_threads(args.threads)


def output_folder(path, option="--out"):
    """Create ``path`` (and its parents) and check a file can be written in it; returns its absolute path.

    Raises ``_UsageError`` naming the problem (a file is in the way, no permission, an
    impossible path) so the command stops before any work.
    """
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise _UsageError(f"{option} {path} is a file, not a folder: give a folder to write the results into")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        reason = e.strerror or str(e)
        raise _UsageError(f"{option} {path} cannot be used as the output folder: {reason}") from None
    return path


def _dataset(args, seed):
    """The dataset of ``--dataset``, fetched first with ``--download``; a missing one is an
    error saying where it was searched and how to get it (with this command's words)."""
    name = args.dataset
    if getattr(args, "download", False) and name in DOWNLOADABLE:
        from . import datasets
        key = DOWNLOADABLE[name]
        if datasets.find_dataset(key) is None:
            print(f"downloading {name} into {datasets.cache_dir(key)} (SHA-256 checked) ...", flush=True)
            getattr(datasets, key)(download=True)
    try:
        return load_dataset(name, args.n_samples, seed)
    except FileNotFoundError as e:
        message = str(e).replace("pass download=True to fetch it", "add --download to fetch it")
        message = message.replace(" (or data_home)", "")  # a Python argument the command does not have
        raise FileNotFoundError(message) from None


# -- subcommands ----------------------------------------------------------------------------------
def cmd_demo(args):
    from .demo import run_demo
    out = output_folder(args.out)
    _set_threads(args)
    print(f"fastmlp demo: writing figures and summary.json to {out}", flush=True)
    summary = run_demo(out, quick=args.quick, n_jobs=args.n_jobs, log=lambda line: print(line, flush=True))
    print(f"done in {summary['seconds']:.1f}s: {len(summary['figures'])} figures and summary.json in "
          f"{summary['output_folder']}")
    return 0


def _hidden(args):
    """The hidden sizes from --hidden, or from the deprecated --layers (with a warning)."""
    if args.layers is not None:
        if args.hidden is not None:
            raise _UsageError("give --hidden only (--layers is its deprecated name)")
        warnings.warn("--layers is deprecated and will be removed: it gives the hidden-layer sizes, while "
                      "layers in Python (MLP(layers=...)) is the whole list [inputs, *hidden, outputs]; "
                      f"use --hidden {_csv(args.layers)}", FutureWarning, stacklevel=1)
        return args.layers
    return args.hidden if args.hidden is not None else [32]


def cmd_train(args):
    from . import plots
    from .model import MLP
    from .progress import kernel_notice, warm_up
    from .sweep import json_ready
    hidden = _hidden(args)
    out = output_folder(args.out)
    _set_threads(args)
    data = _dataset(args, args.seed)
    layers = [data.n_features, *hidden, data.n_classes]
    model = MLP(layers, activation=args.activation, init=args.init, backend=args.backend, seed=args.seed)
    fit_kw = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                  schedule=args.schedule, seed=args.seed)
    if args.momentum:
        fit_kw["momentum"] = args.momentum
    if args.validation_split:
        fit_kw["validation_split"] = args.validation_split
    print(f"training MLP {'-'.join(map(str, layers))} {args.activation} ({args.backend}) on {data.name}: "
          f"{data.n_train} training / {data.n_test} test samples", flush=True)
    if args.backend == "numba":
        kernel_notice(lambda: warm_up(model, data.X_train, data.y_train, **fit_kw),
                      log=lambda line: print(line, flush=True))
    history = model.fit(data.X_train, data.y_train, verbose=0 if args.quiet else 1, **fit_kw)
    result = {"dataset": data.name, "layers": layers, "epochs_run": len(history), "diverged": history.diverged}
    if data.n_test:
        result["test"] = model.evaluate(data.X_test, data.y_test)
        print(f"test loss {result['test']['loss']:.4f}  test accuracy {result['test']['accuracy']:.4f}")
    paths = {"model": model.save(os.path.join(out, "model.npz"))}
    paths["history"] = os.path.join(out, "history.json")
    with open(paths["history"], "w") as f:
        json.dump(json_ready(dict(history.to_dict(epoch_base=1), result=result)), f, indent=1, allow_nan=False)
    paths["curves"] = os.path.join(out, "curves.png")
    plots.plot_history(history, title=f"{data.name}: MLP {'-'.join(map(str, layers))} {args.activation}, "
                       f"{args.optimizer} lr {args.lr:g}, batch {args.batch_size}", path=paths["curves"])
    if data.n_features in (64, 784):
        X, y = (data.X_test, data.y_test) if data.n_test else (data.X_train, data.y_train)
        paths["probabilities"] = os.path.join(out, "probabilities.png")
        plots.plot_probabilities(model, X, indices=range(min(6, len(X))), y=y, class_names=data.class_names,
                                 path=paths["probabilities"])
    elif data.n_features == 2:
        paths["boundary"] = os.path.join(out, "boundary.png")
        plots.plot_decision_boundary(model, data.X_train, data.y_train, path=paths["boundary"],
                                     points="training")
    for kind, p in paths.items():
        print(f"wrote {kind}: {p}")
    return 0


def cmd_sweep(args):
    from . import plots
    from .model import MLP
    from .progress import kernel_notice, warm_up
    from .sweep import sweep
    hidden = _hidden(args)
    out = output_folder(args.out)
    _set_threads(args)
    data = _dataset(args, 0)
    grid = {"batch_size": args.batch_sizes, "lr": args.lrs}
    if args.seeds:
        grid["seed"] = args.seeds
    base = {"hidden": tuple(hidden), "activation": args.activation, "epochs": args.epochs,
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
    print(f"sweep on {data.name}: {n_runs} runs on {where}", flush=True)

    def rehearse():  # here, once: the workers then load the kernels from the cache
        model = MLP([data.n_features, *hidden, data.n_classes], activation=args.activation, seed=0)
        for batch_size in args.batch_sizes:  # batch 1 trains with its own kernel
            warm_up(model, data.X_train, data.y_train, batch_size=batch_size, optimizer=args.optimizer,
                    lr=min(args.lrs))
    if client is None:
        kernel_notice(rehearse, log=lambda line: print(line, flush=True))
    t0 = time.perf_counter()
    try:
        result = sweep(data, grid, base=base, n_jobs=args.n_jobs, client=client, verbose=not args.quiet)
    finally:
        if client is not None:
            client.close()
    paths = {"csv": result.to_csv(os.path.join(out, "sweep.csv")),
             "json": os.path.join(out, "sweep.json"),
             "heatmaps": os.path.join(out, "heatmaps.png"),
             "curves": os.path.join(out, "curves.png"),
             "lr_comparison": os.path.join(out, "lr_comparison.png")}
    result.to_json(paths["json"])
    title = f"{data.name}: batch size x learning rate, {args.epochs} epochs"
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
        raise ImportError("the benchmarks (fastmlp.bench) are not installed: install fastmlp from its "
                          "repository (pip install -e .)") from None
    return bench_main(argv) or 0


# -- parser ---------------------------------------------------------------------------------------
DESCRIPTION = """fastmlp {version}: train multi-layer perceptrons on the CPU, fast.

The first command of a fresh install compiles the kernels (tens of seconds, said on screen);
they are cached for every later run."""

EXAMPLES = """examples:
  fastmlp demo                              every study, as figures (writes ./fastmlp-demo)
  fastmlp train --dataset circles --hidden 16 --lr 0.1
  fastmlp train --dataset fashion-mnist --download --hidden 256,128,64 --batch-size 64 --epochs 50
  fastmlp sweep --batch-sizes 1,10,100 --lrs 0.01,0.1,1
  fastmlp info                              versions, threads, cache folder, datasets present

fastmlp COMMAND --help shows a command's options and their defaults."""

TRAIN_EXAMPLES = """examples:
  fastmlp train                                          circles, one hidden layer of 32 ReLU units
  fastmlp train --dataset spirals --hidden 64,64 --optimizer adam --epochs 100
  fastmlp train --dataset fashion-mnist --download --hidden 256,128,64 --batch-size 64 --epochs 50

Writes model.npz (fastmlp.load reads it), history.json (one row per epoch, epochs counted
from 1 as on screen), curves.png and, for images, probabilities.png or, for 2-D data,
boundary.png. samples/s is training samples per second of each epoch's training pass
(validation excluded)."""

SWEEP_EXAMPLES = """examples:
  fastmlp sweep                                          the default 5 x 6 grid on circles
  fastmlp sweep --batch-sizes 1,10,100 --lrs 0.01,0.1,1 --seeds 0,1,2
  fastmlp sweep --dataset moons --hidden 32,32 --optimizer adam --lrs 0.001,0.01,0.1

Writes sweep.csv, sweep.json and figures: heatmaps of the final test accuracy and of the
training wall time (kernels compiled beforehand, not counted), the loss curves of every
cell, and the learning rates compared (each averaged over the batch sizes)."""

DEMO_EXAMPLES = """examples:
  fastmlp demo
  fastmlp demo --quick --out /tmp/demo

Circles, spirals, a batch size x learning rate sweep, initialisation sensitivity, the 8x8
digits with predicted probabilities (needs scikit-learn: pip install scikit-learn),
signal propagation, the cost of a gradient and a hand-built network approximating sin."""

BENCH_HELP = ("measure training speed: fastmlp's numba, NumPy and loop variants and, when installed, PyTorch, "
              "JAX and scikit-learn; Markdown report with charts (fastmlp bench --help)")


def _add_threads(p):
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads for Numba and BLAS in this process (fastmlp.set_num_threads; default: "
                        "Numba's default, one per core)")


def _add_data(p):
    p.add_argument("--dataset", choices=DATASET_NAMES, default="circles",
                   help="data to train on: synthetic 2-D problems, scikit-learn's 8x8 digits, or MNIST / "
                        "Fashion-MNIST (see --download)")
    p.add_argument("--n-samples", type=int, default=None, metavar="N",
                   help=f"points of a synthetic dataset ({', '.join(SYNTHETIC)}; default: 400, 80%% of them "
                        "for training)")
    p.add_argument("--download", action="store_true",
                   help="fetch MNIST or Fashion-MNIST into the user cache when no folder holds them "
                        "(SHA-256 checked)")


def _add_network(p, hidden_default, activation_default):
    p.add_argument("--hidden", type=_parsed(check_hidden_sizes, "--hidden"), default=None, metavar="SIZES",
                   help="hidden-layer sizes, comma-separated, e.g. 256,128,64; the network is [inputs, *hidden, "
                        f"classes] (default: {hidden_default})")
    p.add_argument("--layers", type=_parsed(check_hidden_sizes, "--layers"), default=None,
                   help=argparse.SUPPRESS)  # deprecated name of --hidden
    p.add_argument("--activation", choices=ACTIVATION_CHOICES, default=activation_default,
                   help="activation of the hidden layers")
    p.add_argument("--optimizer", choices=OPTIMIZER_CHOICES, default="sgd", help="optimizer, as in MLP.fit")


def build_parser():
    """The argparse parser of the ``fastmlp`` command."""
    from . import __version__
    from .initializers import INIT_NAMES
    from .schedules import SCHEDULES
    p = _Parser(prog="fastmlp", description=DESCRIPTION.format(version=__version__), epilog=EXAMPLES,
                formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"fastmlp {__version__} (Python "
                   f"{platform.python_version()}, NumPy {_version('numpy')}, Numba {_version('numba')})")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, title="commands")

    d = sub.add_parser("demo", help="train on built-in data and write every figure and a JSON summary",
                       description="Run every study on built-in data and write its figures and summary.json.",
                       epilog=DEMO_EXAMPLES, formatter_class=_Formatter)
    d.add_argument("--out", default="fastmlp-demo", help="output folder, created if needed")
    d.add_argument("--quick", action="store_true", help="smaller grids and fewer epochs (a few seconds)")
    d.add_argument("--n-jobs", type=int, default=1, metavar="N",
                   help="worker processes for the sweeps (1: all in this process)")
    _add_threads(d)

    t = sub.add_parser("train", help="train one MLP and save the model, its history and figures",
                       description="Train one MLP on a dataset; save the model, its history and figures.",
                       epilog=TRAIN_EXAMPLES, formatter_class=_Formatter)
    _add_data(t)
    _add_network(t, "32", "relu")
    t.add_argument("--init", choices=INIT_NAMES, default="auto", metavar="INIT",
                   help="weight initialisation: auto (He after ReLU-like layers, Glorot otherwise), "
                        "glorot_uniform, he_normal, lecun_normal, ... (as MLP's init)")
    t.add_argument("--lr", type=float, default=0.01, help="learning rate, as in MLP.fit")
    t.add_argument("--momentum", type=float, default=0.0, help="momentum of --optimizer sgd")
    t.add_argument("--schedule", choices=sorted(SCHEDULES), default=None,
                   help="learning-rate schedule over the epochs (default: constant)")
    t.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help="samples per gradient step; 1 is online SGD, more than the data is full batch")
    t.add_argument("--epochs", type=int, default=20, metavar="N", help="passes over the training data")
    t.add_argument("--validation-split", type=float, default=None, metavar="F",
                   help="fraction of the training data held out for validation, e.g. 0.1 (default: none)")
    t.add_argument("--backend", choices=BACKEND_CHOICES, default="numba",
                   help="implementation: numba (fast), numpy or loop (readable references, same numbers)")
    t.add_argument("--seed", type=int, default=0, help="seeds the data, the initial weights and the shuffling")
    t.add_argument("--out", default="fastmlp-train", help="output folder, created if needed")
    t.add_argument("--quiet", action="store_true", help="no progress display")
    _add_threads(t)

    s = sub.add_parser("sweep", help="batch size x learning rate study with figures, CSV and JSON",
                       description="Train one model per (batch size, learning rate[, seed]) and compare them.",
                       epilog=SWEEP_EXAMPLES, formatter_class=_Formatter)
    _add_data(s)
    s.add_argument("--batch-sizes", type=_nonempty(_parsed(check_int_list, "--batch-sizes", low=1)),
                   default=[1, 10, 50, 100, 200], metavar="LIST",
                   help="batch sizes, comma-separated (default: 1,10,50,100,200)")
    s.add_argument("--lrs", type=_nonempty(_floats), default=[0.01, 0.05, 0.1, 0.5, 1.0, 5.0], metavar="LIST",
                   help="learning rates, comma-separated (default: 0.01,0.05,0.1,0.5,1,5)")
    s.add_argument("--seeds", type=_nonempty(_parsed(check_int_list, "--seeds", low=0)), default=None,
                   metavar="LIST", help="repeat each cell over these seeds, e.g. 0,1,2 (default: seed 0 only)")
    _add_network(s, "16", "tanh")
    s.add_argument("--epochs", type=int, default=40, metavar="N", help="epochs of every run")
    s.add_argument("--n-jobs", type=int, default=None, metavar="N",
                   help="worker processes, one thread each (default: one per core)")
    s.add_argument("--scheduler-address", default=None, metavar="ADDRESS",
                   help="run on this Dask scheduler instead, e.g. tcp://host:8786 (default: local processes)")
    s.add_argument("--out", default="fastmlp-sweep", help="output folder, created if needed")
    s.add_argument("--quiet", action="store_true", help="no line per finished run")
    _add_threads(s)

    i = sub.add_parser("info", help="versions, threads, Numba cache folder and datasets present",
                       description="Versions, threads, threading layer, BLAS, cache folder and datasets present.",
                       epilog="examples:\n  fastmlp info\n  fastmlp info --json | head", formatter_class=_Formatter)
    i.add_argument("--json", action="store_true", help="print as JSON")

    sub.add_parser("bench", add_help=False, help=BENCH_HELP)
    return p


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "sweep": cmd_sweep, "info": cmd_info}
# The mistakes a command reports as one line (anything else is a bug: its traceback is shown).
EXPECTED_ERRORS = (_UsageError, ValueError, TypeError, OSError, ImportError, MemoryError)


def _one_line(message):
    """A possibly multi-line message as one line: its lines joined (by '; ' unless a line ends
    a sentence or introduces a list), list marks dropped."""
    lines = [ln.strip().removeprefix("- ") for ln in str(message).strip().splitlines()]
    out = ""
    for ln in filter(None, lines):
        out += ln if not out else (" " if out.endswith((":", ".")) else "; ") + ln
    return out


@contextlib.contextmanager
def _warnings_as_lines():
    """Warnings printed as ``fastmlp: warning: ...`` on one line (no file and line of the library)."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"fastmlp: warning: {_one_line(message)}", file=sys.stderr if file is None else file, flush=True)
    saved = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


def _run(argv):
    if argv and argv[0] == "bench":
        return cmd_bench(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    if args.command is None:
        print(parser.format_help(), end="")
        return 0
    for name in ("epochs", "batch_size", "n_samples", "n_jobs", "threads"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise _UsageError(f"--{name.replace('_', '-')} must be a positive integer; got {value}")
    return COMMANDS[args.command](args)


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 2 a mistake in the arguments, the
    data or the output folder, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _warnings_as_lines():
            return _run(argv)
    except BrokenPipeError:  # the reader stopped reading (fastmlp info --json | head): end quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail again
        return 1
    except EXPECTED_ERRORS as e:
        message = _one_line(e) or type(e).__name__
        if isinstance(e, MemoryError):
            message = f"not enough memory: {message} (smaller --hidden, --batch-size or data?)"
        print(f"fastmlp: error: {message}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
