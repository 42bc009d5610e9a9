"""Gradient clipping: ``clip_value`` (each element to [-c, c]) and ``clip_norm`` (the global
L2 norm, as torch.nn.utils.clip_grad_norm_), in every backend.

One full-batch step of SGD checked by hand (and against torch's own clip_grad_norm_ and
clip_grad_value_ on the per-layer tensors), the order penalties -> value -> norm, and that
the clipping really bounds the step. The backends' agreement for clipping with every
optimizer is in tests/test_regularisation.py.
"""
import contextlib

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastmlp import MLP, DivergenceWarning
from test_regularisation import BACKENDS, TOL, data, one_step, weight_mask


def _clip_norm(g, c):
    coef = c / (np.sqrt(np.sum(g * g)) + 1e-6)
    return g * coef if coef < 1 else g


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_value_by_hand(backend):
    c, lr = 0.01, 0.1
    model, p0, g, loss0, reported = one_step(backend, clip_value=c, lr=lr)
    assert (np.abs(g) > c).sum() > 5 and (np.abs(g) < c).sum() > 5  # some clipped, some not
    assert_allclose(model.params, p0 - lr * np.clip(g, -c, c), **TOL)
    assert reported == pytest.approx(loss0, rel=1e-12)  # clipping changes no loss


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", [0.05, 1e3], ids=["clipped", "not_clipped"])
def test_clip_norm_by_hand_and_as_torch(backend, c):
    torch = pytest.importorskip("torch")
    lr = 0.1
    model, p0, g, _, _ = one_step(backend, clip_norm=c, lr=lr)
    assert (np.linalg.norm(g) > c) == (c < 1)
    tensors = [torch.tensor(a.copy()) for pair in model.split(g) for a in pair]  # each layer's dW and db
    params = [torch.nn.Parameter(torch.zeros_like(t)) for t in tensors]
    for p, t in zip(params, tensors):
        p.grad = t
    torch.nn.utils.clip_grad_norm_(params, c)
    clipped = np.concatenate([p.grad.numpy().ravel() for p in params])
    assert_allclose(clipped, _clip_norm(g, c), rtol=1e-12, atol=0)
    assert_allclose(model.params, p0 - lr * clipped, **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_value_matches_torch(backend):
    torch = pytest.importorskip("torch")
    model, p0, g, _, _ = one_step(backend, clip_value=0.02, lr=0.1)
    param = torch.nn.Parameter(torch.zeros(g.size, dtype=torch.float64))
    param.grad = torch.tensor(g.copy())
    torch.nn.utils.clip_grad_value_([param], 0.02)
    assert_allclose(model.params, p0 - 0.1 * param.grad.numpy(), **TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_penalties_then_value_then_norm(backend):
    l2, l1, cv, cn, lr, n = 2.0, 0.05, 0.03, 0.06, 0.1, 10
    model, p0, g, _, _ = one_step(backend, l2=l2, l1=l1, clip_value=cv, clip_norm=cn, lr=lr, n=n)
    w = weight_mask(model)
    g = g + np.where(w, l2 * p0 / n + l1 * np.sign(p0), 0.0)
    expected = _clip_norm(np.clip(g, -cv, cv), cn)
    assert_allclose(model.params, p0 - lr * expected, **TOL)
    other = np.clip(_clip_norm(g, cn), -cv, cv)  # the other order gives another step: the test tells them apart
    assert np.abs(other - expected).max() > 1e-4


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_norm_bounds_every_step(backend):
    c, lr = 0.5, 0.3
    norms = []
    for scale in (10.0, 100.0, 1e4):  # big targets: big gradients
        model, p0, g, _, _ = one_step(backend, clip_norm=c, lr=lr, scale=scale, loss="mse", layers=(5, 7, 2))
        step = np.linalg.norm(model.params - p0)
        assert np.linalg.norm(g) > 10 * c
        assert step <= lr * c * (1 + 1e-12)
        norms.append(step)
    assert_allclose(norms, lr * c, rtol=1e-5)  # clipped to the bound, not below it


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_value_bounds_every_element_of_the_step(backend):
    c, lr = 0.01, 0.3
    model, p0, g, _, _ = one_step(backend, clip_value=c, lr=lr, scale=100.0, loss="mse", layers=(5, 7, 2))
    delta = np.abs(model.params - p0)
    assert delta.max() <= lr * c * (1 + 1e-12)
    assert (np.abs(g) > c).sum() > 10 and np.isclose(delta, lr * c, rtol=1e-12).sum() == (np.abs(g) > c).sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_norm_with_momentum_over_epochs_keeps_training_stable(backend):
    """An lr that diverges without clipping trains with clip_norm (same data, same start)."""
    X, y = data([4, 16, 1], "mse", 40, seed=5, scale=30.0)  # big targets
    runs = {}
    for clip in (None, 1.0):
        model = MLP([4, 16, 1], activation="tanh", loss="mse", dtype="float64", seed=0, backend=backend)
        with pytest.warns(DivergenceWarning) if clip is None else contextlib.nullcontext():
            h = model.fit(X, y, epochs=5, batch_size=8, lr=0.5, optimizer="sgd", momentum=0.9, clip_norm=clip,
                          seed=0, verbose=0)
        runs[clip] = h
    assert runs[None].diverged and not runs[1.0].diverged and len(runs[1.0].rows) == 5

