"""The fastmlp command, run as a user runs it: ``python -m fastmlp ...`` in a subprocess.

Start (bare command, --version, python -m), help texts with defaults and examples, one
meaning per word across API and CLI, one-line errors (exit 2, no traceback) before any
work, the output folder checked first, a missing dataset explained, a closed pipe,
--threads, huge batch sizes, the compile notice, history.json, the demo, and the training
tools: checkpoints, --resume, --csv-log, the model summary and lr-find.
"""
import csv
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import MLP
from fastmlp.cli import build_parser
from fastmlp.threads import KERNEL_BLAS_NAMES

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None, cwd=None):
    """``python -m fastmlp ARGS`` with this checkout first on the path; the CompletedProcess."""
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                    COLUMNS="80")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "fastmlp", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=600)


def one_line_error(proc):
    """The error line of a failed command, checked to be the whole of stderr, one line, no traceback."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert len(err.splitlines()) == 1 and err.startswith("fastmlp: error: "), err
    return err


# -- start ----------------------------------------------------------------------------------------
def test_bare_command_prints_version_commands_and_examples():
    proc = run()
    assert proc.returncode == 0 and proc.stderr == ""
    out = proc.stdout
    assert f"fastmlp {fastmlp.__version__}" in out
    for command in ("demo", "train", "sweep", "lr-find", "info", "bench"):
        assert f"    {command} " in out
    assert "examples:" in out and "fastmlp train --dataset" in out and "--help" in out


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith(f"fastmlp {fastmlp.__version__} (Python ")


def test_every_option_has_a_description_and_its_default():
    """In every command's parser: a help text per option, and the default said (in the text or
    appended); every command has an example epilog."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name in ("demo", "train", "sweep", "lr-find", "info"):
        sub = subparsers[name]
        assert "examples:" in sub.epilog, name
        for action in sub._actions:
            if action.help == "==SUPPRESS==" or not action.option_strings or action.dest == "help":
                continue
            assert action.help, (name, action.dest)
            if action.default is not None and action.default is not False:
                assert "default" in sub.formatter_class(sub.prog)._get_help_string(action), (name, action.dest)


def test_help_in_a_subprocess_shows_defaults_and_examples():
    proc = run("train", "--help")
    assert proc.returncode == 0
    flat = " ".join(proc.stdout.split())
    assert "--lr LR learning rate, as in MLP.fit (default: 0.01)" in flat
    assert "--hidden SIZES hidden-layer sizes" in flat and "(default: 32)" in flat
    assert "examples:" in proc.stdout and "--layers" not in proc.stdout  # the deprecated name is not advertised
    bench = run("bench", "--help")
    assert bench.returncode == 0 and "--threads N" in bench.stdout and "examples:" in bench.stdout
    assert "measure training speed" in run().stdout  # bench is described, not "arguments go to ..."


def test_cli_defaults_are_fits_defaults():
    fit = inspect.signature(MLP.fit).parameters
    train = build_parser().parse_args(["train"])
    assert train.lr == fit["lr"].default == 0.01
    assert train.batch_size == fit["batch_size"].default and train.optimizer == fit["optimizer"].default


def test_layers_still_works_as_hidden_sizes_with_a_deprecation_message(tmp_path):
    proc = run("train", "--layers", "5", "--epochs", "1", "--backend", "numpy", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    warning = [ln for ln in proc.stderr.splitlines() if ln.startswith("fastmlp: warning:")]
    assert len(warning) == 1 and "--layers is deprecated" in warning[0] and "use --hidden 5" in warning[0]
    assert "whole list" in warning[0]
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["result"]["layers"] == [2, 5, 2]
    both = run("train", "--layers", "5", "--hidden", "4", "--out", str(tmp_path))
    assert "--hidden only" in one_line_error(both)


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,says", [
    (["nope"], "invalid choice: 'nope'"),
    (["train", "--epochs", "x"], "invalid int value: 'x'"),
    (["train", "--epochs", "0"], "--epochs must be a positive integer; got 0"),
    (["train", "--activation", "swish"], "invalid choice: 'swish'"),
    (["train", "--hidden", "8,-1"], "--hidden[1] must be an integer >= 1"),
    (["sweep", "--lrs", "a,b"], "expected comma-separated numbers"),
    (["sweep", "--n-jobs", "0"], "--n-jobs must be a positive integer"),
    (["train", "--threads", "0"], "--threads must be a positive integer"),
    (["train", "--threads", "100000", "--backend", "numpy"], "threads must be an integer in [1,"),
    (["train", "--momentum", "0.9", "--optimizer", "adam", "--backend", "numpy", "--epochs", "1"], "momentum"),
    (["train", "--hidden", "100000000,100000000", "--backend", "numpy"], "not enough memory: Unable to allocate"),
])
def test_mistakes_are_one_line_exit_2_no_traceback(argv, says, tmp_path):
    err = one_line_error(run(*argv, "--out", str(tmp_path / "out")) if argv[0] != "nope" else run(*argv))
    assert says in err


