"""The mutation check's mutants still fit the code they mutate.

``tests/mutation/run.py`` refuses a mutant whose snippet does not occur exactly once in its
file, but it runs only when asked (it recompiles the kernels once per mutant). A change that
rewrites a mutated line would otherwise leave that mutant unusable until the next mutation
run: six had gone stale that way. This test fails at once instead, naming the mutant.
"""
from pathlib import Path

import pytest

from tests.mutation.mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_snippet_occurs_exactly_once_and_changes_the_file(mutant):
    source = (ROOT / mutant.file).read_text()
    found = source.count(mutant.original)
    assert found == 1, (f"mutant {mutant.name}: its snippet occurs {found} times in {mutant.file} (must be once); "
                        "copy the current line into tests/mutation/mutants.py")
    assert mutant.replacement != mutant.original, f"mutant {mutant.name} changes nothing"


def test_mutant_names_are_unique():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
