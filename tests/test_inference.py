"""The lean inference path (kernels/inference.py and the numba backend's ``screened``).

Same numbers as the reference backends for every loss, on the row path (few rows, zero
inputs skipped, dense rows too) and the whole-layer path, on inputs in the
model's form and not; values checked in the kernel still refused or warned about with
check_X's own messages; many threads at once give the serial bits; a one-row call allocates
nothing but its output.
"""
import threading
import tracemalloc
import warnings

import numpy as np
import pytest
from numba import njit

from fastmlp import MLP
from fastmlp import kernels as K
from fastmlp.checks import UNSCALED_LIMIT, UnscaledInputWarning, check_X, ready_rows
from fastmlp.kernels import inference, intrinsics

LOSSES = ["cross_entropy", "softmax_mse", "bce", "multilabel", "mse"]
ROWS = [1, 2, inference.ROW_PATH_MAX_ROWS, inference.ROW_PATH_MAX_ROWS + 1, 37]


def _inputs(rows, n_in, rng, zeros):
    """Rows with about ``zeros`` of their values exactly 0 (pixels at 0), the rest of order 1."""
    X = rng.normal(size=(rows, n_in))
    X[rng.random(size=X.shape) < zeros] = 0.0
    return X


def _pair(layers, loss, activation, dtype, seed=4):
    ref = MLP(layers, activation=activation, loss=loss, dtype=dtype, seed=seed, backend="numpy")
    got = ref.copy()
    got.backend = "numba"
    return ref, got


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("zeros", [0.0, 0.6, 1.0])
def test_numba_equals_numpy_for_every_loss_float64(loss, rows, zeros):
    """forward, predict and predict_proba agree with the NumPy backend to 1e-10 in float64, on
    both paths, for dense rows, sparse rows (zeros skipped) and all-zero rows."""
    layers = [300, 40, 17, 3 if loss != "bce" else 1]
    ref, got = _pair(layers, loss, "relu", "float64")
    X = _inputs(rows, layers[0], np.random.default_rng(rows), zeros)
    np.testing.assert_allclose(got.forward(X), ref.forward(X), rtol=1e-10, atol=1e-10)
    if loss == "mse":
        np.testing.assert_allclose(got.predict(X), ref.predict(X), rtol=1e-10, atol=1e-10)
    else:
        assert np.array_equal(got.predict(X), ref.predict(X))
        np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "leaky_relu", "identity", "step"])
@pytest.mark.parametrize("rows", [1, 9])
def test_every_activation_on_the_row_path(activation, rows):
    layers = [50, 20, 20, 4]
    ref, got = _pair(layers, "cross_entropy", activation, "float64")
    X = _inputs(rows, layers[0], np.random.default_rng(1), 0.5)
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_fashion_shape_one_row(loss):
    """The benchmark's network (784-256-128-64-10 relu) in float32, one row at a time: the
    float64 reference to float32 accuracy, and outputs in the model's dtype."""
    layers = [784, 256, 128, 64, 10]
    if loss == "bce":
        layers = layers[:-1] + [1]
    ref, got = _pair(layers, loss, "relu", "float32")
    rng = np.random.default_rng(0)
    X = np.clip(_inputs(6, 784, rng, 0.5), 0, 1).astype(np.float32)  # half the pixels at 0
    X[5] = rng.random(784).astype(np.float32)  # a dense row: every W row read
    for i in range(X.shape[0]):
        z = got.forward(X[i:i + 1])
        assert z.dtype == np.float32 and z.shape == (1, layers[-1])
        np.testing.assert_allclose(z, ref.forward(X[i:i + 1]), rtol=1e-4, atol=1e-5)
        if loss != "mse":
            np.testing.assert_allclose(got.predict_proba(X[i:i + 1]), ref.predict_proba(X[i:i + 1]), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, inference.ROW_PATH_MAX_ROWS])
