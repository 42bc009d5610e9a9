"""The 'torch' variant: PyTorch eager, training the same Net from the same weights as fastmlp.

Imported only when a torch runner is made (:func:`fastmlp.bench.peers.make_runner`);
``import torch`` below is the installed PyTorch (absolute import), not this file.
"""
import os

import numpy as np
import torch

from ..workloads import LR
from .runner import Runner, cross_entropy


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
        self.model = torch.nn.Sequential(*mods)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
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
