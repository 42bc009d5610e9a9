"""``fastmlp bench``: measure fastmlp (numba, numpy, loop) and its peers (PyTorch, JAX,
scikit-learn) on the reference workloads, the batch size, width and depth sweeps,
the compile time and the end-to-end Fashion-MNIST recipe in one run, and write a
Markdown report with PNG charts.

Writes into ``--out`` (default ``./fastmlp-bench``): ``report.md``,
``results.json`` (every number) and ``workloads.png``, ``batch_sweep.png``,
``width_depth.png``. ``--quick`` is a smoke test: fewer rounds and sweep
points, no compile-time processes and no recipe. A peer that is not installed
is reported as skipped, with the command that installs it.

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

from .isolate import best_record, run_interleaved
from .measure import sgemm_gflops
from .peers import ALL_VARIANTS, FASTMLP_VARIANTS, PEERS, missing_reason
from .tasks import workload_task
from .workloads import RECIPE_NET, WORKLOADS, get_workloads


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
    p.add_argument("--workloads", default="all",
                   help=f"comma-separated workload ids, 'all' or 'none' ({', '.join(WORKLOADS)})")
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
  fastmlp bench --quick --peers none          a smoke test of fastmlp's variants (about a minute)
  fastmlp bench --workloads mnist-b64 --threads 1
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

    from fastmlp.threads import thread_info
    ti = thread_info()
    peers = []
    for name, module in (("torch", "torch"), ("jax", "jax"), ("sklearn", "sklearn")):
        if any(v.startswith(name) for v in variants):
            peers.append(f"{name} {_version(module)}")
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
            "machine": f"{platform.processor() or platform.machine()} ({platform.platform()})",
            "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
            "numba": numba.__version__, "threads": f"numba {ti['numba_threads']} ({ti['threading_layer']})",
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
    """One dict per workload with its data description and a ``run_case`` record per variant,
    each the best of ``processes`` fresh processes interleaved over the whole run (the loop
    variant in one; see :func:`fastmlp.bench.isolate.run_interleaved`), or measured in this
    process if ``isolate`` is False."""
    missing = {v: missing_reason(v) for v in variants if missing_reason(v)}  # no process for these
    tasks = {(w.id, v): workload_task(w, v, rounds, validate_epochs, min_round_s, source, seed)
             for w in workloads for v in variants if v not in missing}
    slow = {k: t for k, t in tasks.items() if k[1] == "loop"}  # minutes per case: one process

    def show(key, rep, r):
        log(f"{key[0]} {key[1]} (process {rep + 1}): " + (
            f"{r['samples_per_s']:.4g} samples/s" if r["status"] == "ok" else f"{r['status']} ({r['reason']})"))
    runs = run_interleaved({k: t for k, t in tasks.items() if k not in slow}, processes, isolate, show)
    runs.update(run_interleaved(slow, 1, isolate, show))
    out = []
    for w in workloads:
        cases, data = [], "not loaded (no case ran)"
        for v in variants:
            if v in missing:
                r = {"variant": v, "status": "skipped", "reason": missing[v], "note": ""}
            elif tasks[w.id, v] is None:
                r = {"variant": v, "status": "skipped", "reason": w.loop_note, "note": ""}
            else:
                r = best_record(runs[w.id, v])
                data = r.get("data") or data
            cases.append(r)
        out.append({"workload": w.id, "network": w.net.describe(), "batch_size": w.net.batch_size,
                    "n_weights": w.net.n_weights, "data": data, "cases": cases})
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
        workloads = get_workloads(None if args.workloads == "all" else _names(args.workloads, WORKLOADS, "workloads"))
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
    isolate = not args.in_process
    report = {"workloads": run_workloads(workloads, variants, rounds, min_round_s, 2, args.data, args.seed,
                                         isolate=isolate, processes=processes),
              "sweeps": _sweeps(args, variants), "compile": _compile(args), "recipe": _recipe(args, variants)}
    _log("fp32 sgemm ceiling again ...")
    report["sgemm_gflops_runs"] = [ceiling_start, sgemm_gflops(repeats=repeats)]
    report["sgemm_gflops"] = max(report["sgemm_gflops_runs"])  # the ceiling: the best the machine showed
    sources = [f"{w['workload']}: {w['data']}" for w in report["workloads"]]
    if report["sweeps"].get("status") == "ok":
        sources.append(f"sweeps: {report['sweeps']['data']}")
    report["meta"] = _meta(args, variants, repeats, "; ".join(sources) or "none", processes)
    report["charts"] = _charts(out, report)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
    from .markdown import render
    (out / "report.md").write_text(render(report), encoding="utf-8")
    _log(f"wrote {out / 'report.md'}")
    return 0


def _processes(args):
    return args.processes or (1 if args.quick else 2)


def _sweeps(args, variants):
    if args.no_sweeps:
        return {"status": "skipped", "reason": "--no-sweeps"}
    from .sweeps import FULL, QUICK, run_sweeps
    plan = QUICK if args.quick else FULL
    missing = {v: missing_reason(v) for v in variants if v != "loop" and missing_reason(v)}
    chosen = [v for v in variants if v != "loop" and v not in missing]
    if not chosen:
        return {"status": "skipped", "reason": "no installed variant other than loop selected", "missing": missing}
    _log("sweeps ...")
    res = run_sweeps(plan, chosen, args.data, args.seed, log=_log, isolate=not args.in_process)
    batch_network = f"{'-'.join(map(str, plan.batch_net))} relu"
    return dict(res, status="ok", depth_width=plan.depth_width, batch_network=batch_network, missing=missing)


def _compile(args):
    if args.quick or args.no_compile:
        return {"status": "skipped", "reason": "--quick" if args.quick else "--no-compile"}
    from .compile import compile_times
    _log("compile time (cold, then warm) ...")
    net = WORKLOADS["fashion-b64"].net
    return dict(compile_times(net, cold_runs=_processes(args)), status="ok", network=net.describe(),
                batch_size=net.batch_size)


def _recipe(args, variants):
    if args.quick or args.no_recipe:
        return {"status": "skipped", "reason": "--quick" if args.quick else "--no-recipe"}
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
    from .charts import batch_chart, shape_chart, workloads_chart
    names = []
    if any(r["status"] == "ok" for w in report["workloads"] for r in w["cases"]):
        workloads_chart(out / "workloads.png", report["workloads"])
        names.append("workloads.png")
    sw = report["sweeps"]
    if sw.get("status") == "ok":
        batch_chart(out / "batch_sweep.png", sw["batch"], sw["batch_network"])
        shape_chart(out / "width_depth.png", sw["width"], sw["depth"], sw["depth_width"])
        names += ["batch_sweep.png", "width_depth.png"]
    return names


if __name__ == "__main__":
    sys.exit(main())
