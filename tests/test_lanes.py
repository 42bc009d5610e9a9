"""Whole vector registers as values (``kernels.lanes``): loads and stores at any offset, broadcasts, multiply-adds
and products equal the same done value by value, in float32 and float64; NaN and infinity pass through; a
register holds as many values as the kernels' vector width says. And compiled for AVX2 (Zen 1), fastmlp's own
product's register block is whole vectors in registers, and it and inference's one-row product give the products."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from numba import njit, types

from fastmlp.kernels.intrinsics import vector_bytes
from fastmlp.kernels.lanes import (lanes, lanes_count, lanes_fill, lanes_load, lanes_multiply, lanes_multiply_add,
                                   lanes_store)


@njit
def _combine(out, c, a, b, scale, at):
    """out[at:at + lanes] = scale * (c + a * b), each read from its own offset ``at``."""
    total = lanes_multiply_add(lanes_load(c, at), lanes_load(a, at), lanes_load(b, at))
    lanes_store(out, at, lanes_multiply(lanes_fill(out, scale), total))


@njit
def _count_and_zeros(out):
    lanes_store(out, 1, lanes_fill(out, 0))
    return lanes_count(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("at", [0, 1, 3])  # unaligned too
def test_a_vector_does_what_its_values_do(dtype, at):
    n = vector_bytes() // np.dtype(dtype).itemsize
    rng = np.random.default_rng(at)
    c, a, b = (rng.standard_normal(n + 4).astype(dtype) for _ in range(3))
    out = np.full(n + 4, 7, dtype)
    _combine(out, c, a, b, dtype(0.5), at)
    want = dtype(0.5) * (c[at:at + n] + a[at:at + n] * b[at:at + n])
    tol = 1e-6 if dtype == np.float32 else 1e-14  # (a fused multiply-add rounds once)
    np.testing.assert_allclose(out[at:at + n], want, rtol=tol, atol=tol)
    assert (out[:at] == 7).all() and (out[at + n:] == 7).all()  # nothing else written


def test_nan_and_infinity_pass_through():
    n = vector_bytes() // 4
    c = np.zeros(n, np.float32)
    a = np.ones(n, np.float32)
    b = np.ones(n, np.float32)
    b[0], b[1], c[2] = np.nan, np.inf, -np.inf
    out = np.zeros(n, np.float32)
    _combine(out, c, a, b, np.float32(1), 0)
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf and (out[3:] == 1).all()


def test_a_register_holds_the_kernels_vector_width():
    out = np.full(40, 3, np.float32)
    count = _count_and_zeros(out)
    assert count == lanes(types.float32) == vector_bytes() // 4
    assert (out[1:1 + count] == 0).all() and out[0] == 3 and (out[1 + count:] == 3).all()
    assert lanes(types.float64) == vector_bytes() // 8


_AVX2_CHILD = r"""
import re
import numpy as np
from numba import njit
from fastmlp.kernels import inference as I
from fastmlp.kernels import matmul as M
from fastmlp.kernels.intrinsics import vector_bytes

assert vector_bytes() == 32 and M.tile_columns(4) == 16 and not M.PLACES and not M.fits(100, 4)

@njit
def forward(out, x, W):
    M.matmul(out, x, W)

@njit
def weights(out, x, dz, alpha, beta):
    M.matmul_tn(out, x, dz, alpha, beta)

rng = np.random.default_rng(0)
for m, k, n in [(1, 3, 16), (5, 7, 32), (6, 1, 16), (13, 30, 48), (64, 33, 64)]:
    x = rng.standard_normal((m, k)).astype(np.float32)
    W = rng.standard_normal((k, n)).astype(np.float32)
    out = np.full((m, n), np.nan, np.float32)
    forward(out, x, W)
    np.testing.assert_allclose(out, x.astype(np.float64) @ W, rtol=1e-5, atol=1e-5 * np.sqrt(k))
    dz = rng.standard_normal((m, n)).astype(np.float32)
    start = rng.standard_normal((k, n)).astype(np.float32)
    got = start.copy()
    weights(got, x, dz, -0.5, 1.0)
    want = start.astype(np.float64) - 0.5 * x.astype(np.float64).T @ dz
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(m))


def loops(asm):
    # the innermost loops of machine code that multiply-add: each from a label to the last jump back to it,
    # holding no such loop within it
    lines = asm.splitlines()
    spans = []
    for i, line in enumerate(lines):
        if re.match(r"\.LBB\w+:$", line):
            jump = re.compile(r"\s+j\w+\s+" + re.escape(line[:-1]) + r"$")
            back = [j for j in range(i + 1, len(lines)) if jump.match(lines[j])]
            if back and sum("vfmadd" in x for x in lines[i:back[-1] + 1]) >= 4:
                spans.append((i, back[-1]))
    inner = [(i, j) for i, j in spans if not any(i <= a and b <= j and (a, b) != (i, j) for a, b in spans)]
    return [lines[i:j + 1] for i, j in inner]


def spilled(asm):
    # the lines of those loops that move a ymm register to or from the stack: a sum that did not stay in its register
    assert "zmm" not in asm
    bodies = loops(asm)
    assert bodies
    return [line for body in bodies for line in body if "ymm" in line and "(%rsp)" in line]


asm = forward.inspect_asm(forward.signatures[0])
assert spilled(asm) == []
# the whole-tile block: 12 fused multiply-adds into ymm registers
inner = [body for body in loops(asm) if sum(bool(re.search(r"vfmadd231ps\s+%ymm\d+, %ymm\d+, %ymm", line))
                                          for line in body) >= 12]
assert inner


@njit
def row(o, x, W, nz):
    I._row_product(o, x, W, nz, I._nonzeros(nz, x))

for k, n in [(5, 8), (33, 100), (784, 256)]:  # inference's row product: its blocks (whole, half, quarter, the rest)
    x = rng.standard_normal(k).astype(np.float32)
    x[::3] = 0
    W = rng.standard_normal((k, n)).astype(np.float32)
    o = np.full(n, np.nan, np.float32)
    row(o, x, W, np.empty(k, np.int64))
    np.testing.assert_allclose(o, x.astype(np.float64) @ W, rtol=1e-5, atol=1e-5 * np.sqrt(k))
print("ok", len(inner))
"""


def test_compiled_for_avx2_the_own_product_s_block_stays_in_registers(tmp_path):
    """Compiled for Zen 1 (its own features, no AVX-512), the own product's block of 6 rows x 2 registers is
    12 multiply-adds into ymm registers, none moved to or from the stack in its loops (compiled one value at a
    time it was not: 7-13 GFLOP/s), and its forward and weight products are the float64 products for whole tiles,
    remainders and odd k (widths of whole tile rows only: ``matmul.PLACES``); so is
    inference's one-row product (its blocks of 1024 bytes spill there, as measured faster than blocks that do not:
    ``kernels.inference.ROW_BLOCK_BYTES``)."""
    env = dict(os.environ, NUMBA_CPU_NAME="znver1", NUMBA_CPU_FEATURES="-avx512f", NUMBA_CACHE_DIR=str(tmp_path),
               PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", _AVX2_CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok")
