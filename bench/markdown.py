"""The benchmark report as Markdown: machine, every row against every peer with the targets
of issue 13 beside it (met or not), the training and inference tables (GFLOP/s, share of
the sgemm ceiling, Numba-to-variant ratios), the spread of every row's figures across its processes
(the ratio by the median process and pass by pass beside the best), the machine's state in each process (a
product each ran after its case), the targets, compile time per optimizer, the
end-to-end recipe, the peers that were skipped (with how to install them) and the charts.

``render(report)`` takes the dict :mod:`fastmlp.bench.report` builds (also saved
as results.json) and returns the text; ``table``, ``rate``, ``ratio``, ``share``,
``numba_ratio`` and ``row_ratio`` are shared with the pytest benchmark suite's summary.

Ratios are fastmlp's numba variant over the other: throughput over throughput (> 1:
fastmlp faster), except on the one-row latency row (``metric`` 'us/call'), where it is
latency over latency (< 1: fastmlp faster). The best peer is the best variant other
than numba and loop (fastmlp's NumPy backend counts, as the NumPy column of WORKLOADS.md).
"""
import math
import statistics

from fastmlp.progress import rate  # 1234567 -> '1.23M'; also part of this module's interface
from .compile import REPORT_KEYS, SETTINGS, WHERE
from .measure import COOPERATION_WINDOW_S, MACHINE_CHECK_S, MACHINE_CHECK_SHAPE, SLOW_COOPERATION, WARMUP_S

# Targets of issue 13 / WORKLOADS.md, per row: ('>=', x) numba ÷ best peer's throughput,
# ('<=', x) numba's latency ÷ best peer's; a row not listed has DEFAULT_TARGET.
DEFAULT_TARGET = (">=", 1.2)
TARGETS = {"circles-b10": (">=", 1.5), "mnist-b1": (">=", 1.5), "adam-b1": (">=", 1.5), "fashion-b1024": (">=", 1.0),
           "predict-1": ("<=", 0.5)}
CEILING_TARGET = ("fashion-b1024", 0.85)
LOOP_TARGET = ("mnist-b1", 1000.0)
OPTIMIZER_TARGET = 0.85  # every optimizer within 15% of plain SGD's throughput on the same workload
COLD_S, WARM_S = 5.0, 0.5
RECIPE_ACCURACY, RECIPE_TIME_RATIO = 0.87, 0.5


def ratio(x):
    """3.456 -> '3.46x', 2980.4 -> '2,980x', None -> '-'."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.3g}x" if x < 1000 else f"{x:,.0f}x"


def share(gflops, ceiling):
    """GFLOP/s as a percentage of the ceiling: '92.4%'."""
    return f"{100 * gflops / ceiling:.3g}%" if ceiling else "-"


def work_done(network):
    """Share of the nominal 6 flops per weight that training computes, for ``network`` like
    '784-300-10 sigmoid': every variant skips the first layer's input gradient (nothing
    needs it), 2 flops per first-layer weight, so a sample costs 6 W - 2 W1 flops, not 6 W."""
    layers = [int(n) for n in network.split()[0].split("-")]
    weights = [a * b for a, b in zip(layers[:-1], layers[1:])]
    return (6 * sum(weights) - 2 * weights[0]) / (6 * sum(weights))


def _reason(r):
    """Why a case did not run: a failed child's last line (the exception), not its traceback."""
    reason = str(r.get("reason", ""))
    if r.get("status") == "failed" and " | " in reason:
        head, _, rest = reason.partition(": ")
        reason = f"{head}: {rest.split(' | ')[-1]}"
    return reason


def _why(r):
    """'skipped: torch not installed (pip install ...)', 'failed: child process exit 1: ValueError: ...'."""
    return f"{r['status']}: {_reason(r)}" if r.get("reason") else r["status"]


def table(headers, rows):
    """A Markdown table from a header list and rows of cells (str() of each)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def numba_ratio(cases, variant):
    """Numba's samples/s over ``variant``'s in one workload's cases (None if either is missing)."""
    sps = {r["variant"]: r["samples_per_s"] for r in cases if r.get("status") == "ok"}
    if "numba" not in sps or variant not in sps or variant == "numba":
        return None
    return sps["numba"] / sps[variant]


