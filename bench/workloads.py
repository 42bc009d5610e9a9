"""The benchmark's reference workloads and their data (see WORKLOADS.md): what every variant runs.

A :class:`Net` is what every variant trains (layer sizes, hidden activation,
batch size, optimizer; softmax cross-entropy, float32). An :class:`Optimizer`
is one of the workloads' optimizers, in torch.optim's terms (plain SGD lr 0.01, SGD
with momentum 0.9 or Nesterov momentum 0.9, Adam lr 1e-3, RMSprop lr 1e-4, Adagrad lr
1e-3). A :class:`Workload` names a Net, the data
it runs on, how many samples one timed round uses, the machine setting it runs
in ('idle'; 'onecore': every variant pinned to one core; 'busy': another process
spins on a core meanwhile; see :mod:`fastmlp.bench.settings`) and whether it
trains or predicts (``predict_rows`` rows per ``predict_proba`` call).
MNIST-size data is Fashion-MNIST (pixels / 255) when installed, else random
data of the same shape; :func:`load_data` says which.
"""
import functools
from dataclasses import dataclass, field

import numpy as np

MNIST_SHAPE = (784, 10)
SETTINGS = ("idle", "onecore", "busy")


def check_choice(value, allowed, what):
    """ValueError unless ``value`` is one of ``allowed`` (a ``what``)."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose from {list(allowed)}")


@dataclass(frozen=True)
class Optimizer:
    """An optimizer of the workloads, in torch.optim's terms, which fastmlp's formulas follow.

    ``kind`` 'sgd': ``v = momentum * v + g; p -= lr * v`` (dampening 0, no weight decay;
    plain SGD when ``momentum`` is 0; with ``nesterov``, ``p -= lr * (g + momentum * v)``).
    'adam' (``betas``): ``m``, ``v`` moving averages, bias-corrected,
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)``, no weight decay, no AMSGrad.
    'rmsprop': ``s = alpha * s + (1 - alpha) * g^2; p -= lr * g / (sqrt(s) + eps)`` (not
    centered, no momentum). 'adagrad': ``s += g^2; p -= lr * g / (sqrt(s) + eps)`` (initial
    accumulator 0, no learning-rate decay). Their first steps move every weight by
    lr / sqrt(1 - alpha) and lr: the learning rates of :data:`OPTIMIZERS` train the rows' networks
    on Fashion-MNIST and on the random stand-in data alike, in every peer's order of batches
    (RMSprop at 1e-3 with alpha 0.99 and Adagrad at 3e-3 raised the loss of a first epoch of 4
    batches of random data in some), and their first steps differ (3.2e-4 and 1e-3), so that the
    peers' equivalence test tells the two apart.
    """

    id: str
    lr: float
    kind: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple = ()
    alpha: float = 0.0
    eps: float = 0.0

    def __post_init__(self):
        check_choice(self.kind, OPTIMIZER_KINDS, "optimizer kind")

    @property
    def is_adam(self):
        return self.kind == "adam"

    def fastmlp_kwargs(self):
        """The keyword arguments of ``MLP.fit`` that select this optimizer (``optimizer``, ``lr``, ...)."""
        if self.kind == "adam":
            return {"optimizer": "adam", "lr": self.lr, "beta1": self.betas[0], "beta2": self.betas[1],
                    "eps": self.eps}
        if self.kind == "rmsprop":
            return {"optimizer": "rmsprop", "lr": self.lr, "alpha": self.alpha, "eps": self.eps}
        if self.kind == "adagrad":
            return {"optimizer": "adagrad", "lr": self.lr, "eps": self.eps}
        return {"optimizer": "sgd", "lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}

    def describe(self):
        if self.kind == "adam":
            return f"Adam lr {self.lr:g} (betas {self.betas[0]:g}, {self.betas[1]:g}, eps {self.eps:g})"
        if self.kind == "rmsprop":
            return f"RMSprop lr {self.lr:g} (alpha {self.alpha:g}, eps {self.eps:g})"
        if self.kind == "adagrad":
            return f"Adagrad lr {self.lr:g} (eps {self.eps:g})"
        form = ", Nesterov" if self.nesterov else ""
        return f"SGD lr {self.lr:g}" + (f", momentum {self.momentum:g}{form}" if self.momentum else "")


OPTIMIZER_KINDS = ("sgd", "adam", "rmsprop", "adagrad")
OPTIMIZERS = {o.id: o for o in (
    Optimizer("sgd", 0.01),
    Optimizer("momentum", 0.01, momentum=0.9),
    Optimizer("adam", 1e-3, "adam", betas=(0.9, 0.999), eps=1e-8),
    Optimizer("nesterov", 0.01, momentum=0.9, nesterov=True),
    Optimizer("rmsprop", 1e-4, "rmsprop", alpha=0.9, eps=1e-8),
    Optimizer("adagrad", 1e-3, "adagrad", eps=1e-10),
)}
# The optimizers whose cold compile the benchmark times (``compile-<id>`` rows): plain SGD and the two
# most used, on which the compile targets are set.
COMPILE_OPTIMIZERS = ("sgd", "momentum", "adam")
LR = OPTIMIZERS["sgd"].lr


@dataclass(frozen=True)
class Net:
    """A network, batch size and optimizer: ``layers`` [n_in, ..., n_out], hidden ``activation``,
    ``optimizer`` an id of :data:`OPTIMIZERS`."""

    layers: tuple
    activation: str
    batch_size: int
    optimizer: str = "sgd"

    def __post_init__(self):
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")

    @property
    def opt(self):
        """The :class:`Optimizer` this net trains with."""
        return OPTIMIZERS[self.optimizer]

    def with_optimizer(self, optimizer):
        """The same network and batch size trained with ``optimizer`` (an id)."""
        return Net(self.layers, self.activation, self.batch_size, optimizer)

    @property
    def n_weights(self):
        """Number of weights (biases excluded): the 6 x n_weights flops per sample."""
        return sum(a * b for a, b in zip(self.layers[:-1], self.layers[1:]))

    def gflops(self, samples_per_s):
        """GFLOP/s of training at ``samples_per_s`` (forward 2, backward 4 flops per weight)."""
        return 6.0 * self.n_weights * samples_per_s / 1e9

    def describe(self):
        text = f"{'-'.join(map(str, self.layers))} {self.activation}"
        return text if self.optimizer == "sgd" else f"{text}, {self.opt.describe()}"

    def to_list(self):
        """The JSON form a task carries; ``Net.from_list`` reads it back."""
        return [list(self.layers), self.activation, self.batch_size, self.optimizer]

    @staticmethod
    def from_list(item):
        return Net(tuple(item[0]), *item[1:])


@dataclass(frozen=True)
class Workload:
    """A reference workload: ``samples`` per timed round (``loop_samples`` for the loop variant).

    ``loop_samples == 0`` means the loop variant is not run (``loop_note`` says why).
    ``setting`` is one of :data:`SETTINGS`. A workload with ``predict_rows`` > 0 times
    ``predict_proba`` on that many rows per call over its ``samples`` rows of data
    instead of training. ``sgd_baseline`` names the plain-SGD workload an optimizer's
    row is compared with.
    """

    id: str
    net: Net
    data: str  # 'circles' or 'mnist-size'
    samples: int
    loop_samples: int
    loop_note: str = field(default="")
    setting: str = "idle"
    predict_rows: int = 0
    sgd_baseline: str = ""

    def __post_init__(self):
        check_choice(self.setting, SETTINGS, "setting")

    @property
    def kind(self):
        """'predict' or 'train'."""
        return "predict" if self.predict_rows else "train"

    @property
    def metric(self):
        """What the row reports: 'samples/s' (training), 'rows/s' (batch inference) or
        'us/call' (one-row inference latency, lower is better)."""
        if not self.predict_rows:
            return "samples/s"
        return "us/call" if self.predict_rows == 1 else "rows/s"


_FASHION = Net((784, 256, 128, 64, 10), "relu", 64)
_MNIST_B1 = Net((784, 32, 32, 10), "sigmoid", 1)
_NO_LOOP = "the loop variant's per-sample cost is shown by mnist-b1 and fashion-b64; not repeated here"

WORKLOADS = {w.id: w for w in (
    Workload("circles-b10", Net((2, 10, 2), "tanh", 10), "circles", 10000, 200),
    Workload("mnist-b1", _MNIST_B1, "mnist-size", 2000, 200),
    Workload("mnist-b64", Net((784, 300, 10), "sigmoid", 64), "mnist-size", 8192, 64),
    Workload("fashion-b64", _FASHION, "mnist-size", 8192, 64),
    Workload("fashion-b1024", Net(_FASHION.layers, "relu", 1024), "mnist-size", 16384, 0,
             "one batch of 1024 samples takes about a minute in pure Python; fashion-b64 shows the loop's "
             "per-sample cost on the same network"),
    Workload("adam-b64", _FASHION.with_optimizer("adam"), "mnist-size", 8192, 0, _NO_LOOP,
             sgd_baseline="fashion-b64"),
    Workload("momentum-b64", _FASHION.with_optimizer("momentum"), "mnist-size", 8192, 0, _NO_LOOP,
             sgd_baseline="fashion-b64"),
    Workload("nesterov-b64", _FASHION.with_optimizer("nesterov"), "mnist-size", 8192, 0, _NO_LOOP,
             sgd_baseline="fashion-b64"),
    Workload("rmsprop-b64", _FASHION.with_optimizer("rmsprop"), "mnist-size", 8192, 0, _NO_LOOP,
             sgd_baseline="fashion-b64"),
    Workload("adagrad-b64", _FASHION.with_optimizer("adagrad"), "mnist-size", 8192, 0, _NO_LOOP,
             sgd_baseline="fashion-b64"),
    Workload("adam-b1", _MNIST_B1.with_optimizer("adam"), "mnist-size", 2000, 0, _NO_LOOP, sgd_baseline="mnist-b1"),
    Workload("onecore-b64", _FASHION, "mnist-size", 8192, 0, _NO_LOOP, setting="onecore"),
    Workload("busy-b64", _FASHION, "mnist-size", 8192, 0, _NO_LOOP, setting="busy"),
    Workload("predict-10k", _FASHION, "mnist-size", 10000, 0, predict_rows=10000),
    Workload("predict-1", _FASHION, "mnist-size", 2000, 0, predict_rows=1),
    Workload("busy-predict-256", _FASHION, "mnist-size", 8192, 0, setting="busy", predict_rows=256),
)}

RECIPE_NET = _FASHION


def get_workloads(ids=None):
    """Workloads by id, in the order given (all when ``ids`` is None)."""
    if ids is None:
        return list(WORKLOADS.values())
    unknown = [i for i in ids if i not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    return [WORKLOADS[i] for i in ids]


@functools.lru_cache(maxsize=None)
def _fashion():
    from fastmlp.datasets import fashion_mnist, scale_uint8
    try:
        d = fashion_mnist()
    except FileNotFoundError:
        return None
    return (scale_uint8(d.X_train), d.y_train.astype(np.int64), scale_uint8(d.X_test), d.y_test.astype(np.int64))


def fashion_data(source="auto"):
    """``(X_train, y_train, X_test, y_test)`` of Fashion-MNIST scaled to [0, 1], or None if absent."""
    if source not in ("auto", "random"):
        raise ValueError(f"source must be 'auto' or 'random'; got {source!r}")
    return _fashion() if source == "auto" else None


def load_data(kind, n, n_in=784, n_out=10, source="auto", seed=0):
    """``(X, y, description)``: ``n`` training samples for a workload's data ``kind``.

    Parameters
    ----------
    kind : {'circles', 'mnist-size'}
        Circles from ``fastmlp.datasets.circles``; MNIST-size from Fashion-MNIST
        (first ``n`` training images; ``n`` > 60000 repeats them) when installed
        and ``source='auto'``, else uniform random pixels and labels.
    n : int
        Number of samples.
    n_in, n_out : int
        Input width and classes of random data (Fashion-MNIST is 784 and 10).
    source : {'auto', 'random'}
    seed : int
    """
    if kind == "circles":
        from fastmlp.datasets import circles
        d = circles(n_samples=n, test_size=0, seed=seed)
        return d.X_train, d.y_train.astype(np.int64), "circles (fastmlp.datasets.circles)"
    if kind != "mnist-size":
        raise ValueError(f"kind must be 'circles' or 'mnist-size'; got {kind!r}")
    fm = fashion_data(source) if (n_in, n_out) == MNIST_SHAPE else None
    if fm is not None:
        idx = np.arange(n) % fm[0].shape[0]
        return np.ascontiguousarray(fm[0][idx]), fm[1][idx], "Fashion-MNIST (pixels / 255)"
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in), dtype=np.float32)
    y = rng.integers(0, n_out, n).astype(np.int64)
    why = "requested" if source == "random" else "Fashion-MNIST not installed"
    return X, y, f"random uniform data of the same shape ({why})"


def workload_data(workload, n=None, source="auto", seed=0):
    """``(X, y, description)`` for ``workload`` with ``n`` samples (default ``workload.samples``)."""
    return load_data(workload.data, workload.samples if n is None else n, workload.net.layers[0],
                     workload.net.layers[-1], source, seed)
