"""One-line mutations of the daemon's code, and a runner that checks the tests notice each one.

    python -m tests.mutations              every mutation: killed / survived, and a summary
    python -m tests.mutations --list       the catalogue, one line each
    python -m tests.mutations --only breaker.open_breaker_lets_calls_through --only retry
                                           a subset, by name or by area

Each mutation breaks one behaviour a user would notice (see `breaks`) by replacing one piece of
text in one file (a few where one behaviour has two halves, like the two masking functions). It
is applied to a scratch copy of the repository, never to the working tree, and the tests it
names run there with a timeout. A mutation the tests do not fail on *survived*: a hole in the
suite. The catalogue lives in `tests/mutations/catalogue.py`; a unit test keeps every entry
applicable to the current code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Edit:
    path: str  # relative to the repository root
    original: str  # must occur exactly once in the file
    replacement: str


@dataclass(frozen=True, slots=True)
class Mutation:
    name: str  # "<area>.<what_it_does>"
    breaks: str  # the behaviour a user would notice, in their words
    tests: tuple[str, ...]  # pytest node ids or paths that must fail
    edits: tuple[Edit, ...]

    @property
    def area(self) -> str:
        return self.name.split(".", 1)[0]


def mutation(name: str, path: str, original: str, replacement: str, *, breaks: str,
             tests: str | tuple[str, ...]) -> Mutation:
    """The usual case: one replacement in one file."""
    return Mutation(name, breaks, (tests,) if isinstance(tests, str) else tuple(tests),
                    (Edit(path, original, replacement),))