def test_row_product_output_blocks_of_every_width(dtype, rows):
    """Widths that take every block of the row product (``ROW_BLOCK_BYTES`` of outputs, then a
    half, a quarter and the rest): two full blocks and all three smaller ones, each alone, and
    widths below a quarter block. Float64 to 1e-10, float32 to float32 accuracy."""
    wide = inference.ROW_BLOCK_BYTES // np.dtype(dtype).itemsize
    every = 2 * wide + wide // 2 + wide // 4 + 3
    layers = [90, every, wide // 2, wide // 4 + 1, wide, 7]
    ref, got = _pair(layers, "cross_entropy", "relu", dtype)
    X = _inputs(rows, layers[0], np.random.default_rng(6), 0.5).astype(dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got.forward(X), ref.forward(X), **tol)
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), **tol)


def test_row_product_sums_in_the_widest_registers():
    """The row product compiles for the widest vectors (``intrinsics.wide_vectors``): its block of
    ``ROW_BLOCK_BYTES`` of sums is 16 AVX-512 registers; at 256 bits it took all 32 registers and
    spilled (Intel Xeon model 207: a one-row call 8.8-9.0 -> 7.3-7.4 us). Without AVX-512 it is only
    never inlined. Its sums stay those of the reference."""
    @njit
    def row_product(o, x, W, nz, c):
        inference._row_product(o, x, W, nz, c)

    rng = np.random.default_rng(3)
    W = rng.normal(size=(50, 300)).astype(np.float32)
    x = _inputs(1, 50, rng, 0.5)[0].astype(np.float32)
    nz = np.flatnonzero(x)
    o = np.zeros(300, np.float32)
    row_product(o, x, W, nz, nz.size)
    np.testing.assert_allclose(o, x.astype(np.float64) @ W, rtol=1e-4, atol=1e-5)
    sig = next(s for s in inference._row_product.signatures if str(s[0].dtype) == "float32")
    ir = inference._row_product.inspect_llvm(sig)
    attributes = [line for line in ir.splitlines() if line.startswith("attributes #")]
    if intrinsics.vector_bytes() == 64:
        assert any(intrinsics.WIDE_VECTORS in line for line in attributes)
        assert "zmm" in inference._row_product.inspect_asm(sig)
    else:
        assert any("noinline" in line for line in attributes)


def test_row_path_and_layer_path_agree():
    """One row at a time (the row path) and all rows at once (whole-layer products) give the
    same outputs to rounding, and the same rows in either order of calls."""
    layers = [100, 64, 32, 5]
    _, got = _pair(layers, "cross_entropy", "relu", "float64")
    X = _inputs(40, layers[0], np.random.default_rng(2), 0.5)
    whole = got.predict_proba(X)
    rows = np.vstack([got.predict_proba(X[i:i + 1]) for i in range(X.shape[0])])
    np.testing.assert_allclose(rows, whole, rtol=1e-12, atol=1e-14)
    assert np.array_equal(got.predict_proba(X[7:8]), rows[7:8])


def test_chunks_beyond_eval_chunk_agree():
    """Calls longer than EVAL_CHUNK rows run in chunks (last one shorter) with the same numbers."""
    layers = [12, 9, 3]
    ref, got = _pair(layers, "multilabel", "tanh", "float64")
    got.engine.EVAL_CHUNK = 5
    X = _inputs(23, layers[0], np.random.default_rng(3), 0.3)
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.forward(X), ref.forward(X), rtol=1e-10, atol=1e-12)


def test_the_short_way_after_the_first_call_gives_the_same_numbers():
    """After a call that fits this thread's buffers, the next such calls take the short way
    (``screened``'s ``one_call``): probabilities and outputs, one row and a few, between calls
    larger than the buffers and calls of read-only rows, equal a fresh model's (the long way)."""
    layers = [40, 24, 3]
    ref, got = _pair(layers, "cross_entropy", "relu", "float32")
    X = np.clip(_inputs(60, layers[0], np.random.default_rng(9), 0.4), -3, 3).astype(np.float32)
    frozen = X.copy()
    frozen.flags.writeable = False
    assert getattr(got.engine._local, "one_call", None) is None
    got.predict_proba(X[:1])
    assert got.engine._local.one_call is not None
    for rows, method, data in [(1, "predict_proba", X), (1, "forward", X), (60, "predict_proba", X),
                               (2, "predict_proba", X), (1, "predict_proba", frozen), (3, "forward", X),
                               (1, "predict", X), (1, "predict_proba", X[5:])]:
        part = data[:rows]
        fresh = got.copy()  # its own backend: the long way
        assert getattr(fresh.engine._local, "one_call", None) is None
        np.testing.assert_array_equal(getattr(got, method)(part), getattr(fresh, method)(part), err_msg=method)
        np.testing.assert_allclose(getattr(got, method)(part), getattr(ref, method)(part), rtol=1e-5, atol=1e-6)


