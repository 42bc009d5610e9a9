"""Threads and determinism: same seed, same bits; concurrent fits; thread control."""
import hashlib
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest

import fastmlp

# Wide enough that the products run in the BLAS on its threads, with long element-wise
# passes (batch * 512 = 131072 elements, 150k parameters).
LAYERS = [32, 512, 256, 10]
BATCH = 256

FIT_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_threads import fit_digest
print(fit_digest())
"""


def _data(seed=0, n=2 * BATCH):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, LAYERS[0])).astype(np.float32)
    return X, rng.integers(0, LAYERS[-1], n)


def _fit(seed=0, optimizer="adam", data_seed=0):
    X, y = _data(data_seed)
    m = fastmlp.MLP(LAYERS, seed=seed)
    m.fit(X, y, epochs=2, batch_size=BATCH, lr=1e-3, optimizer=optimizer, verbose=0, seed=seed)
    return m.params


def fit_digest():
    """SHA-256 of the weights after a seeded fit (used in-process and by subprocesses)."""
    return hashlib.sha256(_fit().tobytes()).hexdigest()


def test_same_seed_gives_bit_identical_weights_in_process():
    a, b = _fit(), _fit()
    assert np.array_equal(a, b) and a.tobytes() == b.tobytes()
    assert not np.array_equal(a, _fit(seed=1))


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_gives_bit_identical_weights_across_processes(threads):
    """Two threads: the thread choice's pieces, on one thread or two, take the BLAS's products. One thread: the
    products the machine's first process measured faster (``fastmlp.backends.records``), in every process."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    script = FIT_SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__)))
    digests = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              check=True, timeout=600).stdout.strip() for _ in range(2)]
    assert len(digests[0]) == 64 and digests[0] == digests[1]


@pytest.mark.parametrize("deterministic", [True, False])
def test_two_threads_fit_two_models_like_sequential_fits(deterministic):
    """Bit for bit in the deterministic mode. Otherwise to float tolerance: the BLAS's thread limit is
    process-wide, so while one training runs a piece on one thread (its thread choice probing), the
    other's products run on one BLAS thread too, and OpenBLAS's kernels for one thread and for two
    may sum in other orders (AMD EPYC Zen 5 with its Haswell kernels: a few 1e-9 apart)."""
    fastmlp.set_deterministic(deterministic)
    try:
        _two_threads_fit_two_models_like_sequential_fits(deterministic)
    finally:
        fastmlp.set_deterministic(False)


def _two_threads_fit_two_models_like_sequential_fits(deterministic):
    jobs = [dict(seed=0, optimizer="adam", data_seed=0), dict(seed=1, optimizer="sgd", data_seed=1)]
    sequential = [_fit(**j) for j in jobs]
    results, errors = [None, None], []
    start = threading.Barrier(2)

    def work(i):
        try:
            start.wait()
            results[i] = _fit(**jobs[i])
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors and all(not t.is_alive() for t in threads)
    for got, want in zip(results, sequential):
        if deterministic:
            assert np.array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.fixture
def restore_threads():
    before, adaptive = fastmlp.get_num_threads(), fastmlp.thread_info()["adaptive"]
    yield before
    fastmlp.set_num_threads("auto" if adaptive else before)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-1, ValueError), (numba.config.NUMBA_NUM_THREADS + 1, ValueError),
                                       (1.5, TypeError), ("2", TypeError), (None, TypeError), (True, TypeError)])
def test_set_num_threads_validates_and_refusal_changes_nothing(restore_threads, bad, error):
    with pytest.raises(error, match="threads must be an integer"):
        fastmlp.set_num_threads(bad)
    assert fastmlp.get_num_threads() == restore_threads


def test_set_num_threads_sets_numba_and_blas(restore_threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fastmlp.set_num_threads(np.int64(1))
    assert fastmlp.get_num_threads() == numba.get_num_threads() == 1
    blas = [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]
    assert blas and all(n == 1 for n in blas)
    info = fastmlp.thread_info()
    assert info["numba_threads"] == 1 and all(d["num_threads"] == 1 for d in info["blas"])
    top = numba.config.NUMBA_NUM_THREADS
    fastmlp.set_num_threads(top)
    assert fastmlp.get_num_threads() == top
    assert all(d["num_threads"] == top for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas")
