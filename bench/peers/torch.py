"""The 'torch' variant: PyTorch eager, training the same Net with the same optimizer
(``torch.optim``) from the same weights as fastmlp, or running its ``predict_proba`` under
``torch.inference_mode``.

Imported only when a torch runner is made (:mod:`fastmlp.bench.peers`);
``import torch`` below is the installed PyTorch (absolute import), not this file.
PyTorch uses one thread per core this process may run on (its affinity).
"""
import os

import numpy as np
import torch

from .runner import Predictor, Runner, cross_entropy


def available_cores():
    """Cores this process may run on (its CPU affinity where the OS tells, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def sequential(net, init):
    """``nn.Sequential`` of Linear + activation carrying ``init`` (fastmlp's (W, b) layout)."""
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
    return torch.nn.Sequential(*mods)


def optimizer(opt, params):
    """The ``torch.optim`` optimizer of ``opt`` (a workloads.Optimizer), every hyperparameter spelled out."""
    if opt.kind == "adam":
        return torch.optim.Adam(params, lr=opt.lr, betas=opt.betas, eps=opt.eps, weight_decay=0.0, amsgrad=False)
    if opt.kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=opt.lr, alpha=opt.alpha, eps=opt.eps, weight_decay=0.0, momentum=0.0,
                                   centered=False)
    if opt.kind == "adagrad":
        return torch.optim.Adagrad(params, lr=opt.lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                                   eps=opt.eps)
    return torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, dampening=0.0, nesterov=opt.nesterov,
                           weight_decay=0.0)


class TorchRunner(Runner):
    """PyTorch eager: :func:`sequential`, :func:`optimizer`, one ``randperm`` per epoch and
    indexed mini-batches; threads = the cores this process may use."""

    name = "torch"

    def __init__(self, net, X, y, init, seed=0):
        super().__init__(net, X, y, init, seed)
        self.model = sequential(net, init)
        self.opt = optimizer(net.opt, self.model.parameters())
        self.tX, self.ty = torch.from_numpy(X), torch.from_numpy(y)
        self.gen = torch.Generator().manual_seed(seed)

    def train(self, epochs=1):
        bs = self.net.batch_size
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
        with torch.no_grad():
            logits = self.model(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()
        return cross_entropy(logits, y)


class TorchPredictor(Predictor):
    """``softmax(model(torch.from_numpy(X)))`` under ``torch.inference_mode``, back as NumPy (float32)."""

    name = "torch"

    def __init__(self, net, init):
        super().__init__(net, init)
        self.model = sequential(net, init).eval()

    def predict_proba(self, X):
        with torch.inference_mode():
            return torch.softmax(self.model(torch.from_numpy(X)), dim=1).numpy()
