"""Benchmarks of the reference workloads: every variant trains the workload's network
on the same data from the same weights; it must learn (validated first) before
pytest-benchmark times rounds of whole epochs (its times are per epoch).
samples/s = samples per epoch / best epoch time."""
import pytest
from workloads import (LOOP_ROUNDS, LOOP_VALIDATE_EPOCHS, MIN_ROUND_S, ROUNDS, VALIDATE_EPOCHS, cases)

from fastmlp.bench_measure import epochs_per_round, validate
from fastmlp.bench_runners import make_runner
from fastmlp.bench_workloads import workload_data


@pytest.mark.parametrize("workload, variant", cases())
def test_workload(benchmark, workload, variant, sgemm_ceiling, record):
    loop = variant == "loop"
    n = workload.loop_samples if loop else workload.samples
    X, y, data = workload_data(workload, n)
    runner = make_runner(variant, workload.net, X, y, seed=0)
    v = validate(runner, LOOP_VALIDATE_EPOCHS if loop else VALIDATE_EPOCHS)
    k = 1 if loop else epochs_per_round(v["epoch_s"], MIN_ROUND_S)
    benchmark.group = workload.id
    benchmark.pedantic(runner.train, rounds=LOOP_ROUNDS if loop else ROUNDS, iterations=k)
    if benchmark.stats is None:  # --benchmark-disable: ran once, untimed
        return
    sps = n / benchmark.stats.stats.min  # pytest-benchmark's times are per iteration: one epoch
    row = dict(v, variant=variant, status="ok", samples=n, epochs_per_round=k, samples_per_s=sps,
               gflops=workload.net.gflops(sps), data=data, note=runner.note)
    benchmark.extra_info.update(row, sgemm_gflops=sgemm_ceiling)
    record(workload.id, row)