def is_latency(workload):
    """True for a row reported as microseconds per call (lower is better)."""
    return workload.get("metric") == "us/call"


def row_ratio(workload, variant):
    """numba ÷ ``variant`` on a report row: throughput ratio, or latency ratio on a latency row."""
    got = numba_ratio(workload["cases"], variant)
    return None if got is None else (1.0 / got if is_latency(workload) else got)


def target_of(workload_id):
    """``(op, value)`` of a row's target: ('>=', x) or ('<=', x), see :data:`TARGETS`."""
    return TARGETS.get(workload_id, DEFAULT_TARGET)


def value_text(workload, r):
    """A case's figure as the row reports it: '45.6k' (per second) or '329 us'."""
    if r.get("status") != "ok":
        return r.get("status", "-")
    return f"{r['us_per_call']:.3g} us" if is_latency(workload) else rate(r["samples_per_s"])


def best_other(cases):
    """(variant, samples/s) of the fastest variant other than numba and loop, or (None, None)."""
    others = [(r["samples_per_s"], r["variant"]) for r in cases
              if r.get("status") == "ok" and r["variant"] not in ("numba", "loop")]
    if not others:
        return None, None
    s, v = max(others)
    return v, s


def _ok(cases):
    return {r["variant"]: r for r in cases if r.get("status") == "ok"}


def _sgd_ratio(report, w):
    """numba on this optimizer row ÷ numba on its plain-SGD row, or None."""
    base = {x["workload"]: x for x in report["workloads"]}.get(w.get("sgd_baseline") or "")
    if base is None:
        return None
    mine, theirs = _ok(w["cases"]).get("numba"), _ok(base["cases"]).get("numba")
    return mine["samples_per_s"] / theirs["samples_per_s"] if mine and theirs else None


def _met_target(op, got, wanted):
    return _met(got, wanted) if op == ">=" else _met(wanted, got)


def _summary(report):
    rows_in = report["workloads"]
    present = []
    for w in rows_in:
        present += [r["variant"] for r in w["cases"] if r["variant"] not in ("numba", "loop") + tuple(present)]
    rows = []
    for w in rows_in:
        cases = {r["variant"]: r for r in w["cases"]}
        cells = []
        for v in present:
            r = cases.get(v)
            if r is None:
                cells.append("")
            elif r["status"] != "ok":
                cells.append(r["status"])
            else:
                cells.append(f"{value_text(w, r)} ({ratio(row_ratio(w, v))})")
        v, _ = best_other(w["cases"])
        got = row_ratio(w, v) if v else None
        op, wanted = target_of(w["workload"])
        sgd = _sgd_ratio(report, w)
        rows.append([w["workload"], w.get("metric", "samples/s"), value_text(w, cases.get("numba", {}))] + cells
                    + [v or "-", ratio(got), f"{op} {wanted:g}x", _met_target(op, got, wanted),
                       "" if not w.get("sgd_baseline") else f"{ratio(sgd)} (>= {OPTIMIZER_TARGET:g}x: "
                       f"{_met(sgd, OPTIMIZER_TARGET)})"])
    head = (["row", "metric", "numba"] + [f"{v} (numba ÷ this)" for v in present]
            + ["best peer", "numba ÷ best", "target", "met", "numba ÷ numba plain SGD (target)"])
    return table(head, rows)


def _throughput(report):
    ceiling = report["sgemm_gflops"]
    rows = []
    for w in report["workloads"]:
        if w.get("kind", "train") != "train":
            continue
        done = work_done(w["network"])
        for r in w["cases"]:
            if r["status"] != "ok":
                rows.append([w["workload"], r["variant"], "", _why(r), "", "", "", "", "", "", ""])
                continue
            rows.append([
                w["workload"], r["variant"], r["samples"], rate(r["samples_per_s"]), f"{r['gflops']:.3g}",
                share(r["gflops"], ceiling), share(r["gflops"] * done, ceiling),
                ratio(numba_ratio(w["cases"], r["variant"])),
                f"{r['first_epoch_s']:.3g}", f"{r['loss_before']:.4f} → {r['loss_after']:.4f}", r["note"]])
    head = ["workload", "variant", "samples / epoch", "samples/s", "GFLOP/s", "of sgemm", "of sgemm, work done",
            "numba ÷ this", "first epoch s (incl. JIT)", "loss before → after", "note"]
    return table(head, rows)


