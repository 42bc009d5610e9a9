"""The 'jax-step' and 'jax-scan' variants: JAX with a jitted SGD step per mini-batch, or a
whole epoch in one jitted call, training the same Net from the same weights as fastmlp.

Imported only when a JAX runner is made (:func:`fastmlp.bench.peers.make_runner`);
``import jax`` below is the installed JAX (absolute import), not this file. JAX is told
to use the CPU unless ``JAX_PLATFORMS`` says otherwise.
"""
import os

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before JAX is imported
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from ..workloads import LR  # noqa: E402
from .runner import Runner, cross_entropy  # noqa: E402


class _JaxRunner(Runner):
    """Shared JAX model: params as a list of (W, b), a jitted SGD step."""

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
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
        self.jstep = jax.jit(self.step, donate_argnums=0)

    def train(self, epochs=1):
        bs = self.net.batch_size
        for _ in range(epochs):
            perm = self.rng.permutation(self.n)
            for start in range(0, self.n, bs):
                idx = perm[start:start + bs]
                self.params = self.jstep(self.params, self.X[idx], self.y[idx])
        jax.block_until_ready(self.params)


class JaxScanRunner(_JaxRunner):
    """JAX, a whole epoch in one jitted call: on-device shuffle, ``lax.scan`` over the
    pre-batched epoch (a last partial batch is one more step)."""

    name = "jax-scan"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        step = self.step
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
            self.key, sub = jax.random.split(self.key)
            self.params = self.jepoch(self.params, self.dX, self.dy, sub)
        jax.block_until_ready(self.params)
