"""Every use of a private Numba API, in one module: borrowed views, BLAS pointers, prefetch,
the floating-point mode (denormals flushed), the kernels' cache folder, loading cached
kernels, and the thread pool's start; with them the kernels' other intrinsics (a bit cast, a bit
count, a division by a refined reciprocal estimate), which need only Numba's public extension API.

Numba's public API cannot express these, so they reach into Numba's internals. When a
Numba release moves one of them, this module is the only one to change, and
``tests/test_intrinsics.py`` fails loudly naming what moved. ``pyproject.toml`` pins
numba to the versions this module was tested with.

Private names used (all imported here, nowhere else):
- ``numba.np.arrayobj.make_array``, ``populate_array``: array structs without an owner
  reference (:func:`borrow`, :func:`matrix`, :func:`rows`, :func:`stack_block`), and ``make_array``'s data
  pointer read without index checks (:func:`entry`);
- ``numba.core.cgutils``: stack slots and intrinsic declarations (prefetch, MXCSR:
  :func:`flush_denormals`, :func:`enter_fp_mode`, :func:`restore_fp_mode`; AMX: :func:`tile_configure`
  and the other ``tile_`` intrinsics);
- ``llvmlite.ir.FunctionAttributes`` as the set it is (``set.add``: it accepts only attributes
  without values), and the settings ``CPU_NAME`` and ``CPU_FEATURES`` of ``numba.core.config`` with
  ``llvmlite.binding.get_host_cpu_features``: the vector width a kernel is compiled for
  (:func:`wide_vectors`, :func:`vector_bytes`) and AMX's (:func:`tile_target`, :func:`tiles_compile_here`),
  through :func:`compiled_features` and :func:`compiled_for_host`;
- ``numba.np.linalg._BLAS``, ``ensure_blas``: the BLAS gemm entry point numba's np.dot uses;
  and the module Numba finds the BLAS in, ``scipy.linalg.cython_blas``, by its name
  (:func:`load_scipy_blas` loads it without the rest of ``scipy.linalg``); and
  ``numba.core.types.ExternalFunction`` with ``llvmlite.binding.add_symbol``: NumPy's own BLAS
  gemm called by a name registered with LLVM (:func:`kernel_blas`, :func:`xxgemm`);
- ``numba.np.ufunc.parallel._launch_threads`` and the ``tbbpool``/``omppool`` modules: the
  thread pool's start, and under TBB the wait for it (``tbbpool.synchronize``, :func:`launch_threads`);
- ``numba.core.caching.CacheImpl._locator_classes``: where compiled kernels are cached
  (:class:`KernelCacheLocator`); ``numba.core.caching.IndexDataCacheFile`` (its ``save``,
  ``_load_index``, ``_save_index``, ``_save_data``, ``_dump``, ``_index_name``) and the module
  name ``caching.IndexDataCacheFile`` that ``Cache`` builds it from: one data file per
  specialisation, safe for several processes (:class:`KeyedDataCacheFile`);
- ``numba.core.dispatcher.Dispatcher.typeof_pyval`` and the value
  ``numba.core.dispatcher.Dispatcher.compile`` returns (the compiled specialisation's own
  entry point): called without the dispatcher's typing of every argument (:func:`compiled_entry`);
- ``numba.core.caching.FunctionCache`` (its ``_cache_file``, ``_index_key``, ``_impl``,
  ``_enabled`` and ``_guard_against_spurious_io_errors``), a dispatcher's ``_cache``,
  ``numba.core.runtime.rtsys`` and the symbols ``numba.cpython.hashing`` registers: cached
  kernels loaded without setting up Numba's compiler (:class:`CacheWithoutCompiler`); with
  the index's ``_load_index`` and a dispatcher's ``overloads`` and ``targetctx``: whether a
  specialisation would load rather than compile (:func:`cached`);
- ``numba.core.typing.typeof.typeof_impl`` and ``numba.np.numpy_support.from_dtype``,
  ``map_layout``: arrays typed as Numba types them, without importing numpy.ma
  (:func:`type_arrays_without_numpy_ma`);
- the jit option ``_nrt`` (``numba.core.cpu.CPUTargetOptions._nrt``): kernels compiled without
  reference counting (:data:`NO_REFCOUNTS`, :data:`REFCOUNTS`);
- ``numba.core.typed_passes.BaseNativeLowering.run_pass`` (the library it makes when given
  none), ``numba.core.codegen.CPUCodeLibrary._finalize_final_module`` (with
  ``numba.core.codegen.CPUCodeLibrary._finalize_dynamic_globals`` and
  ``numba.core.codegen.CPUCodeLibrary._verify_declare_only_symbols``),
  ``numba.core.codegen.CPUCodeLibrary.serialize_using_object_code``,
  ``numba.core.codegen.CPUCodeLibrary._get_module_for_linking``,
  ``numba.core.codegen.CPUCodeLibrary._unserialize`` and ``numba.core.codegen.JITCPUCodegen.set_env``
  (its ``_engine``): the kernels' helpers compiled for linking only
  (:func:`compile_helpers_for_linking_only`);
- ``numba.core.dispatcher.Dispatcher._insert`` (the table of entry points Python calls look up)
  and ``_compile_for_args`` (what a Python call runs when that table has none), with a
  dispatcher's ``targetoptions`` and ``py_func``: a Python call of a helper raises a clear error
  (:func:`is_helper`, :func:`called_from_python`);
- ``numba.core.inline_closurecall.InlineWorker.inline_function``, which it replaces with
  ``numba.core.inline_closurecall.InlineWorker.run_untyped_passes`` and
  ``numba.core.inline_closurecall.InlineWorker.inline_ir``, the latter run with the module
  ``numba.core.inline_closurecall.copy`` (what it copies with) swapped: the kernels' glue inlined
  without copies of its IR (:func:`inline_glue_without_copies`).
"""
import contextlib
import ctypes
import functools
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import pathlib
import platform
import sys

try:
    import fcntl
except ImportError:  # Windows: no flock; the index is written as before (see KeyedDataCacheFile)
    fcntl = None

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import caching, cgutils, errors
from numba.core import config as numba_config
from numba.extending import intrinsic
from numba.core.runtime import rtsys

KERNELS_DIR = pathlib.Path(__file__).resolve().parent


# -- kernels without reference counting ---------------------------------------------------------
# Numba counts references to every array it passes around: each argument of each inlined
# function is an increment and a decrement, which LLVM then has to optimise away. The kernels
# allocate nothing and keep no array beyond a call (the caller holds them all), so they need no
# counts: the epoch kernel's unoptimised code was about 26,000 LLVM lines, 1,159 of them count
# calls with about 12,000 field reads around them, and compiling without them measured 0.4 s
# less of every cold start (momentum, 784-256-128-64-10). A kernel that allocated would fail to
# compile with these options, loudly, rather than leak. Without counts Numba returns only arrays
# passed in, so the few helpers that return a view they made count (``REFCOUNTS``: said
# explicitly, since a callee otherwise inherits its caller's choice).
NO_REFCOUNTS = {"_nrt": False}
REFCOUNTS = {"_nrt": True}


