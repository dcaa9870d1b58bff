"""The mutation catalogue stays applicable to the code, and the runner works on a scratch copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutations import Edit, Mutation
from tests.mutations.catalogue import MUTATIONS
from tests.mutations.runner import KILLED, ROOT, STALE, SURVIVED, run_mutation, stale_reason


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_every_mutation_applies_to_the_current_code_and_names_existing_tests(mutation: Mutation):
    assert stale_reason(mutation) is None
    for test in mutation.tests:
        assert (ROOT / test.split("::")[0]).is_file(), test
    assert all(edit.original != edit.replacement for edit in mutation.edits)


def test_mutation_names_are_unique():
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))


def probe_repo(tmp_path: Path) -> Path:
    """A two-file repository: a function and the test that guards it."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "tests" / "test_calc.py").write_text(
        "from calc import add\n\ndef test_add():\n    assert add(2, 2) == 4\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    return tmp_path


def test_a_mutation_the_test_catches_is_killed_and_the_working_tree_is_untouched(tmp_path: Path):
    repo = probe_repo(tmp_path)
    broken = Mutation("calc.subtracts", "adds wrongly", ("tests/test_calc.py",),
                      (Edit("calc.py", "return a + b", "return a - b"),))
    outcome = run_mutation(broken, timeout=60, root=repo)
    assert (outcome.status, outcome.detail) == (KILLED, "tests/test_calc.py::test_add")
    assert "a + b" in (repo / "calc.py").read_text()


def test_a_mutation_the_test_misses_survives(tmp_path: Path):
    repo = probe_repo(tmp_path)
    harmless = Mutation("calc.commutes", "same sum", ("tests/test_calc.py",),
                        (Edit("calc.py", "return a + b", "return b + a"),))
    assert run_mutation(harmless, timeout=60, root=repo).status == SURVIVED


def test_a_mutation_whose_original_text_is_gone_is_stale_not_run(tmp_path: Path):
    repo = probe_repo(tmp_path)
    gone = Mutation("calc.gone", "-", ("tests/test_calc.py",), (Edit("calc.py", "return a * b", "0"),))
    outcome = run_mutation(gone, timeout=60, root=repo)
    assert outcome.status == STALE and "occurs 0 times" in outcome.detail
