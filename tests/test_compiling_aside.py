"""Kernels compiled in threads beside a training (the numba backend's faster kernels for a shape, on a machine's
first run) are not silent: a fit that ends while they compile says so, and so does a process that waits for them
at its exit (``fastmlp.backends.numba.compiling_aside``, ``_tell_at_exit``)."""
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastmlp import MLP
from fastmlp.backends import numba as backend
from fastmlp.backends.numba import NumbaBackend

EXIT_CHILD = textwrap.dedent("""
    import pathlib, sys, time
    from fastmlp.backends import numba as backend
    done = pathlib.Path(sys.argv[2])

    def work():
        time.sleep(float(sys.argv[1]))
        done.write_text("compiled")
    with backend._cut_lock:
        backend._compile_in_thread(("a test's compile",), "fastmlp-compile-test", (), work)
    time.sleep(0.3)
    print("the main thread ends", flush=True)
""")

NOTICE = "fastmlp: waiting for the kernels compiling in the background"


def _run_exit_child(work_seconds, tmp_path):
    done = tmp_path / "done"
    run = subprocess.run([sys.executable, "-c", EXIT_CHILD, str(work_seconds), str(done)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return run, done


def test_a_process_that_waits_at_exit_for_a_compile_says_so(tmp_path):
    run, done = _run_exit_child(2.5, tmp_path)
    assert run.stdout == "the main thread ends\n"
    notice = [line for line in run.stderr.splitlines() if line.startswith(NOTICE)]
    assert len(notice) == 1, run.stderr
    assert re.search(r"\((0\.[89]|1\.\d) s so far\)", notice[0]), notice  # 0.3 s + the notice's 0.5 s, and a start
    assert done.read_text() == "compiled"  # the process waited for it


def test_a_compile_done_before_the_exit_says_nothing(tmp_path):
    run, done = _run_exit_child(0.0, tmp_path)
    assert NOTICE not in run.stderr and done.read_text() == "compiled"


def test_compiling_aside_counts_from_the_thread_s_start(monkeypatch):
    import types
    monkeypatch.setattr(backend.time, "perf_counter", lambda: 103.5)
    compiling = {("a",): types.SimpleNamespace(compile_started=100.0),
                 ("a load",): types.SimpleNamespace(compile_started=None)}
    monkeypatch.setattr(backend, "_cut_compiling", compiling)
    assert backend.compiling_aside() == pytest.approx(3.5)
    monkeypatch.setattr(backend, "_cut_compiling", {})
    assert backend.compiling_aside() == 0.0


@pytest.mark.parametrize("loads", [False, True])
def test_a_thread_that_loads_from_the_cache_is_not_counted(loads):
    import threading
    go = threading.Event()
    with backend._cut_lock:
        backend._compile_in_thread(("a test's kernel", loads), "fastmlp-compile-test", (), go.wait, loads=loads)
    try:
        assert (backend.compiling_aside() > 0) != loads
    finally:
        go.set()
        backend._wait_for_cut_compiles()
    assert backend.compiling_aside() == 0.0


@pytest.mark.parametrize("aside", [0.0, 4.2])
def test_a_fit_that_ends_while_kernels_compile_aside_says_so(monkeypatch, capsys, aside):
    monkeypatch.setattr(NumbaBackend, "compiling_aside", lambda self: aside)
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 5), dtype=np.float32), rng.integers(0, 3, 64)
    MLP([5, 8, 3], seed=0).fit(X, y, epochs=2, verbose=1)
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "kernels still compiling in the background" in line]
    assert said == ([] if aside == 0.0 else [
        "kernels still compiling in the background (4.2 s so far): this machine's faster kernels for this shape, "
        "compiled once, then loaded from the cache; until they are done a call that compiles (a first evaluate or "
        "predict) waits for them, and so does this process's exit"])
    MLP([5, 8, 3], seed=0).fit(X, y, epochs=1, verbose=0)
    assert "kernels still compiling" not in capsys.readouterr().out  # quiet: nothing