# -- views without reference counts --------------------------------------------------------------
# Every numba array view carries a reference to its owner's memory, and making or dropping one
# is an atomic increment or decrement (a locked instruction); ``reshape`` also calls a C helper.
# A batch-1 step makes a few dozen views, and those counts were a fifth of its time. Kernels
# instead borrow their arguments, so views made from them count nothing. Safe because the
# caller (Python) holds the arrays for the whole call and no kernel returns or stores a view.

def _borrowed_view(context, builder, array_type, data, shape, strides, itemsize):
    """An array struct of ``array_type`` over ``data`` with the given shape, strides and itemsize
    (LLVM values; shape and strides as lists or packed tuples) and no owner: what every view here is."""
    from numba.np.arrayobj import make_array, populate_array  # compiling only (see CacheWithoutCompiler)
    shape = cgutils.pack_array(builder, shape) if isinstance(shape, list) else shape
    strides = cgutils.pack_array(builder, strides) if isinstance(strides, list) else strides
    dst = make_array(array_type)(context, builder)
    populate_array(dst, data=data, shape=shape, strides=strides, itemsize=itemsize, meminfo=None)
    return dst._getvalue()


def _intp_args(context, builder, sig, args):
    """An intrinsic's integer arguments after its first, as intp values."""
    return [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:])]


