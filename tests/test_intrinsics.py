"""kernels/intrinsics.py, the one module that uses private Numba APIs.

Two kinds of checks: every private Numba name it relies on still exists (so a Numba
release that moves one fails here, naming it, rather than deep inside a kernel's
compilation), and every intrinsic and helper still does what the kernels expect of it:
borrowed views (same data as the NumPy views they replace), data pointers, scalars by
reference (through the BLAS gemm), prefetch hints, the kernels' cache folder and locator.
"""
import copy
import importlib
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import threading

import llvmlite.binding
import numba
import numpy as np
import pytest
from numba import njit

from fastmlp.kernels import intrinsics
from fastmlp.kernels.blas import gemm
from fastmlp.kernels.intrinsics import borrow, by_reference, data_pointer, entry, matrix, prefetch, rows, stack_block

# -- the private Numba names ---------------------------------------------------------------------
# (module, attribute path) of every private Numba API intrinsics.py uses.
PRIVATE = [
    ("numba.np.arrayobj", "make_array"),
    ("numba.np.arrayobj", "populate_array"),
    ("numba.core.cgutils", "alloca_once_value"),
    ("numba.core.cgutils", "alloca_once"),
    ("numba.core.cgutils", "pack_array"),
    ("numba.core.cgutils", "get_or_insert_function"),
    ("numba.np.linalg", "_BLAS"),
    ("numba.np.linalg", "ensure_blas"),
    ("numba.core.types", "ExternalFunction"),
    ("numba.np.ufunc.parallel", "_launch_threads"),
    ("numba.core.caching", "CacheImpl._locator_classes"),
    ("numba.core.caching", "_CacheLocator"),
    ("numba.core.dispatcher", "Dispatcher.typeof_pyval"),
    ("numba.core.dispatcher", "Dispatcher.compile"),
    ("numba.core.caching", "FunctionCache"),
    ("numba.core.caching", "FunctionCache._index_key"),
    ("numba.core.caching", "FunctionCache._guard_against_spurious_io_errors"),
    ("numba.core.caching", "IndexDataCacheFile"),
    ("numba.core.caching", "IndexDataCacheFile.load"),
    ("numba.core.caching", "IndexDataCacheFile.save"),
    ("numba.core.caching", "IndexDataCacheFile._load_index"),
    ("numba.core.caching", "IndexDataCacheFile._save_index"),
    ("numba.core.caching", "IndexDataCacheFile._save_data"),
    ("numba.core.caching", "IndexDataCacheFile._load_data"),
    ("numba.core.caching", "IndexDataCacheFile._dump"),
    ("numba.core.caching", "CompileResultCacheImpl.rebuild"),
    ("numba.core.runtime", "rtsys"),
    ("numba.core.runtime", "rtsys.initialize"),
    ("numba.cpython.hashing", "_build_hashsecret"),
    ("numba.core.typing.typeof", "typeof_impl"),
    ("numba.np.numpy_support", "from_dtype"),
    ("numba.np.numpy_support", "map_layout"),
    ("numba.core.cpu", "CPUTargetOptions._nrt"),
    ("numba.core", "config"),
    ("numba.core.typed_passes", "BaseNativeLowering.run_pass"),
    ("numba.core.codegen", "CPUCodeLibrary._finalize_final_module"),
    ("numba.core.codegen", "CPUCodeLibrary._finalize_dynamic_globals"),
    ("numba.core.codegen", "CPUCodeLibrary._verify_declare_only_symbols"),
    ("numba.core.codegen", "CPUCodeLibrary._get_module_for_linking"),
    ("numba.core.codegen", "CPUCodeLibrary.serialize_using_object_code"),
    ("numba.core.codegen", "CPUCodeLibrary._unserialize"),
    ("numba.core.codegen", "JITCPUCodegen.set_env"),
    ("numba.core.dispatcher", "Dispatcher._insert"),
    ("numba.core.dispatcher", "Dispatcher._compile_for_args"),
    ("numba.core.inline_closurecall", "InlineWorker.inline_function"),
    ("numba.core.inline_closurecall", "InlineWorker.run_untyped_passes"),
    ("numba.core.inline_closurecall", "InlineWorker.inline_ir"),
    ("numba.core.inline_closurecall", "copy"),
]


