"""The model file: a documented ``.npz`` format, read without pickle and validated before
anything is allocated.

Format (version 1), every entry a plain array (``allow_pickle=False``):

- ``format``: 'fastmlp'; ``format_version``: int 1
- ``meta``: JSON text: layers, activation, loss, leaky_slope, dtype, backend,
  optimizer (name and hyperparameters, or null), optimizer_step, history, seed, dropout
  (one rate per hidden layer; absent in older files: no dropout)
- ``params``: the flat parameter vector (dtype as in meta)
- ``opt_s1``, ``opt_s2``: the optimizer state's two slots in the params layout (if any):
  velocity (sgd), m and v (adam), square_avg (rmsprop), sum_sq (adagrad); see
  ``fastmlp.optimizers.SLOT_NAMES``

Reading trusts nothing: each member's ``.npy`` header (dtype, shape) is read and checked
against what the metadata implies, against the size the archive records for the member
and against what the file can hold, before its data is read, so a small file that claims
huge layers, or a compressed member that would unpack to far more than it stores, is
refused without allocating. The metadata is checked field by field (types, ranges, the
history's rows) before anything is built from it. Every malformed file raises
:class:`ModelFormatError` naming the problem. Writes are atomic
(``fastmlp.files.atomic_write``) with the user's umask: a failed save leaves an existing
file as it was.
"""
import json
import math
import numbers
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .checks import check_path
from .files import atomic_write
from .history import KEYS as HISTORY_KEYS

FORMAT = "fastmlp"
FORMAT_VERSION = 1
MAX_META_BYTES = 64 << 20  # the JSON metadata (history included)
MAX_PARAMS = 1 << 31  # parameters in one model (8 GiB in float32)
MAX_EXPANSION = 64  # a compressed member may unpack to at most this many times its stored size
MAX_STEP = 2**63 - 1  # optimizer_step: the kernels count steps in int64
DTYPES = ("float32", "float64")


class ModelFormatError(ValueError):
    """The file is not a readable fastmlp model (truncated, corrupted, wrong format or version)."""


@dataclass
class ModelFile:
    """What a model file holds, validated: ``meta`` (the JSON dict), ``params`` (P,) and the
    optimizer's ``slots`` (2, P) or None."""
    meta: dict
    params: np.ndarray
    slots: object


def suffixed(path):
    """``path`` (checked) with the ``.npz`` suffix numpy adds when it is missing."""
    path = check_path(path, "path")
    return path if path.endswith(".npz") else path + ".npz"


def write(path, meta, params, slots=None):
    """Write a model file atomically; returns the path written (``.npz`` added when missing)."""
    arrays = {"format": np.array(FORMAT), "format_version": np.array(FORMAT_VERSION),
              "meta": np.array(json.dumps(meta, allow_nan=False)), "params": params}
    if slots is not None:
        arrays["opt_s1"], arrays["opt_s2"] = slots[0], slots[1]
    return atomic_write(suffixed(path), lambda f: np.savez(f, **arrays))


def read(path):
    """Read and validate a model file (see the module docstring); a :class:`ModelFile`."""
    path = check_path(path, "path")
    if not path.endswith(".npz") and not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"  # save('m') wrote m.npz: load('m') finds it
    try:
        archive = zipfile.ZipFile(path)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as e:  # a damaged archive makes zipfile raise many kinds (BadZipFile, an unsupported zip version ...)
        raise ModelFormatError(f"{path}: not a fastmlp model file (not an .npz archive: {e})") from None
    with archive:
        try:
            return _read(path, archive, os.path.getsize(path))
        except ModelFormatError:
            raise
        except MemoryError:
            raise
        except Exception as e:  # likewise for a damaged member (zlib.error, EOFError, struct.error, ...)
            raise ModelFormatError(f"{path}: corrupted fastmlp model file ({type(e).__name__}: {e})") from None


