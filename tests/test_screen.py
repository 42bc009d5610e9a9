"""The fit's one-pass input screen (kernels/screen.py, the numba backend's ``count_flagged``,
``check_X``'s ``count``).

``screen_rows`` counts what the serial ``screen`` counts, however the rows are cut (more pieces
than rows too), with the bad values at the pieces' edges; a fit, a validation set, ``evaluate``
and the learning-rate finder refuse NaN and inf and warn about unscaled values with ``check_X``'s
own messages when the kernel counted them, and the model stays as it was; small inputs are left
to NumPy's passes (nothing compiled for them); read-only inputs are screened without a copy.
"""
import warnings

import numpy as np
import pytest
from numba import njit

from fastmlp import MLP, lr_finder
from fastmlp.backends import numba as numba_backend
from fastmlp.checks import UNSCALED_LIMIT, UnscaledInputWarning, check_X
from fastmlp.kernels import screen as S

BIG_ROWS = numba_backend.SCREEN_MIN_VALUES // 16 + 3  # 16 features: just past the threshold


@njit
def _serial(flags, x, limit):
    S.screen(flags, x, limit)


def _count(x, limit):
    flags = np.zeros(1, np.int64)
    _serial(flags, x, limit)
    return int(flags[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_screen_rows_counts_what_screen_counts_however_cut(dtype, parts):
    rng = np.random.default_rng(parts)
    x = rng.normal(size=(5, 9)).astype(dtype)
    x[0, 0], x[1, 8], x[2, 4], x[4, 8] = np.nan, np.inf, -np.inf, -3.5  # the first and last value, every piece's edge
    x[3, 1] = 2.0  # at the limit: passes
    for limit in (2.0, 10.0, np.inf):
        flags = np.full(parts, -1, np.int64)
        S.screen_rows(flags, x, limit)
        assert flags.sum() == _count(x, limit) == np.sum(~(np.abs(x) <= limit))


def test_screen_rows_with_more_pieces_than_rows_and_no_rows():
    x = np.array([[np.nan, 1.0], [300.0, 0.0]], np.float32)
    flags = np.full(5, -1, np.int64)
    S.screen_rows(flags, x, UNSCALED_LIMIT)
    assert flags.sum() == 2 and (flags >= 0).all()  # every piece set, the empty ones to 0
    flags = np.full(2, -1, np.int64)
    S.screen_rows(flags, np.zeros((0, 3), np.float32), UNSCALED_LIMIT)
    assert flags.tolist() == [0, 0]


def test_the_limit_is_taken_in_the_inputs_dtype():
    x = np.array([[np.float32(100.0), np.float32(-100.0), np.nextafter(np.float32(100.0), np.float32(200.0))]])
    assert _count(x, 100.0) == 1
    assert _count(x.astype(np.float64), 100.0) == 1


def test_count_flagged_leaves_small_inputs_to_numpy_and_counts_large_ones():
    engine = MLP([16, 4, 3], dtype="float32", seed=0).engine
    small = np.zeros((BIG_ROWS - 4, 16), np.float32)
    assert engine.count_flagged(small, UNSCALED_LIMIT) is None
    big = np.zeros((BIG_ROWS, 16), np.float32)
    big[-1, -1], big[0, 0], big[BIG_ROWS // 2, 7] = np.nan, 255.0, -np.inf
    assert engine.count_flagged(big, UNSCALED_LIMIT) == 3
    big.flags.writeable = False  # typed as a writable alias: no copy, no other compile
    assert engine.count_flagged(big, np.inf) == 1  # NaN only: |-inf| <= inf
    assert MLP([16, 4, 3], dtype="float32", backend="numpy").engine.count_flagged(big, UNSCALED_LIMIT) is None


def test_check_X_with_a_count_returns_a_clean_input_itself_and_checks_a_flagged_one_fully():
    X = np.zeros((3, 4), np.float32)
    calls = []

    def count(x, limit):
        calls.append(limit)
        return int(np.sum(~(np.abs(x) <= limit)))

    assert check_X(X, 4, np.float32, count=count) is X and calls == [UNSCALED_LIMIT]
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        check_X(X, 4, np.float32, count=count)
    X[1, 2] = 255.0
    with pytest.warns(UnscaledInputWarning, match="looks unscaled"):
        assert check_X(X, 4, np.float32, count=count) is X
    calls.clear()
    with pytest.warns(UnscaledInputWarning):  # not in the model's form: converted, checked, never counted
        got = check_X(X.astype(np.float64), 4, np.float32, count=count)
    assert got.dtype == np.float32 and calls == []
    with pytest.warns(UnscaledInputWarning):  # None: NumPy's passes decide
        assert check_X(X, 4, np.float32, count=lambda x, limit: None) is X


def _big_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(BIG_ROWS, 16)).astype(np.float32)
    y = rng.integers(0, 3, BIG_ROWS)
    return X, y


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_large_fit_refuses_non_finite_inputs_and_leaves_the_model_as_it_was(bad):
    X, y = _big_data()
    model = MLP([16, 4, 3], dtype="float32", seed=0)
    model.fit(X[:64], y[:64], epochs=1, batch_size=64, verbose=0)
    before, history = model.params.copy(), len(model.history)
    X[BIG_ROWS - 1, 15] = bad
    with pytest.raises(ValueError, match="^X contains NaN or inf$"):
        model.fit(X, y, epochs=1, batch_size=4096, verbose=0)
    with pytest.raises(ValueError, match="^validation X contains NaN or inf$"):
        model.fit(X[:64], y[:64], epochs=1, verbose=0, validation_data=(X, y))
    with pytest.raises(ValueError, match="^X contains NaN or inf$"):
        model.evaluate(X, y)
    with pytest.raises(ValueError, match="^X contains NaN or inf$"):
        lr_finder(model, X, y, steps=5, batch_size=256)
    np.testing.assert_array_equal(model.params, before)
    assert len(model.history) == history


def test_a_large_unscaled_fit_warns_with_check_X_message_at_the_callers_line():
    X, y = _big_data(1)
    X[7, 3] = -300.0
    with warnings.catch_warnings(record=True) as direct:
        warnings.simplefilter("always")
        check_X(X, 16, np.float32)
    model = MLP([16, 4, 3], dtype="float32", seed=0)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        model.fit(X, y, epochs=1, batch_size=4096, verbose=0)
    unscaled = [w for w in got if w.category is UnscaledInputWarning]
    assert [str(w.message) for w in unscaled] == [str(w.message) for w in direct]
    assert unscaled[0].filename == __file__
    X[7, 3] = UNSCALED_LIMIT  # at the limit: trains without a word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y, epochs=1, batch_size=4096, verbose=0)
