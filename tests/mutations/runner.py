"""Apply a mutation to a scratch copy of the repository and run the tests it names there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mutations import Mutation

ROOT = Path(__file__).resolve().parents[2]
# What a scratch copy leaves out: history, caches and the daemon's own runtime output.
_IGNORED = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "*.pyc", "data",
                                  "*.egg-info")
KILLED, SURVIVED, TIMEOUT, STALE, ERROR = "killed", "survived", "timeout", "stale", "error"


@dataclass(frozen=True, slots=True)
class Outcome:
    mutation: Mutation
    status: str  # KILLED, SURVIVED, TIMEOUT (the tests hung: counted as killed), STALE, ERROR
    seconds: float
    detail: str  # the first failing test, or why the mutation could not run

    @property
    def caught(self) -> bool:
        return self.status in (KILLED, TIMEOUT)


def stale_reason(mutation: Mutation, root: Path = ROOT) -> str | None:
    """Why the mutation cannot be applied to the code at `root` (None when it can)."""
    for edit in mutation.edits:
        path = root / edit.path
        if not path.is_file():
            return f"{edit.path}: no such file"
        found = path.read_text(encoding="utf-8").count(edit.original)
        if found != 1:
            return f"{edit.path}: the original text occurs {found} times, not once: {edit.original!r}"
    return None


def scratch_copy(root: Path = ROOT) -> Path:
    """A throwaway copy of the repository (the caller removes it)."""
    target = Path(tempfile.mkdtemp(prefix="mutation-")) / "repo"
    shutil.copytree(root, target, ignore=_IGNORED)
    return target


def apply(mutation: Mutation, copy: Path) -> None:
    for edit in mutation.edits:
        path = copy / edit.path
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(edit.original, edit.replacement, 1), encoding="utf-8")


def run_tests(tests: tuple[str, ...], copy: Path, timeout: float) -> tuple[int | None, str]:
    """pytest's exit code (None on timeout) and its output, run inside `copy`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CRYPTO_COLLECTOR_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutated module must never come back from a .pyc
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider",
               "--timeout", str(int(timeout)), *tests]
    try:
        result = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True,
                                timeout=timeout + 30)
    except subprocess.TimeoutExpired as err:
        output = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        return None, output
    return result.returncode, result.stdout + result.stderr


def first_failure(output: str) -> str:
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    if match:
        return match.group(1)
    if "Timeout" in output:
        return "a test timed out"
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run_mutation(mutation: Mutation, *, timeout: float, root: Path = ROOT) -> Outcome:
    started = time.monotonic()
    reason = stale_reason(mutation, root)
    if reason is not None:
        return Outcome(mutation, STALE, 0.0, reason)
    copy = scratch_copy(root)
    try:
        apply(mutation, copy)
        code, output = run_tests(mutation.tests, copy, timeout)
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    seconds = time.monotonic() - started
    if code is None:
        return Outcome(mutation, TIMEOUT, seconds, f"the tests ran past {timeout:g}s")
    if code == 0:
        return Outcome(mutation, SURVIVED, seconds, "every named test passed")
    if code == 1:  # tests ran, and some failed
        return Outcome(mutation, KILLED, seconds, first_failure(output))
    # 2: interrupted (a -x stop counts as 1), 3: internal error, 4: usage, 5: no tests collected
    return Outcome(mutation, ERROR, seconds, f"pytest exit {code}: {first_failure(output)}")


def baseline(tests: tuple[str, ...], *, timeout: float, root: Path = ROOT) -> tuple[bool, str]:
    """Do the named tests pass on the unmutated code? Without that, a kill means nothing."""
    copy = scratch_copy(root)
    try:
        code, output = run_tests(tests, copy, timeout)
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    return code == 0, "" if code == 0 else first_failure(output)