SGEMM_NOTE = (
    "Why \"of sgemm\" can exceed 100%. First, GFLOP/s counts the usual 6 flops per weight and sample: 2 "
    "forward, 4 backward (the weight gradient and the gradient sent to the layer below). No variant computes that "
    "gradient for the first layer, whose inputs are the data, so the work done is 6 W - 2 W1 flops per sample "
    "(W weights, W1 of them in the first layer): for 784-300-10, 67% of the count; \"of sgemm, work done\" counts "
    "only the flops computed. Second, the ceiling is the best of a few float32 2048³ NumPy products, each about a "
    "third of a second on all cores: on a machine where other processes run, it rarely gets every core for that "
    "long, while a product of a training step lasts microseconds. On the 2-core project machine with other jobs "
    "running, 2048³ reached 49 GFLOP/s on two BLAS threads (92 on one), while 64x784x256 products reached 178 "
    "(best of 500): the ceiling is then a floor for small products, not an upper bound.")


def _inference(report):
    ceiling = report["sgemm_gflops"]
    rows = []
    for w in report["workloads"]:
        if w.get("kind") != "predict":
            continue
        for r in w["cases"]:
            if r["status"] != "ok":
                rows.append([w["workload"], r["variant"], "", _why(r), "", "", "", "", "", ""])
                continue
            rows.append([w["workload"], r["variant"], r["rows"], rate(r["samples_per_s"]), f"{r['us_per_call']:.4g}",
                         f"{r['gflops']:.3g}", share(r["gflops"], ceiling), ratio(row_ratio(w, r["variant"])),
                         f"{r['first_call_s']:.3g}", f"{r['max_abs_error']:.2g}", r["note"]])
    if not rows:
        return "No inference row was run."
    head = ["workload", "variant", "rows / call", "rows/s", "us / call", "GFLOP/s", "of sgemm",
            "numba ÷ this (latency on predict-1)", "first call s (incl. JIT)", "max |p - p_ref|", "note"]
    return ("predict_proba of the network with the same weights; p_ref is the float64 NumPy forward; "
            "GFLOP/s = 2 x weights x rows/s.\n\n" + table(head, rows))


def _runs(r):
    """Every process's figure of a case (samples or rows per second), in the order they ran."""
    return r.get("per_process") or [r["samples_per_s"]]


def _process_figures(workload, r):
    """Every process's figure of a case, in the order they ran: '95.2k / 99.7k / 70.4k' or '14.4 / 13.5 us'."""
    runs = _runs(r)
    if is_latency(workload):
        return " / ".join(f"{1e6 / x:.3g}" for x in runs) + " us"
    return " / ".join(rate(x) for x in runs)


def _exact(x):
    """A ratio with three decimals, '1.199x': next to a target such as 1.2x, ``ratio``'s three
    significant digits could show a miss as '1.2x'."""
    return f"{x:.3f}x" if x is not None and x < 1000 else ratio(x)


def _per_pass(workload, ok):
    """numba ÷ the best peer within each pass of the run (``isolate.run_interleaved``: one pass runs
    every variant once, one after another, so the two figures of a pass were taken minutes apart at
    most, in the same spell of the machine), and the median of those ratios; (None, []) when numba
    missed a pass. Only peers that ran in every pass count (a failed process would shift the
    pairing). On a latency row each ratio compares latencies."""
    runs = {v: _runs(r) for v, r in ok.items() if v != "loop"}
    passes = max(len(x) for x in runs.values())
    mine = runs.pop("numba")
    peers = [x for x in runs.values() if len(x) == passes]
    if len(mine) < passes or not peers:
        return None, []
    ratios = [m / max(p[i] for p in peers) for i, m in enumerate(mine)]
    if is_latency(workload):
        ratios = [1.0 / x for x in ratios]
    return statistics.median(ratios), ratios