@intrinsic
def borrow(typingctx, arr):
    """``arr`` without its owner reference: views of it are not reference-counted."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        from numba.np.arrayobj import make_array  # compiling only (see CacheWithoutCompiler)
        src = make_array(sig.args[0])(context, builder, args[0])
        return _borrowed_view(context, builder, sig.return_type, src.data, src.shape, src.strides, src.itemsize)
    return arr(arr), codegen


@intrinsic
def matrix(typingctx, buf, offset, rows, cols):
    """``buf[offset:offset + rows * cols]`` as a C-contiguous (rows, cols) view, borrowed.

    ``buf`` is a contiguous 1-D array; the range must lie inside it (not checked).
    """
    if not (isinstance(buf, types.Array) and buf.ndim == 1 and buf.layout == "C"):
        return None
    ret = types.Array(buf.dtype, 2, "C")

    def codegen(context, builder, sig, args):
        from numba.np.arrayobj import make_array  # compiling only (see CacheWithoutCompiler)
        src = make_array(sig.args[0])(context, builder, args[0])
        off, m, n = _intp_args(context, builder, sig, args)
        itemsize = src.itemsize
        return _borrowed_view(context, builder, ret, builder.gep(src.data, [off]), [m, n],
                              [builder.mul(n, itemsize), itemsize], itemsize)
    return ret(buf, offset, rows, cols), codegen


@intrinsic
def entry(typingctx, arr, i, j):
    """``arr[i, j]`` of a C-contiguous 2-D array, for 0 <= i < rows and 0 <= j < columns (not
    checked): the element without the negative-index logic Numba's indexing compiles at each use.
    """
    if not (isinstance(arr, types.Array) and arr.layout == "C" and arr.ndim == 2
            and isinstance(i, types.Integer) and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        from numba.np.arrayobj import make_array  # compiling only (see CacheWithoutCompiler)
        src = make_array(sig.args[0])(context, builder, args[0])
        r, c = _intp_args(context, builder, sig, args)
        columns = cgutils.unpack_tuple(builder, src.shape, 2)[1]
        return builder.load(builder.gep(src.data, [builder.add(builder.mul(r, columns), c)]))
    return arr.dtype(arr, i, j), codegen


@intrinsic
def rows(typingctx, arr, start, n):
    """``arr[start:start + n]`` (along the first axis) of a C-contiguous array, borrowed.

    The rows must lie inside ``arr`` (not checked), or ``n`` be 0. The same view as Numba's
    slice, without the slice's general logic (negative bounds, clamping, steps), which a kernel's
    glue otherwise repeats at every slice it makes: fewer instructions to compile.
    """
    if not (isinstance(arr, types.Array) and arr.layout == "C" and arr.ndim >= 1):
        return None

    def codegen(context, builder, sig, args):
        from numba.np.arrayobj import make_array  # compiling only (see CacheWithoutCompiler)
        src = make_array(sig.args[0])(context, builder, args[0])
        first, count = _intp_args(context, builder, sig, args)
        shape = cgutils.unpack_tuple(builder, src.shape, sig.args[0].ndim)
        row = context.get_constant(types.intp, 1)
        for extent in shape[1:]:
            row = builder.mul(row, extent)
        return _borrowed_view(context, builder, sig.return_type, builder.gep(src.data, [builder.mul(first, row)]),
                              [count] + shape[1:], src.strides, src.itemsize)
    return arr(arr, start, n), codegen


STACK_BLOCK_ALIGN = 64  # a cache line: whole vector and tile rows load from one line


@intrinsic
def stack_block(typingctx, like, nbytes):
    """A C-contiguous 1-D array of ``nbytes // like.itemsize`` elements of ``like``'s dtype on the
    calling kernel's stack (``nbytes`` a literal int), starting on a 64-byte boundary; uninitialised, no owner.

    Its length is a compile-time constant and nothing else can point into it, so LLVM keeps
    it in registers in a loop that accumulates into it over a constant length (a row block's
    partial sums: ``kernels.inference``). Valid until the calling kernel returns: never
    return or store it.
    """
    if not (isinstance(like, types.Array) and isinstance(nbytes, types.IntegerLiteral)):
        return None
    ret = types.Array(like.dtype, 1, "C")

    def codegen(context, builder, sig, args):
        ll = context.get_data_type(like.dtype)
        itemsize = context.get_abi_sizeof(ll)
        size = max(1, nbytes.literal_value // itemsize)
        intp = context.get_value_type(types.intp)
        slot = cgutils.alloca_once(builder, ll, size=size)
        slot.align = STACK_BLOCK_ALIGN
        return _borrowed_view(context, builder, ret, slot, [intp(size)], [intp(itemsize)], intp(itemsize))
    return ret(like, nbytes), codegen


# -- vector width ---------------------------------------------------------------------------------
# LLVM compiles for 256-bit vectors on most AVX-512 CPUs (its 'prefer-256-bit' tuning: wide vectors
# once slowed the clock), also where a register-blocked loop wants all 32 of the 512-bit registers.
# A function attribute asks for them in one function only (clang's -mprefer-vector-width=512).

# The attribute written as LLVM IR prints it (llvmlite's attribute sets take names without values).
WIDE_VECTORS = '"prefer-vector-width"="512"'


@functools.lru_cache(maxsize=None)
def vector_bytes():
    """The width in bytes of the widest vector registers the kernels are compiled for: 64 with
    AVX-512 (the host's features, or those of ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` when set),
    else 32 (AVX2 and older x86, and other CPUs: a guess that only sizes register blocks)."""
    return 64 if "+avx512f" in compiled_features().split(",") else 32


def compiled_for_host():
    """Whether the kernels are compiled for this very CPU (no ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``)."""
    return not (numba_config.CPU_NAME or numba_config.CPU_FEATURES)


def compiled_features():
    """The target features the kernels are compiled with, as LLVM writes them ('+avx2,+fma,...'), as Numba
    chooses them: ``NUMBA_CPU_FEATURES`` when set, else the host's, even when ``NUMBA_CPU_NAME`` names
    another CPU (a name alone changes the tuning, not the instructions: to compile for Zen 1 on an AVX-512
    machine, ``NUMBA_CPU_NAME=znver1 NUMBA_CPU_FEATURES=-avx512f`` takes that CPU's own features)."""
    features = numba_config.CPU_FEATURES
    return llvm.get_host_cpu_features().flatten() if features is None else features


@intrinsic
def wide_vectors(typingctx):
    """Compile the calling function for the widest vector registers (512-bit with AVX-512), and
    never inline it into its callers (which would compile it at their width). For a function whose
    loops are register-blocked for them (``matmul``); nothing happens at run time."""
    wide = vector_bytes() == 64

    def codegen(context, builder, sig, args):
        attributes = builder.function.attributes
        if wide:  # (asked of a CPU without them, LLVM splits 512-bit vectors into pairs: slower still)
            set.add(attributes, WIDE_VECTORS)  # not in llvmlite's list of known attributes
        attributes.add("noinline")
        return context.get_dummy_value()
    return types.none(), codegen


# -- BLAS ----------------------------------------------------------------------------------------
# The kernels call one of two BLAS libraries (``kernel_blas``):
# - 'numpy': the OpenBLAS NumPy's own wheels link, built with 64-bit integers (ILP64). It is what
#   ``np.matmul`` and the peers' NumPy run, and it is usually newer than SciPy's: NumPy 2.4.6's
#   OpenBLAS 0.3.31 against SciPy 1.17.1's 0.3.30 here (Zen 4) ran the kernels' 64x784x256 forward
#   product at 83.0 GFLOP/s against 72.8 on one thread, 161 against 140 on two (the README has the
#   table). Its gemm is found by its symbol through NumPy's core extension (the loader searches the
#   libraries that extension links) and registered with LLVM under a fixed name (``NUMPY_GEMM``), so
#   compiled kernels name no address and load from the cache in any process that registers it again.
# - 'scipy': Numba's own entry point (``numba_xxgemm``), SciPy's BLAS behind it: when NumPy links no
#   such gemm (a system BLAS, MKL), or when the environment variable ``FASTMLP_BLAS`` says 'scipy'.
# The choice is part of the kernels' cache folder (``kernel_cache_dir``): the compiled calls differ.

BLAS_VARIABLE = "FASTMLP_BLAS"
BLAS_CHOICES = ("auto", "numpy", "scipy")
NUMPY_GEMM = {"s": "fastmlp_numpy_sgemm64", "d": "fastmlp_numpy_dgemm64"}  # the names the kernels call it by
# Its symbols: NumPy >= 2 wheels (scipy-openblas64), then NumPy 1.22-1.26 wheels (openblas64_).
ILP64_GEMM_SYMBOLS = ("scipy_{}gemm_64_", "{}gemm_64_")
_kernel_blas = None  # the choice, made once per process


def numpy_blas_library():
    """NumPy's core module as a ``ctypes`` library, through which the BLAS it links is found (its symbols, and
    OpenBLAS's own: ``fastmlp.blas_spin``), or None."""
    try:
        from numpy._core import _multiarray_umath as core
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as core
    try:
        return ctypes.CDLL(core.__file__)
    except OSError:
        return None


def numpy_gemm_addresses(symbols=ILP64_GEMM_SYMBOLS):
    """The addresses of sgemm and dgemm (``{'s': ..., 'd': ...}``) of the 64-bit-integer BLAS NumPy
    links, found by the first of ``symbols`` that names both, or None."""
    library = numpy_blas_library()
    if library is None:
        return None
    for symbol in symbols:
        try:
            return {t: ctypes.cast(getattr(library, symbol.format(t)), ctypes.c_void_p).value for t in "sd"}
        except AttributeError:
            continue
    return None


def kernel_blas():
    """The BLAS the kernels call, 'numpy' or 'scipy' (see above), chosen once per process by the
    environment variable ``FASTMLP_BLAS`` ('auto', the default: NumPy's when it has one; 'numpy':
    NumPy's or an error; 'scipy'). Choosing NumPy's registers its gemm with LLVM."""
    global _kernel_blas
    if _kernel_blas is None:
        asked = os.environ.get(BLAS_VARIABLE, "auto").strip().lower() or "auto"
        if asked not in BLAS_CHOICES:
            raise ValueError(f"{BLAS_VARIABLE}={os.environ[BLAS_VARIABLE]!r} is not a BLAS choice: use one of "
                             f"{', '.join(BLAS_CHOICES)} (or leave it unset: auto)")
        addresses = None if asked == "scipy" else numpy_gemm_addresses()
        if addresses is None and asked == "numpy":
            raise ValueError(f"{BLAS_VARIABLE}=numpy, but the NumPy here links no 64-bit-integer OpenBLAS gemm "
                             f"(one of {', '.join(s.format('s') for s in ILP64_GEMM_SYMBOLS)}): unset it or set "
                             f"it to scipy")
        if addresses is not None:
            for t, address in addresses.items():
                llvm.add_symbol(NUMPY_GEMM[t], address)
        _kernel_blas = "numpy" if addresses is not None else "scipy"
    return _kernel_blas


def xxgemm(dtype):
    """The external BLAS gemm function the kernels call for ``dtype``, and whether it is NumPy's:
    NumPy's (``kernel_blas``), called as Fortran's ``?gemm`` with every argument by reference and
    64-bit integers; or Numba's (``numba_xxgemm``, SciPy's BLAS behind it), called with a type
    code first and the integers by value."""
    if kernel_blas() == "numpy":
        char, i64, f = types.CPointer(types.int8), types.CPointer(types.int64), types.CPointer(dtype)
        name = NUMPY_GEMM["s" if dtype == types.float32 else "d"]
        return types.ExternalFunction(name, types.void(char, char, i64, i64, i64, f, f, i64, f, i64, f, f, i64)), True
    from numba.np.linalg import _BLAS, ensure_blas  # compiling only (see CacheWithoutCompiler)
    ensure_blas()  # scipy present, or a clear error now
    return _BLAS().numba_xxgemm(dtype), False


SCIPY_BLAS = "scipy.linalg.cython_blas"


def load_scipy_blas():
    """Load SciPy's BLAS module (:data:`SCIPY_BLAS`) by itself, without the rest of ``scipy.linalg``.

    Numba needs that module, and only it: the first time it compiles or loads any code it
    checks for it (``import scipy.linalg.cython_blas`` in ``numba.np.arraymath``), and its
    ``numba_xxgemm`` finds the BLAS functions in it by that name. Imported the usual way,
    the package ``scipy.linalg`` comes first, with most of SciPy behind it (about 0.1 s,
    more than loading every cached kernel). Loaded here from its file and registered under
    its name, those imports find it. ``scipy.linalg`` stays unimported until something
    imports it; the module is then set as its attribute, as the import system does for a
    submodule it loads itself (:func:`after_import`).

    Does nothing when the module or ``scipy.linalg`` is already imported, or when SciPy or
    the module cannot be found or loaded (Numba's own import then gives its usual error).
    Returns whether it loaded the module.
    """
    if SCIPY_BLAS in sys.modules or "scipy.linalg" in sys.modules:
        return False
    try:
        scipy_spec = importlib.util.find_spec("scipy")
    except (ImportError, ValueError):
        return False
    if scipy_spec is None or not scipy_spec.submodule_search_locations:
        return False
    for folder in scipy_spec.submodule_search_locations:
        finder = importlib.machinery.FileFinder(
            os.path.join(folder, "linalg"),
            (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES))
        spec = finder.find_spec(SCIPY_BLAS)
        if spec is not None:
            break
    else:
        return False
    try:
        module = importlib.util.module_from_spec(spec)
        sys.modules[SCIPY_BLAS] = module
        spec.loader.exec_module(module)
    except Exception:  # noqa: BLE001  (an unusual SciPy: leave it to the normal import)
        sys.modules.pop(SCIPY_BLAS, None)
        return False
    after_import("scipy.linalg", _attach_scipy_blas)
    return True


def _attach_scipy_blas(linalg):
    """Sets the module :func:`load_scipy_blas` loaded as the attribute ``cython_blas`` of the
    package ``scipy.linalg`` once that is imported: so ``import scipy.linalg.cython_blas;
    scipy.linalg.cython_blas.<name>`` works as usual."""
    if SCIPY_BLAS in sys.modules:
        linalg.cython_blas = sys.modules[SCIPY_BLAS]


def after_import(name, action):
    """Calls ``action(module)`` with the module ``name`` once it is imported: now if it is
    already, else right after the usual import system has run it (:class:`_AfterImport`; actions
    for the same module run in the order given). So a module can be adjusted without being
    imported before anything needs it."""
    module = sys.modules.get(name)
    if module is not None:
        action(module)
        return
    for finder in sys.meta_path:
        if isinstance(finder, _AfterImport) and finder.name == name:
            finder.actions.append(action)
            return
    sys.meta_path.insert(0, _AfterImport(name, [action]))


class _AfterImport(importlib.abc.MetaPathFinder):
    """The finder of :func:`after_import`: when the module ``name`` is imported, it removes
    itself, takes the usual finders' spec and has its loader call each of ``actions`` with the
    module right after running it (before the import statement returns)."""

    def __init__(self, name, actions):
        self.name, self.actions = name, actions

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the usual finders' spec (this one is gone)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module  # this module's own loader object only
        actions = self.actions

        def exec_then_act(module):
            exec_module(module)
            for action in actions:
                action(module)
        spec.loader.exec_module = exec_then_act
        return spec


@intrinsic
def data_pointer(typingctx, arr):
    """The data pointer of a contiguous array."""
    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, args[0]).data
    return types.CPointer(arr.dtype)(arr), codegen


@intrinsic
def by_reference(typingctx, value):
    """A pointer to a stack slot holding ``value`` (BLAS takes scalars by reference)."""
    def codegen(context, builder, sig, args):
        return cgutils.alloca_once_value(builder, args[0])
    return types.CPointer(value)(value), codegen


# -- cache hints ---------------------------------------------------------------------------------

@intrinsic
def prefetch(typingctx, arr, i):
    """Hint the cache line holding arr[i] into cache (llvm.prefetch: read, keep); changes no result."""
    def codegen(context, builder, sig, args):
        ptr = builder.gep(context.make_array(sig.args[0])(context, builder, args[0]).data, [args[1]])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.none(arr, i), codegen


# -- bit casts ------------------------------------------------------------------------------------

@intrinsic
def float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bits are the low 32 bits of the integer ``bits`` (a bit
    cast; vectorises)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        low = context.cast(builder, args[0], sig.args[0], types.int32)
        return builder.bitcast(low, ir.FloatType())
    return types.float32(bits), codegen


@intrinsic
def popcount(typingctx, bits):
    """How many bits of the unsigned integer ``bits`` are set, as its type (LLVM's ctpop: one popcnt,
    and vectorised with AVX-512's vpopcntq where the CPU has it)."""
    if not (isinstance(bits, types.Integer) and not bits.signed):
        return None

    def codegen(context, builder, sig, args):
        return builder.ctpop(args[0])
    return bits(bits), codegen


# -- division by a refined reciprocal estimate ---------------------------------------------------

@intrinsic
def estimated_quotient(typingctx, a, b):
    """a / b; for float32 an LLVM fdiv with the flags 'arcp' and 'ninf', which vector loops compute
    as a times the CPU's reciprocal estimate of b refined by one Newton step (rcpps or rcp14ps and
    two FMAs, where the divide unit takes 5-10 cycles a vector): within a few units in the last
    place of the rounded quotient. For an optimizer's denominator, b = sqrt(state) + eps > 0: a b
    below the smallest normal float32 (only with a denormal eps) is raised to it, which the
    estimate would read as 0 (a = 0 then, and so is the quotient); b = inf (a diverged state)
    gives NaN. float64 and other types: the exact division."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        x, y = args
        if sig.return_type != types.float32:
            return builder.fdiv(x, y)
        tiny = ir.Constant(ir.FloatType(), float(np.finfo(np.float32).tiny))
        y = builder.select(builder.fcmp_ordered("<", y, tiny), tiny, y)
        return builder.fdiv(x, y, flags=("arcp", "ninf"))
    return a(a, b), codegen


# -- AMX tiles ------------------------------------------------------------------------------------
# Intel's AMX (Sapphire Rapids and later): eight tile registers of up to 16 rows x 64 bytes and a
# product of bfloat16 tiles into a float32 tile (``kernels.tiles``). The instructions are LLVM's
# x86 intrinsics, the tile numbers immediates (literal ints). A function that uses them is compiled
# with the AMX features added to the kernels' own (``tile_target``), whatever CPU the kernels are
# compiled for, so that every CPU compiles it; only a CPU with AMX, in a process the kernel has
# allowed to use it (``fastmlp.backends.tiles``), may run it.

TILE_ROWS = 16  # rows of every tile as ``tile_configure`` sets them
TILE_BYTES_PER_ROW = 64
AMX_FEATURES = "+amx-tile,+amx-bf16"


def _tile_target_attribute():
    features = compiled_features()
    return f'"target-features"="{features + "," if features else ""}{AMX_FEATURES}"'


def tiles_compile_here():
    """Whether the kernels are compiled for this very CPU (no ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``)
    and it has AMX's tiles and bfloat16 products (LLVM's host features): what running ``kernels.tiles``
    needs of the compiler; the operating system must allow it too (``fastmlp.backends.tiles``)."""
    if not compiled_for_host():
        return False
    features = llvm.get_host_cpu_features()
    return bool(features.get("amx-tile") and features.get("amx-bf16"))


def _call_void(builder, name, argument_types, arguments):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), argument_types), name)
    builder.call(fn, arguments)


@intrinsic
def tile_target(typingctx):
    """Compile the calling function with the AMX instructions (the kernels' target features and
    AMX's), and never inline it into a caller compiled without them. Nothing happens at run time."""
    def codegen(context, builder, sig, args):
        set.add(builder.function.attributes, _tile_target_attribute())  # a string attribute: see WIDE_VECTORS
        builder.function.attributes.add("noinline")
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def tile_configure(typingctx):
    """Set every tile register to ``TILE_ROWS`` rows of ``TILE_BYTES_PER_ROW`` bytes (ldtilecfg, palette 1)."""
    def codegen(context, builder, sig, args):
        i8 = ir.IntType(8)
        config = bytearray(64)
        config[0] = 1  # palette 1
        for t in range(8):
            config[16 + 2 * t:18 + 2 * t] = TILE_BYTES_PER_ROW.to_bytes(2, "little")
            config[48 + t] = TILE_ROWS
        slot = cgutils.alloca_once_value(builder, ir.Constant(ir.ArrayType(i8, 64), config))
        _call_void(builder, "llvm.x86.ldtilecfg", [i8.as_pointer()], [builder.bitcast(slot, i8.as_pointer())])
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def tile_release(typingctx):
    """Release the tile registers (tilerelease): the thread's next context switch saves no tile state."""
    def codegen(context, builder, sig, args):
        _call_void(builder, "llvm.x86.tilerelease", [], [])
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def tile_zero(typingctx, t):
    """Tile t (a literal int) = 0."""
    if not isinstance(t, types.IntegerLiteral):
        return None

    def codegen(context, builder, sig, args):
        _call_void(builder, "llvm.x86.tilezero", [ir.IntType(8)], [ir.IntType(8)(t.literal_value)])
        return context.get_dummy_value()
    return types.none(t), codegen


def _tile_move(name, t, arr, offset, stride):
    """The signature and code of a tile load or store (``name``) of tile t at arr's element ``offset``."""
    if not (isinstance(t, types.IntegerLiteral) and isinstance(arr, types.Array)
            and isinstance(offset, types.Integer) and isinstance(stride, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        _, arr_value, offset_value, stride_value = args
        data = context.make_array(sig.args[1])(context, builder, arr_value).data
        i8, i64 = ir.IntType(8), ir.IntType(64)
        address = builder.bitcast(builder.gep(data, [offset_value]), i8.as_pointer())
        stride_i64 = context.cast(builder, stride_value, sig.args[3], types.int64)
        _call_void(builder, name, [i8, i8.as_pointer(), i64], [i8(t.literal_value), address, stride_i64])
        return context.get_dummy_value()
    return types.none(t, arr, offset, stride), codegen


@intrinsic
def tile_load(typingctx, t, arr, offset, stride):
    """Tile t (a literal int) = ``TILE_ROWS`` rows of ``TILE_BYTES_PER_ROW`` bytes from arr, the first at
    element ``offset`` of arr's data, each ``stride`` bytes after the one before (tileloadd; no index checks).
    Rows that start on a 64-byte boundary load fastest."""
    return _tile_move("llvm.x86.tileloadd64", t, arr, offset, stride)


@intrinsic
def tile_store(typingctx, t, arr, offset, stride):
    """The rows of tile t (a literal int) into arr, where ``tile_load`` would read them (tilestored)."""
    return _tile_move("llvm.x86.tilestored64", t, arr, offset, stride)


@intrinsic
def tile_dot_bf16(typingctx, c, a, b):
    """Tile c += tile a . tile b (literal ints, three different tiles; tdpbf16ps): a holds 16 rows of 32
    bfloat16, b 16 rows of 16 pairs of bfloat16 (b's rows k and k + 1 interleaved), c 16 x 16 float32;
    each product is exact in float32 and the sums round to nearest, denormals read and written as 0."""
    if not all(isinstance(t, types.IntegerLiteral) for t in (c, a, b)):
        return None
    if len({t.literal_value for t in (c, a, b)}) < 3:  # the CPU would raise an invalid-opcode fault
        raise errors.NumbaValueError(f"tile_dot_bf16 needs three different tiles; got {c.literal_value}, "
                                     f"{a.literal_value}, {b.literal_value}")

    def codegen(context, builder, sig, args):
        i8 = ir.IntType(8)
        _call_void(builder, "llvm.x86.tdpbf16ps", [i8, i8, i8], [i8(t.literal_value) for t in (c, a, b)])
        return context.get_dummy_value()
    return types.none(c, a, b), codegen


# -- the floating-point mode: denormals flushed --------------------------------------------------

# MXCSR's flush-to-zero (bit 15: results below the smallest normal become 0) and
# denormals-are-zero (bit 6: such inputs read as 0) bits, as XLA sets them for every computation
# and torch.set_flush_denormal(True) does.
FLUSH_DENORMALS_BITS = 0x8040
# Where MXCSR exists (x86-64); elsewhere the two intrinsics below compile to nothing.
HAS_MXCSR = platform.machine().lower() in ("x86_64", "amd64")


def _mxcsr_call(builder, name, slot):
    i8p = ir.IntType(8).as_pointer()
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p]), name)
    builder.call(fn, [builder.bitcast(slot, i8p)])


