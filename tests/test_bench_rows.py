"""The benchmark rows of issue 13 and their machinery: the optimizer, one-core, busy and
inference rows exist and are wired (each runner builds, trains a few steps or predicts a few
rows, and returns sane numbers), the one-core child really is pinned and limited to one
thread, the spinner really spins on its core and really stops, ONNX Runtime's export gives
fastmlp's probabilities, ``--rows`` targets a run, and the report shows the ratios, the
targets and skipped peers as skipped. Nothing here is timed."""
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.bench import peers as bench_peers
from fastmlp.bench import settings as bench_settings
from fastmlp.bench.isolate import run_task
from fastmlp.bench.markdown import render, row_ratio
from fastmlp.bench.measure import PREDICT_ATOL, measure_predict, run_case, run_predict_case
from fastmlp.bench.report import main
from fastmlp.bench.tasks import case_task, not_run_reason, workload_task
from fastmlp.bench.workloads import OPTIMIZERS, WORKLOADS, Net, load_data

NEW_ROWS = ("adam-b64", "momentum-b64", "nesterov-b64", "rmsprop-b64", "adagrad-b64", "adam-b1", "onecore-b64",
            "busy-b64", "predict-10k", "predict-1",
            "busy-predict-256")
OPTIMIZER_ROWS = ("adam-b64", "momentum-b64", "nesterov-b64", "rmsprop-b64", "adagrad-b64", "adam-b1")
needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs os.sched_getaffinity")


def _require(variant, optimizer="sgd"):
    for module in bench_peers.needs(variant, optimizer):
        pytest.importorskip(module)


