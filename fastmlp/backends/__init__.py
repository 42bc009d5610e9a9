"""The three interchangeable engines behind ``backend=``, and the protocol they share.

A backend computes for one architecture; the model holds the parameters and passes them
in. Every backend answers the same five calls (:class:`Backend`), the trainer drives any
of them through ``train_epoch`` without knowing which it is, and all three give the same
numbers:

- ``loop`` (:mod:`.loops`): the textbook per-sample scalar backprop in pure Python;
- ``numpy`` (:mod:`.numpy`): the same math vectorized over the batch;
- ``numba`` (:mod:`.numba`): the compiled kernels of ``fastmlp.kernels`` over buffers it
  owns, with its own choice of epoch kernel and its own thread safety.
"""
from ..checks import check_choice
from .base import Backend, BackendBase, EpochResult, TrainingData
from .loops import LoopBackend
from .numba import NumbaBackend
from .numpy import NumpyBackend

BACKEND_NAMES = ("numba", "numpy", "loop")
_CLASSES = {"numba": NumbaBackend, "numpy": NumpyBackend, "loop": LoopBackend}


def make_backend(name, arch):
    """The backend object for ``name`` ('numba', 'numpy' or 'loop') computing for ``arch``."""
    return _CLASSES[check_choice(name, "backend", BACKEND_NAMES)](arch)


__all__ = ["BACKEND_NAMES", "Backend", "BackendBase", "EpochResult", "TrainingData", "make_backend", "NumbaBackend",
           "NumpyBackend", "LoopBackend"]
