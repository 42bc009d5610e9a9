"""The `fastmlp bench` report: a quick run writes a well-formed table and PNG charts;
argument errors change nothing; validation, skipping and the report's arithmetic;
cases run in fresh processes on the same data as in-process, with the peers'
environment as launched, and a crashed child is a failed case."""
import argparse
import itertools
import json
import os
import subprocess

import matplotlib.image
import numpy as np
import pytest

import fastmlp
from fastmlp.bench import isolate as bench_isolate
from fastmlp.bench import markdown as bench_markdown
from fastmlp.bench import peers as bench_peers
from fastmlp.bench.isolate import best_record, run_task
from fastmlp.bench.markdown import best_other, numba_ratio, rate, table
from fastmlp.bench.measure import ValidationError, epochs_per_round, run_case, validate
from fastmlp.bench.recipe import run_recipe
from fastmlp.bench.report import main
from fastmlp.bench.tasks import case_task, data_digest
from fastmlp.bench.workloads import OPTIMIZERS, WORKLOADS, Net, get_workloads, load_data
from fastmlp.threads import KERNEL_BLAS_NAMES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "report"
    code = main(["--quick", "--out", str(out), "--workloads", "circles-b10", "--peers", "none", "--data", "random",
                 "--in-process"])
    return code, out


def test_quick_report_writes_table_and_charts(quick_report):
    code, out = quick_report
    assert code == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# fastmlp benchmark report")
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| workload | variant |"))
    n_cols = lines[header].count("|")
    assert lines[header + 1] == "|" + "---|" * (n_cols - 1)
    rows = [line for line in lines[header + 2:] if line.startswith("| circles-b10 |")]
    assert [r.split("|")[2].strip() for r in rows] == ["numba", "numpy", "loop"]
    assert all(r.count("|") == n_cols for r in rows)
    for name in ("workloads.png", "batch_sweep.png", "width_depth.png"):
        assert f"![{name}]({name})" in text
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
        img = matplotlib.image.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def test_quick_report_results_are_consistent(quick_report):
    _, out = quick_report
    res = json.loads((out / "results.json").read_text())
    assert res["sgemm_gflops"] > 0
    blas = KERNEL_BLAS_NAMES[fastmlp.thread_info()["kernel_blas"]]
    assert res["meta"]["threads"].endswith(f"; the kernels call {blas}'s BLAS")
    assert f"; the kernels call {blas}'s BLAS" in (out / "report.md").read_text(encoding="utf-8")
    (w,) = res["workloads"]
    assert w["workload"] == "circles-b10" and w["n_weights"] == 2 * 10 + 10 * 2
    for case in w["cases"]:
        assert case["status"] == "ok", case
        assert case["loss_after"] < case["loss_before"]
        assert case["gflops"] == pytest.approx(6 * 40 * case["samples_per_s"] / 1e9)
        assert case["samples_per_s"] == pytest.approx(
            case["epochs_per_round"] * case["samples"] / min(case["round_s"]))
    loop = next(c for c in w["cases"] if c["variant"] == "loop")
    assert loop["samples"] == WORKLOADS["circles-b10"].loop_samples
    assert res["compile"]["status"] == "skipped" and res["recipe"]["status"] == "skipped"
    sweeps = res["sweeps"]
    assert {r["x"] for r in sweeps["batch"]} == {1, 16, 64}
    assert all(r["status"] == "ok" for kind in ("batch", "width", "depth") for r in sweeps[kind])
    assert "random" in sweeps["data"]
    assert "--in-process" in res["meta"]["isolation"]
    assert not any(c["isolated"] for c in w["cases"])