def _read(path, archive, file_size):
    def fail(why):
        raise ModelFormatError(f"{path}: {why}")

    def member(name, **expected):
        return _member(archive, name, fail, file_size, **expected)

    names = set(archive.namelist())
    if "format.npy" not in names:
        fail("not a fastmlp model file (no 'format' = 'fastmlp' entry)")
    if str(member("format", max_bytes=64)) != FORMAT:
        fail("not a fastmlp model file (no 'format' = 'fastmlp' entry)")
    version = member("format_version", max_bytes=64) if "format_version.npy" in names else None
    if version is None or version.dtype.kind not in "iu" or version.shape != ():
        fail(f"missing or invalid format_version (an integer; got "
             f"{'nothing' if version is None else f'{version.dtype} {version!r:.100}'})")
    if int(version) != FORMAT_VERSION:
        fail(f"format version {int(version)} is not supported (this fastmlp reads version {FORMAT_VERSION})")
    for entry in ("meta", "params"):
        if entry + ".npy" not in names:
            fail(f"no '{entry}' entry")
    meta_text = member("meta", max_bytes=MAX_META_BYTES)
    if meta_text.dtype.kind != "U" or meta_text.shape != ():
        fail("'meta' must be JSON text")
    meta = _parse_json(str(meta_text), fail)
    n_params = _check_meta(meta, fail)
    dtype = np.dtype(meta["dtype"])
    params = member("params", dtype=dtype, shape=(n_params,))
    if not np.isfinite(params).all():
        fail("params contains NaN or inf")
    slots = None
    if meta["optimizer"] is not None:
        if "opt_s1.npy" not in names or "opt_s2.npy" not in names:
            fail("the optimizer state ('opt_s1', 'opt_s2') is missing")
        slots = np.stack([member(k, dtype=dtype, shape=(n_params,)) for k in ("opt_s1", "opt_s2")])
        if not np.isfinite(slots).all():
            fail("the optimizer state contains NaN or inf")
    return ModelFile(meta, params, slots)


def _parse_json(text, fail):
    """The metadata's JSON; NaN and Infinity (not JSON, never written) refused."""
    def constant(name):
        fail(f"'meta' holds {name}, which is not JSON (fastmlp writes null for a missing number)")

    try:
        return json.loads(text, parse_constant=constant)
    except RecursionError:
        fail("'meta' is nested too deeply to be fastmlp metadata")
    except ModelFormatError:
        raise
    except ValueError as e:  # JSONDecodeError, or an integer of more than 4300 digits
        fail(f"'meta' is not valid JSON ({type(e).__name__}: {e})")


