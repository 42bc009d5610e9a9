"""Sweeps of the benchmark report: samples/s versus batch size on the Fashion-MNIST
network, and cost per sample versus hidden width and versus depth (batch 64).

Each point trains like a workload (same data source, SGD lr 0.01, float32,
validated then timed, each variant in a fresh process); only the network or
the batch size changes.
"""
from dataclasses import dataclass

from .isolate import run_task
from .tasks import case_task
from .workloads import RECIPE_NET, Net


@dataclass(frozen=True)
class SweepPlan:
    """What the sweeps cover: batch sizes on the network ``batch_net`` (the
    Fashion-MNIST one by default), widths (784-w-10), depths (784-[depth_width]*d-10),
    samples per point (at least 4 batches), rounds per point."""

    batch_net: tuple = RECIPE_NET.layers
    batch_sizes: tuple = (1, 4, 16, 64, 256, 1024, 4096)
    widths: tuple = (32, 128, 512, 2048)
    depths: tuple = (1, 2, 4, 8)
    depth_width: int = 128
    samples: int = 2048
    rounds: int = 2
    min_round_s: float = 0.1


FULL = SweepPlan()
QUICK = SweepPlan(batch_net=(784, 32, 10), batch_sizes=(1, 16, 64), widths=(16, 32), depths=(1, 2), depth_width=32,
                  samples=128, rounds=1, min_round_s=0.0)


def sweep_nets(plan):
    """``{'batch': [(x, Net)], 'width': [...], 'depth': [...]}`` for ``plan``."""
    return {
        "batch": [(bs, Net(plan.batch_net, "relu", bs)) for bs in plan.batch_sizes],
        "width": [(w, Net((784, w, 10), "relu", 64)) for w in plan.widths],
        "depth": [(d, Net((784,) + (plan.depth_width,) * d + (10,), "relu", 64)) for d in plan.depths],
    }


def run_sweeps(plan, variants, source="auto", seed=0, log=print, isolate=True):
    """Measure every variant at every point of ``plan``, each in a fresh process
    (in this one if ``isolate`` is False; see :mod:`fastmlp.bench.isolate`).

    Returns
    -------
    dict
        ``{'batch'|'width'|'depth': list of run_case dicts with 'x' and 'network' added}``
        and ``'data'``, the description of the data used.
    """
    out = {"data": "not loaded (no case ran)"}
    for kind, points in sweep_nets(plan).items():
        rows = []
        for x, net in points:
            data = {"kind": "mnist-size", "n": max(plan.samples, 4 * net.batch_size), "source": source, "seed": seed}
            for v in variants:
                r = run_task(case_task(v, net, data, plan.rounds, 1, plan.min_round_s, seed), isolate)
                out["data"] = r.get("data") or out["data"]
                rows.append(dict(r, x=x, network=net.describe(), batch_size=net.batch_size))
                log(f"  sweep {kind}={x} {v}: " + (f"{r['samples_per_s']:.4g} samples/s" if r["status"] == "ok"
                                                   else f"{r['status']} ({r['reason']})"))
        out[kind] = rows
    return out
