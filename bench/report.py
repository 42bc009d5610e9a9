"""``fastmlp bench``: measure fastmlp (numba, numpy, loop) and its peers (PyTorch, JAX,
scikit-learn, ONNX Runtime, NumPy) on the reference rows (training with SGD, momentum
and Adam; one core; a busy core; inference on 10,000 rows and on one row), the batch
size, width and depth sweeps, the compile time per optimizer and the end-to-end
Fashion-MNIST recipe in one run, and write a Markdown report with PNG charts.

Writes into ``--out`` (default ``./fastmlp-bench``): ``report.md``,
``results.json`` (every number) and ``workloads.png``, ``inference.png``,
``batch_sweep.png``, ``width_depth.png``. ``--quick`` is a smoke test: fewer rounds and sweep
points, no compile-time processes and no recipe. ``--rows`` runs only the
rows named (e.g. ``--rows adam-b64,predict-1,compile-adam``): workload ids,
``compile-sgd``, ``compile-momentum``, ``compile-adam`` (``compile`` for the
three), ``sweeps`` and ``recipe``. A peer that is not installed is reported as
skipped, with the command that installs it, and no process is started for it.

Every case (a variant on a workload or sweep point, a variant's recipe run)
is measured in a fresh Python process (:mod:`fastmlp.bench.isolate`), so no
variant runs beside the thread pools another one left behind; this process
only measures the sgemm ceiling, starts the children and writes the report.
``--in-process`` runs everything here instead, one case after another (for
debugging: the numbers are then skewed by the earlier cases' threads).
"""
import argparse
import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

from . import settings
from .isolate import best_record, run_interleaved
from .measure import COOPERATION_S, cooperation_check, sgemm_gflops
from .peers import ALL_VARIANTS, FASTMLP_VARIANTS, PEERS, TRAIN_VARIANTS, missing_reason, variants_for
from .tasks import not_run_reason, workload_task
from .workloads import COMPILE_OPTIMIZERS, RECIPE_NET, WORKLOADS, get_workloads

COMPILE_ROWS = {f"compile-{o}": o for o in COMPILE_OPTIMIZERS}
ROW_IDS = tuple(WORKLOADS) + tuple(COMPILE_ROWS) + ("compile", "sweeps", "recipe")


def _names(text, allowed, what):
    """'a,b' -> ['a', 'b'] checked against ``allowed``; 'all' and 'none' as expected."""
    if text in ("all", None):
        return list(allowed)
    if text == "none":
        return []
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what} {bad}; choose from {list(allowed)}, 'all' or 'none'")
    return names


def _plain(text):
    """Docstring text as --help shows it: ``x`` and :mod:`x` become x."""
    return re.sub(r"(?::\w+:)?`+([^`]+)`+", r"\1", text)


def build_parser():
    """The argument parser of ``fastmlp bench``; its help is this module's docstring."""
    head, rest = __doc__.split("\n\n", 1)
    p = argparse.ArgumentParser(prog="fastmlp bench", description=_plain(head), epilog=_plain(rest) + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="fastmlp-bench", help="output folder (default ./fastmlp-bench)")
    p.add_argument("--rows", default=None,
                   help="run only these rows, comma-separated: workload ids, compile-sgd, compile-momentum, "
                        "compile-adam, compile (all three), sweeps, recipe; default all")
    p.add_argument("--workloads", default=None,
                   help=f"comma-separated workload ids, 'all' or 'none' ({', '.join(WORKLOADS)}); the sweeps, "
                        "compile time and recipe follow their own options (not with --rows)")
    p.add_argument("--variants", default="all",
                   help=f"fastmlp variants, comma-separated, 'all' or 'none' ({', '.join(FASTMLP_VARIANTS)})")
    p.add_argument("--peers", default="all", help=f"peers, comma-separated, 'all' or 'none' ({', '.join(PEERS)})")
    p.add_argument("--quick", action="store_true", help="smoke test: fewer rounds, no compile time, no recipe")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds per case (default 3, quick 2)")
    p.add_argument("--processes", type=int, default=None,
                   help="fresh processes per workload case, best kept (default 2, quick 1; loop always 1)")
    p.add_argument("--recipe-epochs", type=int, default=5, help="epochs of the end-to-end recipe (default 5)")
    p.add_argument("--full-recipe", action="store_true", help="run the recipe's full 50 epochs (minutes)")
    p.add_argument("--no-recipe", action="store_true", help="skip the end-to-end recipe")
    p.add_argument("--no-compile", action="store_true", help="skip the compile-time processes")
    p.add_argument("--no-sweeps", action="store_true", help="skip the batch, width and depth sweeps")
    p.add_argument("--data", choices=("auto", "random"), default="auto",
                   help="MNIST-size data: Fashion-MNIST when installed ('auto') or always random")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of the initial weights (default 0)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads of every measured process and of the sgemm ceiling: Numba, BLAS and OpenMP "
                        "(environment variables the children inherit) and, where the OS allows, the CPU "
                        "affinity (PyTorch's runner uses every core it may run on); default: each library's own")
    p.add_argument("--in-process", action="store_true",
                   help="run every case in this process instead of a fresh one each (debugging; skewed numbers)")
    return p


