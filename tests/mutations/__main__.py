"""`python -m tests.mutations [--list] [--only NAME_OR_AREA ...] [--jobs N] [--timeout S]`.

Exit 0 when every selected mutation was killed, 1 when one survived or could not run.
"""

from __future__ import annotations

import argparse
import collections
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.mutations.catalogue import MUTATIONS
from tests.mutations.runner import SURVIVED, Outcome, baseline, run_mutation, stale_reason


def select(only: list[str]) -> list:
    if not only:
        return list(MUTATIONS)
    chosen = [m for m in MUTATIONS if m.name in only or m.area in only]
    unknown = [name for name in only if not any(name in (m.name, m.area) for m in MUTATIONS)]
    if unknown:
        raise SystemExit(f"no mutation or area named {', '.join(unknown)} (see --list)")
    return chosen


def print_list(mutations: list) -> None:
    for m in mutations:
        stale = stale_reason(m)
        print(f"{m.name:<52} {m.breaks}{'  [STALE: ' + stale + ']' if stale else ''}")
        print(f"{'':<52} tests: {' '.join(m.tests)}")


def summary(outcomes: list[Outcome]) -> str:
    per_area: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for outcome in outcomes:
        per_area[outcome.mutation.area]["killed" if outcome.caught else outcome.status] += 1
    lines = ["", f"{'area':<14} killed  survived  other"]
    for area, counts in per_area.items():
        other = sum(counts.values()) - counts["killed"] - counts[SURVIVED]
        lines.append(f"{area:<14} {counts['killed']:>6}  {counts[SURVIVED]:>8}  {other:>5}")
    killed = sum(o.caught for o in outcomes)
    survived = sum(o.status == SURVIVED for o in outcomes)
    lines.append(f"{len(outcomes)} mutations: {killed} killed, {survived} survived, "
                 f"{len(outcomes) - killed - survived} could not run")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutations", description=__doc__)
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("--only", action="append", default=[], metavar="NAME_OR_AREA",
                        help="run only this mutation, or every mutation of this area (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="mutations run side by side (default 1)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutation's tests")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip checking that the named tests pass on the unmutated code")
    args = parser.parse_args(argv)
    mutations = select(args.only)
    if args.list:
        print_list(mutations)
        return 0
    if not args.no_baseline:
        tests = tuple(dict.fromkeys(t for m in mutations for t in m.tests))
        ok, failure = baseline(tests, timeout=args.timeout * 2)
        if not ok:
            print(f"baseline failed: the named tests fail on the unmutated code ({failure})")
            return 1
        print(f"baseline: {len(tests)} test selections pass on the unmutated code")
    outcomes = []
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for outcome in pool.map(lambda m: run_mutation(m, timeout=args.timeout), mutations):
            outcomes.append(outcome)
            print(f"{outcome.status.upper():<9} {outcome.mutation.name:<52} {outcome.seconds:5.1f}s  "
                  f"{outcome.detail}", flush=True)
    print(summary(outcomes))
    return 0 if all(o.caught for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
