"""PNG charts of the benchmark report (matplotlib, Agg backend, no display needed).

``workloads.png``: samples/s per training workload and variant; ``inference.png``:
rows/s on the batch-inference rows and microseconds per call on the one-row
latency row, per variant; ``batch_sweep.png``: samples/s versus batch size;
``width_depth.png``: microseconds per sample versus hidden width and versus
depth. Each function takes the report's result lists and returns the path written.

Sweeps of fewer than ``MIN_LINE_POINTS`` points (``--quick``) are drawn as markers
only: two or three points joined by a line read as a trend they cannot show. Axes
use fastmlp's plot conventions (plain log labels, no crowded minor labels).
"""
import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator  # noqa: E402

from fastmlp.plots.base import log_axis  # noqa: E402

from .peers import ALL_VARIANTS  # noqa: E402

#: Fewest points of a variant's sweep joined by a line.
MIN_LINE_POINTS = 4


def _ok(rows):
    return [r for r in rows if r.get("status") == "ok"]


def _variants(rows):
    present = {r["variant"] for r in rows}
    return [v for v in ALL_VARIANTS if v in present]


def _bars(ax, workloads, value):
    """Grouped bars (log scale) of ``value(record)`` per variant on each workload."""
    ids = [w["workload"] for w in workloads]
    variants = _variants([r for w in workloads for r in _ok(w["cases"])])
    width = 0.8 / max(1, len(variants))
    for k, v in enumerate(variants):
        xs, hs = [], []
        for i, w in enumerate(workloads):
            hit = [r for r in _ok(w["cases"]) if r["variant"] == v]
            if hit:
                xs.append(i - 0.4 + (k + 0.5) * width)
                hs.append(value(hit[0]))
        ax.bar(xs, hs, width, label=v)
    ax.set_xticks(range(len(ids)), ids)
    if not variants:
        ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
        return
    log_axis(ax)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", which="major", alpha=0.3)


def workloads_chart(path, workloads):
    """Grouped bars (log scale): samples/s of each variant on each training workload."""
    train = [w for w in workloads if w.get("kind", "train") == "train"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(train) + 2), 4.2))
    _bars(ax, train, lambda r: r["samples_per_s"])
    ax.tick_params(axis="x", labelrotation=30)
    ax.set_ylabel("training samples / s (log scale)")
    ax.set_title("Training throughput per workload (higher is better)")
    return _save(fig, path)


def inference_chart(path, workloads):
    """Bars per variant: rows/s on the batch-inference rows (left), microseconds per call on
    the one-row rows (right, lower is better)."""
    batch = [w for w in workloads if w.get("metric") == "rows/s"]
    single = [w for w in workloads if w.get("metric") == "us/call"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    _bars(a, batch, lambda r: r["samples_per_s"])
    a.set_ylabel("rows / s (log scale)")
    a.set_title("predict_proba throughput (higher is better)")
    _bars(b, single, lambda r: r["us_per_call"])
    b.set_ylabel("microseconds / call (log scale)")
    b.set_title("predict_proba on one row (lower is better)")
    return _save(fig, path)


def _lines(ax, rows, y_of, xlabel, ylabel, logx=True):
    """One series per variant: a line with markers, or markers only below ``MIN_LINE_POINTS`` points.
    The x ticks are the measured points, labelled plainly."""
    xs = sorted({r["x"] for r in _ok(rows)})
    for v in _variants(_ok(rows)):
        pts = sorted((r["x"], y_of(r)) for r in _ok(rows) if r["variant"] == v)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ls="-" if len(pts) >= MIN_LINE_POINTS else "none",
                label=v)
    if logx:
        ax.set_xscale("log", base=2)
    if xs:
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.1)
    log_axis(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (log scale)")
    ax.grid(which="major", alpha=0.3)
    ax.legend(fontsize=8)


def batch_chart(path, rows, network):
    """samples/s versus batch size, one line per variant."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    _lines(ax, rows, lambda r: r["samples_per_s"], "batch size", "training samples / s")
    ax.set_title(f"Batch size sweep, {network}")
    return _save(fig, path)


def shape_chart(path, width_rows, depth_rows, depth_width):
    """Microseconds per sample versus hidden width (784-w-10) and versus depth (784-[w]*d-10)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    cost = lambda r: 1e6 / r["samples_per_s"]  # noqa: E731
    _lines(a, width_rows, cost, "hidden width w (784-w-10 relu, batch 64)", "microseconds / sample")
    a.set_title("Cost versus width")
    _lines(b, depth_rows, cost, f"hidden layers d (784-[{depth_width}]*d-10 relu, batch 64)",
           "microseconds / sample", logx=False)
    b.set_title("Cost versus depth")
    return _save(fig, path)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