def _swap_mxcsr(builder, new_mode):
    """Emits: read this thread's MXCSR, write ``new_mode(old)`` (an i32 from the old value) into it;
    the old value is returned (i32; 0 where there is no MXCSR, and nothing is emitted)."""
    i32 = ir.IntType(32)
    if not HAS_MXCSR:
        return i32(0)
    slot = cgutils.alloca_once(builder, i32)
    _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
    old = builder.load(slot)
    builder.store(new_mode(old), slot)
    _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
    return old


@intrinsic
def flush_denormals(typingctx, on):
    """With ``on`` true, this thread's floating-point mode flushes denormals to zero (MXCSR's
    FTZ and DAZ bits), until ``restore_fp_mode`` gets the mode this returns (uint32; 0 where
    there is no MXCSR). Each operation on or into a denormal float32 then costs what a normal one
    does: on this project's Zen 4 an Adam update with denormal moments took 1.6-2x as long."""
    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        bits = builder.select(context.cast(builder, args[0], sig.args[0], types.boolean), i32(FLUSH_DENORMALS_BITS),
                              i32(0))
        return _swap_mxcsr(builder, lambda old: builder.or_(old, bits))
    return types.uint32(on), codegen


@intrinsic
def enter_fp_mode(typingctx, mode):
    """Sets this thread's floating-point mode to ``mode`` (what ``flush_denormals`` returned on
    another thread: each piece of a parallel region takes its caller's mode this way, so that a
    worker thread flushes denormals when the caller does) and returns the mode it had, for
    ``restore_fp_mode``."""
    def codegen(context, builder, sig, args):
        return _swap_mxcsr(builder, lambda old: context.cast(builder, args[0], sig.args[0], types.uint32))
    return types.uint32(mode), codegen