def _spread(report):
    """Per row: numba's and the best peer's figure in every process, and numba ÷ the best peer by
    the best process of each (the figure of the tables above), by the median process of each
    (the best peer by its median, named when it is another) and within each pass (``_per_pass``:
    the median of the passes' ratios, then each one), with whether the median ratio meets
    the row's target. On a machine whose speed moves between processes, a target met by the best
    processes only is not met reliably. Rows of one process per case (``--processes 1``,
    ``--in-process``) are left out."""
    rows = []
    for w in report["workloads"]:
        peer, _ = best_other(w["cases"])
        ok = _ok(w["cases"])
        mine, theirs = ok.get("numba"), ok.get(peer)
        if mine is None or theirs is None or min(len(_runs(mine)), len(_runs(theirs))) < 2:
            continue
        medians = {v: statistics.median(_runs(r)) for v, r in ok.items() if v not in ("numba", "loop")}
        by_median = max(medians, key=medians.get)  # the best peer by its median process (may be another)
        median = statistics.median(_runs(mine)) / medians[by_median]
        median = 1.0 / median if is_latency(w) else median
        per_pass, ratios = _per_pass(w, ok)
        passes = "-" if per_pass is None else f"{_exact(per_pass)} ({' / '.join(f'{x:.3f}' for x in ratios)})"
        op, wanted = target_of(w["workload"])
        rows.append([w["workload"], _process_figures(w, mine), peer, _process_figures(w, theirs),
                     _exact(row_ratio(w, peer)), _exact(median) + ("" if by_median == peer else f" ({by_median})"),
                     passes, f"{op} {wanted:g}x", _met_target(op, median, wanted)])
    if not rows:
        return "One process per case: no spread to show."
    return ("Each case's figure in every process it ran in (in order), and numba ÷ the best peer taken three ways: "
            "best process against best process (the tables above), median against median (against the peer "
            "with the best median, named when it is another), and pass by pass: a pass runs every variant once, "
            "one after another, and each pass gives numba ÷ the best peer of that pass (the median of them, then "
            "each in order; peers that missed a pass left out). Where only the first meets the target, the row "
            "is met in the fast spells of this machine, not reliably.\n\n"
            + table(["row", "numba, each process", "best peer", "its processes", "numba ÷ best peer (best)",
                     "numba ÷ best peer (median)", "numba ÷ best peer, pass by pass (median: each)", "target",
                     "met by the medians"], rows))


def _checks(r):
    """A case's machine check in each of its processes ('165 / 112 / 160' GFLOP/s; '-' where a process has none)."""
    return " / ".join("-" if g is None else f"{g:.0f}" for g in r.get("per_process_machine") or [])


def _machine(report):
    """Per row of several processes: numba's and the best peer's figure in each process beside the
    machine check each process ran after its case (``measure.machine_check``): a process that ran
    slowly in a slow spell of the machine shows it there too. Rows whose processes ran no check
    (``--in-process``, one process per case) are left out."""
    rows = []
    for w in report["workloads"]:
        peer, _ = best_other(w["cases"])
        ok = _ok(w["cases"])
        mine, theirs = ok.get("numba"), ok.get(peer)
        checked = mine is not None and any(g is not None for g in mine.get("per_process_machine") or [])
        if not checked or len(_runs(mine)) < 2:
            continue
        peer_cells = ["-", "-"] if theirs is None else [_process_figures(w, theirs), _checks(theirs)]
        rows.append([w["workload"], _process_figures(w, mine), _checks(mine), peer or "-", *peer_cells])
    if not rows:
        return "No process ran a machine check (one process per case, or in-process)."
    m, k, n = MACHINE_CHECK_SHAPE
    return (f"After its case, each process ran a float32 {m}x{k} @ {k}x{n} NumPy product for {MACHINE_CHECK_S:g} s on "
            "its BLAS threads as they were (the mean GFLOP/s over that time): the machine's state in that process. "
            "Where a variant's slow process shows a low check too, the machine was slow then, not the variant.\n\n"
            + table(["row", "numba, each process", "its machine checks (GFLOP/s)", "best peer", "its processes",
                     "its machine checks (GFLOP/s)"], rows))


