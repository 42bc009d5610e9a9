"""The mutation check: realistic bugs (``mutants.py``) the tests must catch, run by ``run.py``.

Nothing here is collected by ``pytest`` (no ``test_*.py`` files): run ``python -m tests.mutation.run``.
"""