def test_output_folder_is_checked_before_any_work(tmp_path):
    a_file = tmp_path / "results.txt"
    a_file.write_text("mine")
    for command, out, says in (("train", a_file, "is a file, not a folder"), ("demo", a_file, "is a file"),
                               ("sweep", a_file / "sub", "cannot be used as the output folder")):
        proc = run(command, "--out", str(out))
        assert says in one_line_error(proc) and proc.stdout == "", (command, out)
    assert a_file.read_text() == "mine"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_output_folder_without_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    proc = run("train", "--out", str(locked))
    assert "Permission denied" in one_line_error(proc) and proc.stdout == ""


def test_missing_dataset_says_where_it_looked_and_offers_download(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "FASTMLP_DATA": "",
           "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or os.path.expanduser("~/.cache")}
    err = one_line_error(run("train", "--dataset", "mnist", "--out", str(tmp_path / "out"), env=env))
    assert "MNIST not found" in err and "Searched:" in err and str(tmp_path / "cache" / "fastmlp" / "mnist") in err
    assert "add --download to fetch it" in err and "download=True" not in err and "data_home" not in err
    assert ".; " not in err
    assert "--download" in run("train", "--help").stdout


def test_a_closed_pipe_ends_quietly():
    """``fastmlp info --json | head``: the reader goes away before the output is written."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "fastmlp", "info", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err


# -- training ---------------------------------------------------------------------------------------
def test_train_prints_the_kernel_notice_and_writes_valid_1_based_history(tmp_path):
    proc = run("train", "--hidden", "6", "--epochs", "3", "--lr", "0.2", "--validation-split", "0.2",
               "--threads", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    notice = [i for i, ln in enumerate(lines) if ln.startswith("preparing the kernels")]
    assert len(notice) == 1 and re.match(r"kernels (compiled|loaded from the cache) in \d+\.\d s", lines[notice[0] + 1])
    epochs = [ln for ln in lines if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in epochs] == ["1/3", "2/3", "3/3"] and notice[0] < lines.index(epochs[0])
    text = (tmp_path / "history.json").read_text()
    hist = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in history.json"))
    assert [r["epoch"] for r in hist["rows"]] == [1, 2, 3] and hist["epoch_base"] == 1
    assert 0 <= hist["result"]["test"]["accuracy"] <= 1
    for name in ("model.npz", "curves.png", "boundary.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert list(fastmlp.load(tmp_path / "model.npz").layers) == [2, 6, 2]


@pytest.mark.parametrize("batch_size", [str(10**9), str(2**64)])
def test_a_huge_batch_size_is_the_full_batch(batch_size, tmp_path):
    proc = run("train", "--batch-size", batch_size, "--epochs", "2", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_sweep_writes_valid_json_and_figures(tmp_path):
    proc = run("sweep", "--batch-sizes", "10,50", "--lrs", "0.1,1e30", "--epochs", "2", "--n-jobs", "1",
               "--n-samples", "80", "--activation", "relu", "--threads", "1", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert any(ln.startswith("kernels ") and ln.endswith(" s") for ln in proc.stdout.splitlines())
    assert len((tmp_path / "sweep.csv").read_text().splitlines()) == 5
    text = (tmp_path / "sweep.json").read_text()
    records = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in sweep.json"))["records"]
    assert [r["diverged"] for r in records] == [False, True, False, True]
    for name in ("heatmaps.png", "curves.png", "lr_comparison.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_info_text_and_json():
    text = run("info")
    assert text.returncode == 0 and "numba" in text.stdout and "fashion_mnist" in text.stdout
    data = json.loads(run("info", "--json").stdout)
    assert data["versions"]["fastmlp"] == fastmlp.__version__
    assert data["threads"]["kernel_blas"] == fastmlp.thread_info()["kernel_blas"] in ("numpy", "scipy")
    assert f"the kernels call {KERNEL_BLAS_NAMES[data['threads']['kernel_blas']]}'s BLAS" in text.stdout
    assert f"OpenBLAS's idle threads spin: {data['threads']['blas_spin']}" in text.stdout  # the CLI imports fastmlp
    # the CLI imports fastmlp first: its NumPy read the short spin, or the user's setting
    assert data["threads"]["blas_spin"].startswith("the user's" if "OPENBLAS_THREAD_TIMEOUT" in os.environ else "short")
    assert data["numba_cache_dir"].endswith("-" + data["threads"]["kernel_blas"])
    # the test suite's records (conftest), under the kernel cache's name
    assert data["measured_choices_dir"].startswith(os.path.join(os.environ["FASTMLP_CHOICES_DIR"],
                                                                os.path.basename(data["numba_cache_dir"])))
    assert f"measured choices: {data['measured_choices_dir']}" in text.stdout


# -- demo -------------------------------------------------------------------------------------------
def test_demo_quick_writes_figures_where_it_says(tmp_path):
    proc = run("demo", "--quick", "--out", str(tmp_path / "demo"), "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path / "demo") in proc.stdout.splitlines()[0]
    assert sum(ln.startswith("preparing the kernels") for ln in proc.stdout.splitlines()) == 1
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["figures"] and all((tmp_path / "demo" / f).stat().st_size > 0 for f in summary["figures"])
    assert summary["batch_lr_sweep"]["runs"] == 9


def test_the_demo_rehearses_every_training_kernel_its_studies_use(tmp_path, monkeypatch):
    """After ``rehearse`` no study of the demo adds an epoch kernel's specialisation (compiled, or loaded from the
    cache: either adds one): the rehearsal's notice covers all the trainings' compiling."""
    from fastmlp import demo
    from fastmlp.kernels import epoch, online

    kernels = (epoch.train_epoch, epoch.train_epoch_sgd, online.train_epoch_online, online.train_epoch_online_any)
    monkeypatch.setattr(demo, "kernel_notice", lambda work, log: 0.0)  # (rehearsed below instead)
    demo.rehearse(quick=True)
    rehearsed = {(k.py_func.__name__, s) for k in kernels for s in k.signatures}
    demo.run_demo(tmp_path / "demo", quick=True, log=lambda line: None)
    assert {(k.py_func.__name__, s) for k in kernels for s in k.signatures} == rehearsed


def test_demo_default_folder_is_ignored_by_git():
    assert build_parser().parse_args(["demo"]).out == "fastmlp-demo"
    ignored = (ROOT / ".gitignore").read_text().split()
    for folder in ("fastmlp-demo/", "fastmlp-train/", "fastmlp-sweep/", "fastmlp-bench/"):
        assert folder in ignored


def test_demo_without_scikit_learn_says_so(monkeypatch):
    from fastmlp.demo import digits_study
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails as if not installed
    lines, saved = [], []
    entry = digits_study(lambda fn, name, *a, **k: saved.append(name), quick=True, log=lines.append)
    assert len(lines) == 1 and "digits skipped" in lines[0] and "scikit-learn" in lines[0] and "pip install" in lines[0]
    assert "skipped" in entry and saved == []


def test_bench_missing_is_one_line(monkeypatch, capsys):
    from fastmlp.cli import main
    monkeypatch.setitem(sys.modules, "fastmlp.bench.report", None)
    assert main(["bench"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastmlp: error: the benchmarks") and len(err.splitlines()) == 1


def test_on_an_80_column_terminal_no_line_is_broken(tmp_path):
    """Run under a pseudo-terminal 80 columns wide: every rewrite of the progress line fits."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("COLUMNS", None)
    proc = subprocess.Popen([sys.executable, "-m", "fastmlp", "train", "--epochs", "5", "--validation-split", "0.2",
                             "--out", str(tmp_path)], stdout=slave, stderr=slave, env=env, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=600) == 0
    os.close(master)
    text = b"".join(chunks).decode()
    pieces = [p for line in text.replace("\r\n", "\n").split("\n") for p in line.split("\r")]
    assert text.count("\r") - text.count("\r\n") >= 5  # the line was rewritten once per epoch
    progress = [p for p in pieces if "epoch " in p]
    assert progress and max(len(p) for p in progress) <= 79, max(progress, key=len)
    assert any(p.startswith("[####################] epoch 5/5  loss ") for p in progress)
    assert pieces[0].startswith("training MLP 2-32-2 relu") and len(pieces[0]) <= 79


