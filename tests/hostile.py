"""Helpers of the hostile-file and fuzz tests: building model files and IDX files by hand
(to lie in any field) and measuring what reading one allocates."""
import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np


def peak_bytes(fn, *args):
    """``(result or the exception raised, peak bytes traced)`` of ``fn(*args)``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            result = fn(*args)
        except Exception as e:  # the caller asserts on it
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def npy(array):
    """The ``.npy`` bytes of ``array``."""
    f = io.BytesIO()
    np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)
    return f.getvalue()


def npy_header(shape, dtype="<f4"):
    """A ``.npy`` header claiming ``shape`` of ``dtype``, without the data."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return f.getvalue()


def model_meta(layers, **fields):
    """Metadata of a model file as ``MLP.save`` writes it (no optimizer, no history), changed by ``fields``."""
    meta = {"layers": list(layers), "activation": ["relu"] * (len(layers) - 2), "loss": "cross_entropy",
            "leaky_slope": 0.01, "dtype": "float32", "backend": "numba", "optimizer": None,
            "optimizer_step": 0, "history": None, "seed": None}
    meta.update(fields)
    return meta


def model_zip(path, members, compression=zipfile.ZIP_STORED):
    """Write a zip of ``{name: bytes}`` members (``.npy`` added to each name); returns ``path``."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name + ".npy", data)
    return path


def model_members(meta, params, version=1):
    """The members of a model file: ``meta`` (a dict, or JSON text) and ``params`` (bytes or an array)."""
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return {"format": npy(np.array("fastmlp")), "format_version": npy(np.asarray(version)),
            "meta": npy(np.array(text)), "params": params if isinstance(params, bytes) else npy(params)}


def idx_header(code, dims):
    """An IDX header: magic (dtype ``code``, ``len(dims)`` dimensions) and the sizes."""
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


class Unseekable(io.RawIOBase):
    """A binary stream that cannot seek (a pipe, a socket, an HTTP response)."""

    def __init__(self, data):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, b):
        return self._data.readinto(b)
