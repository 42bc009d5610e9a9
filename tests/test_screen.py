"""The fit's one-pass input screen (kernels/screen.py, the numba backend's ``count_flagged``,
``check_X``'s ``count``).

``count_flagged`` counts what the serial ``screen`` counts, however it cuts the rows (more pieces
than rows too, each on a thread of its own, the caller's the first), with the bad values at the pieces' edges, and
counts a piece itself when its thread failed or could not start; a fit, a validation set, ``evaluate``
and the learning-rate finder refuse NaN and inf and warn about unscaled values with ``check_X``'s
own messages when the kernel counted them, and the model stays as it was; small inputs are left
to NumPy's passes (nothing compiled for them); read-only inputs are screened without a copy.
"""
import threading
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


@pytest.fixture
def screened_in(monkeypatch):
    """``count_flagged`` of a float32 and a float64 engine on inputs of any size, cut into ``parts`` pieces (as if
    Numba had that many threads), and the threads each piece ran on."""
    monkeypatch.setattr(numba_backend, "SCREEN_MIN_VALUES", 0)
    seen = []
    kernel = numba_backend.K.screen_rows

    def screen_rows(flags, x, limit):
        seen.append((threading.current_thread().name, x.shape[0]))
        kernel(flags, x, limit)

    monkeypatch.setattr(numba_backend.K, "screen_rows", screen_rows)

    def count(x, limit, parts):
        monkeypatch.setattr(numba_backend.numba, "get_num_threads", lambda: parts)
        seen.clear()
        engine = MLP([x.shape[1], 3, 2], dtype=x.dtype.name, seed=0).engine
        return engine.count_flagged(x, limit), list(seen)

    return count


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_count_flagged_counts_what_screen_counts_however_cut(screened_in, dtype, parts):
    rng = np.random.default_rng(parts)
    x = rng.normal(size=(5, 9)).astype(dtype)
    x[0, 0], x[1, 8], x[2, 4], x[4, 8] = np.nan, np.inf, -np.inf, -3.5  # the first and last value, every piece's edge
    x[3, 1] = 2.0  # at the limit: passes
    for limit in (2.0, 10.0, np.inf):
        got, pieces = screened_in(x, limit, parts)
        assert got == _count(x, limit) == np.sum(~(np.abs(x) <= limit))
        assert sorted(rows for _, rows in pieces) == sorted(np.diff(np.linspace(0, 5, min(parts, 5) + 1).round()))
        assert [name for name, _ in pieces].count("fastmlp-screen") == min(parts, 5) - 1  # the caller takes one


def test_count_flagged_with_more_pieces_than_rows_and_no_rows(screened_in):
    x = np.array([[np.nan, 1.0], [300.0, 0.0]], np.float32)
    got, pieces = screened_in(x, UNSCALED_LIMIT, 5)
    assert got == 2 and sorted(pieces) == [("MainThread", 1), ("fastmlp-screen", 1)]
    assert screened_in(np.zeros((0, 2), np.float32), UNSCALED_LIMIT, 2) == (0, [("MainThread", 0)])


def test_a_piece_whose_thread_failed_is_counted_by_the_caller(screened_in, monkeypatch):
    kernel = numba_backend.K.screen_rows
    failed = []

    def fails_off_the_main_thread(flags, x, limit):
        if threading.current_thread().name == "fastmlp-screen" and not failed:
            failed.append(x.shape[0])
            raise RuntimeError("a thread that failed")
        kernel(flags, x, limit)

    monkeypatch.setattr(numba_backend.K, "screen_rows", fails_off_the_main_thread)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # (it would print the error)
    x = np.zeros((6, 3), np.float32)
    x[5, 2] = np.nan  # in the last piece: a thread's
    assert screened_in(x, UNSCALED_LIMIT, 2)[0] == 1 and failed == [3]


def test_a_piece_whose_thread_cannot_start_is_counted_by_the_caller(screened_in, monkeypatch):
    def start(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", start)
    x = np.zeros((7, 3), np.float32)
    x[6, 0], x[0, 1] = np.inf, 300.0  # one in the caller's piece, one in the last
    got, pieces = screened_in(x, UNSCALED_LIMIT, 3)
    assert got == 2 and sorted(pieces) == [("MainThread", 2), ("MainThread", 2), ("MainThread", 3)]


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