# -- every setting on the command line --------------------------------------------------------------
def test_train_options_reach_the_model_and_the_fit(tmp_path):
    """The saved model equals the same training written in Python with every option."""
    from fastmlp import StepDecay
    from fastmlp.datasets import load_dataset
    proc = run("train", "--hidden", "8", "--activation", "tanh", "--init", "normal", "--init-std", "0.3",
               "--bias-init", "0.1", "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--nesterov",
               "--weight-decay", "0.01", "--schedule", "step", "--schedule-param", "step_size=1",
               "--schedule-param", "gamma=0.5", "--no-shuffle", "--drop-last", "--batch-size", "16", "--epochs", "3",
               "--n-samples", "300", "--noise", "0.1", "--test-size", "0.3", "--seed", "4", "--set", "dtype=float64",
               "--backend", "numpy", "--test-curves", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = load_dataset("circles", n_samples=300, seed=4, test_size=0.3, noise=0.1)
    model = MLP([2, 8, 2], activation="tanh", init="normal", init_std=0.3, bias_init=0.1, dtype="float64",
                backend="numpy", seed=4)
    model.fit(data.X_train, data.y_train, epochs=3, batch_size=16, lr=0.1, optimizer="sgd", momentum=0.9,
              nesterov=True, weight_decay=0.01, schedule=StepDecay(step_size=1, gamma=0.5), shuffle=False,
              drop_last=True, seed=4, verbose=0)
    saved = fastmlp.load(tmp_path / "model.npz")
    assert saved.dtype == np.float64 and data.n_train == 210
    np.testing.assert_allclose(saved.params, model.params, rtol=0, atol=1e-12)
    assert saved.optimizer_state.step == 3 * (210 // 16)  # --drop-last: no partial batch
    hyper = saved.optimizer_state.hyper
    assert {k: hyper[k] for k in ("momentum", "nesterov", "weight_decay")} == {"momentum": 0.9, "nesterov": True,
                                                                               "weight_decay": 0.01}
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [r["lr"] for r in hist["rows"]] == [0.1, 0.05, 0.025]
    tests = [r["test_loss"] for r in hist["rows"]]  # --test-curves: the test split after every epoch
    assert len(tests) == 3 and tests[-1] == pytest.approx(hist["result"]["test"]["loss"])
    assert all(0 <= r["test_accuracy"] <= 1 for r in hist["rows"])
    assert hist["result"]["settings"]["init_std"] == 0.3 and hist["result"]["settings"]["noise"] == 0.1


def test_adam_hyperparameters_and_set_keys_reach_the_saved_model(tmp_path):
    proc = run("train", "--optimizer", "adam", "--beta1", "0.8", "--beta2", "0.99", "--eps", "1e-6",
               "--activation", "leaky_relu", "--set", "leaky_slope=0.2", "--set", "n_train=50", "--set",
               "hidden=5,4", "--set", "init=he_normal,torch,glorot_uniform", "--epochs", "2", "--backend", "numpy", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    saved = fastmlp.load(tmp_path / "model.npz")
    assert saved.optimizer_state.name == "adam"
    hyper = saved.optimizer_state.hyper
    assert {k: hyper[k] for k in ("beta1", "beta2", "eps", "weight_decay")} == {"beta1": 0.8, "beta2": 0.99,
                                                                                 "eps": 1e-6, "weight_decay": 0.0}
    assert saved.arch.leaky_slope == 0.2 and list(saved.layers) == [2, 5, 4, 2]
    assert tuple(json.loads((tmp_path / "history.json").read_text())["result"]["settings"]["init"]) == (
        "he_normal", "torch", "glorot_uniform")  # one init per layer
    assert saved.optimizer_state.step == 2 * 2  # 50 rows in batches of 32
    assert json.loads((tmp_path / "history.json").read_text())["result"]["n_train"] == 50
    assert "training MLP 2-5-4-2 leaky_relu (numpy) on circles: 50 training / 80 test" in proc.stdout


def test_regularisation_flags_and_adamw_reach_the_saved_model(tmp_path):
    proc = run("train", "--optimizer", "adamw", "--decoupled-weight-decay", "0.02", "--l2", "0.001", "--l1", "1e-5",
               "--clip-norm", "2.5", "--clip-value", "0.5", "--epochs", "1", "--backend", "numpy", "--quiet",
               "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    saved = fastmlp.load(tmp_path / "model.npz")
    hyper = saved.optimizer_state.hyper
    assert saved.optimizer_state.name == "adamw"
    assert {k: hyper[k] for k in ("decoupled_weight_decay", "l2", "l1", "clip_norm", "clip_value")} == {
        "decoupled_weight_decay": 0.02, "l2": 0.001, "l1": 1e-5, "clip_norm": 2.5, "clip_value": 0.5}


def test_the_optimizer_choices_are_the_library_s():
    from fastmlp import cli, optimizers
    assert sorted(cli.OPTIMIZER_CHOICES) == sorted(optimizers.DEFAULTS)


@pytest.mark.parametrize("argv, says", [
    (["train", "--set", "dropuot=0.5"], "unknown setting 'dropuot'; the known ones are activation, "),
    (["train", "--set", "lr=0.1", "--lr", "0.5"], "lr is given twice: by --lr and by --set lr=..."),
    (["train", "--set", "seed=1", "--set", "seed=2"], "seed is given twice"),
    (["train", "--set", "lr"], "--set takes KEY=VALUE"),
    (["train", "--schedule-param", "gamma=0.5"], "--schedule-param needs --schedule"),
    (["train", "--schedule", "step", "--schedule-param", "gama=0.5"], "schedule 'step' has no parameter(s) ['gama']"),
    (["train", "--noise", "-1", "--backend", "numpy"], "noise must be"),
    (["train", "--dataset", "digits", "--noise", "0.1", "--backend", "numpy"], "noise applies to the synthetic"),
    (["train", "--dataset", "synth", "--noise", "0.1", "--backend", "numpy"], "noise does not apply to 'synth'"),
    (["train", "--init", "normal", "--init-std", "-1", "--backend", "numpy"], "init_std"),
    (["sweep", "--grid", "nope=1,2"], "unknown sweep setting 'nope'; the known ones are"),
    (["sweep", "--grid", "lr=0.1", "--lrs", "0.2"], "the grid gives lr twice"),
    (["sweep", "--grid", "lr="], "--grid takes KEY=VALUE"),
])
def test_setting_mistakes_are_one_line_exit_2(argv, says, tmp_path):
    err = one_line_error(run(*argv, "--out", str(tmp_path / "out")))
    assert says in err
    if "known ones are" in err:
        assert "lr" in err.split("known ones are")[1] and "n_samples" in err


def test_sweep_grid_over_model_fit_and_data_settings(tmp_path):
    proc = run("sweep", "--grid", "hidden=4,6:6", "--grid", "n_samples=60,120", "--grid", "init=he_normal",
               "--set", "batch_size=8", "--no-shuffle", "--epochs", "2", "--n-jobs", "1", "--threads", "1",
               "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "sweep on circles: 4 runs" in proc.stdout
    records = json.loads((tmp_path / "sweep.json").read_text())["records"]
    assert [(r["params"]["hidden"], r["params"]["n_samples"]) for r in records] == [
        (4, 60), (4, 120), ([6, 6], 60), ([6, 6], 120)]
    assert all(r["params"]["shuffle"] is False and r["params"]["batch_size"] == 8 for r in records)
    assert all(r["error"] is None and len(r["curves"]["loss"]) == 2 for r in records)
    assert all(r["params"]["lr"] == 0.1 for r in records)  # no --lrs with --grid: the grid is only what was given
    for name in ("heatmaps.png", "curves.png", "n_samples_comparison.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not (tmp_path / "lr_comparison.png").exists()


# -- training tools: checkpoints, resume, CSV log, summary, lr-find ---------------------------------
TOOL_RUN = ("--hidden", "6", "--epochs", "4", "--validation-split", "0.25", "--dropout", "0.2", "--sampling",
            "replacement", "--optimizer", "adam", "--set", "dtype=float64", "--backend", "numpy")


def history_rows(folder):
    return json.loads((folder / "history.json").read_text())["rows"]


def test_checkpoints_csv_log_and_the_summary_reach_their_files(tmp_path):
    proc = run("train", *TOOL_RUN, "--checkpoint-every", "2", "--checkpoint-best", "--csv-log", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Total params: 32 (256 B as float64)" in proc.stdout and "Dropout" in proc.stdout  # the summary
    rows = history_rows(tmp_path)
    final = fastmlp.load(tmp_path / "model.npz")
    for epoch in (2, 4):
        ckpt = fastmlp.load(tmp_path / "checkpoints" / f"epoch{epoch:03d}.npz")
        assert len(ckpt.history) == epoch and ckpt.dropout == (0.2,) and ckpt.optimizer_state.name == "adam"
        assert ckpt.history.rows[-1]["val_loss"] == rows[epoch - 1]["val_loss"]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["epoch002.npz", "epoch004.npz"]
    np.testing.assert_array_equal(fastmlp.load(tmp_path / "checkpoints" / "epoch004.npz").params, final.params)
    best_epoch = min(range(4), key=lambda i: rows[i]["val_loss"])  # auto: val_loss, with validation data
    assert len(fastmlp.load(tmp_path / "best.npz").history) == best_epoch + 1
    assert f"wrote best: {tmp_path / 'best.npz'} (epoch {best_epoch + 1})" in proc.stdout
    with open(tmp_path / "history.csv", newline="") as f:
        logged = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in logged] == [r["epoch"] for r in rows] == [1, 2, 3, 4]
    for got, want in zip(logged, rows):
        assert {k: float(v) for k, v in got.items() if k != "epoch"} == {k: want[k] for k in got if k != "epoch"}


def test_resume_equals_the_uninterrupted_run(tmp_path):
    whole, first, resumed = tmp_path / "whole", tmp_path / "first", tmp_path / "resumed"
    assert run("train", *TOOL_RUN, "--quiet", "--out", str(whole)).returncode == 0
    proc = run("train", *TOOL_RUN[:3], "2", *TOOL_RUN[4:], "--checkpoint-every", "2", "--quiet", "--out", str(first))
    assert proc.returncode == 0, proc.stderr
    log = tmp_path / "resumed.csv"
    proc = run("train", *TOOL_RUN, "--resume", str(first / "checkpoints" / "epoch002.npz"), "--checkpoint-best",
               "loss", "--csv-log", str(log), "--quiet", "--out", str(resumed))
    assert proc.returncode == 0, proc.stderr
    assert "after epoch 2: 2 epochs to go" in proc.stdout and "Total params" not in proc.stdout  # --quiet: no summary
    a, b = fastmlp.load(whole / "model.npz"), fastmlp.load(resumed / "model.npz")
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.optimizer_state.slots, b.optimizer_state.slots)
    assert a.optimizer_state.step == b.optimizer_state.step
    keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
    assert [[r[k] for k in keys] for r in history_rows(whole)] == [[r[k] for k in keys] for r in history_rows(resumed)]
    assert [line.split(",")[0] for line in log.read_text().splitlines()] == ["epoch", "3", "4"]  # this run's epochs
    assert json.loads((resumed / "history.json").read_text())["result"]["epochs_run"] == 2


def test_set_dropout_sampling_and_class_weight_reach_the_model_and_the_fit(tmp_path):
    from fastmlp.datasets import load_dataset
    from fastmlp.sweep import train_subset
    common = ("--hidden", "6", "--epochs", "2", "--lr", "0.1", "--backend", "numpy", "--quiet", "--set",
              "dtype=float64", "--set", "n_train=101")
    proc = run("train", *common, "--set", "dropout=0.3", "--set", "sampling=replacement", "--set",
               "class_weight=balanced", "--out", str(tmp_path / "set"))
    assert proc.returncode == 0, proc.stderr
    flags = run("train", *common, "--dropout", "0.3", "--sampling", "replacement", "--set", "class_weight=balanced",
                "--out", str(tmp_path / "flags"))
    assert flags.returncode == 0, flags.stderr
    data = load_dataset("circles", seed=0)
    X, y = train_subset(data.X_train, data.y_train, 101, 0)
    assert np.bincount(y)[0] != np.bincount(y)[1]  # odd: 'balanced' weighs the classes unequally

    def python(**options):
        model = MLP([2, 6, 2], dtype="float64", backend="numpy", seed=0, dropout=options.pop("dropout", None))
        model.fit(X, y, epochs=2, lr=0.1, seed=0, verbose=0, **options)
        return model.params
    want = python(dropout=0.3, sampling="replacement", class_weight="balanced")
    saved = fastmlp.load(tmp_path / "set" / "model.npz")
    assert saved.dropout == (0.3,)
    np.testing.assert_allclose(saved.params, want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fastmlp.load(tmp_path / "flags" / "model.npz").params, saved.params)
    for missing in ("dropout", "sampling", "class_weight"):  # each of the three changes the result
        options = {k: v for k, v in dict(dropout=0.3, sampling="replacement", class_weight="balanced").items()
                   if k != missing}
        assert np.abs(python(**options) - want).max() > 1e-6, missing


def test_sweep_grid_over_dropout_with_sampling_and_class_weight(tmp_path):
    proc = run("sweep", "--grid", "dropout=0,0.5", "--sampling", "replacement", "--set", "class_weight=balanced",
               "--epochs", "2", "--n-jobs", "1", "--backend", "numpy", "--quiet", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    records = json.loads((tmp_path / "sweep.json").read_text())["records"]
    assert [r["params"]["dropout"] for r in records] == [0, 0.5]
    assert all(r["params"]["sampling"] == "replacement" and r["params"]["class_weight"] == "balanced"
               and r["error"] is None for r in records)
    assert records[0]["curves"]["loss"] != records[1]["curves"]["loss"]


def test_lr_find_writes_the_curve_and_the_figure(tmp_path):
    from fastmlp import lr_finder
    from fastmlp.datasets import load_dataset
    proc = run("lr-find", "--hidden", "8", "--optimizer", "sgd", "--momentum", "0.9", "--min-lr", "1e-5", "--max-lr",
               "3", "--steps", "30", "--smooth", "0.9", "--batch-size", "16", "--seed", "2", "--set", "dtype=float64",
               "--backend", "numpy", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    curve = json.loads((tmp_path / "lr_finder.json").read_text(), parse_constant=pytest.fail)
    assert (tmp_path / "lr_finder.png").stat().st_size > 0
    assert 1e-5 <= curve["suggestion"] <= 3 and curve["lrs"][0] == pytest.approx(1e-5)
    assert len(curve["lrs"]) == len(curve["losses"]) == len(curve["smoothed"]) <= 30
    assert f"suggested learning rate {curve['suggestion']:.3g}" in proc.stdout
    data = load_dataset("circles", seed=2)
    model = MLP([2, 8, 2], dtype="float64", backend="numpy", seed=2)
    want = lr_finder(model, data.X_train, data.y_train, min_lr=1e-5, max_lr=3, steps=30, smooth=0.9, batch_size=16,
                     optimizer="sgd", momentum=0.9, seed=2)
    assert curve["suggestion"] == want.suggestion and curve["stopped_early"] == want.stopped_early
    np.testing.assert_allclose(curve["losses"], want.losses, rtol=1e-12)


def test_the_tools_choices_and_defaults_are_the_library_s():
    from fastmlp import checkpoint, cli, lr_finder, trainer
    assert cli.MONITOR_CHOICES == checkpoint.MONITORS and cli.SAMPLING_CHOICES == trainer.SAMPLINGS
    defaults = build_parser().parse_args(["lr-find"])
    signature = inspect.signature(lr_finder).parameters
    for name in ("min_lr", "max_lr", "steps", "smooth", "batch_size"):
        assert getattr(defaults, name) == signature[name].default, name


@pytest.fixture(scope="module")
def checkpoint_of_2_epochs(tmp_path_factory):
    """A model file as ``train`` writes it on circles with the defaults (2-32-2 relu, sgd), after 2 epochs."""
    rng = np.random.default_rng(0)
    model = MLP([2, 32, 2], backend="numpy", seed=0)
    model.fit(rng.normal(size=(40, 2)), rng.integers(0, 2, 40), epochs=2, verbose=0)
    return str(model.save(tmp_path_factory.mktemp("ckpt") / "ckpt.npz"))


@pytest.mark.parametrize("argv, says", [
    (["train", "--resume", "CKPT", "--hidden", "5"], "the checkpoint's layers is 2,32,2 but the options give 2,5,2"),
    (["train", "--resume", "CKPT", "--activation", "tanh"], "the checkpoint's activation is relu but the options "
                                                            "give tanh"),
    (["train", "--resume", "CKPT", "--dropout", "0.1"], "the checkpoint's dropout is 0 but the options give 0.1"),
    (["train", "--resume", "CKPT", "--epochs", "2"], "the checkpoint already has 2 epochs and --epochs is 2"),
    (["train", "--resume", "CKPT", "--optimizer", "adam"], "trained with sgd but the options give adam"),
    (["train", "--resume", "CKPT", "--momentum", "0.5"], "trained with momentum=0.0 but the options give momentum=0.5"),
    (["train", "--resume", "no-such.npz"], "cannot read the checkpoint"),
    (["train", "--checkpoint-best", "val_loss"], "--checkpoint-best val_loss needs validation data"),
    (["train", "--checkpoint-best", "lss"], "invalid choice: 'lss'"),
    (["train", "--checkpoint-every", "0"], "--checkpoint-every must be a positive integer"),
    (["train", "--csv-log", "no/such/folder/log.csv"], "CSVLogger path"),
    (["train", "--dropout", "1.5"], "dropout must be a finite number in [0.0, 1.0)"),
    (["train", "--dropout", "0.1", "--set", "dropout=0.2"], "dropout is given twice: by --dropout"),
    (["train", "--sampling", "bootstrap"], "invalid choice: 'bootstrap'"),
    (["lr-find", "--schedule", "step"], "--schedule does not apply to lr-find"),
    (["lr-find", "--set", "class_weight=balanced"], "--set class_weight=... does not apply to lr-find"),
    (["lr-find", "--steps", "1"], "--steps must be at least 2"),
    (["lr-find", "--min-lr", "1", "--max-lr", "0.1"], "--max-lr must be a finite number > 1.0"),
    (["lr-find", "--smooth", "1"], "--smooth must be a finite number in [0.0, 1.0)"),
])
def test_training_tool_mistakes_are_one_line_exit_2(argv, says, checkpoint_of_2_epochs, tmp_path):
    argv = [checkpoint_of_2_epochs if a == "CKPT" else a for a in argv]
    err = one_line_error(run(*argv, "--backend", "numpy", "--out", str(tmp_path / "out")))
    assert says in err
    assert not (tmp_path / "out" / "model.npz").exists() and not (tmp_path / "out" / "history.json").exists()