EXAMPLES = """

examples:
  fastmlp bench --quick --peers none          a smoke test of fastmlp's variants
  fastmlp bench --rows mnist-b64,predict-1 --threads 1
  fastmlp bench --full-recipe --processes 3   the README's table (tens of minutes)"""

#: Environment variables that set a process's threads (read by the libraries at start-up).
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(n):
    """Run this process (the sgemm ceiling) and every child it starts on ``n`` threads."""
    import fastmlp
    fastmlp.set_num_threads(n)  # ValueError beyond Numba's maximum, before anything else changes
    os.environ.update({name: str(n) for name in THREAD_VARIABLES})
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cores[:n])


def _meta(args, variants, sgemm_repeats, data, processes=1):
    import numba
    import numpy

    from fastmlp.threads import KERNEL_BLAS_NAMES, thread_info
    ti = thread_info()
    peers = []
    for name, modules in (("torch", ("torch",)), ("jax", ("jax", "optax")), ("sklearn", ("sklearn",)),
                          ("onnxruntime", ("onnxruntime", "onnx"))):
        if any(v.startswith(name) for v in variants):
            peers.append(" ".join(f"{m} {_version(m)}" for m in modules))
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
            "machine": f"{platform.processor() or platform.machine()} ({platform.platform()})",
            "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__,
            "threads": f"numba {ti['numba_threads']} ({ti['threading_layer']}); the kernels call "
                       f"{KERNEL_BLAS_NAMES[ti['kernel_blas']]}'s BLAS",
            "peers": ", ".join(peers) or "none", "data": data, "sgemm_repeats": sgemm_repeats,
            "variants": variants,
            "isolation": "none: every case ran in the report's process (--in-process)" if args.in_process
            else ("every case ran in a fresh Python process" if processes == 1 else
                  f"every workload case and recipe variant ran in {processes} fresh Python processes, "
                  "interleaved over the run, the best kept (the loop variant and the sweeps in one); every "
                  "process's figure is in results.json")}


def _version(module):
    import importlib.metadata
    dist = {"sklearn": "scikit-learn"}.get(module, module)
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_workloads(workloads, variants, rounds, min_round_s, validate_epochs, source, seed, log=_log,
                  isolate=True, processes=1):
    """One dict per workload with its data description, kind, metric and setting and a record per
    variant that applies to it (``run_case``'s or ``run_predict_case``'s), each the best of
    ``processes`` fresh processes interleaved over the whole run (the loop variant in one; see
    :func:`fastmlp.bench.isolate.run_interleaved`), or measured in this process if ``isolate``
    is False."""
    chosen = {w.id: [v for v in variants if v in variants_for(w.kind)] for w in workloads}
    missing = {(w.id, v): missing_reason(v, w.net.optimizer) for w in workloads for v in chosen[w.id]}
    tasks = {(w.id, v): workload_task(w, v, rounds, validate_epochs, min_round_s, source, seed)
             for w in workloads for v in chosen[w.id] if not missing[w.id, v]}  # no process for a missing peer
    slow = {k: t for k, t in tasks.items() if k[1] == "loop"}  # minutes per case: one process

    def show(key, rep, r):
        unit = WORKLOADS[key[0]].metric if key[0] in WORKLOADS else "samples/s"
        figure = f"{r['us_per_call']:.4g} us/call" if unit == "us/call" and r["status"] == "ok" else (
            f"{r['samples_per_s']:.4g} {unit}" if r["status"] == "ok" else f"{r['status']} ({r['reason']})")
        log(f"{key[0]} {key[1]} (process {rep + 1}): {figure}")
    runs = run_interleaved({k: t for k, t in tasks.items() if k not in slow}, processes, isolate, show)
    runs.update(run_interleaved(slow, 1, isolate, show))
    out = []
    for w in workloads:
        cases, data = [], "not loaded (no case ran)"
        for v in chosen[w.id]:
            if missing[w.id, v]:
                r = {"variant": v, "status": "skipped", "reason": missing[w.id, v], "note": ""}
            elif tasks[w.id, v] is None:
                r = {"variant": v, "status": "skipped", "reason": not_run_reason(w, v), "note": ""}
            else:
                r = best_record(runs[w.id, v])
                data = r.get("data") or data
            cases.append(r)
        out.append({"workload": w.id, "network": w.net.describe(), "n_weights": w.net.n_weights, "data": data,
                    "batch_size": w.predict_rows or w.net.batch_size, "kind": w.kind, "metric": w.metric,
                    "setting": w.setting, "setting_text": settings.describe(w.setting),
                    "optimizer": w.net.optimizer, "sgd_baseline": w.sgd_baseline, "cases": cases})
    return out


