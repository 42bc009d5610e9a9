"""Shared test settings: hypothesis profile for CI; the measured choices of the tests' processes in folders of
their own (``fastmlp.backends.records``): measured under the suite's load, they would become the machine's."""
import os
import shutil
import tempfile

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=50)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

_CHOICES = "FASTMLP_CHOICES_DIR"
_made = []


_CUT_AFTER_S = []  # the numba backend's delay before it prepares a cut kernel, as the package sets it


def pytest_configure(config):
    """The child processes the tests start keep their records in the session's folder."""
    if not os.environ.get(_CHOICES):
        _made.append(tempfile.mkdtemp(prefix="fastmlp-test-choices-"))
        os.environ[_CHOICES] = _made[0]
    from fastmlp.backends import numba as backend
    _CUT_AFTER_S.append(backend.CUT_AFTER_S)


def pytest_unconfigure(config):
    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """Once every fixture of a test has undone its patches, the numba backend's per-process state of the cut
    kernels as a fresh process has it (its compile threads finished first): ``CUT_AFTER_S`` back to its default, no
    cut kernel ready, failed or timed, no plain SGD training cut. A test that called ``monkeypatch.undo()``
    midway (``tests/test_split.py``) then trained on the process's own sets, and ``CUT_AFTER_S``, set to 0 there by a
    patch of its own, undone before the test's ``monkeypatch``, came back as the 0 that ``monkeypatch`` had seen:
    the next tests of that worker found plain SGD's cut kernel ready and took it (their thread choice saw other
    calls), whichever tests the worker happened to run before. A worker's first test starts as a fresh process."""
    yield
    from fastmlp.backends import numba as backend
    backend._wait_for_cut_compiles()
    backend.CUT_AFTER_S = _CUT_AFTER_S[0]
    for state in (backend._cut_ready, backend._cut_failed, backend._own_ready, backend._own_one_ready,
                  backend._uncut_seconds, backend._fused_seconds, backend._plain_cut, backend._cut_not_cached):
        state.clear()


@pytest.fixture(autouse=True)
def _records_of_the_test_s_own(tmp_path, monkeypatch):
    """The choices a test measures are kept in its own folder (``fastmlp.backends.records``), not read from
    the machine's: a test that fakes the timing gets what it faked, and leaves no record for others."""
    from fastmlp.backends import records
    monkeypatch.setattr(records, "folder", lambda: os.fspath(tmp_path / "records"))


@pytest.fixture(autouse=True)
def _cut_kernels_after_the_delay(monkeypatch):
    """Each test starts as a process whose cut kernels are prepared only once a training has run ``CUT_AFTER_S``
    (``fastmlp.backends.numba.CUT_AT_ONCE_WHEN_CACHED`` off): whether they would load from the disk cache (a warm
    suite) or compile (a cold one) does not change which calls a test sees; its own tests switch it on."""
    from fastmlp.backends import numba as backend
    monkeypatch.setattr(backend, "CUT_AT_ONCE_WHEN_CACHED", False)
