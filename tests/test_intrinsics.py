"""kernels/intrinsics.py, the one module that uses private Numba APIs.

Two kinds of checks: every private Numba name it relies on still exists (so a Numba
release that moves one fails here, naming it, rather than deep inside a kernel's
compilation), and every intrinsic and helper still does what the kernels expect of it:
borrowed views (same data as the NumPy views they replace), data pointers, scalars by
reference (through the BLAS gemm), prefetch hints, the kernels' cache folder and locator.
"""
import importlib
import re

import numba
import numpy as np
import pytest
from numba import njit

from fastmlp.kernels import intrinsics
from fastmlp.kernels.blas import gemm
from fastmlp.kernels.intrinsics import borrow, by_reference, data_pointer, matrix, prefetch, stack_block

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
    ("numba.np.ufunc.parallel", "_launch_threads"),
    ("numba.core.caching", "CacheImpl._locator_classes"),
    ("numba.core.caching", "_CacheLocator"),
    ("numba.core.dispatcher", "Dispatcher.typeof_pyval"),
    ("numba.core.dispatcher", "Dispatcher.compile"),
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
    assert intrinsics.xxgemm(numba.float64) is not None and intrinsics.xxgemm(numba.float32) is not None


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


EXERCISED = {
    "borrow": test_borrow_reads_and_writes_the_callers_array,
    "matrix": test_matrix_is_the_reshaped_slice_and_writes_through,
    "stack_block": test_stack_block_is_a_private_array_of_the_bytes_asked,
    "data_pointer": test_data_pointer_is_the_arrays_first_element,
    "by_reference": test_by_reference_holds_the_value,
    "prefetch": test_prefetch_changes_no_result,
    "float32_from_bits": test_float32_from_bits_is_a_bit_cast,
}


# -- the thread pool ------------------------------------------------------------------------------

def test_launch_threads_starts_the_pool_and_is_idempotent():
    intrinsics.launch_threads()
    intrinsics.launch_threads()
    assert numba.threading_layer() in ("tbb", "omp", "workqueue")
    assert set(intrinsics.available_threading_layers()) <= {"tbb", "omp"}


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
    assert stamp.endswith("numba-" + intrinsics.kernels_digest())
    path = loc.get_cache_path()
    assert path.endswith("numba-" + intrinsics.kernels_digest())
    # numba's own cache of a kernel uses it (decided when the kernel is defined)
    assert network.loss_and_grad._cache._cache_path == path


def test_kernel_cache_dir_honours_numba_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert intrinsics.kernel_cache_dir() == str(tmp_path / "nb" / "fastmlp" / ("numba-" + intrinsics.kernels_digest()))


def test_kernel_cache_dir_honours_xdg_cache_home_then_home(monkeypatch, tmp_path):
    digest = "numba-" + intrinsics.kernels_digest()
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