def main(argv=None):
    """Run the benchmark report; returns the exit status (0 on success or --help, 2 on bad arguments).

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``); see ``fastmlp bench --help``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or an argument argparse refused (it printed why)
        return int(e.code or 0)
    try:
        plan = _plan(args)
        workloads = get_workloads(plan["workloads"])
        variants = _names(args.variants, FASTMLP_VARIANTS, "variants") + _names(args.peers, PEERS, "peers")
        for name, value in (("--rounds", args.rounds), ("--recipe-epochs", args.recipe_epochs),
                            ("--processes", args.processes), ("--threads", args.threads)):
            if value is not None and value < 1:
                raise argparse.ArgumentTypeError(f"{name} must be a positive int; got {value}")
        if args.threads is not None:
            limit_threads(args.threads)
    except (ValueError, argparse.ArgumentTypeError) as e:
        parser.print_usage(sys.stderr)
        print(f"fastmlp bench: error: {e}", file=sys.stderr)
        return 2
    variants = [v for v in ALL_VARIANTS if v in variants]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (2 if args.quick else 3)
    processes = _processes(args)
    min_round_s = 0.02 if args.quick else 0.25

    repeats = 2 if args.quick else 5
    _log("fp32 sgemm ceiling ...")
    ceiling_start = sgemm_gflops(repeats=repeats)
    one_start = sgemm_gflops(repeats=repeats, threads=1)
    cooperation_s = 0.4 if args.quick else COOPERATION_S
    _log("how the cores work together ...")
    cooperation_start = cooperation_check(cooperation_s)
    isolate = not args.in_process
    report = {"workloads": run_workloads(workloads, variants, rounds, min_round_s, 2, args.data, args.seed,
                                         isolate=isolate, processes=processes),
              "sweeps": _sweeps(args, variants, plan["sweeps"]), "compile": _compile(args, plan["compile"]),
              "recipe": _recipe(args, variants, plan["recipe"])}
    _log("fp32 sgemm ceiling again ...")
    report["sgemm_gflops_runs"] = [ceiling_start, sgemm_gflops(repeats=repeats)]
    report["sgemm_gflops"] = max(report["sgemm_gflops_runs"])  # the ceiling: the best the machine showed
    report["sgemm_one_gflops_runs"] = [one_start, sgemm_gflops(repeats=repeats, threads=1)]
    report["sgemm_one_gflops"] = max(report["sgemm_one_gflops_runs"])  # the same on one BLAS thread: one core
    _log("how the cores work together, again ...")
    report["cooperation"] = [cooperation_start, cooperation_check(cooperation_s)]
    sources = [f"{w['workload']}: {w['data']}" for w in report["workloads"]]
    if report["sweeps"].get("status") == "ok":
        sources.append(f"sweeps: {report['sweeps']['data']}")
    report["meta"] = _meta(args, variants, repeats, "; ".join(sources) or "none", processes)
    report["meta"]["settings"] = {name: settings.describe(name) for name in ("onecore", "busy")}
    report["charts"] = _charts(out, report)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
    from .markdown import render
    (out / "report.md").write_text(render(report), encoding="utf-8")
    _log(f"wrote {out / 'report.md'}")
    return 0


def _plan(args):
    """What this run measures: ``workloads`` (ids, None for all), ``compile`` (optimizer ids, or
    the reason why none), ``sweeps`` and ``recipe`` (True, or the reason why not)."""
    if args.rows is not None and args.workloads is not None:
        raise argparse.ArgumentTypeError("give --rows or --workloads, not both")
    if args.rows in (None, "all"):
        ids = None if args.workloads in (None, "all") else _names(args.workloads, WORKLOADS, "workloads")
        return {"workloads": ids, "compile": "--quick" if args.quick else list(COMPILE_OPTIMIZERS),
                "sweeps": True, "recipe": "--quick" if args.quick else True}
    names = _names(args.rows, ROW_IDS, "rows")
    compile_ids = [o for row, o in COMPILE_ROWS.items() if row in names or "compile" in names]
    return {"workloads": [n for n in names if n in WORKLOADS], "compile": compile_ids or "not in --rows",
            "sweeps": "sweeps" in names or "not in --rows", "recipe": "recipe" in names or "not in --rows"}


def _processes(args):
    return args.processes or (1 if args.quick else 2)


def _sweeps(args, variants, planned=True):
    if args.no_sweeps or planned is not True:
        return {"status": "skipped", "reason": "--no-sweeps" if args.no_sweeps else planned}
    from .sweeps import FULL, QUICK, run_sweeps
    plan = QUICK if args.quick else FULL
    candidates = [v for v in variants if v in TRAIN_VARIANTS and v != "loop"]
    missing = {v: missing_reason(v) for v in candidates if missing_reason(v)}
    chosen = [v for v in candidates if v not in missing]
    if not chosen:
        return {"status": "skipped", "reason": "no installed variant other than loop selected", "missing": missing}
    _log("sweeps ...")
    res = run_sweeps(plan, chosen, args.data, args.seed, log=_log, isolate=not args.in_process)
    batch_network = f"{'-'.join(map(str, plan.batch_net))} relu"
    return dict(res, status="ok", depth_width=plan.depth_width, batch_network=batch_network, missing=missing)


def _compile(args, optimizers):
    if args.no_compile or isinstance(optimizers, str):
        return {"status": "skipped", "reason": "--no-compile" if args.no_compile else optimizers}
    from .compile import REPORT_KEYS, SETTINGS, compile_per_optimizer, fit_rows
    _log("compile time per optimizer ...")
    net = WORKLOADS["fashion-b64"].net
    n = _processes(args)  # the warm start too: the best of as many processes as every case, at least two
    return dict({"status": "ok", "network": net.describe(), "batch_size": net.batch_size, "rows": fit_rows(net)},
                **{REPORT_KEYS[setting]: compile_per_optimizer(net, optimizers, warm_runs=max(2, n), cold_runs=n,
                                                               log=_log, setting=setting) for setting in SETTINGS})


def _recipe(args, variants, planned=True):
    if args.no_recipe or planned is not True:
        return {"status": "skipped", "reason": "--no-recipe" if args.no_recipe else planned}
    from .recipe import FULL_EPOCHS, run_recipe
    chosen = [v for v in ("numba", "torch") if v in variants]
    if not chosen:
        return {"status": "skipped", "reason": "neither numba nor torch selected"}
    if args.data == "random":
        return {"status": "skipped", "reason": "--data random (the recipe needs Fashion-MNIST)"}
    epochs = FULL_EPOCHS if args.full_recipe else args.recipe_epochs
    skipped = [{"variant": v, "status": "skipped", "reason": missing_reason(v)} for v in chosen if missing_reason(v)]
    chosen = [v for v in chosen if not missing_reason(v)]
    _log(f"end-to-end recipe, {epochs} epochs ...")
    try:
        results = run_recipe(chosen, epochs, args.seed, isolate=not args.in_process, processes=_processes(args))
    except FileNotFoundError as e:
        return {"status": "skipped", "reason": str(e)}
    results += skipped
    for r in results:
        if r["status"] == "ok":
            _log(f"  recipe {r['variant']}: {r['wall_s']:.3g} s, test accuracy {r['test_accuracy']:.4f}")
    return {"status": "ok", "epochs": epochs, "network": RECIPE_NET.describe(), "results": results}


def _charts(out, report):
    from .charts import batch_chart, inference_chart, shape_chart, workloads_chart
    names = []
    measured = [w for w in report["workloads"] if any(r["status"] == "ok" for r in w["cases"])]
    if any(w["kind"] == "train" for w in measured):
        workloads_chart(out / "workloads.png", report["workloads"])
        names.append("workloads.png")
    if any(w["kind"] == "predict" for w in measured):
        inference_chart(out / "inference.png", report["workloads"])
        names.append("inference.png")
    sw = report["sweeps"]
    if sw.get("status") == "ok":
        batch_chart(out / "batch_sweep.png", sw["batch"], sw["batch_network"])
        shape_chart(out / "width_depth.png", sw["width"], sw["depth"], sw["depth_width"])
        names += ["batch_sweep.png", "width_depth.png"]
    return names


if __name__ == "__main__":
    sys.exit(main())
