"""The ``fastmlp`` command (also ``python -m fastmlp``): demo, train, sweep, lr-find, info and bench.

``fastmlp`` alone prints the version, the commands and examples; ``fastmlp COMMAND --help``
a command's options with their defaults. Words mean what they mean in the Python API:
``--hidden`` are the hidden-layer sizes (``MLP``'s ``layers`` is the whole list
``[inputs, *hidden, outputs]``), and ``--lr``, ``--batch-size``, ``--optimizer`` default to
``MLP.fit``'s values.

Every error is one line on stderr, ``fastmlp: error: ...``, with exit status 2 and no
traceback, before any work when it is about the arguments or the output folder; warnings
are one line ``fastmlp: warning: ...``. ``--set KEY=VALUE`` and ``sweep --grid KEY=V1,V2`` name
settings as Python does (``fastmlp.settings``), so an option added to ``MLP`` or ``fit`` can be
given at once; an unknown name is refused with the list of known ones. Output cut short by
the reader (``fastmlp info --json | head``) ends quietly.
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
OPTIMIZER_CHOICES = ("sgd", "adam", "adamw", "rmsprop", "adagrad")  # fastmlp.optimizers.DEFAULTS (a test ties them)
BACKEND_CHOICES = ("numba", "numpy", "loop")
SAMPLING_CHOICES = ("epoch", "replacement")  # fastmlp.trainer.SAMPLINGS (a test ties them)
MONITOR_CHOICES = ("loss", "accuracy", "val_loss", "val_accuracy")  # fastmlp.checkpoint.MONITORS (a test ties them)
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


def setting_value(text):
    """A setting's value from its text: none, true/false, an int, a float, a list written
    with ':' (``64:32`` is (64, 32)), else the text itself (a name such as ``he_normal``)."""
    text = text.strip()
    if ":" in text:
        return tuple(setting_value(part) for part in text.split(":") if part.strip())
    if text.lower() in ("none", "null"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _key_and_text(text, option):
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key or not value.strip():
        raise argparse.ArgumentTypeError(f"{option} takes KEY=VALUE, e.g. {option} lr=0.1; got {text!r}")
    return key, value


def _assignment(text):
    """``--set KEY=VALUE``: (key, value); a value with commas is a list (``hidden=64,32``)."""
    key, value = _key_and_text(text, "--set")
    value = value.replace(",", ":") if "," in value else value
    return key, setting_value(value)


def _grid_axis(text):
    """``--grid KEY=V1,V2,...``: (key, [values]); a value that is a list is written with ':'."""
    key, value = _key_and_text(text, "--grid")
    values = [setting_value(v) for v in value.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"--grid {key}= needs at least one value")
    return key, values


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


def _dataset(args, seed, **data_settings):
    """The dataset of ``--dataset`` (with the data settings n_samples, noise, test_size),
    fetched first with ``--download``; a missing one is an error saying where it was searched
    and how to get it (with this command's words)."""
    name = args.dataset
    if getattr(args, "download", False) and name in DOWNLOADABLE:
        from . import datasets
        key = DOWNLOADABLE[name]
        if datasets.find_dataset(key) is None:
            print(f"downloading {name} into {datasets.cache_dir(key)} (SHA-256 checked) ...", flush=True)
            getattr(datasets, key)(download=True)
    try:
        return load_dataset(name, seed=seed, **data_settings)
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
    """The hidden sizes from --hidden, or from the deprecated --layers (with a warning); None
    when neither is given."""
    if args.layers is not None:
        if args.hidden is not None:
            raise _UsageError("give --hidden only (--layers is its deprecated name)")
        warnings.warn("--layers is deprecated and will be removed: it gives the hidden-layer sizes, while "
                      "layers in Python (MLP(layers=...)) is the whole list [inputs, *hidden, outputs]; "
                      f"use --hidden {_csv(args.layers)}", FutureWarning, stacklevel=1)
        return args.layers
    return args.hidden


#: Options whose value is the setting of the same name (``fastmlp.settings``) when given.
SETTING_OPTIONS = ("activation", "init", "init_std", "init_bound", "bias_init", "backend", "optimizer", "lr",
                   "momentum", "nesterov", "beta1", "beta2", "eps", "weight_decay", "decoupled_weight_decay", "l2", "l1",
                   "clip_norm", "clip_value", "schedule", "dropout", "sampling", "batch_size",
                   "epochs", "shuffle", "drop_last", "validation_split", "n_samples", "noise", "test_size", "seed")
SHAPE_SETTINGS = ("hidden", "width", "depth")


def _option(name):
    return "--no-shuffle" if name == "shuffle" else "--" + name.replace("_", "-")


def command_settings(args, default_hidden):
    """Every setting the command line states, flat, by ``fastmlp.settings`` names: the options of
    :data:`SETTING_OPTIONS` (those given, or with a default), ``--hidden``, ``--schedule`` with its
    ``--schedule-param`` values, then each ``--set KEY=VALUE``.

    A key set twice (by an option and ``--set``, or by two ``--set``) and an unknown key are
    errors; the hidden sizes default to ``default_hidden`` (unless None) when none of hidden,
    width or depth is set.
    """
    from .schedules import make_schedule
    from .settings import check_keys
    defaults = vars(build_parser().parse_args([args.command]))
    out, given = {}, {}
    for name in SETTING_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
            if value != defaults.get(name):
                given[name] = _option(name)
    hidden = _hidden(args)
    if hidden is not None:
        out["hidden"], given["hidden"] = tuple(hidden), "--hidden"
    params = dict(getattr(args, "schedule_param", None) or [])
    if params:
        if args.schedule is None:
            raise _UsageError("--schedule-param needs --schedule NAME (the schedule it parametrises)")
        out["schedule"] = make_schedule(args.schedule, **params)
    for key, value in getattr(args, "set", None) or []:
        if key in given:
            raise _UsageError(f"{key} is given twice: by {given[key]} and by --set {key}=...; give it once")
        out[key], given[key] = value, f"--set {key}=..."
    check_keys(out)
    if default_hidden is not None and not any(k in out for k in SHAPE_SETTINGS):
        out["hidden"] = tuple(default_hidden)
    return out


def _model_and_data(args, settings):
    """``(out, data, X, y, layers, model, trainer_kw, fit_kw)`` of the command's ``settings``: the
    output folder (checked), the dataset (with its data settings and ``n_train`` subset, the
    training rows X, y) and a fresh MLP sized to it."""
    from .model import MLP
    from .settings import hidden_sizes, split_settings
    from .sweep import train_subset
    hidden = hidden_sizes(settings)
    model_kw, trainer_kw, fit_kw, data_kw = split_settings(settings)
    out = output_folder(args.out)
    _set_threads(args)
    seed = settings["seed"]  # --seed, or --set seed=...
    n_train = data_kw.pop("n_train", None)
    data = _dataset(args, data_kw.pop("data_seed", seed), **data_kw)
    X, y = data.X_train, data.y_train
    if n_train is not None:
        X, y = train_subset(X, y, n_train, seed)
    layers = [data.n_features, *hidden, 1 if model_kw.get("loss") == "bce" else data.n_classes]
    return out, data, X, y, layers, MLP(layers, **model_kw), trainer_kw, fit_kw


def _resumed(model, path, epochs, trainer_kw):
    """``model`` (built from the options) continuing the checkpoint at ``path``: its weights,
    optimizer state and history; the epochs left to train. A checkpoint whose network,
    optimizer or epoch count disagrees with the options is refused (ValueError)."""
    from .model import MLP
    from .trainer import Trainer
    try:
        saved = MLP.load(path)
    except OSError as e:
        raise ValueError(f"--resume {path}: cannot read the checkpoint: {e.strerror or e}") from None
    mine, theirs = model.arch, saved.arch
    for what, a, b in (("layers", mine.layers, theirs.layers), ("activation", mine.activation, theirs.activation),
                       ("loss", mine.loss, theirs.loss), ("leaky_slope", mine.leaky_slope, theirs.leaky_slope),
                       ("dtype", mine.dtype, theirs.dtype), ("dropout", model.dropout, saved.dropout)):
        if a != b:
            raise ValueError(f"--resume {path}: the checkpoint's {what} is {_shown(b)} but the options give "
                             f"{_shown(a)}; give the options of the run that wrote it")
    done = 0 if saved.history is None else len(saved.history)
    if done >= epochs:
        raise ValueError(f"--resume {path}: the checkpoint already has {done} epochs and --epochs is {epochs}; "
                         f"give --epochs above {done} (the total, counted from the start of the run)")
    optimizer = Trainer(model, **trainer_kw).optimizer
    if saved.optimizer_state is not None and not saved.optimizer_state.fits(optimizer, mine.n_params, mine.dtype):
        state = saved.optimizer_state
        differ = {k: (v, optimizer.hyper.get(k)) for k, v in state.hyper.items() if optimizer.hyper.get(k) != v}
        said = (f"{state.name} but the options give {optimizer.name}" if state.name != optimizer.name else
                ", ".join(f"{k}={a} but the options give {k}={b}" for k, (a, b) in differ.items()))
        raise ValueError(f"--resume {path}: the checkpoint was trained with {said}; give the options of the run that "
                         "wrote it")
    model.params[...] = saved.params
    model.optimizer_state, model.history = saved.optimizer_state, saved.history
    return epochs - done


def _shown(value):
    return _csv(value) if isinstance(value, tuple) else str(value)


def _train_callbacks(args, out, has_validation):
    """The ModelCheckpoint and CSVLogger callbacks of --checkpoint-every, --checkpoint-best and
    --csv-log (checkpoints first: their mistakes stop the run before the log is started)."""
    from .checkpoint import ModelCheckpoint
    from .csvlog import CSVLogger
    callbacks = []
    if args.checkpoint_every is not None:
        folder = output_folder(os.path.join(out, "checkpoints"), "--checkpoint-every")
        callbacks.append(ModelCheckpoint(os.path.join(folder, "epoch{epoch:03d}.npz"), every=args.checkpoint_every))
    if args.checkpoint_best is not None:
        monitor = None if args.checkpoint_best == "auto" else args.checkpoint_best
        if (monitor or "").startswith("val_") and not has_validation:
            raise _UsageError(f"--checkpoint-best {monitor} needs validation data: add --validation-split F")
        callbacks.append(ModelCheckpoint(os.path.join(out, "best.npz"), monitor=monitor, save_best_only=True))
    if args.csv_log is not None:
        path = os.path.abspath(os.path.expanduser(args.csv_log or os.path.join(out, "history.csv")))
        callbacks.append(CSVLogger(path))
    return callbacks


def cmd_train(args):
    from . import plots
    from .progress import kernel_notice, warm_up
    from .sweep import json_ready
    from .trainer import Trainer
    settings = command_settings(args, default_hidden=[32])
    out, data, X, y, layers, model, trainer_kw, fit_kw = _model_and_data(args, settings)
    callbacks = _train_callbacks(args, out, bool(fit_kw.get("validation_split")))
    if args.resume is not None:
        fit_kw["epochs"] = _resumed(model, args.resume, fit_kw["epochs"], trainer_kw)
    trainer = Trainer(model, **trainer_kw)
    activation = settings["activation"]
    activation = _csv(activation) if isinstance(activation, (list, tuple)) else activation
    print(f"training MLP {'-'.join(map(str, layers))} {activation} ({model.backend}) on {data.name}: "
          f"{len(X)} training / {data.n_test} test samples", flush=True)
    if args.resume is not None:
        print(f"resuming {args.resume} after epoch {len(model.history)}: {fit_kw['epochs']} epochs to go", flush=True)
    if not args.quiet:
        model.summary(print_fn=lambda line: print(line, flush=True))
    if model.backend == "numba":
        kernel_notice(lambda: warm_up(model, X, y, **trainer_kw, **fit_kw), log=lambda line: print(line, flush=True))
    test_rows = []

    def evaluate_test(epoch, logs):  # --test-curves: the test split after every epoch
        test_rows.append(model.evaluate(data.X_test, data.y_test))
        return False
    callbacks += [evaluate_test] if args.test_curves and data.n_test else []
    history = trainer.fit(X, y, verbose=0 if args.quiet else 1, callbacks=callbacks, **fit_kw)
    result = {"dataset": data.name, "layers": layers, "n_train": len(X), "epochs_run": len(history),
              "diverged": history.diverged, "settings": settings}
    if args.resume is not None:
        result["resumed_from"] = os.path.abspath(args.resume)
        history = model.history  # the whole run, the checkpoint's epochs included
    if data.n_test:
        result["test"] = model.evaluate(data.X_test, data.y_test)
        print(f"test loss {result['test']['loss']:.4f}  test accuracy {result['test']['accuracy']:.4f}")
    paths = {"model": model.save(os.path.join(out, "model.npz"))}
    paths["history"] = os.path.join(out, "history.json")
    saved = history.to_dict(epoch_base=1)
    for row, test in zip(saved["rows"][len(saved["rows"]) - len(test_rows):], test_rows):  # this fit's epochs
        row["test_loss"], row["test_accuracy"] = test["loss"], test["accuracy"]
    with open(paths["history"], "w") as f:
        json.dump(json_ready(dict(saved, result=result)), f, indent=1, allow_nan=False)
    paths["curves"] = os.path.join(out, "curves.png")
    fig = plots.plot_history(history, title=f"{data.name}: MLP {'-'.join(map(str, layers))} {activation}, "
                             f"{settings['optimizer']} lr {settings['lr']:g}, batch {settings['batch_size']}")
    if test_rows:
        _add_test_curves(fig, test_rows)
    plots.finish(fig, paths["curves"])
    if data.n_features in (64, 784):
        Xs, ys = (data.X_test, data.y_test) if data.n_test else (X, y)
        paths["probabilities"] = os.path.join(out, "probabilities.png")
        plots.plot_probabilities(model, Xs, indices=range(min(6, len(Xs))), y=ys, class_names=data.class_names,
                                 path=paths["probabilities"])
    elif data.n_features == 2 and model.arch.is_classifier:
        paths["boundary"] = os.path.join(out, "boundary.png")
        plots.plot_decision_boundary(model, X, y, path=paths["boundary"], points="training")
    paths.update(_callback_files(callbacks))
    for kind, p in paths.items():
        print(f"wrote {kind}: {p}")
    return 0


def _callback_files(callbacks):
    """What the checkpoint and CSV callbacks wrote, for the list of files the command prints."""
    from .checkpoint import ModelCheckpoint
    from .csvlog import CSVLogger
    files = {}
    for cb in callbacks:
        if isinstance(cb, CSVLogger):
            files["csv log"] = cb.path
        elif isinstance(cb, ModelCheckpoint) and cb.saved:
            if cb.save_best_only:
                files["best"] = f"{cb.saved[-1]} (epoch {cb.best_epoch + 1})"
            else:
                files["checkpoints"] = f"{os.path.dirname(cb.saved[-1])} ({len(cb.saved)} file(s))"
    return files


def _add_test_curves(fig, test_rows):
    """The test loss and accuracy per epoch, dotted, on the loss and accuracy panels of
    ``plot_history``'s figure."""
    epochs = range(1, len(test_rows) + 1)
    for ax, key in zip(fig.axes[:2], ("loss", "accuracy")):
        ax.plot(epochs, [t[key] for t in test_rows], color="k", lw=1.4, ls=":", label=f"test {key}")
        ax.legend(fontsize=8)


#: The settings lr-find uses besides the network's: the data, the optimizer's hyperparameters, these.
LR_FIND_FIT_KEYS = ("batch_size", "seed")


def cmd_lr_find(args):
    from .checks import check_positive_float, check_real
    from .lr_finder import lr_finder
    from .progress import kernel_notice, warm_up
    from .settings import split_settings
    from .sweep import json_ready
    settings = command_settings(args, default_hidden=[32])
    check_real(args.max_lr, "--max-lr", low=check_positive_float(args.min_lr, "--min-lr"), low_open=True)
    check_real(args.smooth, "--smooth", low=0.0, high=1.0, high_open=True)
    if args.steps is not None and args.steps < 2:
        raise _UsageError(f"--steps must be at least 2 (the learning rate grows from batch to batch); got {args.steps}")
    _, trainer_kw, fit_kw, _ = split_settings(settings)
    for key in [k for k in trainer_kw if k in ("lr", "schedule")] + [k for k in fit_kw if k not in LR_FIND_FIT_KEYS]:
        given = _option(key) if getattr(args, key, None) is not None else f"--set {key}=..."
        raise _UsageError(f"{given} does not apply to lr-find (one pass at learning rates growing from --min-lr to "
                          "--max-lr); leave it out")
    out, data, X, y, layers, model, trainer_kw, fit_kw = _model_and_data(args, settings)
    print(f"lr-find: MLP {'-'.join(map(str, layers))} ({model.backend}) on {data.name}, {trainer_kw['optimizer']}, "
          f"learning rates {args.min_lr:g} to {args.max_lr:g}", flush=True)
    if model.backend == "numba":
        kernel_notice(lambda: warm_up(model, X, y, epochs=1, **trainer_kw, **fit_kw),
                      log=lambda line: print(line, flush=True))
    result = lr_finder(model, X, y, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps, smooth=args.smooth,
                       **trainer_kw, **fit_kw)
    stopped = " (stopped early: the loss diverged)" if result.stopped_early else ""
    print(f"{len(result.lrs)} batches{stopped}; suggested learning rate {result.suggestion:.3g} (lowest loss at "
          f"{result.min_loss_lr:.3g})")
    paths = {"curve": os.path.join(out, "lr_finder.json"), "figure": os.path.join(out, "lr_finder.png")}
    record = {"suggestion": result.suggestion, "min_loss_lr": result.min_loss_lr,
              "stopped_early": result.stopped_early, "lrs": result.lrs, "losses": result.losses,
              "smoothed": result.smoothed, "dataset": data.name, "layers": layers, "n_train": len(X),
              "settings": dict(settings, min_lr=args.min_lr, max_lr=args.max_lr, steps=args.steps, smooth=args.smooth)}
    with open(paths["curve"], "w") as f:
        json.dump(json_ready(record), f, indent=1, allow_nan=False)
    result.plot(path=paths["figure"], title=f"{data.name}: MLP {'-'.join(map(str, layers))}, {trainer_kw['optimizer']}, "
                f"batch {settings['batch_size']}")
    for kind, p in paths.items():
        print(f"wrote {kind}: {p}")
    return 0


_AXIS_NAMES = {"batch_size": "batch size", "lr": "learning rate"}


def _sweep_grid(args):
    """The grid of ``sweep``: --batch-sizes and --lrs (the default grid when no --grid is given),
    each --grid KEY=V1,V2, and --seeds."""
    grid = {}
    classic = not args.grid
    for key, values, default in (("batch_size", args.batch_sizes, [1, 10, 50, 100, 200]),
                                 ("lr", args.lrs, [0.01, 0.05, 0.1, 0.5, 1.0, 5.0])):
        if values is not None or classic:
            grid[key] = values if values is not None else default
    for key, values in args.grid or []:
        if key in grid:
            raise _UsageError(f"the grid gives {key} twice; give its values once")
        grid[key] = values
    if args.seeds:
        if "seed" in grid:
            raise _UsageError("give the seeds once: --seeds or --grid seed=...")
        grid["seed"] = args.seeds
    return grid


def cmd_sweep(args):
    from . import plots
    from .progress import kernel_notice
    from .settings import check_keys
    from .sweep import GENERATOR_KEYS, rehearse, sweep
    grid = _sweep_grid(args)
    check_keys(grid, "sweep setting")
    base = command_settings(args, default_hidden=None if any(k in grid for k in SHAPE_SETTINGS) else [16])
    out = output_folder(args.out)
    _set_threads(args)
    if any(k in base or k in grid for k in GENERATOR_KEYS):
        data, name = args.dataset, args.dataset  # generated per data setting by the sweep
    else:
        data = _dataset(args, 0)
        name = data.name
    client = None
    if args.scheduler_address:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ValueError("--scheduler-address needs dask.distributed: pip install fastmlp[dask]") from None
        client = Client(args.scheduler_address)
    n_runs = 1
    for values in grid.values():
        n_runs *= len(values)
    where = f"Dask scheduler {args.scheduler_address}" if client else f"{args.n_jobs or 'all'} process(es)"
    print(f"sweep on {name}: {n_runs} runs on {where}", flush=True)
    if client is None:  # here, once: the workers then load the kernels from the cache
        kernel_notice(lambda: rehearse(data, grid, base), log=lambda line: print(line, flush=True))
    t0 = time.perf_counter()
    try:
        result = sweep(data, grid, base=base, n_jobs=args.n_jobs, client=client, verbose=not args.quiet)
    finally:
        if client is not None:
            client.close()
    paths = {"csv": result.to_csv(os.path.join(out, "sweep.csv")), "json": os.path.join(out, "sweep.json")}
    result.to_json(paths["json"])
    axes = [k for k in result.varied if k != "seed" and len(result.values(k)) > 1]
    if len(axes) >= 2:
        names = " x ".join(_AXIS_NAMES.get(k, k.replace("_", " ")) for k in axes[:2])
        paths["heatmaps"] = os.path.join(out, "heatmaps.png")
        paths["curves"] = os.path.join(out, "curves.png")
        plots.plot_sweep_heatmaps(result, row=axes[0], col=axes[1], title=f"{name}: {names}, {base['epochs']} epochs",
                                  path=paths["heatmaps"])
        plots.plot_sweep_curves(result, row=axes[0], col=axes[1], path=paths["curves"])
    if axes:
        paths[f"{axes[-1]}_comparison"] = os.path.join(out, f"{axes[-1]}_comparison.png")
        plots.plot_lr_comparison(result, key=axes[-1], path=paths[f"{axes[-1]}_comparison"])
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
    """Versions, threads, the Numba cache folder, the measured choices' folder and which datasets are present,
    as a dict."""
    from . import __version__
    from .datasets import dataset_status
    from .threads import thread_info
    versions = {"fastmlp": __version__, "python": platform.python_version()}
    for name in ("numpy", "numba", "llvmlite", "scipy", "matplotlib", "scikit-learn", "threadpoolctl", "torch",
                 "jax", "dask", "distributed"):
        versions[name] = _version(name) or "not installed"
    from .backends import records
    from .kernels.intrinsics import kernel_cache_dir
    cache = kernel_cache_dir()
    return {"versions": versions, "threads": thread_info(), "numba_cache_dir": cache,
            "measured_choices_dir": records.folder(), "datasets": dataset_status()}


def cmd_info(args):
    from .threads import KERNEL_BLAS_NAMES
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
    print(f"  the kernels call {KERNEL_BLAS_NAMES[t['kernel_blas']]}'s BLAS (FASTMLP_BLAS: auto, numpy or scipy)")
    print(f"  OpenBLAS's idle threads spin: {t['blas_spin']}")
    print(f"numba cache: {data['numba_cache_dir']}")
    print(f"measured choices: {data['measured_choices_dir']} (delete to measure again; FASTMLP_CHOICES_DIR)")
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
  fastmlp lr-find --optimizer adam          a learning rate to train with (the range test)
  fastmlp info                              versions, threads, cache folder, datasets present

fastmlp COMMAND --help shows a command's options and their defaults."""

TRAIN_EXAMPLES = """examples:
  fastmlp train                                          circles, one hidden layer of 32 ReLU units
  fastmlp train --dataset spirals --hidden 64,64 --optimizer adam --epochs 100
  fastmlp train --dataset fashion-mnist --download --hidden 256,128,64 --batch-size 64 --epochs 50
  fastmlp train --init normal --init-std 0.01 --optimizer sgd --momentum 0.9 --nesterov --test-curves
  fastmlp train --n-samples 200 --noise 0.2 --schedule step --schedule-param step_size=10 --set dtype=float64
  fastmlp train --dropout 0.3 --sampling replacement --set class_weight=balanced --epochs 50
  fastmlp train --epochs 50 --checkpoint-every 10 --checkpoint-best --csv-log --out run
  fastmlp train --epochs 80 --checkpoint-every 10 --resume run/checkpoints/epoch050.npz --out run

Writes model.npz (fastmlp.load reads it), history.json (one row per epoch, epochs counted
from 1 as on screen), curves.png and, for images, probabilities.png or, for 2-D data,
boundary.png. samples/s is training samples per second of each epoch's training pass
(validation excluded). --checkpoint-every and --checkpoint-best write model files that
--resume continues exactly (same options and seed: the same weights as a run never
interrupted); --csv-log writes history.json's rows as each epoch ends."""

LR_FIND_EXAMPLES = """examples:
  fastmlp lr-find                                        circles, SGD, rates 1e-07 to 10
  fastmlp lr-find --dataset digits --hidden 64 --optimizer adam --min-lr 1e-6 --max-lr 1 --steps 200

Prints the suggested learning rate (in the valley of the smoothed loss, fastai's rule) and
writes lr_finder.png (loss against learning rate) and lr_finder.json (the curve: lrs,
losses, smoothed, the suggestion). Train with it: fastmlp train --lr RATE, same options."""

SWEEP_EXAMPLES = """examples:
  fastmlp sweep                                          the default 5 x 6 grid on circles
  fastmlp sweep --batch-sizes 1,10,100 --lrs 0.01,0.1,1 --seeds 0,1,2
  fastmlp sweep --dataset moons --hidden 32,32 --optimizer adam --lrs 0.001,0.01,0.1
  fastmlp sweep --grid lr=0.1,0.01 --grid hidden=16,32:32 --grid n_samples=200,2000
  fastmlp sweep --grid init=normal,he_normal --set init_std=0.01 --grid noise=0.05,0.2

Writes sweep.csv, sweep.json and figures: heatmaps of the final test accuracy and of the
training wall time (kernels compiled beforehand, not counted), the loss curves of every
cell, and the learning rates compared (each averaged over the batch sizes). With --grid the
heatmaps and curves show the first two varied settings, the comparison the last one."""

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
    p.add_argument("--noise", type=float, default=None, metavar="F",
                   help="jitter (standard deviation) of a synthetic dataset (default: the generator's, 0.05 for "
                        "circles)")
    p.add_argument("--test-size", type=float, default=None, metavar="F",
                   help="held-out share of a synthetic dataset or digits, in [0, 1) (default: 0.2)")
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


def _add_training(p):
    """The options train and sweep share: initialisation, optimizer hyperparameters, schedule,
    batching, backend and --set."""
    from .initializers import INIT_NAMES
    from .schedules import SCHEDULES
    p.add_argument("--init", choices=INIT_NAMES, default="auto", metavar="INIT",
                   help="weight initialisation: auto (He after ReLU-like layers, Glorot otherwise), "
                        "normal (--init-std), uniform (--init-bound), glorot_uniform, he_normal, lecun_normal, ... "
                        "(as MLP's init)")
    p.add_argument("--init-std", type=float, default=None, metavar="F",
                   help="standard deviation of --init normal, e.g. 0.01")
    p.add_argument("--init-bound", type=float, default=None, metavar="F",
                   help="weights uniform in [-F, F] with --init uniform")
    p.add_argument("--bias-init", type=_number_or_name, default=None, metavar="VALUE",
                   help="the biases: a constant (e.g. 0.1) or an init name to draw them with (default: 0)")
    p.add_argument("--momentum", type=float, default=None, metavar="F",
                   help="momentum of --optimizer sgd (default: 0)")
    p.add_argument("--nesterov", action="store_const", const=True, default=None,
                   help="Nesterov momentum with --optimizer sgd")
    p.add_argument("--beta1", type=float, default=None, metavar="F", help="Adam's beta1 (default: 0.9)")
    p.add_argument("--beta2", type=float, default=None, metavar="F", help="Adam's beta2 (default: 0.999)")
    p.add_argument("--eps", type=float, default=None, metavar="F",
                   help="the epsilon of adam, rmsprop and adagrad (default: the optimizer's)")
    p.add_argument("--weight-decay", type=float, default=None, metavar="F",
                   help="weight decay of the optimizer, added to the gradient as in torch.optim (default: 0)")
    p.add_argument("--decoupled-weight-decay", type=float, default=None, metavar="F",
                   help="decoupled weight decay p *= 1 - lr F, as torch's AdamW (default: 0; 0.01 for adamw)")
    p.add_argument("--l2", type=float, default=None, metavar="F",
                   help="L2 penalty on the weights, scikit-learn's alpha: F/2 sum(W^2) / batch size (default: 0)")
    p.add_argument("--l1", type=float, default=None, metavar="F", help="L1 penalty F sum|W| (default: 0)")
    p.add_argument("--clip-norm", type=float, default=None, metavar="F",
                   help="clip the gradient's global L2 norm to F (default: no clipping)")
    p.add_argument("--clip-value", type=float, default=None, metavar="F",
                   help="clip each gradient element to [-F, F] (default: no clipping)")
    p.add_argument("--schedule", choices=sorted(SCHEDULES), default=None,
                   help="learning-rate schedule over the epochs (default: constant)")
    p.add_argument("--schedule-param", type=_assignment, action="append", default=None, metavar="KEY=VALUE",
                   help="a parameter of --schedule, e.g. step_size=10 or gamma=0.5 (repeat for more)")
    p.add_argument("--no-shuffle", dest="shuffle", action="store_const", const=False, default=None,
                   help="keep the data's order in every epoch (default: reshuffled each epoch)")
    p.add_argument("--drop-last", action="store_const", const=True, default=None,
                   help="skip the last partial batch of each epoch (default: it is used)")
    p.add_argument("--dropout", type=_dropout_rates, default=None, metavar="RATE",
                   help="dropout rate of the hidden layers while training, in [0, 1), or one per hidden layer "
                        "comma-separated, e.g. 0.3 or 0.5,0.2 (as MLP's dropout; default: 0)")
    p.add_argument("--sampling", choices=SAMPLING_CHOICES, default=None,
                   help="epoch: each sample once per epoch, reshuffled; replacement: batches drawn with "
                        "replacement (as fit's sampling; default: epoch)")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="numba",
                   help="implementation: numba (fast), numpy or loop (readable references, same numbers)")
    p.add_argument("--set", type=_assignment, action="append", default=None, metavar="KEY=VALUE",
                   help="any other setting of MLP, fit or the data by its Python name, e.g. --set dtype=float64 "
                        "--set leaky_slope=0.1 (a list as 64,32; repeat for more; an unknown name is refused "
                        "with the list of known ones)")


