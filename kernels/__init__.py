"""fastmlp.kernels: the Numba kernels (fast, numba). Outputs first, return nothing.

Importing this compiles nothing and starts no thread: kernels compile at their first call
(cached on disk, see ``intrinsics.kernel_cache_dir``), and the numba backend
(``fastmlp.backends.numba``) starts the thread pool before its first kernel.
"""
from . import config  # noqa: F401  (registers the kernels' cache folder before any kernel is defined)
from . import intrinsics
from .activations import IDENTITY, LEAKY_RELU, RELU, SIGMOID, STEP, TANH, act_backward, bias_act
from .dense import dense_backward, dense_forward
from .losses import (MSE, SIGMOID_BCE, SIGMOID_XENT, SOFTMAX_MSE, SOFTMAX_XENT, loss_grad, mse, sigmoid_bce,
                     sigmoid_xent, softmax_mse, softmax_xent)
from .network import backward, evaluate, forward, loss_and_grad
from .inference import output, probabilities, refresh_tiles, screened, screened_blocks
from .optimizers import ADAGRAD, ADAM, RMSPROP, SGD, optimizer_step
from .epoch import train_epoch, train_epoch_sgd
from .online import train_epoch_online, train_epoch_online_any
from .screen import screen_rows
from .repeat import repeat_dw, repeat_dx, repeat_product, repeat_tile_forward, repeat_weight_product
from .structs import EPOCH_RESULT, Batching, DropoutWork, Hyper, Net, OnlineScratch, Samples, Workspace

__all__ = [
    "IDENTITY", "TANH", "SIGMOID", "RELU", "LEAKY_RELU", "STEP",
    "SOFTMAX_XENT", "MSE", "SIGMOID_BCE", "SIGMOID_XENT", "SOFTMAX_MSE",
    "bias_act", "act_backward", "dense_forward", "dense_backward",
    "softmax_xent", "mse", "sigmoid_bce", "sigmoid_xent", "softmax_mse", "loss_grad",
    "forward", "output", "probabilities", "screened", "screened_blocks", "refresh_tiles", "backward", "loss_and_grad",
    "evaluate",
    "SGD", "ADAM", "RMSPROP", "ADAGRAD", "optimizer_step", "train_epoch", "train_epoch_sgd",
    "train_epoch_online", "train_epoch_online_any", "screen_rows", "repeat_product", "repeat_dx",
    "repeat_dw", "repeat_tile_forward", "repeat_weight_product",
    "Net", "Workspace", "Samples", "Batching", "Hyper", "OnlineScratch", "DropoutWork", "EPOCH_RESULT",
]

# The kernels Python calls load their cached code without setting up Numba's compiler first
# (a warm start 0.1-0.2 s sooner; see intrinsics.CacheWithoutCompiler).
for _name in __all__:
    intrinsics.load_without_compiler(globals()[_name])
del _name
