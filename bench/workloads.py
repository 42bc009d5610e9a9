"""The benchmark's reference workloads and their data (see WORKLOADS.md): what every variant trains.

A :class:`Net` is what every variant trains (layer sizes, hidden activation,
batch size; softmax cross-entropy, SGD lr 0.01, float32). A :class:`Workload`
names a Net, the data it trains on and how many samples one timed round uses.
MNIST-size data is Fashion-MNIST (pixels / 255) when installed, else random
data of the same shape; :func:`load_data` says which.
"""
import functools
from dataclasses import dataclass, field

import numpy as np

LR = 0.01
MNIST_SHAPE = (784, 10)


@dataclass(frozen=True)
class Net:
    """A network and batch size: ``layers`` [n_in, ..., n_out], hidden ``activation``."""

    layers: tuple
    activation: str
    batch_size: int

    @property
    def n_weights(self):
        """Number of weights (biases excluded): the 6 x n_weights flops per sample."""
        return sum(a * b for a, b in zip(self.layers[:-1], self.layers[1:]))

    def gflops(self, samples_per_s):
        """GFLOP/s of training at ``samples_per_s`` (forward 2, backward 4 flops per weight)."""
        return 6.0 * self.n_weights * samples_per_s / 1e9

    def describe(self):
        return f"{'-'.join(map(str, self.layers))} {self.activation}"


@dataclass(frozen=True)
class Workload:
    """A reference workload: ``samples`` per timed round (``loop_samples`` for the loop variant).

    ``loop_samples == 0`` means the loop variant is not run (``loop_note`` says why).
    """

    id: str
    net: Net
    data: str  # 'circles' or 'mnist-size'
    samples: int
    loop_samples: int
    loop_note: str = field(default="")


WORKLOADS = {w.id: w for w in (
    Workload("circles-b10", Net((2, 10, 2), "tanh", 10), "circles", 10000, 200),
    Workload("mnist-b1", Net((784, 32, 32, 10), "sigmoid", 1), "mnist-size", 2000, 200),
    Workload("mnist-b64", Net((784, 300, 10), "sigmoid", 64), "mnist-size", 8192, 64),
    Workload("fashion-b64", Net((784, 256, 128, 64, 10), "relu", 64), "mnist-size", 8192, 64),
    Workload("fashion-b1024", Net((784, 256, 128, 64, 10), "relu", 1024), "mnist-size", 16384, 0,
             "one batch of 1024 samples takes about a minute in pure Python; fashion-b64 shows the loop's "
             "per-sample cost on the same network"),
)}

RECIPE_NET = Net((784, 256, 128, 64, 10), "relu", 64)


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