@intrinsic
def restore_fp_mode(typingctx, mode):
    """Sets this thread's floating-point mode back to ``mode``, what ``flush_denormals`` returned."""
    def codegen(context, builder, sig, args):
        if HAS_MXCSR:
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(context.cast(builder, args[0], sig.args[0], types.uint32), slot)
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()
    return types.none(mode), codegen


# -- the thread pool -----------------------------------------------------------------------------

def available_threading_layers():
    """The thread-safe layers whose libraries load here, best first ('tbb', 'omp'); may be empty."""
    found = []
    for name in ("tbb", "omp"):
        try:
            importlib.import_module(f"numba.np.ufunc.{name}pool")
            found.append(name)
        except (ImportError, OSError):
            continue
    return found


def launch_threads():
    """Start Numba's thread pool now (no-op once started), and under TBB wait for its start.

    A process whose first call loads a cached parallel kernel before any parallel region has
    run can abort ("LLVM ERROR: Symbol not found: allocate_sched"): the backend calls this
    before its first kernel.

    Numba's TBB pool starts by queueing an empty task in its task group, which a worker thread
    runs, or else the next wait on the group; nothing waits on it until the interpreter exits. In
    a process of one CPU (``taskset -c 0``, a container of one core) TBB starts no worker, so the
    task is still queued when a fork shuts the pool down (Numba's ``prepare_fork``), and the
    parent's exit then waits for it forever (Numba's ``unload_tbb``). Waiting here runs it at once.
    """
    from numba import threading_layer
    from numba.np.ufunc.parallel import _launch_threads
    _launch_threads()
    if threading_layer() == "tbb":
        from numba.np.ufunc import tbbpool
        ctypes.CFUNCTYPE(None)(tbbpool.synchronize)()  # the task group's wait