def test_inputs_not_in_the_models_form_give_the_same_numbers():
    """Read-only, Fortran-ordered, strided, float64-for-float32, int and list inputs: the
    same probabilities as the C-contiguous array of the model's dtype; read-only stays untouched."""
    layers = [30, 16, 4]
    _, got = _pair(layers, "cross_entropy", "relu", "float32")
    X = np.clip(_inputs(6, layers[0], np.random.default_rng(5), 0.4), -3, 3).astype(np.float32)
    expected = got.predict_proba(X)
    frozen = X.copy()
    frozen.flags.writeable = False
    assert ready_rows(frozen, 30, np.float32)
    variants = [frozen, np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2], X.astype(np.float64), X.tolist()]
    for v in variants:
        np.testing.assert_array_equal(got.predict_proba(v), expected)
    np.testing.assert_array_equal(frozen, X)
    one = frozen[2:3]
    np.testing.assert_array_equal(got.predict_proba(one), got.predict_proba(X[2:3]))
    ints = np.arange(60, dtype=np.int64).reshape(2, 30) % 3
    np.testing.assert_array_equal(got.predict_proba(ints), got.predict_proba(ints.astype(np.float32)))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_ready_rows_is_what_check_X_returns_unchanged():
    X = np.zeros((2, 5), np.float32)
    assert ready_rows(X, 5, np.float32) and check_X(X, 5, np.float32) is X
    for bad in (X[:, :4], X.astype(np.float64), np.asfortranarray(np.zeros((2, 5), np.float32)),
                np.zeros((0, 5), np.float32), np.zeros(5, np.float32), X.tolist(), np.matrix(X)):
        assert not ready_rows(bad, 5, np.float32)


def _message(X, n_in, dtype):
    with pytest.raises(ValueError) as e:
        check_X(X, n_in, dtype)
    return str(e.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ["predict_proba", "predict", "forward"])
def test_non_finite_rows_refused_with_check_X_message(bad, method):
    model = MLP([8, 6, 3], dtype="float32", seed=0)
    before = model.params.copy()
    X = np.zeros((1, 8), np.float32)
    X[0, 5] = bad
    assert ready_rows(X, 8, np.float32)
    with pytest.raises(ValueError) as e:
        getattr(model, method)(X)
    assert str(e.value) == _message(X, 8, np.float32) == "X contains NaN or inf"
    np.testing.assert_array_equal(model.params, before)
    Xb = np.zeros((40, 8), np.float32)  # the whole-layer path screens too
    Xb[39, 0] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        getattr(model, method)(Xb)


def test_unscaled_rows_warn_with_check_X_message_at_the_callers_line():
    model = MLP([8, 6, 3], dtype="float32", seed=0)
    X = np.zeros((1, 8), np.float32)
    X[0, 3] = 255.0
    with warnings.catch_warnings(record=True) as direct:
        warnings.simplefilter("always")
        check_X(X, 8, np.float32)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        p = model.predict_proba(X)
    assert [str(w.message) for w in got] == [str(w.message) for w in direct]
    assert got[0].category is UnscaledInputWarning and got[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnscaledInputWarning)
        np.testing.assert_array_equal(p, model.predict_proba(X.astype(np.float64)))  # computed all the same
    X[0, 3] = UNSCALED_LIMIT  # at the limit: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_proba(X)