def _alive(pid):
    """True while ``pid`` is a running (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- the rows ---------------------------------------------------------------------------------

def test_the_new_rows_are_defined_as_workloads_md_says():
    fashion, mnist_b1 = (784, 256, 128, 64, 10), (784, 32, 32, 10)
    want = {"adam-b64": (fashion, "relu", 64, "adam", "idle", 0, "fashion-b64"),
            "momentum-b64": (fashion, "relu", 64, "momentum", "idle", 0, "fashion-b64"),
            "nesterov-b64": (fashion, "relu", 64, "nesterov", "idle", 0, "fashion-b64"),
            "rmsprop-b64": (fashion, "relu", 64, "rmsprop", "idle", 0, "fashion-b64"),
            "adagrad-b64": (fashion, "relu", 64, "adagrad", "idle", 0, "fashion-b64"),
            "adam-b1": (mnist_b1, "sigmoid", 1, "adam", "idle", 0, "mnist-b1"),
            "onecore-b64": (fashion, "relu", 64, "sgd", "onecore", 0, ""),
            "busy-b64": (fashion, "relu", 64, "sgd", "busy", 0, ""),
            "predict-10k": (fashion, "relu", 64, "sgd", "idle", 10000, ""),
            "predict-1": (fashion, "relu", 64, "sgd", "idle", 1, ""),
            "busy-predict-256": (fashion, "relu", 64, "sgd", "busy", 256, "")}
    for wid, (layers, act, bs, opt, setting, rows, base) in want.items():
        w = WORKLOADS[wid]
        assert (w.net.layers, w.net.activation, w.net.batch_size, w.net.optimizer, w.setting, w.predict_rows,
                w.sgd_baseline) == (layers, act, bs, opt, setting, rows, base), wid
    assert WORKLOADS["predict-10k"].metric == "rows/s" and WORKLOADS["predict-1"].metric == "us/call"
    assert WORKLOADS["adam-b64"].metric == "samples/s" and WORKLOADS["predict-1"].kind == "predict"
    assert OPTIMIZERS["adam"].fastmlp_kwargs() == {"optimizer": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                                   "eps": 1e-8}
    assert OPTIMIZERS["momentum"].fastmlp_kwargs() == {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
                                                       "nesterov": False}
    assert OPTIMIZERS["nesterov"].fastmlp_kwargs() == {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
                                                       "nesterov": True}
    assert OPTIMIZERS["rmsprop"].fastmlp_kwargs() == {"optimizer": "rmsprop", "lr": 1e-4, "alpha": 0.9, "eps": 1e-8}
    assert OPTIMIZERS["adagrad"].fastmlp_kwargs() == {"optimizer": "adagrad", "lr": 1e-3, "eps": 1e-10}
    assert [OPTIMIZERS[o].describe() for o in ("nesterov", "rmsprop", "adagrad")] == [
        "SGD lr 0.01, momentum 0.9, Nesterov", "RMSprop lr 0.0001 (alpha 0.9, eps 1e-08)",
        "Adagrad lr 0.001 (eps 1e-10)"]
    with pytest.raises(ValueError, match="optimizer kind"):
        type(OPTIMIZERS["sgd"])("lbfgs", 0.1, "lbfgs")
    with pytest.raises(ValueError, match="optimizer"):
        Net((2, 2), "relu", 1, "lbfgs")


def test_every_row_has_a_task_per_variant_that_applies():
    for wid in NEW_ROWS:
        w = WORKLOADS[wid]
        for v in bench_peers.ALL_VARIANTS:
            task = workload_task(w, v)
            if v not in bench_peers.variants_for(w.kind):
                assert task is None and "not a" in not_run_reason(w, v)
                continue
            if v == "loop" or bench_peers.cannot_train(v, w.net.opt):
                assert task is None and not_run_reason(w, v)
                continue
            assert task["task"] == ("predict" if w.predict_rows else "case") and task["setting"] == w.setting
            assert Net.from_list(json.loads(json.dumps(task["net"]))) == w.net
            if w.predict_rows:
                assert task["rows"] == w.predict_rows
    assert set(bench_peers.variants_for("predict")) == {"numba", "numpy", "torch", "onnxruntime", "sklearn",
                                                        "numpy-matmul"}
    assert {"jax-scan", "jax-step", "torch", "sklearn"} <= set(bench_peers.variants_for("train"))


@pytest.mark.parametrize("row", OPTIMIZER_ROWS)
@pytest.mark.parametrize("variant", [v for v in bench_peers.TRAIN_VARIANTS if v != "loop"])
def test_each_training_variant_trains_the_optimizer_rows(variant, row):
    w = WORKLOADS[row]
    _require(variant, w.net.optimizer)
    if variant == "sklearn" and w.net.opt.kind not in ("sgd", "adam"):  # MLPClassifier has no such solver
        r = run_case(variant, w.net, *load_data("mnist-size", 8, source="random")[:2], rounds=1)
        assert r["status"] == "failed" and "no " + w.net.opt.kind + " solver" in r["reason"]
        assert workload_task(w, variant) is None and "MLPClassifier has no" in not_run_reason(w, variant)
        return
    n = 4 * w.net.batch_size if w.net.batch_size > 1 else 24
    X, y, _ = load_data("mnist-size", n, source="random", seed=1)
    r = run_case(variant, w.net, X, y, rounds=1, validate_epochs=1, min_round_s=0.0)
    assert r["status"] == "ok", r["reason"]
    assert r["loss_after"] < r["loss_before"] and math.isfinite(r["loss_after"])
    assert r["samples_per_s"] > 0 and r["samples_per_s"] == pytest.approx(n * r["epochs_per_round"] / min(r["round_s"]))
    assert r["gflops"] == pytest.approx(w.net.gflops(r["samples_per_s"]))


@pytest.mark.parametrize("row", ("predict-10k", "predict-1", "busy-predict-256"))
@pytest.mark.parametrize("variant", bench_peers.PREDICT_VARIANTS)
def test_each_inference_variant_predicts_and_matches_the_reference(variant, row):
    _require(variant)
    w = WORKLOADS[row]
    rows = min(w.predict_rows, 32)
    X, _, _ = load_data("mnist-size", 4 * rows, source="random", seed=2)
    r = run_predict_case(variant, w.net, X, rows, rounds=2, min_round_s=0.0)
    assert r["status"] == "ok", r["reason"]
    assert r["rows"] == rows and r["max_abs_error"] <= PREDICT_ATOL
    assert r["us_per_call"] > 0 and r["samples_per_s"] == pytest.approx(rows * 1e6 / r["us_per_call"])
    assert r["calls_per_round"] >= 1 and len(r["round_s"]) == 2 and r["first_call_s"] > 0


def test_a_predictor_that_gives_wrong_probabilities_fails(monkeypatch):
    from fastmlp.bench.peers import matmul
    monkeypatch.setattr(matmul.MatmulPredictor, "predict_proba", lambda self, X: np.full((len(X), 10), 0.1))
    X, _, _ = load_data("mnist-size", 8, source="random")
    r = run_predict_case("numpy-matmul", WORKLOADS["predict-1"].net, X, 1, rounds=1, min_round_s=0.0)
    assert r["status"] == "failed" and "reference" in r["reason"]


@pytest.mark.parametrize("net", [Net((784, 256, 128, 64, 10), "relu", 1), Net((7, 6, 4), "tanh", 1),
                                 Net((5, 6, 2), "sigmoid", 1)], ids=["fashion-relu", "tanh", "sigmoid-binary"])
def test_onnx_export_gives_fastmlps_predict_proba(net):
    _require("onnxruntime")
    from fastmlp.bench.peers.onnxruntime import OnnxPredictor
    init = bench_peers.initial_weights(net, seed=3)
    model = MLP(list(net.layers), activation=net.activation, dtype="float32", backend="numpy")
    for l, (W, b) in enumerate(init):
        model.set_layer(l, W, b)
    X = np.random.default_rng(5).random((100, net.layers[0]), dtype=np.float32)
    got = OnnxPredictor(net, init).predict_proba(X)
    assert got.shape == (100, net.layers[-1]) and got.dtype == np.float32
    np.testing.assert_allclose(got, model.predict_proba(X), atol=2e-6, rtol=0)


# -- settings: one core, a busy core ----------------------------------------------------------

def test_launch_plans():
    one = bench_settings.launch("onecore", [0, 1])
    assert one.cpus == (0,) and one.env == bench_settings.ONE_CORE_ENV and one.spin_core is None
    assert set(one.env) == {"NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}
    assert all(v == "1" for v in one.env.values())
    busy = bench_settings.launch("busy", [2, 5])
    assert busy.spin_core == 5 and busy.cpus == () and busy.env == {}
    assert bench_settings.launch("idle", [0, 1]) == bench_settings.Launch("idle")
    assert "only core" in bench_settings.describe("busy", [3])
    assert "NUMBA_NUM_THREADS=1" in bench_settings.describe("onecore", [0, 1])
    with pytest.raises(ValueError, match="setting"):
        bench_settings.launch("turbo")


def _tiny_task(setting):
    return case_task("numpy", Net((2, 4, 2), "tanh", 10), {"kind": "circles", "n": 100}, rounds=1, validate_epochs=1,
                     min_round_s=0.0, setting=setting)


def _run_tiny(setting, isolate=True):
    """The record of a tiny case run in ``setting``, checked to be ok and to say its setting."""
    r = run_task(_tiny_task(setting), isolate=isolate)
    assert r["status"] == "ok" and r["setting"] == setting, r
    return r


@needs_affinity
def test_onecore_child_is_pinned_and_has_one_thread_everywhere():
    cores = bench_settings.allowed_cores()
    t = _run_tiny("onecore")["threads"]
    assert t["affinity"] == [cores[0]]  # read with os.sched_getaffinity inside the child
    assert t["numba"] == 1
    assert {k: t["env"][k] for k in bench_settings.ONE_CORE_ENV} == bench_settings.ONE_CORE_ENV
    assert all(p.endswith(" 1") for p in t["pools"]), t["pools"]  # every BLAS / OpenMP pool threadpoolctl sees
    idle = _run_tiny("idle")
    assert idle["threads"]["affinity"] == cores and "spinner" not in idle


@needs_affinity
def test_busy_child_runs_beside_a_spinner_that_is_stopped_after():
    r = _run_tiny("busy")
    cores = bench_settings.allowed_cores()
    spin = r["spinner"]
    assert spin["core"] == cores[-1] and spin["cpu_s"] > 0.2 * r["process_s"]  # it spun while the child ran
    assert not _alive(spin["pid"])
    assert r["threads"]["affinity"] == cores  # the child itself keeps every core


@needs_affinity
def test_spinner_is_pinned_spins_and_stops():
    core = bench_settings.allowed_cores()[-1]
    with bench_settings.Spinner(core) as spinner:
        assert os.sched_getaffinity(spinner.pid) == {core}
        assert _alive(spinner.pid)
        time.sleep(0.3)
    assert spinner.proc.returncode is not None and not _alive(spinner.pid)
    assert 0.05 < spinner.cpu_s < 5
    assert spinner.stop() == spinner.cpu_s  # stopping twice is harmless


@needs_affinity
def test_an_orphaned_spinner_stops_by_itself():
    code = ("import sys\nfrom fastmlp.bench.settings import Spinner\n"
            f"s = Spinner({bench_settings.allowed_cores()[-1]}).start()\nprint(s.pid, flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.split()[0])  # its parent exited without stopping it
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_in_process_says_the_setting_was_not_applied():
    assert "not applied" in _run_tiny("onecore", isolate=False)["note"]


# -- the report ---------------------------------------------------------------------------------

def _case(variant, sps, **extra):
    return dict({"variant": variant, "status": "ok", "samples_per_s": sps, "note": "", "reason": ""}, **extra)


def _row(wid, cases, **extra):
    w = WORKLOADS[wid]
    return dict({"workload": wid, "network": w.net.describe(), "batch_size": w.predict_rows or w.net.batch_size,
                 "kind": w.kind, "metric": w.metric, "setting": w.setting, "sgd_baseline": w.sgd_baseline,
                 "cases": cases}, **extra)


def _report(workloads):
    meta = {"date": "today", "quick": True, "machine": "m", "cores": 2, "python": "3", "numpy": "2", "numba": "0",
            "threads": "t", "peers": "p", "data": "d", "sgemm_repeats": 2}
    return {"workloads": workloads, "sgemm_gflops": 100.0, "meta": meta, "compile": {}, "recipe": {}, "sweeps": {}}


def test_report_shows_ratios_targets_and_skipped_peers_as_skipped():
    train = {"samples": 64, "gflops": 1.0, "first_epoch_s": 1.0, "loss_before": 2.0, "loss_after": 1.0}
    lat = {"rows": 1, "gflops": 1.0, "first_call_s": 0.1, "max_abs_error": 1e-7}
    skipped = {"variant": "jax-scan", "status": "skipped", "reason": "optax not installed (pip install optax)",
               "note": ""}
    report = _report([
        _row("fashion-b64", [_case("numba", 50000.0, **train), _case("torch", 25000.0, **train)]),
        _row("adam-b64", [_case("numba", 40000.0, **train), _case("torch", 20000.0, **train), skipped]),
        _row("predict-1", [_case("numba", 1e4, us_per_call=100.0, **lat),
                           _case("onnxruntime", 2e4, us_per_call=50.0, **lat)]),
    ])
    assert row_ratio(report["workloads"][2], "onnxruntime") == pytest.approx(2.0)  # latency over latency
    text = render(report)
    assert "| adam-b64: numba ÷ best peer (torch) | >= 1.2x | 2x | yes |" in text
    assert "| adam-b64: numba ÷ numba plain SGD (fashion-b64) | >= 0.85x | 0.8x | no |" in text
    assert "| predict-1: numba latency ÷ best peer's (onnxruntime) | <= 0.5x | 2x | no |" in text
    summary = next(line for line in text.splitlines() if line.startswith("| adam-b64 | samples/s |"))
    assert "| skipped |" in summary and "failed" not in summary and "0.8x (>= 0.85x: no)" in summary
    assert "- jax-scan: skipped, optax not installed (pip install optax) (rows: adam-b64)" in text
    assert "failed" not in text.split("## Skipped or failed variants")[1]


def test_a_missing_optax_skips_jax_on_the_optimizer_rows_only(monkeypatch):
    pytest.importorskip("jax")  # the case of a machine with JAX but without optax
    real = bench_peers.importlib.util.find_spec
    monkeypatch.setattr(bench_peers.importlib.util, "find_spec",
                        lambda name, *a: None if name == "optax" else real(name, *a))
    assert bench_peers.missing_reason("jax-scan", "adam") == "optax not installed (pip install optax)"
    assert "optax" not in bench_peers.missing_reason("jax-scan", "sgd")
    X, y, _ = load_data("mnist-size", 8, source="random")
    r = run_case("jax-step", WORKLOADS["momentum-b64"].net, X, y)
    assert r["status"] == "skipped" and "pip install optax" in r["reason"]


def test_rows_option_runs_only_the_rows_named(tmp_path):
    out = tmp_path / "report"
    assert main(["--quick", "--out", str(out), "--rows", "predict-1", "--variants", "numba,numpy",
                 "--peers", "numpy-matmul,jax-scan", "--data", "random", "--in-process"]) == 0
    res = json.loads((out / "results.json").read_text())
    (w,) = res["workloads"]
    assert w["workload"] == "predict-1" and w["metric"] == "us/call"
    assert [c["variant"] for c in w["cases"]] == ["numba", "numpy", "numpy-matmul"]  # jax does not predict
    assert all(c["status"] == "ok" and c["us_per_call"] > 0 for c in w["cases"])
    for part in ("compile", "sweeps", "recipe"):
        assert res[part] == {"status": "skipped", "reason": "not in --rows"}
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "predict-1: numba latency ÷ best peer's" in text and "![inference.png](inference.png)" in text


@pytest.mark.parametrize("argv", [["--rows", "adam-b64", "--workloads", "adam-b64"], ["--rows", "adam-b65"]])
def test_bad_rows_return_2_and_write_nothing(tmp_path, argv, capsys):
    out = tmp_path / "never"
    assert main(["--quick", "--out", str(out)] + argv) == 2
    assert not out.exists() and "error" in capsys.readouterr().err


def test_compile_rows_train_the_first_batch_with_each_optimizer(monkeypatch):
    from fastmlp.bench import compile as bench_compile
    seen = []
    monkeypatch.setattr(bench_compile, "compile_times", lambda net, *a: seen.append(net) or {"cold": {}, "warm": {}})
    out = bench_compile.compile_per_optimizer(WORKLOADS["fashion-b64"].net, ["adam", "momentum"])
    assert list(out) == ["adam", "momentum"] and [n.optimizer for n in seen] == ["adam", "momentum"]
    assert {n.layers for n in seen} == {WORKLOADS["fashion-b64"].net.layers}


class _SlowFirstCall:
    """A predictor whose first call takes ``first`` seconds (compiling) and every later one ``then``,
    on a clock of its own (``perf_counter``) that only its calls move: no test here waits on real time."""
    name, note = "slow-first", ""

    def __init__(self, first, then):
        self.first, self.then, self.calls, self.now = first, then, 0, 0.0

    def perf_counter(self):
        return self.now

    def predict_proba(self, X):
        self.now += self.first if self.calls == 0 else self.then
        self.calls += 1
        return np.zeros((len(X), 2))


def _measure_on_its_clock(monkeypatch, p, *args, **kwargs):
    from fastmlp.bench import measure
    monkeypatch.setattr(measure, "time", p)
    return measure_predict(p, *args, **kwargs)


def test_a_round_of_one_call_per_pass_is_counted_from_a_call_after_the_first(monkeypatch):
    # the data is one call: a round's calls come from a second call's time, not from the compiling first
    p = _SlowFirstCall(first=0.25, then=1 / 1024)  # (binary fractions: exact sums)
    r = _measure_on_its_clock(monkeypatch, p, np.zeros((8, 3)), 8, np.zeros((8, 2)), rounds=1, min_round_s=48 / 1024)
    assert r["first_call_s"] == 0.25 and r["call_s"] == 1 / 1024
    assert r["calls_per_round"] == 48 and r["round_s"] == [48 / 1024]  # (before: one call of 1 ms)
    assert p.calls == 2 + 48


def test_inference_rows_warm_up_like_training_rows_before_their_rounds(monkeypatch):
    p = _SlowFirstCall(first=0.0, then=1 / 16)
    r = _measure_on_its_clock(monkeypatch, p, np.zeros((8, 3)), 4, np.zeros((8, 2)), rounds=1, min_round_s=0.25,
                              warmup_s=0.5)
    assert r["warmup_s"] == 0.5 and r["warmup_calls"] == 8
    assert r["calls_per_round"] == 4  # from the warm-up's pace
    assert p.calls == 2 + 8 + 4
