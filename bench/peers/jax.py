"""The 'jax-step' and 'jax-scan' variants: JAX with a jitted training step per mini-batch, or a
whole epoch in one jitted call (``lax.scan`` over the batches), training the same Net with the
same optimizer from the same weights as fastmlp.

Plain SGD is written out (``p - lr * g``); the other optimizers are optax's, with the arguments
that give torch.optim's formulas: ``sgd(lr, momentum, nesterov)`` (momentum without dampening),
``adam(lr, b1, b2, eps, eps_root=0)`` (bias-corrected, eps added to sqrt(v_hat)),
``rmsprop(lr, decay=alpha, eps, eps_in_sqrt=False)`` (eps added to the square root, initial
average 0) and ``adagrad(lr, initial_accumulator_value=0, eps)``, whose eps goes under the square
root (``g / sqrt(s + eps)`` against torch's ``g / (sqrt(s) + eps)``: with eps 1e-10 the steps
differ by about eps / (2 s) relatively, below float32's rounding once s is above 1e-3).
Imported only when a JAX runner is made (:mod:`fastmlp.bench.peers`); ``import jax``
below is the installed JAX (absolute import), not this file. JAX is told to use the CPU
unless ``JAX_PLATFORMS`` says otherwise.
"""
import os

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # before JAX is imported
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from .runner import Runner, cross_entropy  # noqa: E402


def transform(opt):
    """The optax transformation of ``opt`` (a workloads.Optimizer), or None for plain SGD."""
    if opt.kind == "sgd" and not opt.momentum:
        return None
    import optax
    if opt.kind == "adam":
        return optax.adam(opt.lr, b1=opt.betas[0], b2=opt.betas[1], eps=opt.eps, eps_root=0.0)
    if opt.kind == "rmsprop":
        return optax.rmsprop(opt.lr, decay=opt.alpha, eps=opt.eps, initial_scale=0.0, eps_in_sqrt=False)
    if opt.kind == "adagrad":
        return optax.adagrad(opt.lr, initial_accumulator_value=0.0, eps=opt.eps)
    return optax.sgd(opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)


class _JaxRunner(Runner):
    """Shared JAX model: ``state`` = (params as a list of (W, b), optimizer state), a pure training step."""

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        act = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[net.activation]
        lr, tx = net.opt.lr, transform(net.opt)

        def forward(params, x):
            for W, b in params[:-1]:
                x = act(x @ W + b)
            W, b = params[-1]
            return x @ W + b

        def loss(params, x, t):
            logp = jax.nn.log_softmax(forward(params, x))
            return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))

        def step(state, x, t):
            params, opt_state = state
            g = jax.grad(loss)(params, x, t)
            if tx is None:
                return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g), opt_state
            updates, opt_state = tx.update(g, opt_state, params)
            return jax.tree_util.tree_map(lambda p, u: p + u, params, updates), opt_state

        self.forward, self.step = jax.jit(forward), step
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init]
        self.state = (params, () if tx is None else tx.init(params))
        self.rng = np.random.default_rng(seed)

    def evaluate(self, X=None, y=None):
        X, y = (self.X, self.y) if X is None else (X, y)
        return cross_entropy(np.asarray(self.forward(self.state[0], X)), y)


class JaxStepRunner(_JaxRunner):
    """JAX, one jitted step per mini-batch (batches gathered in NumPy, dispatched asynchronously)."""

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
                self.state = self.jstep(self.state, self.X[idx], self.y[idx])
        jax.block_until_ready(self.state)


class JaxScanRunner(_JaxRunner):
    """JAX, a whole epoch in one jitted call: on-device shuffle, ``lax.scan`` over the
    pre-batched epoch (a last partial batch is one more step)."""

    name = "jax-scan"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        step = self.step
        n, bs = self.n, net.batch_size
        full = (n // bs) * bs

        def epoch(state, X, t, key):
            perm = jax.random.permutation(key, n)
            Xs, ts = X[perm], t[perm]
            if full:
                xb = Xs[:full].reshape(n // bs, bs, X.shape[1])
                tb = ts[:full].reshape(n // bs, bs)
                state, _ = jax.lax.scan(lambda s, b: (step(s, b[0], b[1]), None), state, (xb, tb))
            if full < n:
                state = step(state, Xs[full:], ts[full:])
            return state

        self.jepoch = jax.jit(epoch, donate_argnums=0)
        self.dX, self.dy = jnp.asarray(X), jnp.asarray(y.astype(np.int32))
        self.key = jax.random.PRNGKey(seed)

    def train(self, epochs=1):
        for _ in range(epochs):
            self.key, sub = jax.random.split(self.key)
            self.state = self.jepoch(self.state, self.dX, self.dy, sub)
        jax.block_until_ready(self.state)
