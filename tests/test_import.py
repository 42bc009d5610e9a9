"""``import fastmlp`` starts nothing and changes nothing: no Numba thread pool, no thread, no
environment variable, no compilation. The pool starts at the first kernel call (the numba
backend's ``start_runtime``), and even then the environment is left as the user set it.

Each check runs in a fresh interpreter (``subprocess``): in this process fastmlp is long
imported and the pool long started.
"""
import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, os, sys, threading

def native_threads():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None

def layer():
    try:
        return numba.threading_layer()
    except ValueError:  # "Threading layer is not initialized."
        return None

python_threads = threading.active_count()
import numpy as np
import numba  # numpy's and numba's own imports are not fastmlp's doing
env_before, native_before = dict(os.environ), native_threads()
assert "fastmlp" not in sys.modules and layer() is None

import fastmlp

out = {
    "env_unchanged": dict(os.environ) == env_before,
    "env_diff": sorted(set(os.environ.items()) ^ set(env_before.items())),
    "python_threads": [python_threads, threading.active_count()],
    "native_threads": [native_before, native_threads()],
    "layer_after_import": layer(),
    "compiled_after_import": [k for k in ("output", "forward", "loss_and_grad", "train_epoch", "train_epoch_sgd",
                                          "train_epoch_online", "train_epoch_online_any", "optimizer_step")
                              if getattr(fastmlp.kernels, k).signatures],
}
fastmlp.MLP([3, 4, 2], seed=0).predict(np.zeros((2, 3)))
out["layer_after_predict"] = layer()
out["omp_wait_policy_after_predict"] = os.environ.get("OMP_WAIT_POLICY")
out["env_unchanged_after_predict"] = dict(os.environ) == env_before
print(json.dumps(out))
"""


def _run_child(omp_wait_policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if omp_wait_policy is not None:
        env["OMP_WAIT_POLICY"] = omp_wait_policy
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def child():
    return _run_child(None)


def test_import_changes_no_environment_variable(child):
    assert child["env_unchanged"], f"import fastmlp changed the environment: {child['env_diff']}"


def test_import_starts_no_thread_and_no_numba_pool(child):
    assert child["layer_after_import"] is None, "import fastmlp started Numba's thread pool"
    before, after = child["python_threads"]
    assert after == before, f"import fastmlp started {after - before} Python thread(s)"
    before, after = child["native_threads"]
    if before is not None:  # Linux: every native thread of the process
        assert after == before, f"import fastmlp started {after - before} native thread(s)"


def test_import_compiles_no_kernel(child):
    assert child["compiled_after_import"] == []


def test_first_kernel_call_starts_the_pool_and_leaves_the_environment_alone(child):
    assert child["layer_after_predict"] in ("tbb", "omp", "workqueue")
    assert child["omp_wait_policy_after_predict"] is None  # set for the pool's start only, then removed
    assert child["env_unchanged_after_predict"]


def test_a_users_omp_wait_policy_is_kept():
    out = _run_child("ACTIVE")
    assert out["env_unchanged"] and out["layer_after_import"] is None
    assert out["layer_after_predict"] in ("tbb", "omp", "workqueue")
    assert out["omp_wait_policy_after_predict"] == "ACTIVE" and out["env_unchanged_after_predict"]
