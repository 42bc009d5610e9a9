"""Peer runners for the benchmark: PyTorch eager, JAX (jit per step, jit whole epoch) and
scikit-learn's MLPClassifier.partial_fit, each training the same Net from the same weights.

Imported only when a peer is asked for (``fastmlp.bench.runners.make_runner``);
each framework is imported inside its runner so a missing one costs nothing.
"""
import os

import numpy as np

from .runners import Runner, cross_entropy
from .workloads import LR


def available_cores():
    """Cores this process may run on (its CPU affinity where the OS tells, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class TorchRunner(Runner):
    """PyTorch eager: ``nn.Sequential`` of Linear + activation, ``optim.SGD``, one
    ``randperm`` per epoch and indexed mini-batches; threads = the cores this process may use."""

    name = "torch"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        import torch
        torch.set_num_threads(available_cores())
        act = {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[net.activation]
        mods = []
        for l, (W, b) in enumerate(init):
            lin = torch.nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b))
            mods.append(lin)
            if l < len(init) - 1:
                mods.append(act())
        self.torch = torch
        self.model = torch.nn.Sequential(*mods)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.tX, self.ty = torch.from_numpy(X), torch.from_numpy(y)
        self.gen = torch.Generator().manual_seed(seed)

    def train(self, epochs=1):
        torch, bs = self.torch, self.net.batch_size
        loss_fn = torch.nn.functional.cross_entropy
        for _ in range(epochs):
            perm = torch.randperm(self.n, generator=self.gen)
            for start in range(0, self.n, bs):
                idx = perm[start:start + bs]
                self.opt.zero_grad()
                loss = loss_fn(self.model(self.tX[idx]), self.ty[idx])
                loss.backward()
                self.opt.step()

    def evaluate(self, X=None, y=None):
        X, y = (self.X, self.y) if X is None else (X, y)
        with self.torch.no_grad():
            logits = self.model(self.torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()
        return cross_entropy(logits, y)


class _JaxRunner(Runner):
    """Shared JAX model: params as a list of (W, b), a jitted SGD step."""

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        act = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[net.activation]

        def forward(params, x):
            for W, b in params[:-1]:
                x = act(x @ W + b)
            W, b = params[-1]
            return x @ W + b

        def loss(params, x, t):
            logp = jax.nn.log_softmax(forward(params, x))
            return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))

        def step(params, x, t):
            g = jax.grad(loss)(params, x, t)
            return jax.tree_util.tree_map(lambda p, d: p - LR * d, params, g)

        self.forward, self.step = jax.jit(forward), step
        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init]
        self.rng = np.random.default_rng(seed)

    def evaluate(self, X=None, y=None):
        X, y = (self.X, self.y) if X is None else (X, y)
        return cross_entropy(np.asarray(self.forward(self.params, X)), y)


class JaxStepRunner(_JaxRunner):
    """JAX, one jitted SGD step per mini-batch (batches gathered in NumPy, dispatched asynchronously)."""

    name = "jax-step"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        self.jstep = self.jax.jit(self.step, donate_argnums=0)

    def train(self, epochs=1):
        bs = self.net.batch_size
        for _ in range(epochs):
            perm = self.rng.permutation(self.n)
            for start in range(0, self.n, bs):
                idx = perm[start:start + bs]
                self.params = self.jstep(self.params, self.X[idx], self.y[idx])
        self.jax.block_until_ready(self.params)


class JaxScanRunner(_JaxRunner):
    """JAX, a whole epoch in one jitted call: on-device shuffle, ``lax.scan`` over the
    pre-batched epoch (a last partial batch is one more step)."""

    name = "jax-scan"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        jax, jnp, step = self.jax, self.jnp, self.step
        n, bs = self.n, net.batch_size
        full = (n // bs) * bs

        def epoch(params, X, t, key):
            perm = jax.random.permutation(key, n)
            Xs, ts = X[perm], t[perm]
            if full:
                xb = Xs[:full].reshape(n // bs, bs, X.shape[1])
                tb = ts[:full].reshape(n // bs, bs)
                params, _ = jax.lax.scan(lambda p, b: (step(p, b[0], b[1]), None), params, (xb, tb))
            if full < n:
                params = step(params, Xs[full:], ts[full:])
            return params

        self.jepoch = jax.jit(epoch, donate_argnums=0)
        self.dX, self.dy = jnp.asarray(X), jnp.asarray(y.astype(np.int32))
        self.key = jax.random.PRNGKey(seed)

    def train(self, epochs=1):
        for _ in range(epochs):
            self.key, sub = self.jax.random.split(self.key)
            self.params = self.jepoch(self.params, self.dX, self.dy, sub)
        self.jax.block_until_ready(self.params)


class SklearnRunner(Runner):
    """scikit-learn ``MLPClassifier(solver='sgd', momentum=0, alpha=0).partial_fit``, one call per epoch.

    For two classes scikit-learn uses one logistic output unit; it starts from the
    equivalent weights (the difference of the two softmax columns).
    """

    name = "sklearn"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        import warnings

        from sklearn.neural_network import MLPClassifier
        act = {"tanh": "tanh", "sigmoid": "logistic", "relu": "relu"}[net.activation]
        self.model = MLPClassifier(hidden_layer_sizes=net.layers[1:-1], activation=act, solver="sgd", alpha=0.0,
                                   batch_size=net.batch_size, learning_rate="constant", learning_rate_init=LR,
                                   momentum=0.0, nesterovs_momentum=False, shuffle=True, random_state=seed)
        classes = np.arange(self.n_classes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.partial_fit(X[:1], y[:1], classes=classes)  # builds the layers; weights set below
        for l, (W, b) in enumerate(init):
            if l == len(init) - 1 and self.n_classes == 2:
                W, b = W[:, 1:] - W[:, :1], b[1:] - b[:1]
                self.note = "two classes: one logistic output unit (scikit-learn's choice)"
            self.model.coefs_[l][...] = W
            self.model.intercepts_[l][...] = b

    def train(self, epochs=1):
        for _ in range(epochs):
            self.model.partial_fit(self.X, self.y)

    def evaluate(self, X=None, y=None):
        X, y = (self.X, self.y) if X is None else (X, y)
        return cross_entropy(self.model.predict_proba(X), y, proba=True)


PEER_RUNNERS = {"torch": TorchRunner, "jax-step": JaxStepRunner, "jax-scan": JaxScanRunner,
                "sklearn": SklearnRunner}