def _dropout_rates(text):
    """``--dropout``: one rate (a float) or one per hidden layer (a tuple)."""
    rates = _floats(text)
    if not rates:
        raise argparse.ArgumentTypeError(f"expected a rate or comma-separated rates, got {text!r}")
    return rates[0] if len(rates) == 1 and "," not in text else tuple(rates)


def _number_or_name(text):
    value = setting_value(text)
    return float(value) if isinstance(value, int) else value


def build_parser():
    """The argparse parser of the ``fastmlp`` command."""
    from . import __version__
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
    _add_training(t)
    t.add_argument("--lr", type=float, default=0.01, help="learning rate, as in MLP.fit")
    t.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help="samples per gradient step; 1 is online SGD, more than the data is full batch")
    t.add_argument("--epochs", type=int, default=20, metavar="N", help="passes over the training data")
    t.add_argument("--validation-split", type=float, default=None, metavar="F",
                   help="fraction of the training data held out for validation, e.g. 0.1 (default: none)")
    t.add_argument("--test-curves", action="store_true",
                   help="evaluate the test split after every epoch: test_loss and test_accuracy in history.json "
                        "and curves.png")
    t.add_argument("--seed", type=int, default=0, help="seeds the data, the initial weights and the shuffling")
    t.add_argument("--out", default="fastmlp-train", help="output folder, created if needed")
    t.add_argument("--quiet", action="store_true", help="no model summary and no progress display")
    t.add_argument("--checkpoint-every", type=int, default=None, metavar="K",
                   help="save the model every K epochs as OUT/checkpoints/epoch001.npz, ... (default: no checkpoints)")
    t.add_argument("--checkpoint-best", nargs="?", const="auto", default=None, choices=("auto", *MONITOR_CHOICES),
                   metavar="METRIC",
                   help="keep the best model so far as OUT/best.npz, by METRIC: loss, accuracy, val_loss or "
                        "val_accuracy (auto, when no METRIC is given: val_loss with validation data, else loss)")
    t.add_argument("--resume", default=None, metavar="CKPT",
                   help="continue the run that wrote the checkpoint CKPT (a model file) up to --epochs in all; give "
                        "the same options, as it continues with them")
    t.add_argument("--csv-log", nargs="?", const="", default=None, metavar="PATH",
                   help="write each epoch's metrics to a CSV file as training goes (default PATH: OUT/history.csv)")
    _add_threads(t)

    s = sub.add_parser("sweep", help="grid study (batch size x learning rate, or any settings) with figures, CSV "
                                     "and JSON",
                       description="Train one model per combination of the grid's settings and compare them.",
                       epilog=SWEEP_EXAMPLES, formatter_class=_Formatter)
    _add_data(s)
    s.add_argument("--batch-sizes", type=_nonempty(_parsed(check_int_list, "--batch-sizes", low=1)),
                   default=None, metavar="LIST",
                   help="batch sizes, comma-separated (default without --grid: 1,10,50,100,200)")
    s.add_argument("--lrs", type=_nonempty(_floats), default=None, metavar="LIST",
                   help="learning rates, comma-separated (default without --grid: 0.01,0.05,0.1,0.5,1,5)")
    s.add_argument("--grid", type=_grid_axis, action="append", default=None, metavar="KEY=V1,V2",
                   help="vary any setting of MLP, fit or the data, e.g. --grid hidden=16,32:32 --grid "
                        "n_samples=200,2000 --grid init=he_normal,glorot_uniform (a list value as 32:32; repeat "
                        "for more axes). Without --batch-sizes/--lrs the grid is only these")
    s.add_argument("--seeds", type=_nonempty(_parsed(check_int_list, "--seeds", low=0)), default=None,
                   metavar="LIST", help="repeat each cell over these seeds, e.g. 0,1,2 (default: seed 0 only)")
    _add_network(s, "16", "tanh")
    _add_training(s)
    s.add_argument("--epochs", type=int, default=40, metavar="N", help="epochs of every run")
    s.add_argument("--n-jobs", type=int, default=None, metavar="N",
                   help="worker processes, one thread each (default: one per core)")
    s.add_argument("--scheduler-address", default=None, metavar="ADDRESS",
                   help="run on this Dask scheduler instead, e.g. tcp://host:8786 (default: local processes)")
    s.add_argument("--out", default="fastmlp-sweep", help="output folder, created if needed")
    s.add_argument("--quiet", action="store_true", help="no line per finished run")
    _add_threads(s)

    f = sub.add_parser("lr-find", help="learning-rate range test: the loss as the rate grows, and a suggested rate",
                       description="Smith's learning-rate range test (fastmlp.lr_finder) on a fresh model: train "
                                   "one pass while the learning rate grows exponentially, plot the loss against it "
                                   "and suggest a rate.",
                       epilog=LR_FIND_EXAMPLES, formatter_class=_Formatter)
    _add_data(f)
    _add_network(f, "32", "relu")
    _add_training(f)
    f.add_argument("--min-lr", type=float, default=1e-7, metavar="F", help="learning rate of the first batch")
    f.add_argument("--max-lr", type=float, default=10.0, metavar="F", help="learning rate of the last batch")
    f.add_argument("--steps", type=int, default=None, metavar="N",
                   help="batches to train, at least 2 (default: one pass over the training data)")
    f.add_argument("--smooth", type=float, default=0.98, metavar="F",
                   help="factor of the loss's moving average, in [0, 1) (0: no smoothing)")
    f.add_argument("--batch-size", type=int, default=32, metavar="N", help="samples per gradient step")
    f.add_argument("--seed", type=int, default=0, help="seeds the data, the initial weights and the shuffling")
    f.add_argument("--out", default="fastmlp-lr-find", help="output folder, created if needed")
    _add_threads(f)

    i = sub.add_parser("info", help="versions, threads, Numba cache folder and datasets present",
                       description="Versions, threads, threading layer, BLAS, cache folder and datasets present.",
                       epilog="examples:\n  fastmlp info\n  fastmlp info --json | head", formatter_class=_Formatter)
    i.add_argument("--json", action="store_true", help="print as JSON")

    sub.add_parser("bench", add_help=False, help=BENCH_HELP)
    return p


COMMANDS = {"demo": cmd_demo, "train": cmd_train, "sweep": cmd_sweep, "lr-find": cmd_lr_find, "info": cmd_info}
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
    for name in ("epochs", "batch_size", "n_samples", "n_jobs", "threads", "checkpoint_every"):
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