def test_isolated_cases_train_on_the_parents_data(tmp_path):
    """The default: each case in its own process, on the very arrays the parent would load;
    the peer's process gets OMP_WAIT_POLICY as launched, not fastmlp's default."""
    out = tmp_path / "report"
    assert main(["--quick", "--out", str(out), "--workloads", "circles-b10", "--variants", "numba,loop",
                 "--peers", "sklearn", "--data", "random", "--no-sweeps", "--seed", "3"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["isolation"] == "every case ran in a fresh Python process"
    cases = {c["variant"]: c for c in res["workloads"][0]["cases"]}
    assert set(cases) == {"numba", "loop", "sklearn"}
    X, y, _ = load_data("circles", WORKLOADS["circles-b10"].samples, seed=3)
    n = WORKLOADS["circles-b10"].loop_samples
    for v, c in cases.items():
        assert c["status"] == "ok" and c["isolated"] and c["loss_after"] < c["loss_before"], c
        assert c["machine_gflops"] > 0  # the child's machine check, after its case
        assert c["data_sha1"] == (data_digest(X[:n], y[:n]) if v == "loop" else data_digest(X, y))
    assert cases["loop"]["samples"] == n and cases["loop"]["note"] == f"on {n} samples"
    assert cases["numba"]["threads"]["env"]["OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY")
    launched = bench_isolate.launch_environment().get("OMP_WAIT_POLICY")
    assert cases["sklearn"]["threads"]["env"]["OMP_WAIT_POLICY"] == launched


def _tiny_task(**data):
    return case_task("numpy", Net((2, 4, 2), "tanh", 10), dict({"kind": "circles", "n": 100}, **data),
                     rounds=1, validate_epochs=1, min_round_s=0.0)


def test_a_child_that_times_out_is_a_failed_case():
    r = run_task(_tiny_task(), timeout=0.01)
    assert r["status"] == "failed" and "timed out" in r["reason"] and r["variant"] == "numpy"
    with pytest.raises(ValueError, match="timeout"):
        run_task(_tiny_task(), timeout=0)


def test_a_childs_error_is_raised_as_in_process():
    with pytest.raises(ValueError, match="kind"):
        run_task(_tiny_task(kind="cifar"), isolate=False)
    with pytest.raises(ValueError, match="kind"):
        run_task(_tiny_task(kind="cifar"))
    with pytest.raises(ValueError, match="unknown variant"):
        run_recipe(["numba", "caffe"], 1)  # refused before any process starts
    with pytest.raises(TypeError, match="net"):
        case_task("numba", (2, 4, 2), {"kind": "circles", "n": 10})


def test_peer_children_get_the_launch_value_of_fastmlps_openmp_setting(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setattr(bench_isolate, "launch_environment", lambda: {})
    assert "OMP_WAIT_POLICY" not in bench_isolate.child_environment("torch")
    assert bench_isolate.child_environment("numba")["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setattr(bench_isolate, "launch_environment", lambda: {"OMP_WAIT_POLICY": "ACTIVE"})
    assert bench_isolate.child_environment("jax-scan")["OMP_WAIT_POLICY"] == "ACTIVE"
    assert bench_isolate.child_environment("loop")["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="needs Linux's /proc/self/environ")
def test_launch_environment_leaves_out_later_changes(monkeypatch):
    monkeypatch.setenv("FASTMLP_BENCH_TEST_LATE_VARIABLE", "1")
    env = bench_isolate.launch_environment()
    assert "FASTMLP_BENCH_TEST_LATE_VARIABLE" not in env and env.get("PATH") == os.environ.get("PATH")


@pytest.mark.parametrize("argv", [["--workloads", "circles-b99"], ["--peers", "torch,caffe"],
                                  ["--rounds", "0"], ["--rounds", "many"], ["--processes", "0"]])
def test_bad_arguments_return_2_and_write_nothing(tmp_path, argv, capsys):
    out = tmp_path / "never"
    assert main(["--quick", "--out", str(out)] + argv) == 2
    assert not out.exists()
    assert "error" in capsys.readouterr().err


def test_missing_peer_is_skipped_with_reason(monkeypatch):
    real = bench_peers.importlib.util.find_spec
    monkeypatch.setattr(bench_peers.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    X, y, _ = load_data("circles", 100)
    r = run_case("torch", WORKLOADS["circles-b10"].net, X, y)
    assert r["status"] == "skipped" and "torch not installed" in r["reason"]
    with pytest.raises(ImportError, match="torch"):
        bench_peers.make_runner("torch", WORKLOADS["circles-b10"].net, X, y)


class _Stuck:
    """A runner whose loss never moves."""

    name = "stuck"

    def __init__(self):
        self.trained = 0

    def loss(self):
        return 0.5

    def train(self, epochs=1):
        self.trained += epochs


def test_validation_refuses_a_variant_that_does_not_learn():
    r = _Stuck()
    with pytest.raises(ValidationError, match="did not go down"):
        validate(r, 3)
    assert r.trained == 3
    with pytest.raises(ValueError, match="epochs"):
        validate(r, 0)
    X, y, _ = load_data("circles", 100)
    res = run_case("numpy", Net((2, 4, 2), "tanh", 10), X, y, rounds=1, validate_epochs=1, min_round_s=0.0)
    assert res["status"] == "ok" and res["loss_after"] < res["loss_before"]


def test_all_variants_start_from_the_same_weights():
    net = Net((5, 4, 3), "sigmoid", 2)
    X = np.random.default_rng(1).random((8, 5), dtype=np.float32)
    y = np.arange(8) % 3
    losses = {v: bench_peers.make_runner(v, net, X, y, seed=3).loss() for v in bench_peers.FASTMLP_VARIANTS}
    assert max(losses.values()) - min(losses.values()) < 1e-5


def test_workload_definitions_and_data():
    fw = WORKLOADS["fashion-b64"].net
    assert fw.n_weights == 784 * 256 + 256 * 128 + 128 * 64 + 64 * 10
    assert fw.gflops(1e4) == pytest.approx(6 * fw.n_weights * 1e4 / 1e9)
    assert [w.id for w in get_workloads(["mnist-b1", "circles-b10"])] == ["mnist-b1", "circles-b10"]
    with pytest.raises(ValueError, match="unknown workload"):
        get_workloads(["mnist-b2"])
    X, y, src = load_data("mnist-size", 50, source="random", seed=2)
    assert X.shape == (50, 784) and X.dtype == np.float32 and y.max() < 10 and "random" in src
    with pytest.raises(ValueError, match="kind"):
        load_data("cifar", 10)


def test_report_arithmetic():
    assert rate(1234567) == "1.23M" and rate(45600) == "45.6k" and rate(12) == "12" and rate(None) == "-"
    assert table(["a", "b"], [[1, 2]]) == "| a | b |\n|---|---|\n| 1 | 2 |"
    cases = [{"variant": "numba", "status": "ok", "samples_per_s": 300.0},
             {"variant": "loop", "status": "ok", "samples_per_s": 1.0},
             {"variant": "torch", "status": "ok", "samples_per_s": 100.0},
             {"variant": "jax-scan", "status": "ok", "samples_per_s": 150.0},
             {"variant": "sklearn", "status": "skipped"}]
    assert best_other(cases) == ("jax-scan", 150.0)
    assert numba_ratio(cases, "torch") == 3.0 and numba_ratio(cases, "sklearn") is None
    assert epochs_per_round(0.03, 0.1) == 4 and epochs_per_round(1.0, 0.1) == 1


# Peers against fastmlp, full batch: loss traces equal within this relative tolerance (measured
# deviations <= 1.7e-7 for every peer and optimizer, the largest optax's Adagrad, whose eps goes under
# the square root); the traces of two optimizers compared on one activation differ by >= 7.4e-4 on
# these nets, so the check tells the optimizers apart.
EQUIVALENCE_RTOL = 1e-5
EQUIVALENCE_STEPS = 8
# The optimizer rows, and plain SGD, each checked on a small net with the row's activation.
EQUIVALENCE_ROWS = ("fashion-b64", "momentum-b64", "nesterov-b64", "adam-b64", "rmsprop-b64", "adagrad-b64", "adam-b1")


def _loss_trace(variant, activation, optimizer):
    """Loss before and after each of EQUIVALENCE_STEPS full-batch steps (one per epoch, so
    shuffling cannot matter) on a small net, from the shared initial weights."""
    net = Net((6, 5, 4, 3), activation, 24, optimizer)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((24, 6)).astype(np.float32)
    y = np.arange(24) % 3
    runner = bench_peers.make_runner(variant, net, X, y, seed=5)
    trace = [runner.loss()]
    for _ in range(EQUIVALENCE_STEPS):
        runner.train(1)
        trace.append(runner.loss())
    return np.array(trace)


@pytest.mark.parametrize("row", EQUIVALENCE_ROWS)
@pytest.mark.parametrize("peer", bench_peers.TRAIN_PEERS)
def test_peer_trains_the_same_network_as_fastmlp(peer, row):
    """Every training peer follows fastmlp's numba variant step for step with the row's
    optimizer (same network, loss, formulas and hyperparameters: torch.optim's eps, bias
    correction, no dampening, Nesterov where the row asks), within EQUIVALENCE_RTOL; a peer without
    the row's optimizer (scikit-learn: RMSprop, Adagrad) is skipped."""
    net = WORKLOADS[row].net
    for module in bench_peers.needs(peer, net.optimizer):
        pytest.importorskip(module)
    if bench_peers.cannot_train(peer, net.opt):
        pytest.skip(bench_peers.cannot_train(peer, net.opt))
    ref = _loss_trace("numba", net.activation, net.optimizer)
    got = _loss_trace(peer, net.activation, net.optimizer)
    np.testing.assert_allclose(got, ref, rtol=EQUIVALENCE_RTOL)
    assert got[-1] < got[0] - 20 * EQUIVALENCE_RTOL * got[0]  # it learned, by far more than the tolerance


@pytest.mark.parametrize("activation", sorted({WORKLOADS[r].net.activation for r in EQUIVALENCE_ROWS}))
def test_the_equivalence_tolerance_tells_the_optimizers_apart(activation):
    """Among the optimizers of the rows checked with ``activation`` (and plain SGD): a peer that
    trained with another of them would fail the equivalence check."""
    rows = [WORKLOADS[r].net for r in EQUIVALENCE_ROWS]
    compared = {"sgd"} | {net.optimizer for net in rows if net.activation == activation}
    traces = {o: _loss_trace("numpy", activation, o) for o in OPTIMIZERS if o in compared}
    for a, b in itertools.combinations(traces, 2):
        assert np.max(np.abs(traces[a] - traces[b]) / traces[a]) > 20 * EQUIVALENCE_RTOL, (a, b)


def test_processes_are_interleaved_and_the_best_ok_record_is_kept(monkeypatch):
    calls = []
    rates = {"a": iter([100.0, None, 300.0]), "b": iter([5.0, 7.0, 6.0])}

    def fake(task, isolate):
        calls.append(task["variant"])
        r = next(rates[task["variant"]])
        if r is None:
            return {"status": "failed", "reason": "crash"}
        return {"status": "ok", "samples_per_s": r, "variant": task["variant"]}
    monkeypatch.setattr(bench_isolate, "run_task", fake)
    runs = bench_isolate.run_interleaved({"a": {"variant": "a"}, "b": {"variant": "b"}, "c": None}, 3)
    assert calls == ["a", "b"] * 3 and runs["c"] == []  # one pass over every task, then the next
    best = best_record(runs["a"])
    assert best["samples_per_s"] == 300.0 and best["per_process"] == [100.0, 300.0]
    assert best_record([{"status": "failed", "reason": "x"}])["status"] == "failed"
    calls.clear()
    rates["b"] = iter([1.0])
    bench_isolate.run_interleaved({"b": {"variant": "b"}}, 3, isolate=False)  # in-process: once
    assert calls == ["b"]
    walls = [{"status": "ok", "wall_s": w} for w in (30.0, 20.0, 25.0)]
    best = best_record(walls, key="wall_s", higher_is_better=False)
    assert best["wall_s"] == 20.0 and best["per_process"] == [30.0, 20.0, 25.0]


def test_compile_section_and_targets_use_launch_to_first_batch():
    cold = {"to_first_batch_s": 4.4, "import_s": 0.4, "first_batch_s": 4.0, "wall_s": 4.9,
            "per_process": [4.9, 4.4, 5.0]}
    warm = {"to_first_batch_s": 0.45, "import_s": 0.4, "first_batch_s": 0.05, "wall_s": 1.2,
            "per_process": [0.5, 0.45, 0.47]}
    comp = {"status": "ok", "network": "784-256-128-64-10 relu", "batch_size": 64,
            "optimizers": {"sgd": {"cold": cold, "warm": warm},
                           "adam": {"cold": dict(cold, to_first_batch_s=17.5), "warm": warm}}}
    report = {"workloads": [], "sgemm_gflops": 200.0, "compile": comp, "recipe": {}}
    targets = bench_markdown._targets(report)
    assert "| cold compile, sgd (launch to first trained batch) | <= 5 s | 4.4 s | yes |" in targets
    assert "| cold compile, adam (launch to first trained batch) | <= 5 s | 17.5 s | no |" in targets
    assert "| warm start, sgd (same cache) | <= 0.5 s | 0.45 s | yes |" in targets  # not the 1.2 s to exit
    section = bench_markdown._compile(report)
    assert "launch → exit s" in section and "| sgd | cold (empty NUMBA_CACHE_DIR) | 4.4 | 0.4 | 4 | 4.9 |" in section
    assert "| adam | warm (same cache) | 0.45 |" in section
    assert "cold, the best of 3 processes" in section and "warm, the best of 3 on the cache" in section
    assert "batch 64, one batch of random inputs, half of the inputs zero" in section  # a report without its rows
    report["compile"] = dict(comp, rows=2048)
    assert "batch 64, one epoch of 2,048 random rows (a training set's size" in bench_markdown._compile(report)
    assert "one core" not in bench_markdown._compile(report)  # a report written before the one-core rows
    report["compile"]["onecore"] = {"adam": {"cold": dict(cold, to_first_batch_s=27.1), "warm": warm}}
    section, targets = bench_markdown._compile(report), bench_markdown._targets(report)
    assert "| adam, one core | cold (empty NUMBA_CACHE_DIR) | 27.1 |" in section and "pinned to one core" in section
    assert "| cold compile, adam, one core (launch to first trained batch) | <= 5 s | 27.1 s | no |" in targets
    assert "| warm start, adam, one core (same cache) | <= 0.5 s | 0.45 s | yes |" in targets
    assert "| cold compile, sgd (launch to first trained batch) | <= 5 s | 4.4 s | yes |" in targets  # still there


def test_the_one_core_compile_child_is_pinned_as_the_onecore_rows(monkeypatch, tmp_path):
    """``setting='onecore'``: the child pins itself to one core before any import and gets one thread per library
    (``bench.settings.launch``), as the onecore-b64 row's processes; 'idle' leaves both alone; others are refused."""
    from fastmlp.bench import compile as bench_compile
    from fastmlp.bench import settings as bench_settings
    from fastmlp.bench.workloads import WORKLOADS
    runs = []

    def child(cmd, env, **kw):
        runs.append((cmd, env))
        out = {"import_s": 0.3, "first_batch_s": 4.0, "to_first_batch_s": 4.4}
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps(out) + "\n", stderr="")

    monkeypatch.setattr(bench_compile.subprocess, "run", child)
    net = WORKLOADS["fashion-b64"].net
    assert bench_compile.run_child(net, tmp_path, setting="onecore")["setting"] == "onecore"
    assert bench_compile.run_child(net, tmp_path)["setting"] == "idle"
    (one, one_env), (idle, idle_env) = runs
    plan = bench_settings.launch("onecore")
    assert one[-1] == ",".join(map(str, plan.cpus)) and idle[-1] == ""
    assert all(one_env[k] == v for k, v in bench_settings.ONE_CORE_ENV.items())
    assert not any(idle_env.get(k) == v and k not in os.environ for k, v in bench_settings.ONE_CORE_ENV.items())
    code = one[2]
    assert code.index("os.sched_setaffinity(0,") < code.index("import numpy")  # pinned before NumPy loads
    with pytest.raises(ValueError, match="compile setting"):
        bench_compile.run_child(net, tmp_path, setting="busy")
    assert len(runs) == 2  # nothing launched for it


def test_the_compile_child_fits_a_training_set_whose_inputs_are_screened_by_the_kernel(monkeypatch, tmp_path):
    """The compile rows' first fit is of ``ROWS`` rows (at least a batch), enough that a fit screens them with the
    kernel (``count_flagged``): what a fit of a training set compiles before its first batch is timed too."""
    from fastmlp.backends import numba as numba_backend
    from fastmlp.bench import compile as bench_compile
    from fastmlp.bench.workloads import WORKLOADS
    runs = []

    def child(cmd, env, **kw):
        runs.append((json.loads(cmd[3]), env["NUMBA_CACHE_DIR"], cmd[2]))
        out = {"import_s": 0.3, "first_batch_s": 4.0, "to_first_batch_s": 4.4}
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps(out) + "\n", stderr="")

    monkeypatch.setattr(bench_compile.subprocess, "run", child)
    net = WORKLOADS["fashion-b64"].net
    got = bench_compile.run_child(net, tmp_path)
    assert got["to_first_batch_s"] == 4.4 and got["status"] == "ok"
    (layers, activation, batch, rows, kwargs), cache, code = runs[0]
    assert (layers, batch, rows, cache) == (list(net.layers), 64, bench_compile.ROWS, str(tmp_path))
    assert rows * layers[0] >= numba_backend.SCREEN_MIN_VALUES and "rng.random((rows, layers[0])" in code
    bench_compile.run_child(type(net)(net.layers, net.activation, 4096, net.optimizer), tmp_path)
    assert runs[1][0][2:4] == [4096, 4096]  # a batch larger than ROWS: one batch


def test_the_warm_start_is_the_best_of_as_many_processes_as_every_case(monkeypatch):
    """--processes N: the cold start is the best of N processes, the warm start of max(2, N); on every core, then
    on one."""
    from fastmlp.bench import compile as bench_compile
    from fastmlp.bench import report as bench_report
    seen = []

    def per_optimizer(net, opts, warm_runs, cold_runs, log, setting):
        seen.append((warm_runs, cold_runs, setting))
        return {"sgd": setting}
    monkeypatch.setattr(bench_compile, "compile_per_optimizer", per_optimizer)
    for processes, quick, want in ((3, False, (3, 3)), (None, False, (2, 2)), (None, True, (2, 1)), (5, False, (5, 5))):
        seen.clear()
        args = argparse.Namespace(no_compile=False, processes=processes, quick=quick)
        got = bench_report._compile(args, ["sgd"])
        assert got["status"] == "ok" and got["optimizers"] == {"sgd": "idle"} and got["onecore"] == {"sgd": "onecore"}
        assert seen == [want + ("idle",), want + ("onecore",)]



def test_targets_say_when_a_row_needs_more_than_the_ceiling_of_its_cores():
    def row(wid, setting, jax_gflops, kind="train", network="784-300-10 sigmoid"):
        return {"workload": wid, "network": network, "kind": kind, "setting": setting, "batch_size": 64, "cases": [
            {"variant": "numba", "status": "ok", "samples_per_s": 1.0, "gflops": 1.0},
            {"variant": "jax-scan", "status": "ok", "samples_per_s": 1.0, "gflops": jax_gflops}]}
    done = bench_markdown.work_done("784-300-10 sigmoid")
    report = {"workloads": [row("onecore-b64", "onecore", 90.0), row("busy-b64", "busy", 50.0),
                            row("fashion-b64", "idle", 90.0), row("predict-10k", "idle", 180.0, "predict")],
              "sgemm_gflops": 200.0, "sgemm_one_gflops": 100.0, "compile": {}, "recipe": {}}
    lines = bench_markdown._targets(report).splitlines()

    def bound(wid):
        return next(x for x in lines if x.startswith(f"| {wid}: GFLOP/s the target needs"))
    # one core: 1.2 x the peer's work done against the one-thread ceiling
    assert f"one-core sgemm ceiling | <= 100 | {1.2 * 90 * done:.3g} | " in bound("onecore-b64")
    assert bound("onecore-b64").endswith("| reachable |")  # 1.2 x 90 x 0.66 = 71.6 <= 100
    assert bound("busy-b64").endswith("| reachable |") and "one-core" in bound("busy-b64")
    assert "all-core sgemm ceiling | <= 200 |" in bound("fashion-b64")
    assert bound("predict-10k").endswith("| 216 | no: beyond the ceiling |")  # inference: every flop counts
    del report["sgemm_one_gflops"]  # a report from before the one-core ceiling: no bound, no error
    assert not any(x.startswith("| onecore-b64: GFLOP/s") for x in bench_markdown._targets(report).splitlines())


def test_the_one_core_ceiling_runs_on_one_blas_thread_and_restores_the_count():
    from threadpoolctl import threadpool_info

    from fastmlp.bench.measure import sgemm_gflops
    before = [(p["internal_api"], p["num_threads"]) for p in threadpool_info()]
    seen = []
    real = np.matmul
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(np, "matmul", lambda *a, **k: seen.append(
            [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]) or real(*a, **k))
        assert sgemm_gflops(n=64, repeats=2, threads=1) > 0
    assert seen and all(set(t) == {1} for t in seen)
    assert [(p["internal_api"], p["num_threads"]) for p in threadpool_info()] == before


def test_a_peer_not_installed_is_skipped_with_how_to_install_and_no_process(tmp_path, monkeypatch):
    from fastmlp.bench import report as bench_report
    real = bench_peers.importlib.util.find_spec
    monkeypatch.setattr(bench_peers.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    started = []
    real_run = bench_report.run_interleaved
    monkeypatch.setattr(bench_report, "run_interleaved",
                        lambda tasks, *a, **k: started.extend(tasks) or real_run(tasks, *a, **k))
    out = tmp_path / "report"
    assert main(["--quick", "--out", str(out), "--workloads", "circles-b10", "--variants", "numpy", "--peers",
                 "torch", "--data", "random", "--in-process"]) == 0
    assert started == [("circles-b10", "numpy")]  # nothing was started for torch
    text = (out / "report.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| circles-b10 | torch |"))
    assert "skipped: torch not installed (pip install torch==2.13.0)" in row
    assert "failed:" not in text and "Traceback" not in text
    assert "- torch: skipped, torch not installed (pip install torch==2.13.0) (rows: circles-b10)" in text
    assert "Sweeps: torch skipped: torch not installed (pip install torch==2.13.0)." in text


def test_failed_cases_show_the_error_not_the_traceback():
    r = {"status": "failed", "reason": "child process exit 1: Traceback (most recent call last): | File \"x\", line 1 "
         "| ValueError: bad"}
    assert bench_markdown._why(r) == "failed: child process exit 1: ValueError: bad"
    assert bench_markdown._why({"status": "skipped", "reason": "--quick"}) == "skipped: --quick"


def test_the_report_explains_shares_above_100_percent():
    assert bench_markdown.work_done("784-300-10 sigmoid") == pytest.approx(
        (6 * 238200 - 2 * 235200) / (6 * 238200))
    report = {"meta": {"date": "d", "quick": False, "machine": "m", "cores": 2, "python": "3", "numpy": "2",
                       "numba": "0.68", "threads": "numba 2", "peers": "none", "data": "x", "sgemm_repeats": 5},
              "sgemm_gflops": 100.0, "compile": {}, "recipe": {}, "sweeps": {}, "charts": [],
              "workloads": [{"workload": "mnist-b64", "network": "784-300-10 sigmoid", "batch_size": 64, "cases": [
                  {"variant": "numba", "status": "ok", "samples": 10, "samples_per_s": 1e5, "gflops": 102.0,
                   "first_epoch_s": 1.0, "loss_before": 1.0, "loss_after": 0.5, "note": ""}]}]}
    text = bench_markdown.render(report)
    assert "| 102% | 68.4% |" in text  # nominal share, and the share of the flops computed
    assert "Why \"of sgemm\" can exceed 100%" in text and "6 W - 2 W1" in text


def test_quick_sweeps_are_markers_not_lines():
    import matplotlib.pyplot as plt

    from fastmlp.bench import charts as bench_charts
    few = [{"status": "ok", "variant": "numba", "x": x, "samples_per_s": 1000.0 * x} for x in (1, 16, 64)]
    many = [{"status": "ok", "variant": "numba", "x": 2 ** k, "samples_per_s": 1000.0 * 2 ** k} for k in range(5)]
    for rows, style in ((few, "None"), (many, "-")):
        fig, ax = plt.subplots()
        bench_charts._lines(ax, rows, lambda r: r["samples_per_s"], "batch size", "samples / s")
        fig.canvas.draw()
        assert ax.lines[0].get_linestyle() == style
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"{r['x']:g}" for r in rows]
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert labels and not any("^" in s for s in labels)
        plt.close(fig)


class _CountingRunner:
    """A runner whose epochs take at least ``epoch_s`` and whose loss falls with each one."""

    name, note = "counting", ""

    def __init__(self, epoch_s):
        self.epoch_s, self.epochs = epoch_s, 0

    def loss(self):
        return 1.0 / (1 + self.epochs)

    def train(self, epochs=1):
        import time
        time.sleep(self.epoch_s * epochs)
        self.epochs += epochs


def test_measure_warms_up_for_the_seconds_asked_between_validation_and_the_timed_rounds():
    from fastmlp.bench.measure import measure
    runner = _CountingRunner(0.01)
    m = measure(runner, 10, rounds=2, validate_epochs=1, min_round_s=0.0, warmup_s=0.05)
    assert m["warmup_s"] >= 0.05
    warm_epochs = runner.epochs - 1 - 2 * m["epochs_per_round"]
    assert warm_epochs >= 1 and warm_epochs * 0.01 <= m["warmup_s"]
    runner = _CountingRunner(0.0)
    m = measure(runner, 10, rounds=2, validate_epochs=1, min_round_s=0.0)  # no warm-up by default
    assert runner.epochs == 3 and m["warmup_s"] < 0.05


class _SettlingRunner(_CountingRunner):
    """Epochs of ``slow_s`` for the first ``slow`` epochs (the validation), of ``epoch_s`` after."""

    def __init__(self, slow_s, slow, epoch_s):
        super().__init__(epoch_s)
        self.slow_s, self.slow = slow_s, slow

    def train(self, epochs=1):
        import time
        time.sleep(self.slow_s if self.epochs < self.slow else self.epoch_s * epochs)
        self.epochs += epochs


def test_the_rounds_are_counted_from_the_warm_ups_pace_not_the_validations():
    """A validation epoch slowed (compiling, a thread probe, a busy spell) must not shorten the timed rounds."""
    from fastmlp.bench.measure import measure
    m = measure(_SettlingRunner(0.2, 2, 0.002), 10, rounds=2, validate_epochs=2, min_round_s=0.05, warmup_s=0.05)
    assert m["warmup_epochs"] >= 1
    # 0.05 s at about 0.002 s an epoch (at least 3 unless sleeps overshoot eightfold); from the validation's 0.2 s: 1
    assert m["epochs_per_round"] >= 3
    m = measure(_SettlingRunner(0.2, 2, 0.002), 10, rounds=2, validate_epochs=2, min_round_s=0.05)
    assert m["warmup_epochs"] == 0 and m["epochs_per_round"] == 1  # no warm-up: the validation's last epoch


def test_reference_rows_warm_up_training_and_inference_alike_and_the_loop_does_not():
    from fastmlp.bench.measure import WARMUP_S
    from fastmlp.bench.tasks import workload_task
    assert WARMUP_S >= 1.5  # past fastmlp's CUT_AFTER_S: the rows time the kernels a long training runs
    from fastmlp.backends.numba import CUT_AFTER_S
    assert WARMUP_S > CUT_AFTER_S
    assert workload_task(WORKLOADS["adam-b64"], "numba")["warmup_s"] == WARMUP_S
    assert workload_task(WORKLOADS["fashion-b64"], "jax-scan")["warmup_s"] == WARMUP_S
    assert workload_task(WORKLOADS["mnist-b1"], "loop")["warmup_s"] == 0.0
    for row in ("predict-10k", "predict-1", "busy-predict-256"):  # fastmlp's thread choice measures its first calls
        assert workload_task(WORKLOADS[row], "onnxruntime")["warmup_s"] == WARMUP_S


def test_the_spread_shows_every_process_and_the_ratio_of_the_medians():
    """A row met by the best processes only reads 'no' by the medians; the median is taken against
    the peer with the best median (named when another); a latency row compares latencies; a row
    with one process per case is left out."""
    def case(variant, runs):
        return {"variant": variant, "status": "ok", "samples_per_s": max(runs), "per_process": runs}
    noisy = {"workload": "fashion-b64", "cases": [case("numba", [125.0, 90.0, 95.0]), case("jax-step", [100.0, 60.0, 70.0]),
                                                 case("jax-scan", [90.0, 85.0, 88.0]), case("loop", [1.0, 1.0, 1.0])]}
    latency = {"workload": "predict-1", "metric": "us/call",
               "cases": [case("numba", [1e5, 8e4, 9e4]), case("onnxruntime", [4e4, 5e4, 3e4])]}
    single = {"workload": "mnist-b1", "cases": [{"variant": "numba", "status": "ok", "samples_per_s": 3.0},
                                               {"variant": "jax-scan", "status": "ok", "samples_per_s": 1.0}]}
    text = bench_markdown._spread({"workloads": [noisy, latency, single]})
    lines = [x for x in text.splitlines() if x.startswith("| ") and not x.startswith("| row")]
    # best 125 / 100 = 1.25x (met); medians 95 / 88 (jax-scan's median beats jax-step's 70) = 1.080x (not met)
    # pass by pass, against the best peer of each pass: 125 / 100, 90 / 85, 95 / 88; the loop is no peer
    assert lines[0] == ("| fashion-b64 | 125 / 90 / 95 | jax-step | 100 / 60 / 70 | 1.250x | 1.080x (jax-scan) "
                        "| 1.080x (1.250 / 1.059 / 1.080) | >= 1.2x | no |")
    # latency: 10 us best against 20 us best = 0.5x; medians 1e6/9e4 = 11.1 us against 1e6/4e4 = 25 us = 0.444x;
    # pass by pass 10 / 25, 12.5 / 20, 11.1 / 33.3 us
    assert lines[1] == ("| predict-1 | 10 / 12.5 / 11.1 us | onnxruntime | 25 / 20 / 33.3 us | 0.500x | 0.444x "
                        "| 0.400x (0.400 / 0.625 / 0.333) | <= 0.5x | yes |")
    assert len(lines) == 2  # mnist-b1 ran one process per case
    assert bench_markdown._spread({"workloads": [single]}) == "One process per case: no spread to show."


def test_the_passes_pair_only_variants_that_ran_in_every_pass():
    """A peer with a failed process is left out of the pass-by-pass ratios (its figures would pair
    with the wrong passes); when numba itself missed a pass, there is no pass-by-pass ratio."""
    def case(variant, runs):
        return {"variant": variant, "status": "ok", "samples_per_s": max(runs), "per_process": runs}
    peer_missed = {"workload": "fashion-b64", "cases": [case("numba", [100.0, 90.0, 80.0]),
                                                       case("jax-scan", [150.0, 200.0]),  # one process failed
                                                       case("torch", [50.0, 60.0, 100.0])]}
    numba_missed = {"workload": "adam-b64", "cases": [case("numba", [100.0, 90.0]),
                                                     case("jax-scan", [50.0, 60.0, 70.0])]}
    text = bench_markdown._spread({"workloads": [peer_missed, numba_missed]})
    lines = [x for x in text.splitlines() if x.startswith("| ") and not x.startswith("| row")]
    assert "| 1.500x (2.000 / 1.500 / 0.800) |" in lines[0]  # against torch alone: 100 / 50, 90 / 60, 80 / 100
    assert lines[1].split(" | ")[6] == "-"


def test_the_report_has_the_spread_section(quick_report):
    _, out = quick_report  # --in-process: one process per case
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Spread across processes\n\nOne process per case: no spread to show.\n" in text


def test_each_process_checks_the_machine_after_its_case(monkeypatch):
    """The best record keeps every process's machine check in order (None where a process ran none);
    the report shows them beside each process's figure, for numba and its best peer; rows without
    checks (one process per case) are left out."""
    recs = [{"status": "ok", "samples_per_s": s, "machine_gflops": g} for s, g in ((90.0, 110.0), (130.0, 165.0))]
    best = best_record(recs + [{"status": "failed", "reason": "crash"}, {"status": "ok", "samples_per_s": 80.0}])
    assert best["per_process"] == [90.0, 130.0, 80.0] and best["per_process_machine"] == [110.0, 165.0, None]

    def case(variant, runs, checks):
        return {"variant": variant, "status": "ok", "samples_per_s": max(runs), "per_process": runs,
                "per_process_machine": checks}
    noisy = {"workload": "momentum-b64", "cases": [case("numba", [132e3, 80.6e3], [168.2, 111.7]),
                                                  case("jax-scan", [103e3, 93e3], [170.0, None])]}
    unchecked = {"workload": "fashion-b64", "cases": [case("numba", [1.0, 2.0], [None, None]),
                                                     case("jax-scan", [1.0, 1.5], [None, None])]}
    text = bench_markdown._machine({"workloads": [noisy, unchecked]})
    lines = [x for x in text.splitlines() if x.startswith("| ") and not x.startswith("| row")]
    assert lines == ["| momentum-b64 | 132k / 80.6k | 168 / 112 | jax-scan | 103k / 93k | 170 / - |"]
    assert "64x784 @ 784x256" in text
    assert bench_markdown._machine({"workloads": [unchecked]}).startswith("No process ran a machine check")


def test_the_machine_check_times_the_product_and_refuses_bad_windows():
    from fastmlp.bench.measure import machine_check
    assert 0 < machine_check(seconds=0.01, shape=(4, 8, 2)) < 1e5
    for bad, error in ((0, ValueError), (-1, ValueError), (11, ValueError), (float("nan"), ValueError),
                       (True, TypeError), ("0.1", TypeError)):  # the project's policy (fastmlp.checks.check_real)
        with pytest.raises(error, match=r"seconds must be a finite number in \(0, 10\]"):
            machine_check(seconds=bad)


def test_the_cooperation_summary_tells_slow_rounds_and_what_one_core_did():
    """Rounds whose all-threads figure is below SLOW_COOPERATION x the usual (90th percentile) are
    slow; the one-core medians are taken in the slow rounds and in the others; None where there are none."""
    from fastmlp.bench.measure import SLOW_COOPERATION, cooperation_summary
    rounds = [[160.0, 90.0, 0], [158.0, 88.0, 1], [96.0, 91.0, 0], [94.0, 87.0, 1], [161.0, 86.0, 0],
              [159.0, 89.0, 1], [162.0, 90.0, 0], [157.0, 92.0, 1], [160.0, 88.0, 0], [100.0, 93.0, 1]]
    got = cooperation_summary(rounds)
    usual = float(np.percentile([r[0] for r in rounds], 90))
    assert got["usual"] == usual and 0.8 == SLOW_COOPERATION
    assert got["slow_share"] == 0.3 and got["all_slow"] == 96.0
    assert got["one_slow"] == 91.0 and got["one_fast"] == 89.0
    assert got["usual_per_core"] == usual / 89.5  # the median of every round's one-core figure
    steady = cooperation_summary([[150.0, 80.0, None]] * 4)
    assert steady["slow_share"] == 0.0 and steady["all_slow"] is None and steady["one_slow"] is None
    with pytest.raises(ValueError, match="no rounds"):
        cooperation_summary([])


def test_the_cooperation_check_alternates_all_threads_and_each_core_and_restores_the_affinity():
    from threadpoolctl import threadpool_info
    from fastmlp.bench.measure import cooperation_check
    before = os.sched_getaffinity(0)
    threads = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    got = cooperation_check(seconds=0.05, window=0.01, shape=(4, 8, 2))
    assert os.sched_getaffinity(0) == before
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == threads
    cores = sorted(before)
    assert len(got["rounds"]) >= 1
    assert [r[2] for r in got["rounds"]] == [cores[i % len(cores)] for i in range(len(got["rounds"]))]
    assert all(a > 0 and b > 0 for a, b, _ in got["rounds"]) and got["usual"] > 0
    for bad, error in (({"seconds": 0}, ValueError), ({"seconds": 61}, ValueError), ({"window": -1}, ValueError),
                       ({"window": True}, TypeError), ({"seconds": "1"}, TypeError)):
        with pytest.raises(error, match=f"{next(iter(bad))} must be a finite number in"):
            cooperation_check(**bad)


def test_the_report_header_says_how_the_cores_worked_together(quick_report):
    """The quick run measured the cores together at its start and end; the header says it."""
    _, out = quick_report
    data = json.loads((out / "results.json").read_text())
    assert len(data["cooperation"]) == 2 and all(c["rounds"] for c in data["cooperation"])
    text = (out / "report.md").read_text()
    line = next(x for x in text.splitlines() if x.startswith("- the cores together"))
    assert "at the start: all threads usually" in line and "at the end: all threads usually" in line
    assert line.count("x one core)") == 2
    assert bench_markdown._cooperation({}) == []
