"""Saving and loading models: ``save(model, path)``, ``load(path)`` and ``ModelFormatError``.

The functions of ``MLP.save`` and ``MLP.load``, by the names users look for; the file
format itself (documented, read without pickle, validated before anything is allocated)
is ``fastmlp.modelfile``.
"""
from .checks import check_type
from .model import MLP
from .modelfile import ModelFormatError

__all__ = ["save", "load", "ModelFormatError"]


def save(model, path):
    """Write ``model`` (weights, optimizer state, history) to ``path`` atomically; returns the
    path written (a ``.npz`` suffix is added when missing, as numpy does)."""
    return check_type(model, "model", MLP, "an MLP").save(path)


def load(path):
    """Read a model written by ``save``; raises ModelFormatError for anything else."""
    return MLP.load(path)
