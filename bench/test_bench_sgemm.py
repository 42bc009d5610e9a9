"""Benchmark of the machine's fp32 matrix-multiply ceiling: a 2048^3 float32 NumPy
matmul (2 x 2048^3 flops), the reference for the workloads' share of the machine."""
import numpy as np

N = 2048


def test_sgemm_2048(benchmark):
    rng = np.random.default_rng(0)
    a, b = rng.random((N, N), dtype=np.float32), rng.random((N, N), dtype=np.float32)
    out = np.empty((N, N), np.float32)
    benchmark.group = "sgemm"
    benchmark.pedantic(np.matmul, args=(a, b), kwargs={"out": out}, rounds=5, warmup_rounds=1, iterations=1)
    np.testing.assert_allclose(out[:2, :2], a[:2] @ b[:, :2], rtol=1e-4)
    if benchmark.stats is not None:
        benchmark.extra_info["gflops"] = 2 * N ** 3 / benchmark.stats.stats.min / 1e9