# -- calling a compiled specialisation directly ------------------------------------------------

def compiled_entry(dispatcher, args):
    """The compiled specialisation of ``dispatcher`` for the Numba types of ``args``, as a
    function taking the same arguments: compiled (or loaded from the cache) now if needed.

    Calling it skips the dispatcher's typing of every argument on each call (about 1-2 us for
    a kernel taking a ``Net``), which matters where a whole call takes a few microseconds.
    It must only be given arguments of exactly those types (same dtypes, dimensions, layout,
    alignment and writability): nothing checks them.
    """
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    return dispatcher.compile(sig)


# -- where compiled kernels are cached ----------------------------------------------------------

def kernels_digest():
    """A hash of every kernel source file: any change to any of them is a new cache."""
    digest = hashlib.sha256()
    for path in sorted(KERNELS_DIR.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def kernel_cache_dir():
    """The folder compiled kernels go to: ``<root>/numba-<digest of the kernel sources>-<kernel_blas()>``.

    Numba checks only a function's own file when it loads a cached version, so a change in a
    kernel it calls from another file would leave a stale (even crashing) binary in use
    (numba #9483); keying the folder on every kernel file makes any change a fresh cache.
    The root is ``$NUMBA_CACHE_DIR/fastmlp`` when the user set that variable (still keyed),
    else ``$XDG_CACHE_HOME/fastmlp`` or ``~/.cache/fastmlp``.
    """
    root = os.environ.get("NUMBA_CACHE_DIR")
    if root:
        root = os.path.join(root, "fastmlp")
    else:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "fastmlp")
    return os.path.join(root, f"numba-{kernels_digest()}-{kernel_blas()}")


class KernelCacheLocator(caching._CacheLocator):
    """Numba cache locator for this package's kernels only (``from_function`` declines others).

    The folder is created when the first compiled kernel is saved, not at import.
    """

    _path = None  # computed once per process

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file) if _in_kernels(py_file) else None

    def get_cache_path(self):
        if KernelCacheLocator._path is None:
            KernelCacheLocator._path = kernel_cache_dir()
        return KernelCacheLocator._path

    def get_source_stamp(self):
        # The folder is already keyed on the content of every kernel file: a stamp of that
        # content (not the file's mtime) lets two checkouts of the same sources share a cache
        # instead of recompiling over each other's entries. Numba asks for it as each kernel
        # is defined: the folder's name, hashed once per process (not once per kernel).
        return self.get_cache_path()

    def get_disambiguator(self):
        return str(self._lineno)


class KeyedDataCacheFile(caching.IndexDataCacheFile):
    """Numba's index and data files of a cached function, with each data file named by its
    specialisation in the kernels' folder (anywhere else, Numba's own behaviour).

    Numba names a new specialisation's data file ``<function>.<n>.nbc`` with the first number
    its index does not list yet. Two processes compiling two specialisations of one function at
    once (test workers, sweep workers, the first runs of two trainings) each read the index
    without the other's entry, so both write ``.1.nbc``, and the index can end up naming one
    signature's file for the other: a later process would then run machine code compiled for
    other types. Here the name is a hash of the index key (signature, CPU, bytecode), and the data
    file is written before the index names it, so an index entry always names its own code.

    The index itself is read, extended and written again under an exclusive lock of a file beside
    it (``flock``, where the OS has it), so that two processes saving at once each add their entry
    to what the other wrote. Without it the second writer replaced the first's index: that entry
    was lost and compiled again by the next process that needed it (seconds for an epoch kernel).
    """

    def __init__(self, cache_path, filename_base, source_stamp):
        super().__init__(cache_path, filename_base, source_stamp)
        self._keyed = cache_path == KernelCacheLocator._path

    def _data_name_for(self, key):
        """``<function>.<hash of the index key>.nbc``."""
        return "%s.%s.nbc" % (self._index_name[:-len(".nbi")], hashlib.sha256(self._dump(key)).hexdigest()[:20])

    def save(self, key, data):
        if not self._keyed:
            return super().save(key, data)
        name = self._data_name_for(key)
        self._save_data(name, data)
        with self._index_locked():
            overloads = self._load_index()
            if overloads.get(key) != name:
                overloads[key] = name
                self._save_index(overloads)

    @contextlib.contextmanager
    def _index_locked(self):
        """An exclusive lock on ``<index>.lock`` while held (blocking until other processes and
        threads release theirs; the OS releases it if a process dies), or nothing where the OS or
        the file system has no ``flock``: the index is then written as it was without the lock."""
        with open(self._index_path + ".lock", "a") as f:
            locked = fcntl is not None
            if locked:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX)
                except OSError:  # e.g. ENOLCK on a network file system
                    locked = False
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(f, fcntl.LOCK_UN)


def register_cache_locator():
    """Put :class:`KernelCacheLocator` first in Numba's list and have Numba's caches use
    :class:`KeyedDataCacheFile` (once); other code is unaffected."""
    classes = caching.CacheImpl._locator_classes
    if KernelCacheLocator not in classes:
        classes.insert(0, KernelCacheLocator)
    caching.IndexDataCacheFile = KeyedDataCacheFile


# -- helpers compiled for linking only ------------------------------------------------------------
# Numba compiles each function a kernel calls (each helper, each ``@overload`` implementation) as
# a library of its own and makes every library ready to run: it optimises the library's module
# with everything it calls linked in, then adds it to the JIT engine, which emits its machine
# code. A helper without entry wrappers (``config.JIT_INNER``) is never run on its own, though:
# its callers link its optimised module in and emit it again as part of their own machine code.
# The kernels' helpers therefore skip the engine (``_finalize_final_module``): no machine code of
# their own. A cold Adam compile (784-256-128-64-10) spent 0.44-0.55 s emitting machine code for
# libraries other than the epoch kernel's, 0.13-0.14 s after (helpers with wrappers, Numba's own).
# Their optimisation stays: a caller links the helper's module as optimised on its own, as before,
# so the kernels compute what they did (optimised only inside each caller, the fast-math
# helpers came out differently per caller: cut and uncut updates no longer agreed to the bit, and
# a NaN loss went unnoticed). The helpers' cache entries hold that module as bitcode instead of
# machine code (Numba's own 'bitcode' kind, which nothing else in Numba writes), and load for
# linking only too.

