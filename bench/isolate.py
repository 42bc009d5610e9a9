"""Benchmark isolation: every measured case runs in a fresh Python process.

Thread pools outlive the work that started them: after a variant finishes,
NumPy's OpenBLAS, PyTorch's OpenMP and XLA's Eigen workers keep spinning for a
while and take the cores from whatever is timed next (fastmlp numba measured
45.7k samples/s after the peers in one process, 86k alone). So a case is a
*task* (:mod:`fastmlp.bench.tasks`), a small JSON-able dict, and :func:`run_task`
executes it in a new interpreter (``python -m fastmlp.bench.isolate TASK`` runs
one by hand) that imports only what the variant needs, sets up its threads as
any user's program would, loads the data itself and prints one result line back.

Child environment: the parent's, except ``OMP_WAIT_POLICY``, which importing
fastmlp sets to PASSIVE for its own OpenMP threads; a peer's child gets the
value the process was launched with (usually none). PyTorch's wheel loads the
same ``libgomp.so.1`` that Numba's OpenMP layer has already started once
fastmlp is imported, so the torch child imports torch first: its OpenMP starts
with PyTorch's defaults, as in a program that never imports fastmlp. PyTorch
uses one thread per available core (its runner sets that); JAX/XLA, NumPy's
BLAS and Numba keep their defaults; a fastmlp child is a plain
``import fastmlp`` program. The record's ``threads`` says what the child
ended up with (its affinity too).

A task's ``setting`` ('onecore', 'busy'; :mod:`fastmlp.bench.settings`) changes the
launch the same way for every variant: the child pins itself to one core before it
imports anything and gets the one-core thread environment, or a spinner process
occupies a core from before the child starts until it has exited.

``run_task(task, isolate=False)`` executes the same task in the calling
process (``fastmlp bench --in-process``, for debugging; a setting is then not
applied, and the record's note says so).
"""
import builtins
import json
import os
import subprocess
import sys
import time

from . import settings
from .measure import machine_check
from .peers import FASTMLP_VARIANTS
from .tasks import execute

RESULT_TAG = "FASTMLP-BENCH-RESULT "
TIMEOUT_S = 3600.0
_FASTMLP_ENV = ("OMP_WAIT_POLICY",)  # set by importing fastmlp (kernels/config.py), not by the user
# Modules a peer's child imports before fastmlp (torch shares libgomp with Numba's OpenMP layer).
_PRELOAD = {"torch": ("torch",)}
# The child's program: argv[1] its cores ('' to keep them), argv[2] modules to import first, argv[3] the task.
_BOOT = ("import os, sys\n"
         "if sys.argv[1]:\n"
         "    os.sched_setaffinity(0, [int(c) for c in sys.argv[1].split(',')])\n"
         "import importlib, json\n"
         "for name in json.loads(sys.argv[2]):\n"
         "    importlib.import_module(name)\n"
         "from fastmlp.bench.isolate import _child\n"
         "sys.exit(_child(sys.argv[3:]))\n")


def run_task(task, isolate=True, timeout=TIMEOUT_S):
    """Execute ``task`` in a fresh Python process (or in this one) and return its record.

    Parameters
    ----------
    task : dict
        From :mod:`fastmlp.bench.tasks` (``case_task``, ``predict_task``, ``workload_task``
        or ``recipe_task``); its ``setting`` (default 'idle') is applied to the child.
    isolate : bool
        True: a new interpreter runs it (see the module docstring); False: this process.
    timeout : float
        Seconds the child may take.

    Returns
    -------
    dict
        The task's record, plus ``isolated`` (bool), ``setting``, and for a child
        ``threads`` (its affinity and thread pools at the end), ``process_s`` (launch
        to exit), ``machine_gflops`` (``measure.machine_check`` run in it after the case)
        and, in the 'busy' setting, ``spinner`` (its core, pid and CPU seconds).
        A child that crashes or times out gives ``status`` 'failed' with the reason.

    Raises
    ------
    Exception
        What the task raised (same type as in-process for built-in exceptions,
        else RuntimeError), e.g. ValueError for bad data arguments or
        FileNotFoundError when the recipe finds no Fashion-MNIST.
    """
    setting = task.get("setting", "idle") if isinstance(task, dict) else "idle"
    plan = settings.launch(setting)
    if not isolate:
        r = dict(execute(task), isolated=False, setting=setting)
        if setting != "idle" and r.get("status") == "ok":
            r["note"] = "; ".join(filter(None, [r.get("note"), f"setting {setting!r} not applied (in-process)"]))
        return r
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    failed = {"variant": task.get("variant", "?"), "status": "failed", "note": "", "isolated": True,
              "setting": setting}
    env = dict(child_environment(task.get("variant")), **plan.env)
    argv = [sys.executable, "-c", _BOOT, ",".join(map(str, plan.cpus)),
            json.dumps(_PRELOAD.get(task.get("variant"), ())), json.dumps(task)]
    with settings.meanwhile(plan) as spinner:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return dict(failed, reason=f"child process timed out after {timeout:g} s")
        wall = time.perf_counter() - t0
    extra = {"setting": setting}
    if spinner is not None:
        extra["spinner"] = {"core": spinner.core, "pid": spinner.pid, "cpu_s": spinner.cpu_s}
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return dict(failed, reason=f"child process exit {proc.returncode}: {tail}", **extra)
    out = json.loads(lines[-1][len(RESULT_TAG):])
    if "error" in out:
        name, message = out["error"]
        cls = getattr(builtins, name, None)
        raise (cls if isinstance(cls, type) and issubclass(cls, Exception) else RuntimeError)(message)
    return dict(out["record"], isolated=True, threads=out["threads"], process_s=wall,
                machine_gflops=out.get("machine_gflops"), **extra)


