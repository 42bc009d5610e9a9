"""NumPy's OpenBLAS's idle threads spin briefly in a process that uses fastmlp (``fastmlp.blas_spin``).

Each case runs in a fresh process (OpenBLAS reads the setting when NumPy loads it, or again when fastmlp restarts
its threads) and asks NumPy's OpenBLAS what it read (its ``openblas_thread_timeout``).
"""
import json
import os
import subprocess
import sys

import pytest

from fastmlp import blas_spin

# prints what NumPy's OpenBLAS read, what fastmlp says of it, and whether the variable is left in the environment
PROBE = """
import json, os
{imports}
from fastmlp import blas_spin
library = blas_spin.numpy_openblas()
read = None if library is None else library.openblas_thread_timeout()
import numpy as np
a = np.arange(400 * 400, dtype=np.float64).reshape(400, 400) % 7  # a product on OpenBLAS's threads, checked
ok = bool(np.array_equal(a @ a, np.einsum("ij,jk->ik", a, a)))
print(json.dumps({{"read": read, "spin": fastmlp.thread_info()["blas_spin"], "seconds": blas_spin.spin_seconds(),
                   "left": os.environ.get("OPENBLAS_THREAD_TIMEOUT"), "product_ok": ok}}))
"""
# the numba backend's start: its first kernel
FIRST_KERNEL = """
fastmlp.MLP([4, 3, 2], seed=0).predict(numpy.zeros((2, 4), numpy.float32))
"""


def _probe(imports, env=None):
    environ = {k: v for k, v in os.environ.items() if k != blas_spin.VARIABLE}
    environ.update(env or {})
    out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)], env=environ, capture_output=True,
                         text=True, check=True, timeout=120).stdout
    got = json.loads(out.strip().splitlines()[-1])
    if got["read"] is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS that tells its thread timeout")
    return got


def test_fastmlp_imported_first_gives_numpy_s_openblas_a_short_spin_and_leaves_no_variable():
    got = _probe("import fastmlp\nimport numpy")
    assert got["read"] == int(blas_spin.SHORT)
    assert got["left"] is None  # removed again: the user's child processes do not inherit it
    assert got["spin"].startswith("short")
    assert got["seconds"] == 2.0 ** int(blas_spin.SHORT) / blas_spin.SLOWEST_TICKS  # 17 ms


def test_numpy_imported_first_keeps_openblas_s_default_until_fastmlp_s_first_kernel_restarts_it():
    got = _probe("import numpy\nimport fastmlp")
    assert got["read"] == 0  # unset: OpenBLAS's own default spin
    assert got["spin"] == "OpenBLAS's default (NumPy was imported before fastmlp)"
    assert got["seconds"] == 2.0 ** blas_spin.DEFAULT_EXPONENT / blas_spin.SLOWEST_TICKS  # 0.27 s
    got = _probe("import numpy\nimport fastmlp\n" + FIRST_KERNEL)
    assert got["read"] == int(blas_spin.SHORT)  # read again, its threads restarted
    assert got["seconds"] == 2.0 ** int(blas_spin.SHORT) / blas_spin.SLOWEST_TICKS
    assert got["left"] is None
    assert got["spin"].startswith("short") and "read again" in got["spin"]
    assert got["product_ok"]  # OpenBLAS's threads start anew at its next call on several


def test_no_restart_while_another_python_thread_runs():
    """Another thread could be inside a BLAS call, which a restart would hang."""
    got = _probe("import numpy, threading\nimport fastmlp\nstop = threading.Event()\n"
                 "threading.Thread(target=stop.wait, daemon=True).start()\n" + FIRST_KERNEL + "stop.set()\n")
    assert got["read"] == 0
    assert got["spin"] == "OpenBLAS's default (NumPy was imported before fastmlp)"
    assert got["product_ok"]


def test_the_user_s_own_setting_is_kept():
    got = _probe("import fastmlp", {blas_spin.VARIABLE: "12"})
    assert got["read"] == 12
    assert got["left"] == "12"  # the user's variable stays
    assert got["spin"] == "the user's (OPENBLAS_THREAD_TIMEOUT=12)"
    assert got["seconds"] == 2.0 ** 12 / blas_spin.SLOWEST_TICKS


def test_the_spin_of_a_blas_that_tells_none_is_taken_as_openblas_s_default(monkeypatch):
    """``spin_seconds`` where NumPy's BLAS is not an OpenBLAS that tells its spin: the longest OpenBLAS spins by
    default, not none."""
    monkeypatch.setattr(blas_spin, "numpy_openblas", lambda: None)
    assert blas_spin.spin_seconds() == 2.0 ** blas_spin.DEFAULT_EXPONENT / blas_spin.SLOWEST_TICKS


def test_short_spin_sets_the_variable_only_within_and_never_over_the_user_s(monkeypatch):
    monkeypatch.delenv(blas_spin.VARIABLE, raising=False)
    with blas_spin.short_spin():
        assert os.environ[blas_spin.VARIABLE] == blas_spin.SHORT
    assert blas_spin.VARIABLE not in os.environ
    monkeypatch.setenv(blas_spin.VARIABLE, "30")
    with blas_spin.short_spin():
        assert os.environ[blas_spin.VARIABLE] == "30"
    assert os.environ[blas_spin.VARIABLE] == "30"
