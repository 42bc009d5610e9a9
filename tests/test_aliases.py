"""The arrays a model hands out over its parameters (``fastmlp.aliases``): the buffer itself, the same array while it
lives; while it or any array made from it lives (a slice, a reshape, a view as other bits, a memoryview, the memoryview
under it), the model cannot tell its weights unchanged; once none lives, it can, until the next is handed
out; and every writer of the model's own (``params =``, ``set_params``, ``set_layer``, a fit, early stopping's
restored weights) writes through one. (Inference trusting its packed weights by them: the AMX
tiles' tests, ``test_tiles.py``.)"""
import copy
import pickle

import numpy as np
import pytest

import fastmlp
from fastmlp.aliases import ParamsAliases


def test_an_array_handed_out_is_the_buffer_and_the_same_while_it_lives():
    buffer = np.zeros(6, np.float32)
    aliases = ParamsAliases(buffer)
    a = aliases.array()
    assert np.shares_memory(a, buffer) and a.shape == buffer.shape and a.dtype == buffer.dtype
    assert a.flags.writeable and a.flags.c_contiguous and a.flags.aligned
    a[2] = 5.0
    assert buffer[2] == 5.0
    assert aliases.array() is a
    model = fastmlp.MLP([3, 4, 2], seed=0)
    assert model.params is model.params and np.shares_memory(model.params, model.W[1])


DERIVED = {
    "slice": lambda a: a[1:4],
    "reshape, transpose": lambda a: a.reshape(2, 3).T,
    "asarray": np.asarray,
    "other bits": lambda a: a.view(np.uint32),
    "memoryview": memoryview,
    "its own memoryview": lambda a: a.base,  # writable: mv[0] = 1.0 writes into the buffer
    "views in a list": lambda a: [a[:3], a[3:]],
}


@pytest.mark.parametrize("derive", DERIVED.values(), ids=DERIVED)
def test_an_array_made_from_one_handed_out_keeps_the_weights_untrusted_until_it_dies(derive):
    aliases = ParamsAliases(np.zeros(6, np.float32))
    start = aliases.quiet()
    made = derive(aliases.array())  # the array handed out itself dropped at once
    assert aliases.quiet() is None
    del made
    after = aliases.quiet()
    assert after is not None and after != start
    assert aliases.quiet() == after  # nothing handed out since: the same number
    held = aliases.array()
    assert aliases.quiet() is None
    del held
    assert aliases.quiet() not in (None, after)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(np.float32), rng.integers(0, 3, n)


def _in_place(model, X, y):
    model.W[0][...] *= 2.0


def _assigned(model, X, y):
    model.params = model.params[::-1].copy()


def _set_params(model, X, y):
    model.set_params(np.linspace(-1, 1, model.n_params))


def _set_layer(model, X, y):
    model.set_layer(1, b=[1.0, 2.0, 3.0])


def _fit(model, X, y):
    model.fit(X, y, epochs=2, batch_size=8, lr=0.1, verbose=0, seed=0)


WRITERS = {"in place": _in_place, "params =": _assigned, "set_params": _set_params, "set_layer": _set_layer,
           "fit": _fit}


@pytest.mark.parametrize("write", WRITERS.values(), ids=WRITERS)
def test_every_writer_of_the_model_s_own_is_seen(write):
    model = fastmlp.MLP([4, 5, 3], seed=0)
    X, y = _data()
    start, before = model._aliases.quiet(), model._params.copy()
    write(model, X, y)
    assert not np.array_equal(model._params, before)  # it wrote
    assert model._aliases.quiet() != start


class _Probe(fastmlp.Callback):
    """Records the number ``quiet`` at the end of a fit, before early stopping (a callback after it) restores."""

    def on_train_end(self, trainer):
        self.quiet = trainer.model._aliases.quiet()


def test_early_stopping_s_restored_weights_are_seen():
    """Written after every epoch and every callback before it (a prediction in one may have trusted the weights)."""
    model, probe = fastmlp.MLP([4, 5, 3], seed=0), _Probe()
    X, y = _data()
    model.fit(X, y, epochs=6, batch_size=8, lr=0.5, verbose=0, seed=0, validation_data=(X, y), callbacks=[probe],
              early_stopping=fastmlp.EarlyStopping(patience=1, restore_best=True))
    assert probe.quiet is not None and model._aliases.quiet() not in (None, probe.quiet)


def test_reading_the_model_hands_nothing_out():
    """Predictions, evaluations, gradients and saves read the buffer itself: they leave the number as it was."""
    model = fastmlp.MLP([4, 5, 3], seed=0)
    X, y = _data()
    start = model._aliases.quiet()
    model.predict_proba(X), model.predict(X[:1]), model.evaluate(X, y), model.loss_and_grad(X, y)
    model.layer_outputs(X), model.forward(X)
    assert model._aliases.quiet() == start


def test_copies_and_pickles_watch_their_own_buffer():
    model = fastmlp.MLP([4, 5, 3], seed=0)
    held = model.params
    for other in (model.copy(), pickle.loads(pickle.dumps(model)), copy.deepcopy(model), copy.copy(model)):
        assert not np.shares_memory(other.params, held)
        assert other._aliases.quiet() is not None  # the original's array alive does not matter here
        np.testing.assert_array_equal(other.params, held)
    assert model._aliases.quiet() is None