def run_interleaved(tasks, processes, isolate=True, log=None):
    """Run every task of ``tasks`` (a dict name -> task, or None to skip) ``processes`` times,
    one pass over all of them after another; returns name -> list of records.

    On the 2-core project VM a process sometimes lands in a slow mode and stays
    there for its life (mnist-b64 at 88k or 141k samples/s, circles-b10 at 3.8M
    or 6.4M: same code, same data). It is not ASLR, the hash seed, Numba's
    thread count or buffer alignment, and it comes in clusters lasting minutes.
    So every variant gets the same number of processes, spread over the run by
    interleaving, and keeps its best (:func:`best_record`). In-process
    (``isolate`` False) runs each task once.
    """
    out = {name: [] for name in tasks}
    for rep in range(processes if isolate else 1):
        for name, task in tasks.items():
            if task is not None:
                out[name].append(run_task(task, isolate))
                if log:
                    log(name, rep, out[name][-1])
    return out


def best_record(records, key="samples_per_s", higher_is_better=True):
    """The ok record with the best ``key`` (else the first record), plus ``per_process``:
    every ok record's ``key``, and ``per_process_machine``: each one's ``machine_gflops`` (None
    where it has none)."""
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        return records[0]
    best = (max if higher_is_better else min)(ok, key=lambda r: r[key])
    return dict(best, per_process=[r[key] for r in ok], per_process_machine=[r.get("machine_gflops") for r in ok])


def launch_environment():
    """The environment this process was started with (Linux: /proc/self/environ), else ``os.environ``.

    Unlike ``os.environ`` it leaves out what imported libraries set since.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return dict(os.environ)
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def child_environment(variant):
    """The environment of the child measuring ``variant``: ours, with fastmlp's own
    OpenMP settings as launched for a peer (see the module docstring)."""
    env = dict(os.environ)
    if variant not in FASTMLP_VARIANTS:
        _restore_launch_values(env)
    return env


def _restore_launch_values(env):
    launched = launch_environment()
    for name in _FASTMLP_ENV:
        if name in launched:
            env[name] = launched[name]
        else:
            env.pop(name, None)


def thread_pools():
    """What the thread pools of this process look like: its CPU affinity and number of OS
    threads, Numba's threads, every pool threadpoolctl sees (BLAS and OpenMP libraries),
    PyTorch's threads if it is loaded, and the thread environment settings."""
    import numba
    names = ("OMP_WAIT_POLICY", "XLA_FLAGS") + tuple(settings.ONE_CORE_ENV)
    out = {"affinity": settings.allowed_cores(), "numba": numba.get_num_threads(),
           "env": {k: os.environ.get(k) for k in names}}
    try:
        out["os_threads"] = len(os.listdir("/proc/self/task"))
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info
        out["pools"] = [f"{d.get('internal_api')} {d.get('num_threads')}" for d in threadpool_info()]
    except ImportError:
        out["pools"] = "threadpoolctl not installed"
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    return out


def _child(argv):
    """Entry point of the child: run the task in ``argv[0]`` and print its record after RESULT_TAG."""
    task = json.loads(argv[0])
    if task.get("variant") not in FASTMLP_VARIANTS:
        _restore_launch_values(os.environ)  # importing fastmlp set them again; the peer gets them as launched
    try:
        out = {"record": execute(task)}
    except Exception as e:  # handed to the parent, which raises it again
        out = {"error": [type(e).__name__, str(e)]}
    out["threads"] = thread_pools()
    if "record" in out:  # after the case, never before: a BLAS's threads, once started, spin beside it for a while
        out["machine_gflops"] = machine_check()
    print(RESULT_TAG + json.dumps(out, default=float), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
