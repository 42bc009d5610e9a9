"""Initialisers measured on big layers: PyTorch's nn.Linear default ('torch', W and b),
the fan_out variance inits, and one init per layer applied to the right layer."""
import pickle

import numpy as np
import pytest

import fastmlp
from fastmlp import MLP

FAN_IN, FAN_OUT = 1000, 800


def _uniform_checks(a, bound):
    """a ~ U(-bound, bound): inside the bound, reaching it, variance bound^2 / 3, centred."""
    assert np.abs(a).max() <= bound * (1 + 1e-6)
    assert np.abs(a).max() > 0.98 * bound
    # 4 standard errors: the variance estimate of a uniform sample has relative sd sqrt(0.8 / n)
    assert a.var() == pytest.approx(bound ** 2 / 3, rel=4 * np.sqrt(0.8 / a.size))
    assert abs(a.mean()) < 4 * bound / np.sqrt(3 * a.size)


@pytest.mark.parametrize("name", ["torch", "pytorch"])
def test_torch_init_draws_weights_and_biases_uniform_over_inverse_sqrt_fan_in(name):
    m = MLP([FAN_IN, FAN_OUT, 3000], init=name, dtype="float64", seed=0)
    _uniform_checks(m.W[0], 1 / np.sqrt(FAN_IN))
    _uniform_checks(m.W[1], 1 / np.sqrt(FAN_OUT))
    _uniform_checks(m.b[0], 1 / np.sqrt(FAN_IN))
    _uniform_checks(m.b[1], 1 / np.sqrt(FAN_OUT))


def test_torch_init_matches_pytorchs_own_nn_linear_distribution():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.Linear(FAN_IN, FAN_OUT)
    ours = MLP([FAN_IN, FAN_OUT], init="torch", dtype="float64", seed=0)
    for theirs, mine in ((layer.weight.detach().numpy(), ours.W[0]), (layer.bias.detach().numpy(), ours.b[0])):
        assert np.abs(theirs).max() == pytest.approx(np.abs(mine).max(), rel=0.02)
        assert theirs.var() == pytest.approx(mine.var(), rel=0.08)


def test_torch_and_pytorch_are_the_same_draws_and_an_explicit_bias_init_wins():
    a = MLP([20, 30, 4], init="torch", seed=3)
    b = MLP([20, 30, 4], init="pytorch", seed=3)
    np.testing.assert_array_equal(a.params, b.params)
    zero = MLP([20, 30, 4], init="torch", bias_init=0.0, seed=3)
    assert all((bb == 0).all() for bb in zero.b)
    const = MLP([20, 30, 4], init="torch", bias_init=0.25, seed=3)
    assert all((bb == 0.25).all() for bb in const.b)
    # other inits keep their zero biases by default
    assert all((bb == 0).all() for bb in MLP([20, 30, 4], init="he_normal", seed=3).b)


FAN_OUT_INITS = [  # name, twin with fan_in, kind, variance numerator
    ("he_normal_fan_out", "he_normal", "normal", 2.0),
    ("kaiming_normal_fan_out", "he_normal", "normal", 2.0),
    ("lecun_normal_fan_out", "lecun_normal", "normal", 1.0),
    ("he_uniform_fan_out", "he_uniform", "uniform", 6.0),
    ("kaiming_uniform_fan_out", "he_uniform", "uniform", 6.0),
    ("lecun_uniform_fan_out", "lecun_uniform", "uniform", 3.0),
]


@pytest.mark.parametrize("name,twin,kind,c", FAN_OUT_INITS, ids=[n for n, *_ in FAN_OUT_INITS])
def test_fan_out_inits_scale_the_variance_by_the_outputs(name, twin, kind, c):
    n_in, n_out = 200, 2000  # fan_in and fan_out far apart, so the wrong fan shows
    W = MLP([n_in, n_out], init=name, dtype="float64", seed=1).W[0]
    W_in = MLP([n_in, n_out], init=twin, dtype="float64", seed=1).W[0]
    if kind == "normal":
        assert W.std() == pytest.approx(np.sqrt(c / n_out), rel=0.02)
        assert W_in.std() == pytest.approx(np.sqrt(c / n_in), rel=0.02)
    else:
        _uniform_checks(W, np.sqrt(c / n_out))
    assert abs(W.mean()) < 0.01 * W.std()


