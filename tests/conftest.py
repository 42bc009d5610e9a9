"""Shared test settings: hypothesis profile for CI; each test's measured choices in a folder of its own."""
import os

import pytest
from hypothesis import settings

settings.register_profile("ci", deadline=None, max_examples=50)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _records_of_the_test_s_own(tmp_path, monkeypatch):
    """The choices a test measures are kept in its own folder (``fastmlp.backends.records``), not read from
    the machine's: a test that fakes the timing gets what it faked, and leaves no record for others."""
    from fastmlp.backends import records
    monkeypatch.setattr(records, "folder", lambda: os.fspath(tmp_path / "records"))