def _resolve(dotted):
    """The object a dotted path names: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("module,path", PRIVATE, ids=[f"{m}.{p}" for m, p in PRIVATE])
def test_private_numba_name_still_exists(module, path):
    try:
        obj = _resolve(f"{module}.{path}")
    except (ImportError, AttributeError) as e:
        pytest.fail(f"numba {numba.__version__} moved {module}.{path}, which fastmlp/kernels/intrinsics.py uses "
                    f"({type(e).__name__}: {e}); update intrinsics.py (and its numba pin in pyproject.toml)")
    assert obj is not None


def test_every_dotted_name_in_the_docstring_resolves_and_is_checked_here():
    """The module docstring lists the private names it uses; each full path there resolves,
    and each one is in PRIVATE above (so a new private use cannot skip this test file)."""
    dotted = re.findall(r"``(numba\.[\w.]+)``", intrinsics.__doc__)
    assert dotted, "the docstring of intrinsics.py no longer lists its private Numba names"
    checked = {f"{m}.{p}" for m, p in PRIVATE} | {m for m, _ in PRIVATE}
    for name in dotted:
        _resolve(name)
        assert name in checked, f"{name} is used by intrinsics.py but not checked in PRIVATE"


def test_private_objects_have_the_shape_intrinsics_relies_on():
    from numba.core import caching
    from numba.np.linalg import _BLAS
    assert isinstance(caching.CacheImpl._locator_classes, list)
    for method in ("get_cache_path", "get_source_stamp", "get_disambiguator", "from_function", "ensure_cache_path"):
        assert hasattr(caching._CacheLocator, method), method
    assert callable(_BLAS().numba_xxgemm)
    from numba.core import config  # the settings vector_bytes reads (None unless set)
    assert hasattr(config, "CPU_NAME") and hasattr(config, "CPU_FEATURES")
    # what CacheWithoutCompiler reads of a kernel's numba cache (instance attributes)
    from fastmlp.kernels import network
    cache = network.loss_and_grad._cache
    assert isinstance(cache, caching.FunctionCache)
    assert isinstance(cache._cache_file, caching.IndexDataCacheFile) and isinstance(cache._enabled, bool)
    assert isinstance(cache._impl, caching.CompileResultCacheImpl)
    # what KeyedDataCacheFile reads of Numba's (instance attributes)
    assert cache._cache_file._index_name.endswith(".nbi") and cache._cache_file._cache_path == cache._cache_path
    for dtype in (numba.float64, numba.float32):
        fn, fortran = intrinsics.xxgemm(dtype)
        assert fn is not None and fortran == (intrinsics.kernel_blas() == "numpy")
    # what inline_glue_without_copies replaces and calls: Numba's inline_function and inline_ir by
    # these parameters, inline_ir copying the callee's IR with its module's copy.deepcopy
    from numba.core import inline_closurecall
    worker = inline_closurecall.InlineWorker
    assert list(inspect.signature(intrinsics._INLINE["inline_function"]).parameters) == [
        "self", "caller_ir", "block", "i", "function", "arg_typs"]
    assert list(inspect.signature(worker.inline_ir).parameters) == [
        "self", "caller_ir", "block", "i", "callee_ir", "callee_freevars", "arg_typs"]
    assert "copy.deepcopy(" in inspect.getsource(worker.inline_ir)
    # what cached reads: a dispatcher's specialisations by argument types, and its target's codegen
    assert isinstance(network.loss_and_grad.overloads, dict)
    assert isinstance(network.loss_and_grad.targetctx.codegen().magic_tuple(), tuple)
    # what a helper's Python call relies on: add_overload inserts an entry by _insert, and a
    # dispatcher knows its options and Python function
    from numba.core import dispatcher
    assert "self._insert(" in inspect.getsource(dispatcher.Dispatcher.add_overload)
    from fastmlp.kernels.dense import col_sums
    assert col_sums.targetoptions["no_cpython_wrapper"] and callable(col_sums.py_func)


def test_every_intrinsic_is_exercised_here():
    found = {name for name, obj in vars(intrinsics).items() if type(obj).__name__ == "_Intrinsic"}
    assert found, "no intrinsic found in intrinsics.py: has numba.extending.intrinsic changed?"
    assert found <= set(EXERCISED), f"intrinsics without a test here: {sorted(found - set(EXERCISED))}"


# -- borrowed views --------------------------------------------------------------------------------

@njit
def _fill_matrix(buf, off, r, c):
    v = matrix(buf, off, r, c)
    for i in range(r):
        for j in range(c):
            v[i, j] += 10 * i + j
    return v.shape[0], v.shape[1], v.strides[0], v.strides[1]


@njit
def _sum_rows_of_borrowed(a):
    b = borrow(a)
    s = 0.0
    for i in range(b.shape[0]):
        row = b[i]  # a view of a borrowed array
        s += row.sum()
    b[0, 0] = -1.0
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("off,r,c", [(0, 1, 1), (3, 2, 5), (7, 4, 1), (0, 1, 12)])
def test_matrix_is_the_reshaped_slice_and_writes_through(dtype, off, r, c):
    buf = np.zeros(20, dtype)
    shape = _fill_matrix(buf, off, r, c)
    itemsize = np.dtype(dtype).itemsize
    assert shape == (r, c, c * itemsize, itemsize)
    expect = np.zeros(20, dtype)
    expect[off:off + r * c] = (10 * np.arange(r)[:, None] + np.arange(c)).ravel()
    np.testing.assert_array_equal(buf, expect)


@njit
def _rows_view(a, start, n):
    v = rows(a, start, n)
    v += 100  # writes through to a
    return v.copy(), v.strides


@pytest.mark.parametrize("shape", [(7,), (5, 3), (4, 2, 3), (6, 1)])
@pytest.mark.parametrize("start,n", [(0, 1), (2, 2), (1, 0), (0, 4), (3, 1)])
def test_rows_is_the_slice_along_the_first_axis_and_writes_through(shape, start, n):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    expect = a.copy()
    got, strides = _rows_view(a, start, n)
    np.testing.assert_array_equal(got, expect[start:start + n] + 100)
    assert got.shape == expect[start:start + n].shape and strides == a.strides
    expect[start:start + n] += 100
    np.testing.assert_array_equal(a, expect)  # only those rows changed


@njit
def _entries(a):
    out = np.empty(a.shape, a.dtype)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = entry(a, i, j)
    return out


@pytest.mark.parametrize("dtype", [np.int64, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (4, 1), (1, 6)])
def test_entry_reads_every_element(dtype, shape):
    a = (np.arange(np.prod(shape)) * 3 + 1).astype(dtype).reshape(shape)
    np.testing.assert_array_equal(_entries(a), a)


def test_borrow_reads_and_writes_the_callers_array():
    a = np.arange(12.0).reshape(3, 4)
    assert _sum_rows_of_borrowed(a) == 66.0
    assert a[0, 0] == -1.0


# -- stack blocks ---------------------------------------------------------------------------------

@njit
def _running_sums_on_the_stack(like, rows):
    """The column sums of rows (m, n) accumulated in a 256-byte stack block (n <= its length),
    and the block's length and stride; two blocks of one kernel do not overlap."""
    acc = stack_block(like, 256)
    other = stack_block(like, 256)
    n = rows.shape[1]
    for j in range(acc.shape[0]):
        acc[j] = 0
        other[j] = -1
    for i in range(rows.shape[0]):
        for j in range(n):
            acc[j] += rows[i, j]
    out = np.empty(n, like.dtype)
    for j in range(n):
        out[j] = acc[j]
    untouched = True
    for j in range(other.shape[0]):
        untouched &= other[j] == -1
    return out, acc.shape[0], acc.strides[0], untouched


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 32])
def test_stack_block_is_a_private_array_of_the_bytes_asked(dtype, n):
    rows = np.arange(5 * n, dtype=dtype).reshape(5, n)
    sums, length, stride, untouched = _running_sums_on_the_stack(np.zeros(1, dtype), rows)
    itemsize = np.dtype(dtype).itemsize
    assert (length, stride) == (256 // itemsize, itemsize)
    assert sums.dtype == dtype
    np.testing.assert_array_equal(sums, rows.sum(axis=0))
    assert untouched


# -- vector width --------------------------------------------------------------------------------

def test_wide_vectors_marks_the_calling_function():
    """With AVX-512 the attribute lands on the function that calls ``wide_vectors`` (and only there),
    with noinline, and its loop runs on 512-bit registers; without, it is only never inlined."""
    @njit(fastmath=True)
    def wide(a):
        intrinsics.wide_vectors()
        s = np.float32(0)
        for i in range(a.shape[0]):
            s += a[i] * a[i]
        return s

    @njit(fastmath=True)
    def plain(a):
        s = np.float32(0)
        for i in range(a.shape[0]):
            s += a[i] * a[i]
        return s

    a = np.arange(1000, dtype=np.float32)
    assert wide(a) == pytest.approx(plain(a), rel=1e-5)
    ir = wide.inspect_llvm(wide.signatures[0])
    assert intrinsics.WIDE_VECTORS not in plain.inspect_llvm(plain.signatures[0])
    if intrinsics.vector_bytes() == 64:
        attributes = [line for line in ir.splitlines()
                      if line.startswith("attributes #") and intrinsics.WIDE_VECTORS in line]
        assert attributes and all("noinline" in line for line in attributes)
        assert "zmm" in wide.inspect_asm(wide.signatures[0])
    else:  # nothing wider to ask for (a CPU without AVX-512): only kept from inlining
        assert intrinsics.WIDE_VECTORS not in ir
        assert any(line.startswith("attributes #") and "noinline" in line for line in ir.splitlines())


def test_vector_bytes_follows_the_compiled_features(monkeypatch):
    """64 with AVX-512 in the features the kernels compile for (NUMBA_CPU_FEATURES when set), else 32."""
    from numba.core import config
    intrinsics.vector_bytes.cache_clear()
    try:
        monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+fma,+avx512f")
        assert intrinsics.vector_bytes() == 64
        intrinsics.vector_bytes.cache_clear()
        monkeypatch.setattr(config, "CPU_FEATURES", "+avx2,+fma,-avx512f")
        assert intrinsics.vector_bytes() == 32
    finally:
        monkeypatch.undo()
        intrinsics.vector_bytes.cache_clear()
    assert intrinsics.vector_bytes() in (32, 64)


def test_a_cpu_named_without_features_compiles_with_the_hosts_features(monkeypatch):
    """NUMBA_CPU_NAME alone changes Numba's tuning, not its instructions: Numba compiles with the host's
    features unless NUMBA_CPU_FEATURES is set, and the kernels' register blocks must be sized for the same."""
    from numba.core import config
    from numba.core.registry import cpu_target
    host = llvmlite.binding.get_host_cpu_features().flatten()
    monkeypatch.setattr(config, "CPU_NAME", "znver1")
    monkeypatch.setattr(config, "CPU_FEATURES", None)
    assert intrinsics.compiled_features() == cpu_target.target_context.codegen()._get_host_cpu_features() == host
    monkeypatch.setattr(config, "CPU_FEATURES", "-avx512f")
    assert intrinsics.compiled_features() == cpu_target.target_context.codegen()._get_host_cpu_features()
    assert not intrinsics.compiled_for_host()


# -- pointers ------------------------------------------------------------------------------------

@njit
def _through_pointer(a, i, value):
    p = data_pointer(a)
    old = p[i]
    p[i] = value
    return old


@njit
def _through_reference(x):
    r = by_reference(x)
    return r[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_data_pointer_is_the_arrays_first_element(dtype):
    a = np.arange(6, dtype=dtype).reshape(2, 3)
    assert _through_pointer(a, 4, 40) == 4
    assert a[1, 1] == 40 and a.sum() == 15 - 4 + 40


def test_by_reference_holds_the_value():
    assert _through_reference(2.5) == 2.5
    assert _through_reference(np.float32(-1.25)) == np.float32(-1.25)
    assert _through_reference(7) == 7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_by_reference_and_data_pointer_through_gemm(dtype):
    """gemm hands alpha and beta by reference and the arrays by pointer to BLAS."""
    rng = np.random.default_rng(0)
    A, B, C = (rng.normal(size=s).astype(dtype) for s in ((5, 3), (4, 3), (5, 4)))
    expected = 2.5 * A @ B.T - 1.5 * C
    gemm(C, A, False, B, True, 2.5, -1.5)
    np.testing.assert_allclose(C, expected, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-5)


# -- which BLAS the kernels call ------------------------------------------------------------------

def _numpy_links_openblas64():
    """Whether this NumPy is a wheel that links its own 64-bit-integer OpenBLAS."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):  # NumPy 1.x: no dicts
        return False
    return blas.get("name") == "scipy-openblas" and "USE64BITINT" in blas.get("openblas configuration", "")


def test_numpy_gemm_is_found_where_numpy_links_openblas64_and_not_by_other_names():
    if not _numpy_links_openblas64():
        pytest.skip("this NumPy links no 64-bit-integer OpenBLAS of its own")
    found = intrinsics.numpy_gemm_addresses()
    assert set(found) == {"s", "d"} and all(isinstance(a, int) and a > 0 for a in found.values())
    assert found["s"] != found["d"]
    assert intrinsics.kernel_blas() == ("scipy" if os.environ.get("FASTMLP_BLAS") == "scipy" else "numpy")
    assert intrinsics.numpy_gemm_addresses(("no_such_{}gemm_",)) is None


@pytest.fixture
def choose_blas_again(monkeypatch):
    """kernel_blas chooses again (as in a fresh process) for the test; the process's choice is put back."""
    monkeypatch.setattr(intrinsics, "_kernel_blas", None)
    return monkeypatch


@pytest.mark.parametrize("value", ["openblas", "mkl", "yes", "numpy scipy"])
def test_an_unknown_blas_choice_is_refused_naming_the_variable_and_the_choices(choose_blas_again, value):
    choose_blas_again.setenv("FASTMLP_BLAS", value)
    with pytest.raises(ValueError, match=re.escape(f"FASTMLP_BLAS={value!r} is not a BLAS choice: use one of "
                                                   "auto, numpy, scipy")):
        intrinsics.kernel_blas()


@pytest.mark.parametrize("value,found,chosen", [
    ("", True, "numpy"), ("auto", True, "numpy"), ("AUTO", True, "numpy"), ("numpy", True, "numpy"),
    ("scipy", True, "scipy"), (" Scipy ", True, "scipy"), ("", False, "scipy"), ("auto", False, "scipy"),
    ("scipy", False, "scipy")])
def test_the_blas_choice_follows_the_variable_and_what_numpy_links(choose_blas_again, value, found, chosen):
    choose_blas_again.setenv("FASTMLP_BLAS", value)
    real = intrinsics.numpy_gemm_addresses
    choose_blas_again.setattr(intrinsics, "numpy_gemm_addresses",
                              lambda: real() if found else None)
    if found and real() is None:
        pytest.skip("this NumPy links no 64-bit-integer OpenBLAS of its own")
    assert intrinsics.kernel_blas() == chosen
    assert intrinsics.kernel_blas() == chosen  # chosen once: the same again
    assert intrinsics.kernel_cache_dir().endswith(f"-{chosen}")


def test_numpy_asked_for_but_not_there_is_refused_with_what_to_do(choose_blas_again):
    choose_blas_again.setenv("FASTMLP_BLAS", "numpy")
    choose_blas_again.setattr(intrinsics, "numpy_gemm_addresses", lambda: None)
    with pytest.raises(ValueError, match="FASTMLP_BLAS=numpy, but the NumPy here links no 64-bit-integer OpenBLAS "
                                         "gemm .*: unset it or set it to scipy"):
        intrinsics.kernel_blas()


_BLAS_CHILD = """
import json
import numpy as np
import fastmlp
from fastmlp.kernels import intrinsics
from fastmlp.kernels.blas import gemm
rng = np.random.default_rng(3)
products = []
for dtype in (np.float64, np.float32):
    for ta in (False, True):
        for tb in (False, True):
            A = rng.normal(size=(37, 19) if ta else (19, 37)).astype(dtype)
            B = rng.normal(size=(23, 37) if tb else (37, 23)).astype(dtype)
            C = rng.normal(size=(19, 23)).astype(dtype)
            expected = 0.5 * (A.T if ta else A) @ (B.T if tb else B) - 2.0 * C
            gemm(C, A, ta, B, tb, 0.5, -2.0)
            products.append(float(np.abs(C - expected).max() / np.abs(expected).max()))
X = rng.normal(size=(96, 40)); y = rng.integers(0, 5, 96)
m = fastmlp.MLP([40, 48, 5], dtype=np.float64, seed=1)
m.fit(X, y, epochs=2, batch_size=32, lr=0.05, shuffle=False, verbose=0)
print(json.dumps({"blas": intrinsics.kernel_blas(), "products": products,
                  "params": m.params.tolist(), "loss": m.history["loss"]}))
"""


def test_both_blas_libraries_compute_the_same_products_and_training():
    """In fresh processes, the kernels on NumPy's BLAS and on SciPy's: each product (every transpose, both
    dtypes) equal to NumPy's, and the same float64 training to 1e-10."""
    scipy = _run(_BLAS_CHILD, env={"FASTMLP_BLAS": "scipy"})
    auto = _run(_BLAS_CHILD, env={"FASTMLP_BLAS": "auto"})
    assert scipy["blas"] == "scipy"
    assert auto["blas"] == ("numpy" if intrinsics.numpy_gemm_addresses() else "scipy")
    for run in (scipy, auto):
        assert max(run["products"][:4]) < 1e-13 and max(run["products"][4:]) < 1e-5
    np.testing.assert_allclose(auto["params"], scipy["params"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(auto["loss"], scipy["loss"], rtol=1e-10)


def test_an_unknown_blas_choice_stops_the_import_with_its_message():
    proc = subprocess.run([sys.executable, "-c", "import fastmlp"], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, FASTMLP_BLAS="mkl"))
    assert proc.returncode != 0
    assert "FASTMLP_BLAS='mkl' is not a BLAS choice: use one of auto, numpy, scipy" in proc.stderr


# -- prefetch ------------------------------------------------------------------------------------

@njit
def _sum_with_prefetch(a):
    s = 0.0
    for i in range(a.shape[0]):
        if i + 8 < a.shape[0]:
            prefetch(a, i + 8)
        prefetch(a, i)
        s += a[i]
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prefetch_changes_no_result(dtype):
    a = np.arange(100, dtype=dtype)
    assert _sum_with_prefetch(a) == 4950.0
    np.testing.assert_array_equal(a, np.arange(100, dtype=dtype))


# -- bit casts -----------------------------------------------------------------------------------

def test_float32_from_bits_is_a_bit_cast():
    if not hasattr(intrinsics, "float32_from_bits"):
        pytest.skip("intrinsics.float32_from_bits is not there")
    f = njit(lambda bits: intrinsics.float32_from_bits(bits))
    for v in (1.0, -2.5, 0.0, 3.4e38, 1.1754944e-38, np.inf):
        bits = int(np.array(v, np.float32).view(np.int32))
        got = f(np.int64(bits))
        assert type(got) in (float, np.float32) and np.float32(got) == np.float32(v), v
    assert f(np.int64(127) << 23) == 1.0  # 2^0 from its exponent bits, as _exp_neg_f32 builds 2^k
    assert np.isnan(f(np.int64(0x7FC00000)))


def test_popcount_counts_the_set_bits():
    if not hasattr(intrinsics, "popcount"):
        pytest.skip("intrinsics.popcount is not there")
    f = njit(lambda bits: intrinsics.popcount(bits))
    for v in (0, 1, 2, 3, 0xFF, 1 << 63, (1 << 64) - 1, 0x5555555555555555, 0x8000000000000001):
        assert f(np.uint64(v)) == bin(v).count("1"), hex(v)
    assert f(np.uint32(0xF0F0F0F0)) == 16 and f(np.uint8(7)) == 3

    @njit
    def total(words):
        n = np.uint64(0)
        for w in words:  # a loop LLVM may vectorise (vpopcntq)
            n += intrinsics.popcount(w)
        return n
    words = np.random.default_rng(0).integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    assert total(words) == sum(bin(int(w)).count("1") for w in words)


# -- division by a refined reciprocal estimate -----------------------------------------------------

@njit(fastmath={"nsz", "arcp", "contract", "reassoc"}, error_model="numpy")
def _quotients(out, a, b):
    for i in range(a.shape[0]):
        out[i] = intrinsics.estimated_quotient(a[i], b[i])


def test_estimated_quotient_is_within_a_few_ulp_in_float32_and_exact_in_float64():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(20000) * 10.0 ** rng.integers(-15, 15, 20000)
    b = rng.random(20000) * 10.0 ** rng.integers(-15, 15, 20000) + 1e-20  # quotients normal
    for dtype, ulps in ((np.float32, 4), (np.float64, 0)):
        x, y = a.astype(dtype), b.astype(dtype)
        got = np.empty_like(x)
        _quotients(got, x, y)
        want = x / y
        assert np.all(np.abs(got - want) <= ulps * np.spacing(np.abs(want)).astype(dtype)), dtype
    # b below the smallest normal float32 (a denormal eps): raised to it, never read as 0 (in a vector
    # loop, as an optimizer's update runs); NaN stays NaN
    x = np.tile(np.array([0.0, 1e-30, 1.0, 1.0], np.float32), 32)
    y = np.tile(np.array([1e-40, 1e-40, np.nan, 1e-40], np.float32), 32)
    got = np.empty_like(x)
    _quotients(got, x, y)
    tiny = np.finfo(np.float32).tiny
    np.testing.assert_allclose(got[0::4], 0.0)
    np.testing.assert_allclose(got[1::4], np.float32(1e-30) / tiny, rtol=1e-6)
    assert np.isnan(got[2::4]).all()
    np.testing.assert_allclose(got[3::4], np.float32(1.0 / tiny), rtol=1e-6)


@pytest.mark.skipif(not intrinsics.HAS_MXCSR, reason="x86-64 code only")
def test_estimated_quotient_takes_the_reciprocal_estimate_in_a_vector_loop():
    got = np.empty(64, np.float32)
    _quotients(got, np.ones(64, np.float32), np.full(64, 3.0, np.float32))
    asm = next(code for sig, code in _quotients.inspect_asm().items() if sig[0].dtype == numba.float32)
    assert re.search(r"\bvrcp(14)?ps\b|\brcpps\b", asm) and not re.search(r"\bv?divps\b", asm)


# -- the floating-point mode ------------------------------------------------------------------------

TINY32 = np.float32(np.finfo(np.float32).tiny)  # the smallest normal float32


@njit
def _scaled_under_mode(on, xs, out):
    """out[0] = xs[0] * xs[1] with denormals flushed when ``on``, out[1] the same after the mode is
    restored; returns (the mode flush_denormals returned, the mode inside, the mode after).
    The operands are read from memory after each mode change: LLVM does not move a load across
    the MXCSR calls (they may write memory), while it may reuse a product of plain values."""
    old = intrinsics.flush_denormals(on)
    out[0] = xs[0] * xs[1]
    mode = intrinsics.flush_denormals(False)  # reads the mode without changing it
    intrinsics.restore_fp_mode(old)
    out[1] = xs[0] * xs[1]
    again = intrinsics.flush_denormals(False)
    intrinsics.restore_fp_mode(again)
    return old, mode, again


def _under_mode(on):
    xs = np.array([TINY32, 0.25], np.float32)  # a denormal product
    out = np.full(2, -1.0, np.float32)
    old, mode, again = _scaled_under_mode(on, xs, out)
    return out[0], out[1], old, mode, again


def test_flush_denormals_flushes_inside_and_restore_puts_the_mode_back():
    product = np.float32(TINY32 * np.float32(0.25))
    assert product != 0 and product < TINY32
    inside, after, old, mode, again = _under_mode(True)
    if not intrinsics.HAS_MXCSR:
        assert (old, mode, again) == (0, 0, 0) and inside == after == product
        return
    assert inside == 0.0  # flushed to zero
    assert after == product  # the denormal again: the mode is back
    control = ~0x3F  # MXCSR's bits 0-5 are sticky exception flags the product may set
    assert mode & control == (old | intrinsics.FLUSH_DENORMALS_BITS) & control
    assert again & control == old & control


def test_flush_denormals_off_changes_nothing():
    inside, after, old, mode, again = _under_mode(False)
    assert inside == after == np.float32(TINY32 * np.float32(0.25))
    assert mode & ~0x3F == old & ~0x3F == again & ~0x3F


@njit
def _product_in_mode(mode, xs, out):
    """out[0] = xs[0] * xs[1] in the floating-point mode ``mode`` (``enter_fp_mode``), out[1] the
    same after the mode it returned is restored; returns (that mode, the mode inside)."""
    old = intrinsics.enter_fp_mode(mode)
    out[0] = xs[0] * xs[1]
    inside = intrinsics.flush_denormals(False)
    intrinsics.restore_fp_mode(old)
    out[1] = xs[0] * xs[1]
    return old, inside


def test_enter_fp_mode_takes_the_mode_given_and_returns_the_one_it_had():
    xs = np.array([TINY32, 0.25], np.float32)  # a denormal product
    product = np.float32(TINY32 * np.float32(0.25))
    out = np.full(2, -1.0, np.float32)
    _, _, now, _, _ = _under_mode(False)  # this thread's mode
    flushing = now | intrinsics.FLUSH_DENORMALS_BITS
    old, inside = _product_in_mode(flushing, xs, out)
    if not intrinsics.HAS_MXCSR:
        assert (old, inside) == (0, 0) and out[0] == out[1] == product
        return
    control = ~0x3F  # MXCSR's bits 0-5 are sticky exception flags
    assert out[0] == 0.0 and out[1] == product  # flushed inside, the denormal again after
    assert inside & control == flushing & control and old & control == now & control
    old, inside = _product_in_mode(now, xs, out)  # the mode it has: nothing changes
    assert out[0] == out[1] == product and inside & control == now & control


# -- AMX tiles -------------------------------------------------------------------------------------

@njit
def _one_tile_product(c, a, b_pairs, run):
    """c (16, 16) float32 = a (16, 32) . b (32, 16), bfloat16 bits (uint16) with b's rows in pairs
    (16, 32): on the tiles when ``run``, else only compiled."""
    intrinsics.tile_target()
    if run:
        intrinsics.tile_configure()
        intrinsics.tile_zero(0)
        intrinsics.tile_load(1, a, 0, 64)
        intrinsics.tile_load(2, b_pairs, 0, 64)
        intrinsics.tile_dot_bf16(0, 1, 2)
        intrinsics.tile_store(0, c, 0, 64)
        intrinsics.tile_load(3, c, 0, 64)  # c += c . 0: a load, the product of a zero tile, a store
        intrinsics.tile_zero(4)
        intrinsics.tile_zero(5)
        intrinsics.tile_dot_bf16(3, 4, 5)  # (the three tiles of a product must differ)
        intrinsics.tile_store(3, c, 0, 64)
        intrinsics.tile_release()


def _bfloat16_bits(x):
    return (np.asarray(x, np.float32).view(np.uint32) >> 16).astype(np.uint16)


def _tile_operands(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.integers(-8, 9, (16, 32)).astype(np.float32)  # small integers: every sum exact in float32
    B = rng.integers(-8, 9, (32, 16)).astype(np.float32)
    pairs = np.empty((16, 32), np.uint16)  # row r: (B[2r, j], B[2r + 1, j]) for each column j
    pairs[:, 0::2], pairs[:, 1::2] = _bfloat16_bits(B[0::2]), _bfloat16_bits(B[1::2])
    return A, B, pairs


def test_tile_intrinsics_compile_to_the_amx_instructions():
    """On any x86-64 CPU (``tile_target`` adds AMX's features to the function's): the calls become
    ldtilecfg, tilezero, tileloadd, tdpbf16ps, tilestored and tilerelease."""
    A, _, pairs = _tile_operands()
    c = np.zeros((16, 16), np.float32)
    _one_tile_product.compile((numba.typeof(c), numba.typeof(_bfloat16_bits(A)), numba.typeof(pairs),
                               numba.types.boolean))
    asm = _one_tile_product.inspect_asm(_one_tile_product.signatures[0])
    for instruction in ("ldtilecfg", "tilezero", "tileloadd", "tdpbf16ps", "tilestored", "tilerelease"):
        assert re.search(rf"\b{instruction}\b", asm), instruction
    ir = _one_tile_product.inspect_llvm(_one_tile_product.signatures[0])
    assert intrinsics.AMX_FEATURES in ir


def test_tile_intrinsics_compile_for_a_cpu_without_amx():
    """Compiled for an AVX2 CPU (Zen 1's features), the function that uses tiles still compiles (and
    ``tiles_compile_here`` says no): a kernel that may call it compiles on every CPU."""
    code = ("import numba, numpy as np\n"
            "from tests.test_intrinsics import _one_tile_product, _tile_operands, _bfloat16_bits\n"
            "from fastmlp.kernels import intrinsics\n"
            "A, _, pairs = _tile_operands()\n"
            "c = np.zeros((16, 16), np.float32)\n"
            "_one_tile_product(c, _bfloat16_bits(A), pairs, False)\n"
            "assert 'tdpbf16ps' in _one_tile_product.inspect_asm(_one_tile_product.signatures[0])\n"
            "print(intrinsics.tiles_compile_here())\n")
    env = dict(os.environ, NUMBA_CPU_NAME="znver1", NUMBA_CPU_FEATURES="+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+sse4.2",
               PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"


def test_a_tile_product_is_the_product():
    from fastmlp.backends import tiles
    if not tiles.available():
        pytest.skip("AMX tiles cannot run here")
    A, B, pairs = _tile_operands()
    c = np.full((16, 16), np.nan, np.float32)
    _one_tile_product(c, _bfloat16_bits(A), pairs, True)
    np.testing.assert_array_equal(c, A @ B)


EXERCISED = {
    "flush_denormals": test_flush_denormals_flushes_inside_and_restore_puts_the_mode_back,
    "enter_fp_mode": test_enter_fp_mode_takes_the_mode_given_and_returns_the_one_it_had,
    "restore_fp_mode": test_flush_denormals_flushes_inside_and_restore_puts_the_mode_back,
    "borrow": test_borrow_reads_and_writes_the_callers_array,
    "matrix": test_matrix_is_the_reshaped_slice_and_writes_through,
    "rows": test_rows_is_the_slice_along_the_first_axis_and_writes_through,
    "entry": test_entry_reads_every_element,
    "stack_block": test_stack_block_is_a_private_array_of_the_bytes_asked,
    "data_pointer": test_data_pointer_is_the_arrays_first_element,
    "by_reference": test_by_reference_holds_the_value,
    "prefetch": test_prefetch_changes_no_result,
    "float32_from_bits": test_float32_from_bits_is_a_bit_cast,
    "popcount": test_popcount_counts_the_set_bits,
    "estimated_quotient": test_estimated_quotient_is_within_a_few_ulp_in_float32_and_exact_in_float64,
    "wide_vectors": test_wide_vectors_marks_the_calling_function,
    "tile_target": test_tile_intrinsics_compile_for_a_cpu_without_amx,
    "tile_configure": test_a_tile_product_is_the_product,
    "tile_release": test_a_tile_product_is_the_product,
    "tile_zero": test_a_tile_product_is_the_product,
    "tile_load": test_a_tile_product_is_the_product,
    "tile_store": test_a_tile_product_is_the_product,
    "tile_dot_bf16": test_a_tile_product_is_the_product,
}


# -- the thread pool ------------------------------------------------------------------------------

def test_no_refcounts_compiles_without_reference_counting_and_computes_the_same():
    """A kernel with ``NO_REFCOUNTS`` calls no NRT_incref/NRT_decref (a counting one does,
    for the views it passes to an inlined helper) and gives the same result."""
    def scale_rows(out, x, k):
        for i in range(x.shape[0]):
            _scale_row(out[i], x[i], k)
    counted = njit(scale_rows)
    uncounted = njit(**intrinsics.NO_REFCOUNTS)(scale_rows)
    x = np.arange(12.0).reshape(3, 4)
    a, b = np.zeros_like(x), np.zeros_like(x)
    counted(a, x, 2.0)
    uncounted(b, x, 2.0)
    assert np.array_equal(a, 2 * x) and np.array_equal(b, a)
    refcount_calls = re.compile(r"call .*@NRT_(incref|decref)")
    assert any(refcount_calls.search(ir) for ir in counted.inspect_llvm().values())
    assert not any(refcount_calls.search(ir) for ir in uncounted.inspect_llvm().values())


@njit(inline="always")
def _scale_row(o, r, k):
    for j in range(r.shape[0]):
        o[j] = k * r[j]


def test_launch_threads_starts_the_pool_and_is_idempotent():
    intrinsics.launch_threads()
    intrinsics.launch_threads()
    assert numba.threading_layer() in ("tbb", "omp", "workqueue")
    assert set(intrinsics.available_threading_layers()) <= {"tbb", "omp"}


def test_the_tbb_pools_wait_is_where_launch_threads_finds_it():
    """Under TBB, launch_threads waits on the pool's task group through the address the module
    ``numba.np.ufunc.tbbpool`` exports as ``synchronize`` (what a one-core fork needs: tests/test_fork.py)."""
    from fastmlp.backends.numba import start_runtime
    start_runtime()
    if numba.threading_layer() != "tbb":
        pytest.skip("Numba runs another threading layer here")
    from numba.np.ufunc import tbbpool
    assert isinstance(tbbpool.synchronize, int) and tbbpool.synchronize != 0
    intrinsics.launch_threads()  # waits on an empty group again: returns


_LOADED_PARALLEL_KERNEL = """
import sys
import numpy as np
from fastmlp import kernels as K
from fastmlp.kernels.matmul import sparse_room
m, k, n = 64, 300, 128
rng = np.random.default_rng(0)
x = (rng.standard_normal((m, k)) * (rng.random((m, k)) > 0.5)).astype(np.float32)
W = rng.standard_normal((k, n)).astype(np.float32)
room, out = np.zeros(sparse_room(m, k), np.int32), np.full((m, n), np.nan, np.float32)
K.repeat_product(out, x, W, True, 1, room, 2, *([None] if sys.argv[1] == "none" else []))
assert np.allclose(out, x.astype(np.float64) @ W, rtol=1e-4, atol=1e-3)
print("ok")
"""


def test_a_cached_kernel_that_runs_a_parallel_region_starts_the_pool_when_loaded(tmp_path):
    """Three fresh processes on an empty cache: the first compiles ``repeat_product`` cut over threads (and the
    product it cuts, ``matmul_sparse_cut``, a parallel function); the second compiles another specialisation of
    it (its last argument None) that links the product loaded from the cache, so Numba's entry for it does not say
    to start the thread pool when loaded; the third process's first call loads that entry and runs its parallel
    region, which crashed before ``CacheWithoutCompiler`` started the pool for code that calls it."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]))
    for step, last in enumerate(["omitted", "none", "none"]):
        done = subprocess.run([sys.executable, "-X", "faulthandler", "-c", _LOADED_PARALLEL_KERNEL, last], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0 and done.stdout.split() == ["ok"], (step, done.returncode, done.stderr[-2000:])


# -- where compiled kernels are cached -----------------------------------------------------------

def _defined_here():
    pass


def test_kernel_cache_locator_is_first_and_declines_other_code():
    from numba.core import caching
    assert caching.CacheImpl._locator_classes[0] is intrinsics.KernelCacheLocator
    assert intrinsics.KernelCacheLocator.from_function(_defined_here, __file__) is None
    intrinsics.register_cache_locator()  # once only
    assert caching.CacheImpl._locator_classes.count(intrinsics.KernelCacheLocator) == 1


def test_kernel_cache_locator_takes_the_kernels():
    from fastmlp.kernels import network
    loc = intrinsics.KernelCacheLocator.from_function(network.loss_and_grad.py_func, network.__file__)
    assert isinstance(loc, intrinsics.KernelCacheLocator)
    assert loc.get_disambiguator() == str(network.loss_and_grad.py_func.__code__.co_firstlineno)
    stamp = loc.get_source_stamp()  # the content of the kernel sources, not a file's mtime
    assert stamp.endswith(_cache_folder_name())
    path = loc.get_cache_path()
    assert path.endswith(f"numba-{intrinsics.kernels_digest()}-{intrinsics.kernel_blas()}")
    # numba's own cache of a kernel uses it (decided when the kernel is defined)
    assert network.loss_and_grad._cache._cache_path == path


def _cache_folder_name():
    return f"numba-{intrinsics.kernels_digest()}-{intrinsics.kernel_blas()}"


def test_kernel_cache_dir_honours_numba_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert intrinsics.kernel_cache_dir() == str(tmp_path / "nb" / "fastmlp" / _cache_folder_name())


def test_kernel_cache_dir_honours_xdg_cache_home_then_home(monkeypatch, tmp_path):
    digest = _cache_folder_name()
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert intrinsics.kernel_cache_dir() == str(tmp_path / "xdg" / "fastmlp" / digest)
    monkeypatch.setenv("NUMBA_CACHE_DIR", "")  # empty counts as unset
    assert intrinsics.kernel_cache_dir() == str(tmp_path / "xdg" / "fastmlp" / digest)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert intrinsics.kernel_cache_dir() == str(tmp_path / "home" / ".cache" / "fastmlp" / digest)


def test_kernel_cache_dir_changes_when_any_kernel_source_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    original = intrinsics.kernel_cache_dir()
    copy = tmp_path / "kernels"
    copy.mkdir()
    for path in intrinsics.KERNELS_DIR.glob("*.py"):
        (copy / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(intrinsics, "KERNELS_DIR", copy)
    assert intrinsics.kernel_cache_dir() == original  # same sources, same folder
    with open(copy / "losses.py", "a") as f:
        f.write("\n# a change\n")
    changed = intrinsics.kernel_cache_dir()
    assert changed != original and changed.startswith(str(tmp_path / "nb" / "fastmlp" / "numba-"))
    (copy / "new_kernel.py").write_text("")
    assert intrinsics.kernel_cache_dir() not in (original, changed)  # a new file is a change too


def test_compiled_entry_computes_what_the_dispatcher_does_and_compiles_when_needed():
    """``compiled_entry`` gives a callable that takes the same arguments as the dispatcher
    and does the same work, without typing them: compiled now for types not seen yet."""
    @njit
    def scale_into(out, x, factor):
        for i in range(x.shape[0]):
            out[i] = factor * x[i]

    x = np.arange(5, dtype=np.float32)
    out = np.zeros(5, np.float32)
    assert not scale_into.signatures
    entry = intrinsics.compiled_entry(scale_into, (out, x, 2.5))
    assert len(scale_into.signatures) == 1  # compiled without being called
    entry(out, x, 2.5)
    np.testing.assert_array_equal(out, 2.5 * x)
    intrinsics.compiled_entry(scale_into, (out, x, 1.0))(out, x, 1.0)  # same types: no new compilation
    assert len(scale_into.signatures) == 1 and out.tolist() == x.tolist()
    out64 = np.zeros(5)
    intrinsics.compiled_entry(scale_into, (out64, x.astype(np.float64), 3.0))(out64, x.astype(np.float64), 3.0)
    np.testing.assert_array_equal(out64, 3.0 * np.arange(5))
    assert len(scale_into.signatures) == 2


_CACHED_MODULE = """
from numba import njit


@njit(cache=True)
def double(x):
    return 2 * x
"""

_ASK_CACHED = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import cached_module
from fastmlp.kernels import intrinsics
f32, f64 = np.zeros(3, np.float32), np.zeros(3)
print(intrinsics.cached(cached_module.double, (f32,)), intrinsics.cached(cached_module.double, (f64,)),
      len(cached_module.double.overloads))
if sys.argv[2] == "call":
    cached_module.double(f32)
    print(intrinsics.cached(cached_module.double, (f32,)), len(cached_module.double.overloads))
"""


def test_cached_says_whether_a_call_would_load_or_compile_and_compiles_nothing(tmp_path):
    """Three fresh processes on an empty cache: in the first nothing is cached until the call compiles the float32
    specialisation; the second finds it in the disk cache (not float64's) without loading it; with the index damaged
    (on which Numba's own call raises) the third finds none, and raises nothing."""
    (tmp_path / "cached_module.py").write_text(_CACHED_MODULE)
    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(pathlib.Path(__file__).resolve().parents[1]))

    def run(then):
        done = subprocess.run([sys.executable, "-c", _ASK_CACHED, str(tmp_path), then], env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.split()
    assert run("call") == ["False", "False", "0", "True", "1"]  # compiled here by the call
    assert run("call") == ["True", "False", "0", "True", "1"]  # on disk, nothing loaded by the question
    indexes = list(cache.rglob("*.double-*.nbi"))
    assert len(indexes) == 1
    indexes[0].write_bytes(b"not an index")
    assert run("ask") == ["False", "False", "0"]


def test_two_processes_adding_specialisations_at_once_keep_each_ones_code(monkeypatch, tmp_path):
    """Two writers that each read the index before the other added to it (two processes compiling
    two signatures of one kernel at once): each signature's data goes to a file of its own, and
    every entry the index keeps names its own signature's code."""
    monkeypatch.setattr(intrinsics.KernelCacheLocator, "_path", str(tmp_path))
    writers = [intrinsics.KeyedDataCacheFile(str(tmp_path), "dense_forward-60.py312", "stamp") for _ in range(2)]
    keys = [("float32 signature", "cpu"), ("float64 signature", "cpu")]
    for w in writers:
        monkeypatch.setattr(w, "_load_index", lambda: {})  # neither sees the other's entry
    for w, key in zip(writers, keys):
        w.save(key, ("code for", key))
    assert len(list(tmp_path.glob("*.nbc"))) == 2
    reader = intrinsics.KeyedDataCacheFile(str(tmp_path), "dense_forward-60.py312", "stamp")
    index = reader._load_index()
    assert index  # the last writer's entry; the other's is compiled again when next needed
    for key in index:
        assert reader.load(key) == ("code for", key)
    for w, key in zip(writers, keys):  # a writer saving again finds its own file
        assert w._load_data(w._data_name_for(key)) == ("code for", key)


def test_a_writer_between_anothers_read_and_write_of_the_index_waits_and_both_entries_stay(monkeypatch, tmp_path):
    """The race of two processes saving at once, made to happen: writer B saves (in a thread) while
    writer A holds the index it has read and not yet written. B waits for A's lock, then reads A's
    entry and adds its own: the index keeps both. (Without the lock B wrote in between and A's write
    replaced B's entry.)"""
    monkeypatch.setattr(intrinsics.KernelCacheLocator, "_path", str(tmp_path))
    a, b = (intrinsics.KeyedDataCacheFile(str(tmp_path), "dense_forward-60.py312", "stamp") for _ in range(2))
    key_a, key_b = ("float32 signature", "cpu"), ("float64 signature", "cpu")
    b_done = threading.Event()
    b_thread = threading.Thread(target=lambda: (b.save(key_b, ("code for", key_b)), b_done.set()))
    read = a._load_index

    def read_then_let_b_try():
        index = read()
        b_thread.start()
        b_done.wait(0.5)  # B has all the time it needs to write, unless it waits for A's lock
        return index
    monkeypatch.setattr(a, "_load_index", read_then_let_b_try)
    a.save(key_a, ("code for", key_a))
    b_thread.join(30)
    assert b_done.is_set()
    reader = intrinsics.KeyedDataCacheFile(str(tmp_path), "dense_forward-60.py312", "stamp")
    index = reader._load_index()
    assert sorted(index) == sorted([key_a, key_b])
    for key in index:
        assert reader.load(key) == ("code for", key)


def test_an_index_saved_where_the_file_system_refuses_locks_is_written_all_the_same(monkeypatch, tmp_path):
    monkeypatch.setattr(intrinsics.KernelCacheLocator, "_path", str(tmp_path))

    def refuse(f, op):
        raise OSError(37, "No locks available")
    monkeypatch.setattr(intrinsics.fcntl, "flock", refuse)
    w = intrinsics.KeyedDataCacheFile(str(tmp_path), "dense_forward-60.py312", "stamp")
    key = ("float32 signature", "cpu")
    w.save(key, ("code for", key))
    assert w.load(key) == ("code for", key)


def test_kernel_caches_name_data_files_by_signature_and_other_caches_stay_numbas(tmp_path):
    from fastmlp.kernels import network
    assert type(network.loss_and_grad._cache._cache_file) is intrinsics.KeyedDataCacheFile
    assert network.loss_and_grad._cache._cache_file._keyed

    @njit(cache=True)
    def elsewhere(x):
        return x + 1
    assert not elsewhere._cache._cache_file._keyed  # not a kernel: Numba's numbering
    code = ("import numpy as np\nfrom fastmlp.kernels.optimizers import optimizer_step\n"
            "from fastmlp.kernels.structs import Hyper\n"
            "h = Hyper(0, 0.1, 0.0, 0, 0.0, 0.9, 0.999, 1e-8, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)\n"
            "p = np.ones(5); optimizer_step(p, np.zeros((2, 5)), np.ones(5), h, 1)\n"
            "from fastmlp.kernels.intrinsics import kernel_cache_dir\nimport json\n"
            "print(json.dumps([p.tolist(), kernel_cache_dir()]))")
    p, folder = _run(code, env={"NUMBA_CACHE_DIR": str(tmp_path)})
    assert p == [0.9] * 5
    names = [f.name for f in pathlib.Path(folder).glob("*.nbc")]
    assert names and all(re.fullmatch(r".+\.[0-9a-f]{20}\.nbc", n) for n in names), names


# -- helpers compiled for linking only -------------------------------------------------------------

_LINKING_CHILD = """
import json
import numpy as np
from numba import njit
from fastmlp.kernels import intrinsics
from fastmlp.kernels.dense import col_sums  # a helper: no entry wrappers, in a kernel file


@njit
def user_sums(dout):  # not a kernel: compiled as Numba compiles, with the helper linked in
    db = np.zeros(dout.shape[1])
    col_sums(db, dout)
    return db


@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
def user_helper(x):  # no wrappers either, but not a kernel's
    return x + 1


@njit
def calls_user_helper(x):
    return user_helper(x)


sums, other_result = user_sums(np.arange(12.0).reshape(3, 4)), calls_user_helper(41)
(helper,) = col_sums.overloads.values()
(user,) = user_sums.overloads.values()
(other,) = user_helper.overloads.values()
print(json.dumps({"sums": sums.tolist(), "other": other_result,
                  "helper": [intrinsics.is_link_only(helper.library), helper.library.serialize_using_object_code()[1]],
                  "user": [intrinsics.is_link_only(user.library), user.library.serialize_using_object_code()[1]],
                  "other_kind": [intrinsics.is_link_only(other.library), other.library.serialize_using_object_code()[1]],
                  "hits": col_sums.stats.cache_hits.total(), "misses": col_sums.stats.cache_misses.total()}))
"""


def test_helpers_compile_for_linking_only_and_load_from_the_cache_for_linking_only(tmp_path):
    """A kernel helper compiles without machine code of its own (cached as bitcode), a function
    that calls it links it in and computes the right result; a second process loads the helper
    from the cache the same way and links it into a new function. Other functions, with or
    without wrappers, compile as Numba compiles them (machine code, cached as object code)."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    expected = {"sums": [12.0, 15.0, 18.0, 21.0], "other": 42, "helper": [True, "bitcode"],
                "user": [False, "object"], "other_kind": [False, "object"]}
    first = _run(_LINKING_CHILD, env)
    assert first == dict(expected, hits=0, misses=1)
    again = _run(_LINKING_CHILD, env)
    assert again == dict(expected, hits=1, misses=0)


def test_compiling_helpers_for_linking_only_is_installed_once():
    from numba.core import codegen
    assert intrinsics.compile_helpers_for_linking_only() is False  # the kernels' import did it
    assert codegen.CPUCodeLibrary._finalize_final_module is not intrinsics._LINK_ONLY["finalize"]
    assert numba.core.dispatcher.Dispatcher._insert is not intrinsics._LINK_ONLY["insert"]
    assert not intrinsics._in_kernels(__file__) and intrinsics._in_kernels(intrinsics.__file__)
    assert not intrinsics._in_kernels(None)


# -- helpers called from Python: a clear error -----------------------------------------------------

_FROM_PYTHON_CHILD = """
import json
import math
import numpy as np
from numba import njit
from fastmlp.kernels.activations import tanh  # an @overload declaration
from fastmlp.kernels.dense import col_sums  # a helper compiled for linking only (not inlined)


@njit
def uses_both(db, dout):  # compiles col_sums for these arrays and tanh for a float, as kernels do
    col_sums(db, dout)
    return tanh(0.5)


db, dout = np.zeros(4), np.arange(12.0).reshape(3, 4)
inside = [uses_both(db, dout) - math.tanh(0.5), db.tolist()]
errors = []
for call in (lambda: col_sums(db, dout), lambda: tanh(0.5)):  # the same argument types, from Python
    try:
        errors.append(["returned", repr(call())])
    except TypeError as e:
        errors.append(["TypeError", str(e)])
print(json.dumps({"inside": inside, "from_python": errors}))
"""


def test_a_helper_called_from_python_raises_naming_it_even_after_a_kernel_compiled_it(tmp_path):
    """A helper (no machine code of its own) called from Python with the argument types a compiled
    function already uses raises a TypeError naming it and what to call instead; before, the call
    jumped to an entry point that is not there and the interpreter died (a segmentation fault). An
    ``@overload`` declaration called from Python raises the same, where it returned None. Both
    still work inside compiled code. In a child process: a regression kills the process, not pytest."""
    out = _run(_FROM_PYTHON_CHILD, {"NUMBA_CACHE_DIR": str(tmp_path)})
    assert abs(out["inside"][0]) < 1e-12 and out["inside"][1] == [12.0, 15.0, 18.0, 21.0]
    (sums_kind, sums_error), (tanh_kind, tanh_error) = out["from_python"]
    assert sums_kind == tanh_kind == "TypeError", out["from_python"]
    assert sums_error.startswith("fastmlp.kernels.dense.col_sums runs only inside fastmlp's compiled kernels")
    assert tanh_error.startswith("fastmlp.kernels.activations.tanh runs only inside fastmlp's compiled kernels")
    assert "numba.njit" in sums_error and "fastmlp.kernels.__all__" in sums_error


_EVERY_HELPER_CHILD = """
import ast
import importlib
import inspect
import json
import pathlib
from numba.core.dispatcher import Dispatcher
import fastmlp.kernels
from fastmlp.kernels import intrinsics

found = {"helpers": {}, "declarations": {}, "exported_helpers": []}
for path in sorted(intrinsics.KERNELS_DIR.glob("*.py")):
    module = importlib.import_module("fastmlp.kernels." + path.stem)
    declared = [d.args[0].id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)
                for d in node.decorator_list
                if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "overload"]
    for name, obj in vars(module).items():
        is_declaration = name in declared
        if not (is_declaration or isinstance(obj, Dispatcher) and intrinsics.is_helper(obj)):
            continue
        if getattr(obj, "__module__", module.__name__) != module.__name__:
            continue  # imported from another kernel file: checked there
        if not is_declaration and obj.py_func.__name__ != name:
            continue  # another name for a helper (``matmul.TILE``): checked under its own
        func = obj if is_declaration else obj.py_func
        args = [None] * len(inspect.signature(func).parameters)
        try:
            outcome = "returned " + repr(obj(*args))
        except TypeError as e:
            outcome = str(e)
        kind = "declarations" if is_declaration else "helpers"
        found[kind][module.__name__ + "." + name] = outcome
    found.setdefault("declared", []).extend(module.__name__ + "." + name for name in declared)
for name in fastmlp.kernels.__all__:
    obj = getattr(fastmlp.kernels, name)
    if isinstance(obj, Dispatcher) and intrinsics.is_helper(obj):
        found["exported_helpers"].append(name)
print(json.dumps(found))
"""


def test_every_helper_and_overload_declaration_in_the_kernels_raises_when_python_calls_it():
    """Every function of the kernel files that has no Python entry (each helper, each ``@overload``
    declaration, found by reading the files) raises the TypeError that names it when Python calls
    it, whatever its arguments; no kernel that ``fastmlp.kernels`` exports is such a helper."""
    found = _run(_EVERY_HELPER_CHILD)
    helpers, declarations = found["helpers"], found["declarations"]
    assert len(helpers) > 50 and "fastmlp.kernels.optimizers.descend" in helpers, sorted(helpers)
    assert sorted(declarations) == sorted(found["declared"]) and len(declarations) >= 17
    for name, outcome in {**helpers, **declarations}.items():
        assert outcome.startswith(name + " runs only inside fastmlp's compiled kernels"), (name, outcome)
    assert found["exported_helpers"] == []


# -- the kernels' glue inlined without copies of its IR --------------------------------------------

def test_kernels_glue_inlines_without_copies_and_other_functions_as_numba_inlines_them(monkeypatch):
    """A function that calls the kernels' glue (``split.piece``, inline="always") inlines it
    without deep-copying its IR and computes what the glue's Python computes; a user's own
    inline="always" function is inlined with Numba's copies, as before."""
    from numba.core import inline_closurecall

    from fastmlp.kernels.split import piece
    copied = []

    class CountingCopy:
        @staticmethod
        def deepcopy(value, memo=None):
            copied.append(value)
            return copy.deepcopy(value, memo)

    monkeypatch.setattr(inline_closurecall, "copy", CountingCopy)

    @njit(inline="always")
    def user_glue(n):
        return n + 1

    @njit
    def calls_kernels_glue(n, parts, t):
        return piece(n, parts, t, 16)

    @njit
    def calls_user_glue(n):
        return user_glue(n)

    assert [calls_kernels_glue(100, 3, t) for t in range(3)] == [piece.py_func(100, 3, t, 16) for t in range(3)]
    assert copied == []
    assert inline_closurecall.copy is CountingCopy  # put back after inlining
    assert calls_user_glue(41) == 42
    assert copied  # Numba's own copies


def test_inlining_glue_without_copies_is_installed_once():
    from numba.core import inline_closurecall
    assert intrinsics.inline_glue_without_copies() is False  # the kernels' import did it
    assert inline_closurecall.InlineWorker.inline_function is not intrinsics._INLINE["inline_function"]


_INLINE_ON_IMPORT_CHILD = """
import json, sys
import fastmlp
from fastmlp.kernels import intrinsics
out = {"imported_by_fastmlp": "numba.core.inline_closurecall" in sys.modules,
       "replaced_before": "inline_function" in intrinsics._INLINE}
from numba import njit
from fastmlp.kernels.split import piece
@njit
def calls_kernels_glue(n, parts, t):
    return piece(n, parts, t, 16)
out["result"] = calls_kernels_glue(100, 3, 1)  # compiling imports Numba's module, then inlines piece
from numba.core import inline_closurecall
out["replaced"] = inline_closurecall.InlineWorker.inline_function is not intrinsics._INLINE["inline_function"]
out["finder_gone"] = not any(getattr(f, "name", None) == "numba.core.inline_closurecall" for f in sys.meta_path)
print(json.dumps(out))
"""


def test_inlining_without_copies_waits_for_numbas_module_then_replaces_it_before_any_inlining():
    """``import fastmlp`` does not import Numba's inlining module (a warm start never needs it);
    the first compile does, and from then on the kernels' glue inlines without copies."""
    out = _run(_INLINE_ON_IMPORT_CHILD)
    from fastmlp.kernels.split import piece
    assert out == {"imported_by_fastmlp": False, "replaced_before": False, "result": list(piece.py_func(100, 3, 1, 16)),
                   "replaced": True, "finder_gone": True}


def test_after_import_acts_now_on_an_imported_module_and_later_on_one_imported_later(tmp_path, monkeypatch):
    seen = []
    intrinsics.after_import("json", seen.append)
    assert seen == [sys.modules["json"]]
    (tmp_path / "fastmlp_probe_module.py").write_text("VALUE = 41\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fastmlp_probe_module", raising=False)
    finders = list(sys.meta_path)
    intrinsics.after_import("fastmlp_probe_module", lambda module: seen.append(module.VALUE + 1))
    intrinsics.after_import("fastmlp_probe_module", lambda module: seen.append(module.VALUE + 2))
    assert len(seen) == 1 and len(sys.meta_path) == len(finders) + 1  # waiting (one finder), nothing imported
    import fastmlp_probe_module  # noqa: F401
    assert seen[1:] == [42, 43]  # right after the module ran, before the import returned, in order
    assert sys.meta_path == finders  # the finder removed itself
    importlib.reload(fastmlp_probe_module)
    assert seen[1:] == [42, 43]  # once


# -- loading cached kernels without the compiler -----------------------------------------------

def _run(code, env=None, timeout=600):
    """Run ``code`` in a fresh interpreter; its last line of output, parsed as JSON."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_HASHING_MODULE = """
from numba import njit


@njit(cache=True)
def salted_hash(s):
    return hash(s + "!")  # the hash of a str: Numba's code links to the hash secret's symbols


@njit(cache=True)
def total(x):
    s = 0.0
    for v in x:
        s += v
    return s
"""

_HASHING_CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import user_kernels as k
from fastmlp.kernels import intrinsics
if sys.argv[2] == "lean":
    intrinsics.load_without_compiler(k.salted_hash)
    intrinsics.load_without_compiler(k.total)
out = {"hash_ok": k.salted_hash("abc") == hash("abc!"), "total": k.total(np.arange(5.0)),
       "set_up_compiler": "numba.np.arraymath" in sys.modules,
       "hits": sum(f.stats.cache_hits.total() for f in (k.salted_hash, k.total)),
       "misses": sum(f.stats.cache_misses.total() for f in (k.salted_hash, k.total))}
print(json.dumps(out))
"""


def test_cache_without_compiler_loads_what_numba_cached_and_links_the_hash_secret(tmp_path):
    """Compiled and cached by one process, the same functions load in the next through
    CacheWithoutCompiler: same results, cache hits only, and Numba's compiler never set up;
    code that hashes a str (linked to the symbols numba.cpython.hashing registers) loads too."""
    (tmp_path / "user_kernels.py").write_text(_HASHING_MODULE)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(_HASHING_CHILD.replace("sys.argv[1]", repr(str(tmp_path))).replace("sys.argv[2]", "'full'"), env)
    assert first["hash_ok"] and first["total"] == 10.0 and first["misses"] == 2
    again = _run(_HASHING_CHILD.replace("sys.argv[1]", repr(str(tmp_path))).replace("sys.argv[2]", "'lean'"), env)
    assert again == {"hash_ok": True, "total": 10.0, "set_up_compiler": False, "hits": 2, "misses": 0}


def test_cache_without_compiler_compiles_what_is_not_cached(tmp_path):
    @njit(cache=True)
    def double(x):
        return 2 * x

    intrinsics.load_without_compiler(double)
    assert type(double._cache) is intrinsics.CacheWithoutCompiler
    assert double(21) == 42 and double(1.5) == 3.0  # compiled (or loaded), whichever the cache holds
    assert len(double.signatures) == 2


def test_load_without_compiler_leaves_uncached_kernels_and_other_objects_alone():
    @njit
    def plain(x):
        return x

    before = type(plain._cache)
    assert intrinsics.load_without_compiler(plain) is plain and type(plain._cache) is before
    assert intrinsics.load_without_compiler(3) == 3


def test_the_kernels_python_calls_load_without_compiler():
    from fastmlp import kernels
    for name in ("train_epoch", "train_epoch_sgd", "train_epoch_online", "evaluate", "loss_and_grad", "forward",
                 "screened", "optimizer_step", "screen_rows"):
        assert type(getattr(kernels, name)._cache) is intrinsics.CacheWithoutCompiler, name


def test_mentions_finds_bytes_in_nested_tuples():
    assert intrinsics._mentions(("lib", "object", (b"..._numba_hashsecret_k0...", b"")), b"_numba_hashsecret_")
    assert not intrinsics._mentions(("lib", "object", (b"code", b"bitcode"), None), b"_numba_hashsecret_")
    assert not intrinsics._mentions("_numba_hashsecret_", b"_numba_hashsecret_")  # str is not code


def test_no_other_numba_module_registers_symbols_when_imported():
    """CacheWithoutCompiler loads code without importing the modules Numba's compiler set-up
    imports; a symbol one of them registers at import would then be missing (LLVM aborts
    the process). Every numba file that registers symbols is known here; a new one must be
    checked (registered at import: add it to intrinsics.IMPORT_TIME_SYMBOLS)."""
    root = pathlib.Path(numba.__file__).parent
    found = {str(p.relative_to(root)) for p in root.rglob("*.py")
             if "tests" not in p.parts and "add_symbol(" in p.read_text(errors="replace")}
    known = {
        "core/base.py",  # numba's C helpers: when the target context is made
        "core/externals.py",  # C math functions: when the target context is made
        "core/runtime/nrt.py",  # the runtime: rtsys.initialize, which CacheWithoutCompiler calls
        "np/ufunc/parallel.py",  # the thread pool: launch_threads, which the backend calls first
        "cpython/hashing.py",  # the hash secret: at import (IMPORT_TIME_SYMBOLS)
    }
    assert found == known, f"numba {numba.__version__}: files that register symbols changed: {sorted(found ^ known)}"
    assert set(intrinsics.IMPORT_TIME_SYMBOLS.values()) == {"numba.cpython.hashing"}


# -- SciPy's BLAS module by itself ----------------------------------------------------------------

_SCIPY_BLAS_CHILD = """
import json, sys
import llvmlite.binding
import numba
from numba.extending import get_cython_function_address
from fastmlp.kernels import intrinsics
out = {"loaded": intrinsics.load_scipy_blas(), "again": intrinsics.load_scipy_blas(),
       "linalg_imported": "scipy.linalg" in sys.modules}
out["sgemm"] = get_cython_function_address("scipy.linalg.cython_blas", "sgemm") > 0
import scipy.linalg.cython_blas  # what numba does: finds the loaded module
out["still_no_linalg"] = "scipy.linalg" not in sys.modules
import numpy as np
import scipy.linalg  # later, the whole package: the module is its attribute, as after a usual import
out["attribute"] = scipy.linalg.cython_blas is sys.modules["scipy.linalg.cython_blas"]
out["solve"] = scipy.linalg.solve(np.eye(2), np.ones(2)).tolist()
out["finder_gone"] = not any(getattr(f, "name", None) == "scipy.linalg" for f in sys.meta_path)
print(json.dumps(out))
"""


def test_load_scipy_blas_loads_the_module_alone_and_scipy_linalg_still_works():
    out = _run(_SCIPY_BLAS_CHILD)
    assert out == {"loaded": True, "again": False, "linalg_imported": False, "sgemm": True, "still_no_linalg": True,
                   "attribute": True, "solve": [1.0, 1.0], "finder_gone": True}


def test_load_scipy_blas_does_nothing_once_scipy_linalg_is_imported():
    import scipy.linalg  # noqa: F401  (this process: long imported)
    assert intrinsics.load_scipy_blas() is False


# -- typing arrays without numpy.ma -------------------------------------------------------------

def _arrays():
    """Arrays of every layout, dimension count, flag and supported dtype kind."""
    base = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    frozen = np.arange(6.0)
    frozen.flags.writeable = False
    out = [base, base[0], base[:, 1], base.T, np.asfortranarray(base[0]), base[..., ::2], frozen,
           np.zeros(0, np.float32), np.zeros((0, 3), np.int64), np.array(3.5), np.ones(4, np.bool_),
           np.ones(3, np.uint8), np.ones(2, np.complex64), np.zeros(2, [("a", np.float64), ("b", np.int32)]),
           np.zeros(4, dtype="datetime64[D]"),
           np.zeros(2, "U3"), np.zeros(2, np.float16)]
    unaligned = np.frombuffer(bytearray(8 * 5 + 1), np.uint8)[1:].view(np.float64)
    return out + [unaligned]


def test_arrays_are_typed_as_numba_types_them():
    from numba.core.typing.typeof import Purpose, typeof, typeof_impl
    intrinsics.type_arrays_without_numpy_ma()
    assert intrinsics.type_arrays_without_numpy_ma() is False  # once
    ours = typeof_impl.dispatch(np.ndarray)
    assert ours.without_numpy_ma
    import numpy.ma  # noqa: F401  (imported in this process, whatever the order of the tests)
    for a in _arrays():
        c = type("C", (), {"purpose": Purpose.argument})()
        expected = ours.numbas(a, c)
        with pytest.MonkeyPatch.context() as mp:
            mp.delitem(sys.modules, "numpy.ma")  # as before numpy.ma is imported
            assert ours(a, c) == expected, a
        assert ours(a, c) == expected and typeof(a) == expected


def test_unsupported_dtypes_and_masked_arrays_are_refused_as_numba_refuses_them():
    from numba.core import errors
    from numba.core.typing.typeof import typeof
    intrinsics.type_arrays_without_numpy_ma()
    with pytest.raises(errors.NumbaValueError, match="Unsupported array dtype"):
        with pytest.MonkeyPatch.context() as mp:
            mp.delitem(sys.modules, "numpy.ma", raising=False)
            typeof(np.zeros(2, np.longdouble))
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(errors.NumbaTypeError, match="MaskedArray"):
        typeof(masked)

