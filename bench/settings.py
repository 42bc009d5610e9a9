"""The machine settings a workload runs in ('idle', 'onecore', 'busy'), applied around the fresh
process that measures one case (:mod:`fastmlp.bench.isolate`), the same for every variant.

- 'idle': the child as launched: every core this process may use, each library's default
  thread pools.
- 'onecore': the child is pinned to ONE core (the first this process may use) by
  ``os.sched_setaffinity``, the first statement the child runs, before it imports anything
  (the Python equivalent of ``taskset -c 0``), and its environment gets :data:`ONE_CORE_ENV`
  (``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``
  all 1), what a user on a one-core container sets. PyTorch's runner then takes one thread
  (one per core of its affinity); XLA sizes its pools from the affinity; nothing else is set.
- 'busy': while the child runs, from before its launch until it has exited, a spinner
  process pinned to another core (the last this process may use) spins in a pure-Python
  loop; it is then killed and reaped (:class:`Spinner`), and the CPU seconds it used are
  recorded. The child itself keeps every core and the default thread pools.

The record of a case says which setting it ran in and, from inside the child, its affinity
and thread pools (``threads``).
"""
import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field

from .workloads import SETTINGS, check_choice

ONE_CORE_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1"}
_SPIN = ("import os, sys\n"
         "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
         "parent = os.getppid()\n"
         "print('spinning', flush=True)\n"
         "n = 0\n"
         "while True:\n"
         "    n += 1\n"
         "    if n % 4000000 == 0 and os.getppid() != parent:  # orphaned: the parent died without stopping us\n"
         "        break\n")


def allowed_cores():
    """The cores this process may run on, sorted."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (not Linux): every core
        return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Launch:
    """How to launch the child of a case: extra ``env``, its affinity ``cpus`` (empty: unchanged)
    and the core a spinner occupies meanwhile (None: no spinner)."""

    setting: str
    env: dict = field(default_factory=dict)
    cpus: tuple = ()
    spin_core: int = None


def launch(setting, cores=None):
    """The :class:`Launch` of ``setting`` on a machine where this process may use ``cores``
    (default :func:`allowed_cores`)."""
    check_choice(setting, SETTINGS, "setting")
    cores = allowed_cores() if cores is None else sorted(cores)
    if setting == "onecore":
        return Launch(setting, dict(ONE_CORE_ENV), (cores[0],))
    if setting == "busy":
        return Launch(setting, spin_core=cores[-1])
    return Launch(setting)


def describe(setting, cores=None):
    """What ``setting`` does to a child, exactly, for the report."""
    plan = launch(setting, cores)
    if setting == "onecore":
        env = ", ".join(f"{k}={v}" for k, v in plan.env.items())
        return (f"every variant's process pinned to core {plan.cpus[0]} (os.sched_setaffinity before any import, "
                f"as taskset -c {plan.cpus[0]}) with {env}")
    if setting == "busy":
        alone = " (the only core: it shares it with the child)" if len(allowed_cores() if cores is None
                                                                        else cores) == 1 else ""
        return (f"a spinner process pinned to core {plan.spin_core}{alone} spins from before each variant's process "
                "starts until it exits; the variant keeps every core and its default threads")
    return "every core, default thread pools"


class Spinner:
    """A Python process spinning on ``core``: ``start()`` returns once it runs pinned there,
    ``stop()`` kills and reaps it and returns the CPU seconds it used. Also a context manager."""

    def __init__(self, core):
        self.core = int(core)
        self.proc = None
        self.cpu_s = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _SPIN, str(self.core)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "spinning":
            self.stop()
            raise RuntimeError(f"the spinner process did not start on core {self.core}")
        return self

    def stop(self):
        """Kill and reap the spinner; the CPU seconds (user + system) it used."""
        if self.proc is None or self.proc.returncode is not None:
            return self.cpu_s
        self.proc.kill()
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.proc.stdout.close()
        self.cpu_s = usage.ru_utime + usage.ru_stime
        return self.cpu_s

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def meanwhile(plan):
    """A context manager running what ``plan`` wants beside the child: a :class:`Spinner` on
    ``plan.spin_core``, or nothing (it then yields None)."""
    return Spinner(plan.spin_core) if plan.spin_core is not None else contextlib.nullcontext()
