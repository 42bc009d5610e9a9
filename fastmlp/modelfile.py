"""The model file: a documented ``.npz`` format, read without pickle and validated before
anything is allocated.

Format (version 1), every entry a plain array (``allow_pickle=False``):

- ``format``: 'fastmlp'; ``format_version``: int 1
- ``meta``: JSON text: layers, activation, loss, leaky_slope, dtype, backend,
  optimizer (name and hyperparameters, or null), optimizer_step, history, seed
- ``params``: the flat parameter vector (dtype as in meta)
- ``opt_s1``, ``opt_s2``: the optimizer state's two slots in the params layout (if any):
  velocity (sgd), m and v (adam), square_avg (rmsprop), sum_sq (adagrad); see
  ``fastmlp.optimizers.SLOT_NAMES``

Reading trusts nothing: each member's ``.npy`` header (dtype, shape) is read and checked
against what the metadata implies before its data is read, so a small file that claims
huge layers, or a compressed member that would unpack to far more than it stores, is
refused without allocating; every malformed file raises :class:`ModelFormatError` naming
the problem. Writes are atomic (``fastmlp.files.atomic_write``) with the user's umask.
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

FORMAT = "fastmlp"
FORMAT_VERSION = 1
MAX_META_BYTES = 64 << 20  # the JSON metadata (history included)
MAX_PARAMS = 1 << 31  # parameters in one model (8 GiB in float32)
MAX_EXPANSION = 64  # a compressed member may unpack to at most this many times its stored size
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
    except Exception as e:  # a damaged archive makes zipfile raise many kinds (BadZipFile, NotImplementedError ...)
        raise ModelFormatError(f"{path}: not a fastmlp model file (not an .npz archive: {e})") from None
    with archive:
        try:
            return _read(path, archive)
        except ModelFormatError:
            raise
        except MemoryError:
            raise
        except Exception as e:  # likewise for a damaged member (zlib.error, EOFError, struct.error, ...)
            raise ModelFormatError(f"{path}: corrupted fastmlp model file ({type(e).__name__}: {e})") from None


def _read(path, archive):
    def fail(why):
        raise ModelFormatError(f"{path}: {why}")

    names = set(archive.namelist())
    if "format.npy" not in names:
        fail("not a fastmlp model file (no 'format' = 'fastmlp' entry)")
    if str(_member(archive, "format", fail, max_bytes=64)) != FORMAT:
        fail("not a fastmlp model file (no 'format' = 'fastmlp' entry)")
    version = _member(archive, "format_version", fail, max_bytes=64) if "format_version.npy" in names else None
    if version is None or version.dtype.kind not in "iu" or version.shape != ():
        fail("missing or invalid format_version (an integer)")
    if int(version) != FORMAT_VERSION:
        fail(f"format version {int(version)} is not supported (this fastmlp reads version {FORMAT_VERSION})")
    if "meta.npy" not in names:
        fail("no 'meta' entry")
    meta_text = _member(archive, "meta", fail, max_bytes=MAX_META_BYTES)
    if meta_text.dtype.kind != "U" or meta_text.shape != ():
        fail("'meta' must be JSON text")
    try:
        meta = json.loads(str(meta_text))
    except (json.JSONDecodeError, RecursionError) as e:
        fail(f"'meta' is not valid JSON ({type(e).__name__})")
    n_params = _check_meta(meta, fail)
    dtype = np.dtype(meta["dtype"])
    params = _member(archive, "params", fail, dtype=dtype, shape=(n_params,))
    if not np.isfinite(params).all():
        fail("params contains NaN or inf")
    slots = None
    if meta["optimizer"] is not None:
        if "opt_s1.npy" not in names or "opt_s2.npy" not in names:
            fail("the optimizer state ('opt_s1', 'opt_s2') is missing")
        slots = np.stack([_member(archive, k, fail, dtype=dtype, shape=(n_params,)) for k in ("opt_s1", "opt_s2")])
        if not np.isfinite(slots).all():
            fail("the optimizer state contains NaN or inf")
    return ModelFile(meta, params, slots)


def _member(archive, name, fail, dtype=None, shape=None, max_bytes=None):
    """Member ``name``.npy, its header checked (dtype, shape, size) before its data is read."""
    info = archive.getinfo(name + ".npy")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            fail(f"'{name}' has an unknown .npy version {version}")
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)
        got_shape, fortran, got_dtype = header(f, max_header_size=10000)
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
    if (not isinstance(layers, list) or len(layers) < 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers)):
        fail(f"layers must be a list of at least two positive integers; got {layers!r:.200}")
    n_params = sum(k * n + n for k, n in zip(layers[:-1], layers[1:]))
    if n_params > MAX_PARAMS:
        fail(f"layers {layers!r:.200} imply {n_params} parameters; at most {MAX_PARAMS} are read")
    activation = meta["activation"]
    if not isinstance(activation, list) or not all(isinstance(a, str) for a in activation):
        fail(f"activation must be a list of names; got {activation!r:.200}")
    for key in ("loss", "backend"):
        if not isinstance(meta[key], str):
            fail(f"{key} must be a name; got {meta[key]!r:.200}")
    if meta["dtype"] not in DTYPES:
        fail(f"dtype must be one of {list(DTYPES)}; got {meta['dtype']!r:.200}")
    if not isinstance(meta["leaky_slope"], numbers.Real) or isinstance(meta["leaky_slope"], bool):
        fail(f"leaky_slope must be a number; got {meta['leaky_slope']!r:.200}")
    step = meta["optimizer_step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        fail(f"optimizer_step must be an integer >= 0; got {step!r:.200}")
    opt = meta["optimizer"]
    if opt is not None and not (isinstance(opt, dict) and isinstance(opt.get("name"), str)
                                and isinstance(opt.get("hyper"), dict)):
        fail(f"optimizer must be null or {{'name': ..., 'hyper': {{...}}}}; got {opt!r:.200}")
    history = meta["history"]
    if history is not None:
        if not isinstance(history, dict) or not isinstance(history.get("rows"), list):
            fail("history must be null or an object with a list of rows")
        for i, row in enumerate(history["rows"]):
            if not isinstance(row, dict) or not all(isinstance(v, numbers.Real) or v is None for v in row.values()):
                fail(f"history row {i} must be an object of numbers")
    seed = meta.get("seed")  # absent in files of fastmlp 0.1
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        fail(f"seed must be an integer >= 0 or null; got {seed!r:.200}")
    return n_params