def _cooperation(report):
    """The header's line on how the cores worked together at the start and at the end of the run
    (``measure.cooperation_check``), as a list of one line; none for a report without it."""
    checks = report.get("cooperation") or []
    if not checks:
        return []
    m, k, n = MACHINE_CHECK_SHAPE

    def fig(value):
        return "-" if value is None else f"{value:.0f}"
    said = [f"{when}: all threads usually {fig(c['usual'])} GFLOP/s ({c['usual_per_core']:.2g}x one core); "
            f"{c['slow_share']:.0%} of {len(c['rounds'])} "
            f"rounds below {SLOW_COOPERATION:.0%} of that (median {fig(c['all_slow'])}), one core alone "
            f"{fig(c['one_slow'])} in those rounds and {fig(c['one_fast'])} in the others"
            for when, c in zip(("at the start", "at the end"), checks)]
    return [f"- the cores together (a {m}x{k} @ {k}x{n} NumPy product in rounds of two {COOPERATION_WINDOW_S:g} s "
            "windows, on all BLAS threads, then on one thread pinned to each core in turn): " + "; ".join(said)
            + ". Slow rounds with a steady one-core figure: the cores' working together slowed, not the cores; "
            "every variant on several threads runs slower then"]


def _targets(report):
    rows = []
    byid = {w["workload"]: w for w in report["workloads"]}
    for wid, w in byid.items():
        v, _ = best_other(w["cases"])
        got = row_ratio(w, v) if v else None
        op, wanted = target_of(wid)
        what = "numba latency ÷ best peer's" if is_latency(w) else "numba ÷ best peer"
        rows.append([f"{wid}: {what} ({v or 'none'})", f"{op} {wanted:g}x", ratio(got), _met_target(op, got, wanted)])
        bound = _bound(report, w, v, wanted) if op == ">=" else None
        if bound:
            needed, ceiling, which = bound
            rows.append([f"{wid}: GFLOP/s the target needs (work done), against the {which} sgemm ceiling",
                         f"<= {ceiling:.3g}", f"{needed:.3g}", "reachable" if needed <= ceiling else
                         "no: beyond the ceiling"])
        if w.get("sgd_baseline"):
            sgd = _sgd_ratio(report, w)
            rows.append([f"{wid}: numba ÷ numba plain SGD ({w['sgd_baseline']})", f">= {OPTIMIZER_TARGET:g}x",
                         ratio(sgd), _met(sgd, OPTIMIZER_TARGET)])
    wid, share_wanted = CEILING_TARGET
    hit = _ok(byid[wid]["cases"]).get("numba") if wid in byid else None
    if hit:
        got = hit["gflops"] / report["sgemm_gflops"]
        rows.append([f"{wid}: numba share of the sgemm ceiling (nominal flops)", f">= {share_wanted:.0%}", f"{got:.1%}",
                     _met(got, share_wanted)])
    wid, target = LOOP_TARGET
    if wid in byid:
        got = numba_ratio(byid[wid]["cases"], "loop")
        rows.append([f"{wid}: numba ÷ loop", f">= {target:g}x", ratio(got), _met(got, target)])
    comp = report.get("compile", {})
    for key, where in COMPILE_SETTINGS:
        for opt, c in (comp.get(key, {}) if comp.get("status") == "ok" else {}).items():
            rows.append([f"cold compile, {opt}{where} (launch to first trained batch)", f"<= {COLD_S:g} s",
                         f"{c['cold']['to_first_batch_s']:.3g} s", _met(COLD_S, c["cold"]["to_first_batch_s"])])
            rows.append([f"warm start, {opt}{where} (same cache)", f"<= {WARM_S:g} s",
                         f"{c['warm']['to_first_batch_s']:.3g} s", _met(WARM_S, c["warm"]["to_first_batch_s"])])
    rec = {r["variant"]: r for r in report.get("recipe", {}).get("results", []) if r["status"] == "ok"}
    if "numba" in rec:
        full = rec["numba"]["epochs"] >= 50
        acc = rec["numba"]["test_accuracy"]
        rows.append([f"recipe test accuracy ({rec['numba']['epochs']} epochs)",
                     f">= {RECIPE_ACCURACY:.0%} at 50 epochs",
                     f"{acc:.2%}", _met(acc, RECIPE_ACCURACY) if full else "n/a (shortened)"])
        if "torch" in rec:
            got = rec["numba"]["wall_s"] / rec["torch"]["wall_s"]
            rows.append(["recipe wall time, fastmlp ÷ PyTorch", f"<= {RECIPE_TIME_RATIO}", f"{got:.3g}",
                         _met(RECIPE_TIME_RATIO, got)])
    return table(["target", "wanted", "measured", "met"], rows)