def _member(archive, name, fail, file_size, dtype=None, shape=None, max_bytes=None):
    """Member ``name``.npy, its header checked (dtype, shape, size) before its data is read.

    The sizes the zip directory records for the member must agree with the header and
    with the archive's size on disk: the data is then read only once it is known to exist.
    """
    info = archive.getinfo(name + ".npy")
    if info.compress_size > file_size:
        fail(f"'{name}' claims {info.compress_size} stored bytes; the whole file has {file_size}")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        fail(f"'{name}' is stored uncompressed but claims {info.file_size} bytes in {info.compress_size}")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            fail(f"'{name}' has an unknown .npy version {version}")
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)
        got_shape, fortran, got_dtype = header(f, max_header_size=10000)
        header_size = f.tell()
    if got_dtype.hasobject:
        fail(f"'{name}' holds Python objects (refused: no pickle)")
    if dtype is not None and got_dtype != dtype:
        fail(f"'{name}' has dtype {got_dtype}; the metadata says {dtype}")
    if shape is not None and tuple(got_shape) != shape:
        fail(f"'{name}' has shape {tuple(got_shape)}; the metadata implies {shape}")
    nbytes = math.prod(got_shape) * got_dtype.itemsize
    if max_bytes is not None and nbytes > max_bytes:
        fail(f"'{name}' is {nbytes} bytes; at most {max_bytes} are read")
    if info.compress_type != zipfile.ZIP_STORED and nbytes > MAX_EXPANSION * info.compress_size + 4096:
        fail(f"'{name}' would unpack to {nbytes} bytes from {info.compress_size} stored (a zip bomb?)")
    if header_size + nbytes != info.file_size:
        fail(f"'{name}' has shape {tuple(got_shape)} of {got_dtype} ({nbytes} bytes) but the archive "
             f"records {info.file_size - header_size} bytes of data for it (truncated or damaged)")
    if fortran:
        fail(f"'{name}' is in Fortran order; fastmlp writes C order")
    with archive.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _check_meta(meta, fail):
    """Check the metadata's fields and types; return the number of parameters the layers imply."""
    if not isinstance(meta, dict):
        fail("'meta' must be a JSON object")
    missing = [k for k in ("layers", "activation", "loss", "leaky_slope", "dtype", "backend", "optimizer",
                           "optimizer_step", "history") if k not in meta]
    if missing:
        fail(f"'meta' lacks {missing}")
    layers = meta["layers"]
    if not isinstance(layers, list) or len(layers) < 2 or not all(_is_int(n) and n >= 1 for n in layers):
        fail(f"layers must be a list of at least two positive integers; got {layers!r:.200}")
    n_params = sum(k * n + n for k, n in zip(layers[:-1], layers[1:]))
    if n_params > MAX_PARAMS:
        fail(f"layers {layers!r:.200} imply {n_params} parameters; at most {MAX_PARAMS} are read")
    activation = meta["activation"]
    if not isinstance(activation, list) or not all(isinstance(a, str) for a in activation):
        fail(f"activation must be a list of names; got {activation!r:.200}")
    if len(activation) != len(layers) - 2:
        fail(f"activation must name one function per hidden layer ({len(layers) - 2}); got {activation!r:.200}")
    for key in ("loss", "backend"):
        if not isinstance(meta[key], str):
            fail(f"{key} must be a name; got {meta[key]!r:.200}")
    if meta["dtype"] not in DTYPES:
        fail(f"dtype must be one of {list(DTYPES)}; got {meta['dtype']!r:.200}")
    if not _is_number(meta["leaky_slope"]):
        fail(f"leaky_slope must be a number; got {meta['leaky_slope']!r:.200}")
    step = meta["optimizer_step"]
    if not _is_int(step) or not 0 <= step <= MAX_STEP:
        fail(f"optimizer_step must be an integer in [0, 2**63); got {step!r:.200}")
    opt = meta["optimizer"]
    if opt is not None and not (isinstance(opt, dict) and isinstance(opt.get("name"), str)
                                and isinstance(opt.get("hyper"), dict)):
        fail(f"optimizer must be null or {{'name': ..., 'hyper': {{...}}}}; got {opt!r:.200}")
    if meta["history"] is not None:
        _check_history(meta["history"], fail)
    dropout = meta.get("dropout")  # absent in files written before dropout
    if dropout is not None and not (isinstance(dropout, list) and len(dropout) == len(layers) - 2
                                    and all(_is_number(p) and 0 <= p < 1 for p in dropout)):
        fail(f"dropout must be a list of one rate in [0, 1) per hidden layer ({len(layers) - 2}); "
             f"got {dropout!r:.200}")
    seed = meta.get("seed")  # absent in files of fastmlp 0.1
    if seed is not None and (not _is_int(seed) or seed < 0):
        fail(f"seed must be an integer >= 0 or null; got {seed!r:.200}")
    return n_params


def _check_history(history, fail):
    """The history as ``History.to_dict`` writes it: run flags, and rows of the metrics in
    ``fastmlp.history.KEYS`` (epoch an integer >= 0, the others numbers or null)."""
    keys = {"rows", "diverged", "interrupted", "stopped_early", "best_epoch"}
    if not isinstance(history, dict) or set(history) != keys:
        fail(f"history must be null or an object with the keys {sorted(keys)}; got {history!r:.200}")
    if not isinstance(history["rows"], list):
        fail(f"history rows must be a list; got {history['rows']!r:.200}")
    for key in ("diverged", "interrupted", "stopped_early"):
        if not isinstance(history[key], bool):
            fail(f"history {key} must be true or false; got {history[key]!r:.200}")
    best = history["best_epoch"]
    if best is not None and (not _is_int(best) or best < 0):
        fail(f"history best_epoch must be an integer >= 0 or null; got {best!r:.200}")
    for i, row in enumerate(history["rows"]):
        if not isinstance(row, dict) or set(row) != set(HISTORY_KEYS):
            fail(f"history row {i} must be an object with the keys {list(HISTORY_KEYS)}; got {row!r:.200}")
        if not _is_int(row["epoch"]) or row["epoch"] < 0:
            fail(f"history row {i}: epoch must be an integer >= 0; got {row['epoch']!r:.200}")
        bad = [k for k, v in row.items() if not (v is None or _is_number(v))]
        if bad:
            fail(f"history row {i}: {bad[0]} must be a number or null; got {row[bad[0]]!r:.200}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
