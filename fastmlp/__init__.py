"""fastmlp: train multi-layer perceptrons on the CPU, fast, in three readable variants."""
from . import kernels  # noqa: F401  (numba config first)
from .architecture import Architecture
from .backends import BACKEND_NAMES
from .gradcheck import gradcheck, numerical_gradient
from .model import MLP

__version__ = "0.1.0"
__all__ = ["MLP", "Architecture", "BACKEND_NAMES", "gradcheck", "numerical_gradient", "__version__"]