def test_wrong_shapes_and_types_refused_as_before():
    model = MLP([8, 6, 3], dtype="float32", seed=0)
    cases = [(np.zeros((1, 7), np.float32), ValueError, "has 7 features; the model expects 8"),
             (np.zeros((0, 8), np.float32), ValueError, "empty"),
             (np.zeros(8, np.float32), ValueError, "must be 2-D"),
             (np.zeros((1, 8), np.complex64), TypeError, "cannot be converted")]
    for X, error, text in cases:
        with pytest.raises(error, match=text):
            model.predict_proba(X)
        with pytest.raises(error, match=text):
            model.predict(X)


def test_screen_counts_non_finite_and_beyond_limit():
    x = np.array([[0.0, 1.0, -2.0, 2.5], [np.nan, np.inf, -np.inf, -2.0]])
    flags = np.zeros(1, np.int64)
    from numba import njit

    @njit
    def run(flags, x, limit):
        inference.screen(flags, x, limit)
    run(flags, x, 2.0)
    assert flags[0] == 4  # 2.5, nan, inf, -inf (the limit itself passes)
    run(flags, x[:1], 10.0)
    assert flags[0] == 0  # set, not added to: none in the first row


def test_many_threads_at_once_give_the_serial_bits():
    """Eight threads predicting with one model at once (one row, a few rows, many rows; the
    kernels release the GIL) get exactly the serial results."""
    layers = [784, 64, 32, 10]
    model = MLP(layers, dtype="float32", seed=1)
    rng = np.random.default_rng(0)
    X = np.clip(_inputs(300, 784, rng, 0.5), 0, 1).astype(np.float32)
    sizes = [1, 3, 300]
    expected = {m: model.predict_proba(X[:m]) for m in sizes}
    expected_rows = [model.predict_proba(X[i:i + 1]) for i in range(50)]
    expected_classes = model.predict(X)
    failures = []
    start = threading.Barrier(8)

    def work(t):
        start.wait()
        for r in range(30):
            i = (t * 7 + r) % 50
            if not np.array_equal(model.predict_proba(X[i:i + 1]), expected_rows[i]):
                failures.append(("row", t, i))
            m = sizes[(t + r) % 3]
            if not np.array_equal(model.predict_proba(X[:m]), expected[m]):
                failures.append(("rows", t, m))
        if not np.array_equal(model.predict(X), expected_classes):
            failures.append(("predict", t))
    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []


def test_one_row_call_allocates_only_its_output():
    """After the first call (this thread's buffers), a one-row predict_proba allocates its
    (1, n_classes) float64 result and nothing else of size (no copy of X, no hidden layer,
    no check array: the old path's np.isfinite(X) alone was n_in bytes)."""
    model = MLP([784, 256, 128, 64, 10], dtype="float32", seed=0)
    x = np.full((1, 784), 0.5, np.float32)
    model.predict_proba(x)
    model.predict(x)
    tracemalloc.start()
    try:
        for method in (model.predict_proba, model.forward):
            method(x)
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            out = method(x)
            peak = tracemalloc.get_traced_memory()[1] - base
            # the result's array object and the call's tuples: about 0.6 kB (the old path: 1.8 kB)
            assert peak <= out.nbytes + 700, (method.__name__, peak)
    finally:
        tracemalloc.stop()


def test_kernels_output_and_probabilities_still_whole_layer_kernels():
    """The plain kernels (``K.output``, ``K.probabilities``) compute what the screened ones do."""
    model = MLP([20, 16, 3], loss="multilabel", dtype="float64", seed=3)
    a, p = model.arch, model.params
    X = _inputs(7, 20, np.random.default_rng(8), 0.3)
    scratch = np.empty(2 * 7 * a.max_hidden)
    out = np.empty((7, 3))
    K.output(out, scratch, p, X, a.net)
    proba, logits = np.empty((7, 3)), np.empty((7, 3))
    K.probabilities(proba, logits, scratch, p, X, a.net)
    np.testing.assert_allclose(out, model.forward(X), rtol=1e-12)
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-12)
