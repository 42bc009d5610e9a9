"""fastmlp: train multi-layer perceptrons on the CPU, fast, in three readable variants."""
from . import blas_spin  # noqa: F401  (first: it imports NumPy, whose OpenBLAS reads a short spin for idle threads)
from . import kernels  # noqa: F401  (registers the kernels' cache folder; starts nothing)
from .architecture import Architecture
from .backends import BACKEND_NAMES
from .callbacks import Callback, EarlyStopping
from .checkpoint import ModelCheckpoint
from .checks import UnscaledInputWarning
from .csvlog import CSVLogger
from .diagnostics import LayerDiagnostics
from .gradcheck import gradcheck, numerical_gradient
from .history import History
from .io import ModelFormatError, load, save
from .lr_finder import LRFinderResult, lr_finder
from .model import MLP
from .optimizers import Optimizer
from .schedules import (CosineDecay, ExponentialDecay, InverseTimeDecay, LinearWarmup, ReduceOnPlateau, Schedule,
                        StepDecay)
from .snapshots import BoundarySnapshots
from .threads import get_num_threads, is_deterministic, set_deterministic, set_num_threads, thread_info
from .trainer import DivergenceError, DivergenceWarning, Trainer

__version__ = "0.1.0"
__all__ = [
    "MLP", "Architecture", "BACKEND_NAMES", "Trainer", "Optimizer", "History", "Callback", "EarlyStopping",
    "ModelCheckpoint", "CSVLogger", "lr_finder", "LRFinderResult",
    "Schedule", "StepDecay", "ExponentialDecay", "InverseTimeDecay", "CosineDecay", "LinearWarmup",
    "ReduceOnPlateau", "DivergenceWarning", "DivergenceError", "UnscaledInputWarning", "ModelFormatError", "save", "load",
    "gradcheck", "numerical_gradient", "set_num_threads", "get_num_threads", "thread_info", "set_deterministic",
    "is_deterministic", "LayerDiagnostics", "BoundarySnapshots", "__version__",
]
