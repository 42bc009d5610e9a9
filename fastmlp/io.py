"""Saving and loading models: a documented ``.npz`` format read without pickle.

Format (version 1), every entry a plain array (``allow_pickle=False``):

- ``format``: 'fastmlp'; ``format_version``: int 1
- ``meta``: JSON text: layers, activation, loss, leaky_slope, dtype, backend,
  optimizer (name and hyperparameters, or null), optimizer_step, history
- ``params``: the flat parameter vector (dtype as in meta)
- ``opt_s1``, ``opt_s2``: the optimizer state's two slots in the params layout (if any):
  velocity (sgd), m and v (adam), square_avg (rmsprop), sum_sq (adagrad); see
  ``fastmlp.optimizers.SLOT_NAMES``

Writes are atomic (``fastmlp.files.atomic_write``): a crash never leaves a
half-written model under the target name.
"""
import json

import numpy as np

from . import buffers
from .checks import check_path
from .files import atomic_write

FORMAT = "fastmlp"
FORMAT_VERSION = 1


class ModelFormatError(ValueError):
    """The file is not a readable fastmlp model (truncated, corrupted, wrong format or version)."""


def save(model, path):
    """Write ``model`` (weights, optimizer state, history) to ``path`` atomically.

    A ``.npz`` suffix is added when missing, as numpy does. Returns the path written.
    """
    path = check_path(path, "path")
    if not path.endswith(".npz"):
        path += ".npz"
    st = model.optimizer_state
    meta = {
        "layers": list(model.layers), "activation": list(model.activation), "loss": model.loss,
        "leaky_slope": model.arch.leaky_slope, "dtype": np.dtype(model.dtype).name, "backend": model.backend,
        "optimizer": None if st is None else {"name": st.name, "hyper": st.hyper},
        "optimizer_step": 0 if st is None else int(st.step),
        "history": None if model.history is None else model.history.to_dict(),
        "seed": model.seed if isinstance(model.seed, int) else None,
    }
    arrays = {"format": np.array(FORMAT), "format_version": np.array(FORMAT_VERSION),
              "meta": np.array(json.dumps(meta)), "params": model.params}
    if st is not None:
        arrays["opt_s1"], arrays["opt_s2"] = st.slots[0], st.slots[1]
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path):
    """Read a model written by ``save``; raises ModelFormatError for anything else."""
    from .history import History
    from .model import MLP
    from .optimizers import Optimizer, OptimizerState

    path = check_path(path, "path")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a single .npy array
            raise ModelFormatError(f"{path}: not a fastmlp model file (a single array, not an .npz archive)")
        with loaded as z:
            data = {k: z[k] for k in z.files}
    except (FileNotFoundError, PermissionError, IsADirectoryError, ModelFormatError):
        raise
    except Exception as e:  # a damaged archive makes zipfile and numpy raise many kinds (BadZipFile, RuntimeError, ...)
        raise ModelFormatError(f"{path}: not a readable fastmlp model file ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or data.get("format") is None or str(data["format"]) != FORMAT:
        raise ModelFormatError(f"{path}: not a fastmlp model file (no 'format' = 'fastmlp' entry)")
    try:
        version = int(data["format_version"])
    except (KeyError, TypeError, ValueError):
        raise ModelFormatError(f"{path}: missing or invalid format_version") from None
    if version != FORMAT_VERSION:
        raise ModelFormatError(f"{path}: format version {version} is not supported (this fastmlp reads "
                               f"version {FORMAT_VERSION})")
    try:
        meta = json.loads(str(data["meta"]))
        model = MLP(meta["layers"], meta["activation"] or "identity", meta["loss"], init="zeros",
                    leaky_slope=meta["leaky_slope"], dtype=meta["dtype"], backend=meta["backend"])
        params = data["params"]
        if params.dtype != model.dtype or params.shape != model.params.shape:
            raise ValueError(f"params has {params.dtype} {params.shape}, expected {model.dtype} {model.params.shape}")
        model.params[...] = params
        if meta["optimizer"] is not None:
            s1, s2 = data["opt_s1"], data["opt_s2"]
            if s1.shape != params.shape or s2.shape != params.shape:
                raise ValueError("optimizer state does not match the parameters")
            optimizer = Optimizer(meta["optimizer"]["name"], **meta["optimizer"]["hyper"])
            model.optimizer_state = OptimizerState(optimizer, buffers.copy(np.stack([s1, s2]).astype(model.dtype)),
                                                   int(meta["optimizer_step"]))
        if meta["history"] is not None:
            model.history = History.from_dict(meta["history"])
        seed = meta.get("seed")  # absent in files of fastmlp 0.1
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be an integer >= 0 or null; got {seed!r}")
            model.seed = seed
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"{path}: corrupted fastmlp model ({type(e).__name__}: {e})") from None
    return model
