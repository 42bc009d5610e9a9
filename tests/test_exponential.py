"""The link's exp (``kernels.exponential.exp_nonpositive``): within 1 ulp of NumPy's over its whole range, the
special values as ``np.exp`` gives them, and the softmax it makes as NumPy's in float64."""
import numpy as np
import pytest
from numba import njit

from fastmlp.kernels.exponential import exp_nonpositive
from fastmlp.kernels.inference import link
from fastmlp.kernels.losses import SOFTMAX_XENT

TINY = np.finfo(np.float64).tiny  # the smallest normal float64
SMALLEST = np.nextafter(0.0, 1.0)  # the smallest subnormal


@njit
def _link(proba, logits, loss):
    link(proba, logits, loss)  # (a helper: no Python entry of its own)


@njit
def _exps(out, xs):
    for q in range(xs.shape[0]):
        out[q] = exp_nonpositive(xs[q])


def _exp(xs):
    xs = np.ascontiguousarray(xs, np.float64)
    out = np.empty_like(xs)
    _exps(out, xs)
    return out


def test_within_one_ulp_of_numpy_s_exp_from_minus_745_to_0():
    rng = np.random.default_rng(0)
    xs = np.concatenate([-np.linspace(0.0, 708.0, 1_000_001), -rng.random(200_000) * 708.0,
                         -np.geomspace(1e-300, 1.0, 10_000)])
    got, want = _exp(xs), np.exp(xs)
    ulps = np.abs(got - want) / np.spacing(want)
    assert ulps.max() <= 1.0


def test_subnormal_results_within_one_subnormal_step():
    xs = -np.linspace(708.4, 745.1, 100_001)  # e^x from the smallest normal down to the smallest subnormal
    got, want = _exp(xs), np.exp(xs)
    assert (want < TINY).any() and (want > 0).all()
    assert np.abs(got - want).max() <= SMALLEST


@pytest.mark.parametrize("x,want", [(0.0, 1.0), (-0.0, 1.0), (-np.inf, 0.0), (-746.0, 0.0), (-1e6, 0.0),
                                    (-745.2, np.exp(-745.2)), (-1e-300, 1.0)])
def test_the_edges_are_numpy_s(x, want):
    assert _exp([x])[0] == want


def test_nan_stays_nan():
    assert np.isnan(_exp([np.nan])[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_link_s_softmax_is_numpy_s_in_float64(dtype):
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((37, 10)) * 30).astype(dtype)
    logits[3] = [0, -np.inf, 5, 5, -1e4, 0, 0, 0, 0, 1]  # a class out of reach, ties, one far below
    logits[4, 2] = np.nan  # a NaN logit: the row's probabilities NaN
    logits[5] = 7.0  # all equal
    proba = np.empty(logits.shape)
    _link(proba, logits, SOFTMAX_XENT)
    z = logits.astype(np.float64)
    with np.errstate(invalid="ignore"):
        e = np.exp(z - z.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, want, rtol=2e-15, atol=0)  # exp within 1 ulp, the sum and quotient rounded
    assert np.isnan(proba[4]).all() and not np.isnan(np.delete(proba, 4, axis=0)).any()
    np.testing.assert_array_equal(proba[5], np.full(10, 0.1))
    assert proba[3, 1] == 0.0