def _notices(err):
    return [line for line in err.splitlines() if line.startswith("fastmlp: the model's first")]


@pytest.mark.parametrize("call", ["predict_proba", "evaluate"])
def test_a_model_s_first_inference_that_takes_long_says_so(monkeypatch, capsys, call):
    """A model's first prediction or evaluation on a machine compiles its kernels (seconds; the fashion net's first
    prediction 12.6 s): past ``COMPILE_NOTICE_AFTER_S`` it says so on stderr, and when it is ready."""
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 5), dtype=np.float32), rng.integers(0, 3, 30)
    warm = MLP([5, 8, 3], seed=0)
    getattr(warm, call)(*((X,) if call == "predict_proba" else (X, y)))  # compiled or loaded now
    capsys.readouterr()
    monkeypatch.setattr(backend, "COMPILE_NOTICE_AFTER_S", 0.05)
    original = backend.K.evaluate if call == "evaluate" else backend.intrinsics.compiled_entry
    slow = MLP([5, 8, 3], seed=1)

    def slowly(*args, **kwargs):  # as a compile would
        import time
        time.sleep(0.3)
        return original(*args, **kwargs)
    if call == "evaluate":
        monkeypatch.setattr(backend.K, "evaluate", slowly)
        first = slow.evaluate(X, y)
    else:
        monkeypatch.setattr(backend.intrinsics, "compiled_entry", slowly)
        first = slow.predict_proba(X)
    what = "prediction" if call == "predict_proba" else "evaluation"
    said = _notices(capsys.readouterr().err)
    assert len(said) == 2, said
    assert said[0] == (f"fastmlp: the model's first {what}: compiling its kernels (once per machine, then loaded from "
                       "the cache)...")
    assert re.fullmatch(rf"fastmlp: the model's first {what}: ready in 0\.[3-9] s", said[1]), said
    again = slow.evaluate(X, y) if call == "evaluate" else slow.predict_proba(X)  # the model's second call
    assert not _notices(capsys.readouterr().err)
    if call == "evaluate":
        assert again == first
    else:
        np.testing.assert_array_equal(again, first)


def test_a_first_inference_that_is_quick_says_nothing(capsys):
    rng = np.random.default_rng(0)
    X, y = rng.random((30, 5), dtype=np.float32), rng.integers(0, 3, 30)
    MLP([5, 8, 3], seed=0).predict(X)  # compiled or loaded now
    capsys.readouterr()
    model = MLP([5, 8, 3], seed=2)
    model.predict(X)
    model.evaluate(X, y)
    assert not _notices(capsys.readouterr().err)


def test_a_notice_says_when_it_waits_for_the_kernels_compiling_aside(monkeypatch, capsys):
    monkeypatch.setattr(backend, "COMPILE_NOTICE_AFTER_S", 0.0)
    monkeypatch.setattr(backend, "compiling_aside", lambda: 7.4)
    import time
    with backend.compile_notice("the model's first prediction"):
        time.sleep(0.2)
    said = capsys.readouterr().err.splitlines()
    assert said[0] == ("fastmlp: the model's first prediction: waiting for the kernels compiling in the background "
                       "(7.4 s so far), then compiling its kernels (once per machine, then loaded from the cache)...")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_only_a_model_s_first_prediction_starts_a_notice(monkeypatch, dtype):
    """Rows not in the model's own form (float64 for a float32 model) take the typed way, which keeps no entry point:
    the notice's timer thread on each of their calls cost 85 us a row (15 -> 100 us)."""
    opened = []
    real = backend.compile_notice

    def counted(what):
        opened.append(what)
        return real(what)
    monkeypatch.setattr(backend, "compile_notice", counted)
    model = MLP([5, 8, 3], seed=0)
    X = np.random.default_rng(0).random((4, 5)).astype(dtype)
    for _ in range(3):
        model.predict_proba(X)
        model.predict(X[:1])
    assert opened == ["the model's first prediction"]
