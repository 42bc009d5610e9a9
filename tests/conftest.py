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


def pytest_configure(config):
    """The child processes the tests start keep their records in the session's folder."""
    if not os.environ.get(_CHOICES):
        _made.append(tempfile.mkdtemp(prefix="fastmlp-test-choices-"))
        os.environ[_CHOICES] = _made[0]


def pytest_unconfigure(config):
    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _records_of_the_test_s_own(tmp_path, monkeypatch):
    """The choices a test measures are kept in its own folder (``fastmlp.backends.records``), not read from
    the machine's: a test that fakes the timing gets what it faked, and leaves no record for others."""
    from fastmlp.backends import records
    monkeypatch.setattr(records, "folder", lambda: os.fspath(tmp_path / "records"))


@pytest.fixture(autouse=True)
def _no_plain_sgd_cut_yet(monkeypatch):
    """Each test starts as a process in which no plain SGD training has had its cut kernel made ready
    (``fastmlp.backends.numba._plain_cut``, kept per process): 'auto' trains plain SGD by 'fused' until a training
    of the test's own has run long enough (``CUT_AFTER_S``), whatever other tests in the worker trained."""
    from fastmlp.backends import numba as backend
    monkeypatch.setattr(backend, "_plain_cut", set())