def test_he_normal_fan_out_matches_torch_kaiming_normal_mode_fan_out():
    torch = pytest.importorskip("torch")
    t = torch.empty(2000, 200, dtype=torch.float64)  # torch's (out, in) layout
    torch.manual_seed(0)
    torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    ours = MLP([200, 2000], init="he_normal_fan_out", dtype="float64", seed=0).W[0]
    assert ours.std() == pytest.approx(float(t.std()), rel=0.03)


def test_one_init_per_layer_lands_on_the_right_layer():
    m = MLP([300, 400, 500, 600], init=["zeros", "he_normal_fan_out", "torch"], dtype="float64", seed=0)
    assert (m.W[0] == 0).all() and (m.b[0] == 0).all()
    assert m.W[1].std() == pytest.approx(np.sqrt(2 / 500), rel=0.02) and (m.b[1] == 0).all()
    _uniform_checks(m.W[2], 1 / np.sqrt(500))
    _uniform_checks(m.b[2], 1 / np.sqrt(500))
    assert m.init == ["zeros", "he_normal_fan_out", "torch"]


def test_a_list_of_the_same_name_is_that_name_and_auto_follows_each_layers_activation():
    a = MLP([5, 7, 6, 3], init="glorot_uniform", seed=4)
    b = MLP([5, 7, 6, 3], init=("glorot_uniform",) * 3, seed=4)
    np.testing.assert_array_equal(a.params, b.params)
    # 'auto' in a list: He normal after relu, Glorot uniform after tanh and at the output
    auto = MLP([5, 7, 6, 3], activation=["relu", "tanh"], init=["auto", "auto", "auto"], seed=4)
    named = MLP([5, 7, 6, 3], activation=["relu", "tanh"], init=["he_normal", "glorot_uniform", "glorot_uniform"],
                seed=4)
    np.testing.assert_array_equal(auto.params, named.params)


def test_per_layer_init_survives_copy_pickle_save_and_training(tmp_path):
    m = MLP([4, 8, 3], init=["he_uniform_fan_out", "torch"], seed=2)
    for other in (m.copy(), pickle.loads(pickle.dumps(m))):
        assert other.init == m.init
        np.testing.assert_array_equal(other.params, m.params)
    loaded = MLP.load(m.save(tmp_path / "m"))  # the file keeps the weights (not the init's name)
    np.testing.assert_array_equal(loaded.params, m.params)
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    h = m.fit(X, np.arange(30) % 3, epochs=2, verbose=0)
    assert np.isfinite(h["loss"]).all()


@pytest.mark.parametrize("init,error,message", [
    (["zeros"], ValueError, r"^init must name one choice per layer: 2 names; got 1: \['zeros'\]$"),
    (["zeros", "nope"], ValueError, r"^unknown init\[1\] 'nope'; expected one of \["),
    (["zeros", 3], TypeError, r"^init\[1\] must be one of .* \(a str\); got int 3$"),
    (7, TypeError, r"^init must be one of .* \(a str\) or a list of one per layer \(2\); got int 7$"),
    ("torchh", ValueError, r"^unknown init 'torchh'; expected one of \["),
])
def test_bad_per_layer_inits_are_refused_by_name(init, error, message):
    with pytest.raises(error, match=message):
        MLP([4, 8, 3], init=init)


def test_new_names_are_listed():
    for name in ("torch", "pytorch", "he_normal_fan_out", "he_uniform_fan_out", "lecun_normal_fan_out",
                 "lecun_uniform_fan_out", "kaiming_normal_fan_out", "kaiming_uniform_fan_out"):
        assert name in fastmlp.initializers.INIT_NAMES
