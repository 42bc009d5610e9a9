"""The three interchangeable implementations behind ``backend=``.

Each backend answers ``forward`` (per-layer outputs) and ``loss_and_grad``
(mean loss, gradient into a given flat buffer, number correct) for one batch.
``loop`` and ``numpy`` are the references in this package; ``numba`` runs the
kernels in ``fastmlp.kernels`` over buffers it keeps between calls.
"""
import numpy as np

from . import buffers
from . import kernels as K
from .kernels.config import GUARD
from . import reference_loops, reference_numpy

BACKEND_NAMES = ("numba", "numpy", "loop")


class ReferenceBackend:
    """Adapter over a reference module (loops or NumPy)."""

    def __init__(self, arch, module):
        self.arch = arch
        self.module = module

    def forward(self, params, X):
        return self.module.forward(self.arch, params, X)

    def loss_and_grad(self, params, grads, X, y, t):
        loss, g, correct = self.module.loss_and_grad(self.arch, params, X, y, t)
        grads[...] = g
        return loss, correct

    def evaluate(self, params, X, y, t):
        return self.module.evaluate(self.arch, params, X, y, t)


class Workspace:
    """Activation and delta buffers for up to ``cap`` rows, in the kernels' layout."""

    def __init__(self, arch, cap):
        self.cap = cap
        self.lay = arch.lay.copy()
        self.lay[:, 4] *= cap  # a layer's block starts at cap * (widths below it)
        self.acts = buffers.empty(cap * arch.width_sum, arch.dtype)
        self.deltas = buffers.empty(cap * arch.width_sum, arch.dtype)
        self.stats = np.zeros(2, np.float64)


class NumbaBackend:
    """The fast path: kernels over a workspace grown to the largest batch seen."""

    EVAL_CHUNK = 4096

    def __init__(self, arch):
        self.arch = arch
        self.ws = None

    def workspace(self, m):
        if self.ws is None or self.ws.cap < m:
            self.ws = Workspace(self.arch, m)
        return self.ws

    def _chunks(self, n):
        step = min(n, self.EVAL_CHUNK)
        return [(s, min(s + step, n)) for s in range(0, n, step)], step

    def forward(self, params, X):
        a = self.arch
        chunks, step = self._chunks(X.shape[0])
        ws = self.workspace(step)
        outs = [np.empty((X.shape[0], n), a.dtype) for n in a.layers[1:]]
        for s, e in chunks:
            with GUARD:
                K.forward(ws.acts, params, X[s:e], ws.lay, a.kinds, a.alphas)
            for l, o in enumerate(outs):
                off, n = ws.lay[l, 4], a.layers[l + 1]
                o[s:e] = ws.acts[off:off + (e - s) * n].reshape(e - s, n)
        return outs

    def loss_and_grad(self, params, grads, X, y, t):
        a = self.arch
        ws = self.workspace(X.shape[0])
        ws.stats[:] = 0
        with GUARD:
            K.loss_and_grad(grads, ws.stats, ws.acts, ws.deltas, params, X, y, t, ws.lay, a.kinds, a.alphas, a.loss_id)
        return ws.stats[0] / X.shape[0], int(ws.stats[1])

    def evaluate(self, params, X, y, t):
        """(sum of per-sample losses, correct) over X in chunks."""
        a = self.arch
        chunks, step = self._chunks(X.shape[0])
        ws = self.workspace(step)
        ws.stats[:] = 0
        with GUARD:
            for s, e in chunks:
                K.evaluate(ws.stats, ws.acts, params, X[s:e], y[s:e], t[s:e], ws.lay, a.kinds, a.alphas,
                           a.loss_id)
        return float(ws.stats[0]), int(ws.stats[1])


def make_backend(name, arch):
    """The backend object for ``name`` ('numba', 'numpy' or 'loop')."""
    if name == "numba":
        return NumbaBackend(arch)
    if name == "numpy":
        return ReferenceBackend(arch, reference_numpy)
    if name == "loop":
        return ReferenceBackend(arch, reference_loops)
    raise ValueError(f"unknown backend {name!r}; expected one of {list(BACKEND_NAMES)}")