ONE_CORE_SETTINGS = ("onecore", "busy")  # rows whose work has one core: the one-thread ceiling bounds them


def _bound(report, w, peer, wanted):
    """``(GFLOP/s numba needs to reach ``wanted`` x the peer, ceiling, 'one-core' | 'all-core')`` for a
    throughput row, or None. The flops are the work done (training skips the first layer's input
    gradient, :func:`work_done`); a row in a one-core setting is bounded by the one-thread ceiling."""
    case = _ok(w["cases"]).get(peer) if peer else None
    one = w.get("setting") in ONE_CORE_SETTINGS
    ceiling = report.get("sgemm_one_gflops") if one else report.get("sgemm_gflops")
    if case is None or not ceiling:
        return None
    done = work_done(w["network"]) if w.get("kind", "train") == "train" else 1.0
    return wanted * case["gflops"] * done, ceiling, "one-core" if one else "all-core"


def _met(got, wanted):
    """'yes' when got >= wanted (upper bounds pass as _met(bound, value)); '-' when either is missing."""
    return "-" if got is None or wanted is None else ("yes" if got >= wanted else "no")


# the compile section's settings: (its key in the report, the words a row adds); 'onecore' is absent from a report
# written before it was measured
COMPILE_SETTINGS = tuple((REPORT_KEYS[setting], WHERE[setting]) for setting in SETTINGS)


def _compile(report):
    comp = report.get("compile", {})
    if comp.get("status") != "ok":
        return f"Not measured: {comp.get('reason', 'not requested')}."
    rows = []
    for setting, where in COMPILE_SETTINGS:
        for opt, c in comp.get(setting, {}).items():
            rows += [[opt + where, kind, f"{c[key]['to_first_batch_s']:.3g}", f"{c[key]['import_s']:.3g}",
                      f"{c[key]['first_batch_s']:.3g}", f"{c[key]['wall_s']:.3g}"]
                     for key, kind in (("cold", "cold (empty NUMBA_CACHE_DIR)"), ("warm", "warm (same cache)"))]
    first = next(iter(comp[REPORT_KEYS["idle"]].values()), {})
    runs = {key: len(first.get(key, {}).get("per_process", [])) or 1 for key in ("cold", "warm")}
    data = (f"one epoch of {comp['rows']:,} random rows (a training set's size: the fit screens them with a kernel)"
            if "rows" in comp else "one batch of random inputs")  # (a report written before the rows were counted)
    return (f"Network {comp['network']}, batch {comp['batch_size']}, {data}, half of the inputs zero "
            f"(as images' dark pixels), trained by a fresh process with each optimizer: cold, the best of "
            f"{runs['cold']} processes, each from its own empty cache; warm, the best of {runs['warm']} on the cache "
            f"the last cold one filled."
            + (" On every core, then on one (', one core': each process pinned to one core with one thread per "
               "library, as the onecore-b64 row's)." if comp.get("onecore") else "") + "\n\n"
            + table(["optimizer", "start", "launch → first trained batch s", "import s", "model + first fit s",
                     "launch → exit s"], rows))


def _recipe(report):
    rec = report.get("recipe", {})
    if rec.get("status") != "ok":
        return f"Not run: {rec.get('reason', 'not requested')}."
    ok = {r["variant"]: r for r in rec["results"] if r["status"] == "ok"}
    rows = []
    for r in rec["results"]:
        if r["status"] != "ok":
            rows.append([r["variant"], _why(r), "", "", "", ""])
            continue
        got = ok["numba"]["wall_s"] / r["wall_s"] if "numba" in ok else None
        rows.append([r["variant"], r["epochs"], f"{r['wall_s']:.3g}", f"{r['test_accuracy']:.2%}",
                     f"{r['test_loss']:.4f}", "-" if got is None else f"{got:.3g}"])
    return ("784-256-128-64-10 ReLU, SGD lr 0.01, batch 64, pixels / 255, 60000 training and 10000 test images; "
            "JIT compilation done beforehand.\n\n"
            + table(["variant", "epochs", "wall s", "test accuracy", "test loss", "numba wall ÷ this"], rows))


