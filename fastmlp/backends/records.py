"""Choices measured by timing, kept on disk: the same machine's next process takes what the first measured.

Why: a choice made by timing can decide how a training's products round (``products.own_products``:
fastmlp's own products or the BLAS's, on one thread). Measured again in every process it may come out
otherwise under load, and the same seeded fit then gives other weights: a process on one core, the net
32-512-256-10 at 256 rows, two other processes spinning, AMD EPYC Zen 4: 3 of 6 processes chose other layers
and gave other weights. Kept, it is measured once per machine: in the kernels' cache folder
(``kernels.intrinsics.kernel_cache_dir``, keyed on every kernel source and on the BLAS the kernels call),
then per CPU (LLVM's name for it and a digest of its features) and, when the kernels are compiled for another
CPU than this one (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``), per the CPU they are compiled for (other code,
timed otherwise: its records must not become this CPU's own), one small JSON file per choice.

The first record written wins: it is created whole or not at all (``files.write_once``), so of two
processes measuring at once one writes and the other takes that record instead of its own measurement.
A record that cannot be read (damaged, another format, another key by a digest's collision) is measured
again and replaced; where none can be written (a read-only cache) the process keeps its own measurement.
Delete the folder (``fastmlp info`` prints it) to measure again. The environment variable ``FASTMLP_CHOICES_DIR``
puts the records elsewhere (the test suite's go to a folder of its own: measured under its load, they would
otherwise become the machine's).
"""
import hashlib
import json
import os

import numba
from llvmlite import binding as llvm

from ..files import atomic_write, write_once
from ..kernels.intrinsics import compiled_features, compiled_for_host, kernel_cache_dir

FORMAT = 3  # the records' layout and how they were measured (2: on operands that start on a cache line, as a
# call's: ``products._random``; 3: a cut training's choice times its hidden layers' forward products too,
# ``products._measure_cut``); a record of another format is measured again
VARIABLE = "FASTMLP_CHOICES_DIR"  # another root for the records (the test suite's: its measurements are under load)


def folder():
    """The folder of this machine's records (not created here): ``<root>/<kernel cache folder's name>/<CPU>-<digest
    of its features>``, followed by ``-for-<target CPU>-<digest of its features>`` when the kernels are compiled for
    another CPU; the root ``$FASTMLP_CHOICES_DIR`` when set, else the kernels' cache folder's ``choices``."""
    cache = kernel_cache_dir()
    root = os.environ.get(VARIABLE)
    root = os.path.join(root, os.path.basename(cache)) if root else os.path.join(cache, "choices")
    name = _cpu(llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())
    if not compiled_for_host():
        name += "-for-" + _cpu(numba.config.CPU_NAME or "host", compiled_features())
    return os.path.join(root, name)


def _cpu(name, features):
    """A CPU's part of the folder's name: its LLVM name and a digest of its features."""
    return f"{name}-{hashlib.sha256(features.encode()).hexdigest()[:12]}"


def kept(name, key, measure, valid):
    """The choice ``name`` for ``key`` (a tuple of str, int and bool): this machine's record, or
    ``measure()`` (a value JSON can hold) recorded for the next process. ``valid(value)`` says whether a
    record's value is one ``measure`` could have given (else it is measured again). See the module docstring."""
    text, path = _where(name, key)
    found = _read(path, text, valid)
    if found is not None:
        return found[0]
    value = measure()
    data = json.dumps({"format": FORMAT, "key": text, "value": value}).encode()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not write_once(path, data):
            found = _read(path, text, valid)
            if found is not None:  # another process wrote it first: its choice is the machine's
                return found[0]
            atomic_write(path, data)  # an unreadable record: replaced
    except OSError:
        pass  # no record: this process keeps its own measurement
    return value


def recorded(name, key, valid):
    """``(value,)`` of this machine's record of the choice ``name`` for ``key`` (as :func:`kept` keeps it), or None
    when there is none (nothing measured, nothing written)."""
    text, path = _where(name, key)
    return _read(path, text, valid)


def _where(name, key):
    """(the key's text, the path of its record)."""
    text = json.dumps([name, list(key)])
    return text, os.path.join(folder(), f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:20]}.json")


def _read(path, text, valid):
    """``(value,)`` from the record at ``path`` if it holds the key ``text`` in this format and a valid
    value, else None."""
    try:
        with open(path, "rb") as f:
            record = json.loads(f.read().decode())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("key") != text \
            or "value" not in record or not valid(record["value"]):
        return None
    return (record["value"],)