@functools.lru_cache(maxsize=None)
def _in_kernels(py_file):
    """Whether the source file ``py_file`` is one of this package's kernel files (asked for each
    kernel as it is defined and each function compiled: each file's answer is kept, since resolving
    a path reads the file system: 0.01-0.02 s of every ``import fastmlp`` for its 122 kernels)."""
    try:
        return pathlib.Path(py_file).resolve().parent == KERNELS_DIR
    except (OSError, ValueError, TypeError):
        return False


def is_link_only(library):
    """Whether ``library`` (a Numba code library) is a helper's, compiled for linking only."""
    return getattr(library, "_fastmlp_link_only", False)


_LINK_ONLY = {}  # the Numba methods replaced, by name -> Numba's own (see ``compile_helpers_for_linking_only``)


def compile_helpers_for_linking_only():
    """From now on, compile the kernels' helpers (functions in this package's kernel files with
    neither a Python nor a C entry wrapper: ``is_helper``) for linking into their callers only (see
    above), and have a Python call of one raise a clear error (see below); everything else compiles
    and runs as before. Once; returns whether it did now."""
    if _LINK_ONLY:
        return False
    from numba.core import codegen, dispatcher, typed_passes

    library_class, dispatcher_class = codegen.CPUCodeLibrary, dispatcher.Dispatcher
    own = _LINK_ONLY
    own.update(run_pass=typed_passes.BaseNativeLowering.run_pass,
               finalize=library_class._finalize_final_module,
               serialize=library_class.serialize_using_object_code,
               unserialize=library_class._unserialize.__func__,
               set_env=codegen.JITCPUCodegen.set_env,
               insert=dispatcher_class._insert,
               compile_for_args=dispatcher_class._compile_for_args)

    def run_pass(self, state):
        flags = state.flags
        if state.library is None and _helper(flags.no_cpython_wrapper, flags.no_cfunc_wrapper, state.func_id.filename):
            state.library = state.targetctx.codegen().create_library(state.func_id.func_qualname)
            state.library.enable_object_caching()
            state.library._fastmlp_link_only = True
        return own["run_pass"](self, state)

    def finalize_final_module(self):
        if not is_link_only(self):
            return own["finalize"](self)
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True  # no machine code: not added to the JIT engine

    def serialize_using_object_code(self):
        if not is_link_only(self):
            return own["serialize"](self)
        return (self.name, "bitcode", self._get_module_for_linking().as_bitcode())

    def unserialize(cls, codegen_, state):
        name, kind, data = state
        if kind != "bitcode":
            return own["unserialize"](cls, codegen_, state)
        library = codegen_.create_library(name)
        library._fastmlp_link_only = True
        library._final_module = llvm.parse_bitcode(data)
        library._finalize_final_module()
        return library

    def set_env(self, env_name, env):
        if self._engine.get_global_value_address(env_name):  # not in the engine: a helper's own
            own["set_env"](self, env_name, env)

    def insert(self, *args):
        if not is_helper(self):
            own["insert"](self, *args)

    def compile_for_args(self, *args, **kws):
        if is_helper(self):
            raise called_from_python(self.py_func)
        return own["compile_for_args"](self, *args, **kws)

    typed_passes.BaseNativeLowering.run_pass = run_pass
    library_class._finalize_final_module = finalize_final_module
    library_class.serialize_using_object_code = serialize_using_object_code
    library_class._unserialize = classmethod(unserialize)
    codegen.JITCPUCodegen.set_env = set_env
    dispatcher_class._insert = insert
    dispatcher_class._compile_for_args = compile_for_args
    return True


# -- helpers called from Python: a clear error ------------------------------------------------------
# A helper compiled for linking only has no machine code of its own, so the entry point Numba
# would run for a Python call is not there: calling one from Python (``split.piece(10, 2, 0, 1)``
# in a console) crashed the interpreter. Its dispatcher keeps no Python entry (``_insert`` adds
# one to the table Python calls look up; kernels reach a helper through its ``overloads`` when
# they compile, never through that table), and a Python call raises ``called_from_python``'s
# error instead of compiling it (``_compile_for_args``, which Numba runs when that table has no
# entry). An ``@overload`` declaration (``kernel_only``) raises the same: its Python body is a
# docstring, so a call from Python did nothing and returned None.

def _helper(no_cpython_wrapper, no_cfunc_wrapper, py_file):
    """Whether a function compiled with these two options from the source file ``py_file`` is one of the
    kernels' helpers: no entry wrappers, in a kernel file (what compiles for linking only)."""
    return bool(no_cpython_wrapper and no_cfunc_wrapper) and _in_kernels(py_file)


def is_helper(dispatcher):
    """Whether ``dispatcher`` (a Numba ``Dispatcher``) is one of the kernels' helpers (``_helper``):
    compiled for linking only, never called from Python."""
    options = dispatcher.targetoptions
    return _helper(options.get("no_cpython_wrapper"), options.get("no_cfunc_wrapper"),
                   dispatcher.py_func.__code__.co_filename)


def called_from_python(func):
    """The error a Python call of a kernels-only function ``func`` raises."""
    name = f"{func.__module__}.{func.__qualname__}"
    return TypeError(f"{name} runs only inside fastmlp's compiled kernels (it has no Python entry point); "
                     f"call it from a function compiled with numba.njit, or call one of the kernels "
                     f"fastmlp.kernels exports (fastmlp.kernels.__all__), which Python can call")


def kernel_only(declaration):
    """``declaration`` (a function that an ``@overload`` implements inside kernels, whose Python body
    is its docstring) as a function that raises ``called_from_python``'s error when Python calls it."""
    @functools.wraps(declaration)
    def from_python(*args, **kwargs):
        raise called_from_python(declaration)
    return from_python


# -- the kernels' glue inlined without copies of its IR -------------------------------------------
# Numba inlines an ``inline="always"`` function (the kernels' glue, ``config.JIT_INLINE``) at a
# call site by running its untyped passes, which make a new IR of it for that site alone, and then
# ``InlineWorker.inline_ir`` deep-copies that IR twice, block by block (each block with a copy of
# the whole scope): one copy to splice in, one kept unchanged to hand back, which the inlining pass
# (``InlineInlinables``, the only caller of ``inline_function``) drops. An IR made for one site and
# used once needs neither. Cold compiles (784-256-128-64-10, batch 64) spent 0.53-0.85 s in
# ``inline_ir`` at 36 (SGD) and 43 (Adam) call sites, 0.04-0.07 s without the copies; the epoch
# kernels' machine code came out the same, instruction for instruction. Functions outside the
# kernel files are inlined as Numba inlines them.

_INLINE = {}  # "asked": True once arranged; "inline_function": Numba's own, once replaced (see below)