def _skipped(report):
    """One line per variant that was skipped or failed somewhere, with why (how to install a missing peer)."""
    seen = {}
    for w in report["workloads"]:
        for r in w["cases"]:
            if r["status"] in ("skipped", "failed"):
                seen.setdefault((r["variant"], r["status"], _reason(r)), []).append(w["workload"])
    if not seen:
        return "None: every selected variant ran on every row it applies to."
    return "\n".join(f"- {v}: {status}, {reason} (rows: {', '.join(ids)})"
                      for (v, status, reason), ids in seen.items())


def _rows_described(report):
    rows = [[w["workload"], w["network"], w["batch_size"], w.get("setting_text", "every core, default thread pools")]
            for w in report["workloads"]]
    return table(["row", "network (optimizer: SGD lr 0.01 unless said)", "batch / rows per call", "setting"], rows)


def render(report):
    """The whole report as Markdown text."""
    m = report["meta"]
    parts = [
        "# fastmlp benchmark report", "",
        f"- date: {m['date']}; mode: {'quick' if m['quick'] else 'full'}",
        f"- machine: {m['machine']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']}, "
        f"Numba {m['numba']}; threads: {m['threads']}",
        f"- peers: {m['peers']}",
        f"- data: {m['data']}",
        f"- isolation: {m.get('isolation', 'not recorded')}",
        f"- fp32 sgemm ceiling (2048³ NumPy matmul, best of {m['sgemm_repeats']} at the start and "
        f"{m['sgemm_repeats']} at the end of the run): "
        f"**{report['sgemm_gflops']:.4g} GFLOP/s**"
        + (f"; on one BLAS thread (one core, the bound of the one-core rows): **{report['sgemm_one_gflops']:.4g} "
           "GFLOP/s**" if report.get("sgemm_one_gflops") else ""),
        *_cooperation(report),
        ("- every variant trains the same network from the same initial weights on the same data, with the same "
         "batch size, softmax cross-entropy and the row's optimizer (same formulas and hyperparameters) in "
         "float32; it is validated first (loss lower after the validation epochs; predictions equal to the float64 "
         f"reference), warmed up ({WARMUP_S:g} s of epochs or calls) and then timed (best round); "
         "GFLOP/s = 6 x weights x samples/s (training)"),
        "",
        "## Rows: fastmlp against every peer", "",
        ("Each cell: the variant's figure and (numba ÷ it): throughput ratio, > 1 means fastmlp is faster; on "
         "predict-1 the latency ratio, < 1 means fastmlp is faster."), "",
        _summary(report), "",
        _rows_described(report), "",
        "## Spread across processes", "",
        _spread(report), "",
        "## The machine in each process", "",
        _machine(report), "",
        "## Training throughput", "",
        _throughput(report), "",
        SGEMM_NOTE, "",
        "## Inference", "",
        _inference(report), "",
        "## Targets", "",
        _targets(report), "",
        "## Compile time", "",
        _compile(report), "",
        "## End-to-end Fashion-MNIST recipe", "",
        _recipe(report), "",
        "## Skipped or failed variants", "",
        _skipped(report), "",
        "## Charts", "",
    ]
    parts += [f"![{name}]({name})" for name in report.get("charts", [])] or ["No charts: nothing was measured."]
    sweeps = report.get("sweeps", {})
    if sweeps.get("status") != "ok":
        parts += ["", f"Sweeps not run: {sweeps.get('reason', 'not requested')}."]
    for variant, reason in sweeps.get("missing", {}).items():
        parts += ["", f"Sweeps: {variant} skipped: {reason}."]
    if m.get("quick"):
        parts += ["", "Quick mode: two or three points per variant, drawn as markers without lines (too few to read "
                  "a trend)."]
    return "\n".join(parts) + "\n"