class _NoCopy:
    """Stands in for the ``copy`` module while ``inline_ir`` inlines a kernel's glue."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value


def inline_glue_without_copies():
    """From now on, inline the kernels' ``inline="always"`` functions without copying the IR made
    for each call site (see above); everything else is inlined as before. Once; returns whether it
    did now. Numba's module is changed when it is imported (:func:`after_import`): its compiler
    imports it as it sets itself up, before it inlines anything, and a start that only loads cached
    kernels never does (importing it here cost 0.03-0.05 s of every ``import fastmlp``)."""
    if _INLINE:
        return False
    _INLINE["asked"] = True
    after_import("numba.core.inline_closurecall", _inline_without_copies)
    return True


def _inline_without_copies(inline_closurecall):
    """Replaces ``InlineWorker.inline_function`` of Numba's module ``inline_closurecall``
    (:func:`inline_glue_without_copies`)."""
    worker = inline_closurecall.InlineWorker
    _INLINE["inline_function"] = own = worker.inline_function

    def inline_function(self, caller_ir, block, i, function, arg_typs=None):
        if not _in_kernels(function.__code__.co_filename):
            return own(self, caller_ir, block, i, function, arg_typs=arg_typs)
        callee_ir = self.run_untyped_passes(function)  # made for this call site only
        copier = inline_closurecall.copy  # the module inline_ir copies with (under the compiler lock)
        inline_closurecall.copy = _NoCopy
        try:
            return self.inline_ir(caller_ir, block, i, callee_ir, function.__code__.co_freevars, arg_typs=arg_typs)
        finally:
            inline_closurecall.copy = copier

    worker.inline_function = inline_function


# -- typing arrays without numpy.ma ---------------------------------------------------------------

def type_arrays_without_numpy_ma():
    """Make Numba type NumPy arrays without importing ``numpy.ma`` (once; returns whether it did now).

    A kernel's first call types each argument (``numba.core.typing.typeof.typeof_impl``), and
    Numba's typing of an array first checks that it is not a ``np.ma.MaskedArray``: NumPy 2
    imports ``numpy.ma`` when its attribute is first read (0.03-0.06 s). While ``numpy.ma`` is
    not imported no masked array can exist, so the check is skipped and the array is typed as
    Numba does (``tests/test_intrinsics.py`` compares the two on every layout, dtype and flag);
    once it is imported, Numba's own function types every array.
    """
    from numba.core.typing.typeof import typeof_impl
    from numba.np import numpy_support

    numbas = typeof_impl.dispatch(np.ndarray)
    if getattr(numbas, "without_numpy_ma", False):
        return False

    def typeof_ndarray(val, c):
        if "numpy.ma" in sys.modules:  # a masked array may exist now: Numba's own check
            return numbas(val, c)
        try:
            dtype = numpy_support.from_dtype(val.dtype)
        except errors.NumbaNotImplementedError:
            raise errors.NumbaValueError(f"Unsupported array dtype: {val.dtype}") from None
        return types.Array(dtype, val.ndim, numpy_support.map_layout(val), readonly=not val.flags.writeable)

    typeof_ndarray.without_numpy_ma = True
    typeof_ndarray.numbas = numbas
    typeof_impl.register(np.ndarray)(typeof_ndarray)
    return True


# -- loading cached kernels without the compiler --------------------------------------------------

# Symbols that Numba adds to LLVM's table when a module is imported (not when its runtime,
# thread pool or target context starts), by that module: code that links to one of them can
# only be loaded once the module is imported. numba.cpython.hashing is the only one (the
# hash secret: code that hashes); tests/test_intrinsics.py checks numba's sources for others.
IMPORT_TIME_SYMBOLS = {b"_numba_hashsecret_": "numba.cpython.hashing"}
POOL_SYMBOL = b"numba_parallel_for"  # what code that runs a parallel region calls: the pool's, once started


class CacheWithoutCompiler(caching.FunctionCache):
    """A kernel's on-disk cache that loads compiled code without first setting up Numba's compiler.

    Numba's ``FunctionCache.load_overload`` first "refreshes" the target context: it imports
    and registers the typing and lowering of every type and function Numba can compile,
    scipy.linalg included (``numba.np.arraymath`` checks for a BLAS) and cffi's C parser:
    0.15-0.3 s at a process's first load, more than loading the kernels a training needs.
    Loading machine code uses none of it. What loaded code links to is set up here: the
    runtime (NRT: allocation, reference counts), and the symbols a module registers when it is
    imported (:data:`IMPORT_TIME_SYMBOLS`, imported when the code mentions one). Numba's own
    helpers are registered when its target context is made (when a kernel is defined), and
    the thread pool's functions when the pool starts (:func:`launch_threads`): the backend
    calls it before its first kernel, and it is called here for code that runs a parallel region
    (:data:`POOL_SYMBOL`). Numba starts the pool itself when it loads such code only if its
    entry says so, and an entry compiled where the parallel function it calls was loaded from the
    cache does not: a process whose first call loaded one (``fastmlp.kernels.repeat_product``
    with its last argument None, compiled in a process that had loaded the product it cuts)
    crashed in the region.

    A kernel that is not in the cache compiles as usual: Numba's compiler sets itself up
    then. For the same reason this module imports ``numba.np.arrayobj`` and
    ``numba.np.linalg`` (0.05-0.1 s) only inside code that runs while compiling.
    """

    def load_overload(self, sig, target_context):
        if not self._enabled:
            return None
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            data = self._cache_file.load(self._index_key(sig, target_context.codegen()))
            if data is None:
                return None
            for symbol, module in IMPORT_TIME_SYMBOLS.items():
                if _mentions(data, symbol):
                    importlib.import_module(module)
            if _mentions(data, POOL_SYMBOL):
                launch_threads()
            return self._impl.rebuild(target_context, data)


def cached(dispatcher, args):
    """Whether the specialisation of ``dispatcher`` for the Numba types of ``args`` is compiled in this process
    or named by its on-disk cache's index (for this CPU and these sources): a call would then load it
    (milliseconds: 40-80 ms for a cut epoch kernel, Intel Xeon model 207) rather than compile it (seconds).
    Compiles and loads nothing; an index that cannot be read counts as no cache."""
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    if sig in dispatcher.overloads:
        return True
    cache = getattr(dispatcher, "_cache", None)
    if not isinstance(cache, caching.FunctionCache) or not cache._enabled:
        return False
    try:
        with cache._guard_against_spurious_io_errors():
            return cache._index_key(sig, dispatcher.targetctx.codegen()) in cache._cache_file._load_index()
    except Exception:  # a damaged or foreign index (unpickling): the call would compile
        return False
    return False  # (an error the guard swallowed)


def _mentions(value, name):
    """Whether the bytes ``name`` occur in ``value``: bytes, or tuples holding bytes (a cache
    entry holds the object code and bitcode of its library that way)."""
    if isinstance(value, (bytes, bytearray)):
        return name in value
    if isinstance(value, tuple):
        return any(_mentions(v, name) for v in value)
    return False


def load_without_compiler(kernel):
    """Make ``kernel`` (a dispatcher defined with ``cache=True``) load its cached code through
    :class:`CacheWithoutCompiler` from now on; anything else is left alone. Returns ``kernel``."""
    if type(getattr(kernel, "_cache", None)) is caching.FunctionCache:
        kernel._cache.__class__ = CacheWithoutCompiler
    return kernel
