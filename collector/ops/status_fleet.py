"""`--status --url A --url B ...`: one table for a fleet of shards (and their replicas).

One row per daemon (its status, its shard, the symbols it owns per exchange), then one line per
exchange saying whether the shards' symbol sets cover it exactly once. Each daemon's /health
gives the counts; its /symbols gives the owned symbols themselves, so the check compares the
sets, not only their sizes. Daemons with the same shard index are replicas: their sets must be
equal, and count once. Exit with the worst status: a daemon failing or unreachable, or an
exchange with symbols no shard collects, is 2; symbols collected by two shards, 1.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.ops.status_text import EXIT_CODES, EXIT_UNREACHABLE, TIMEOUT_S, fetch

_LEVELS = ("ok", "degraded", "failing")


@dataclass(slots=True)
class Member:
    url: str
    health: dict[str, Any] | None = None
    symbols: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    @property
    def shard(self) -> tuple[int, int] | None:
        shard = (self.health or {}).get("shard") or {}
        return (shard["index"], shard["count"]) if "index" in shard else None

    @property
    def status(self) -> str:
        return str(self.health.get("status", "unknown")) if self.health else "unreachable"


def read(url: str, timeout: float = TIMEOUT_S) -> Member:
    try:
        health = fetch(url, timeout)
        with urllib.request.urlopen(f"{url.rstrip('/')}/symbols", timeout=timeout) as response:
            symbols = json.loads(response.read())
    except (OSError, ValueError) as err:
        return Member(url, error=str(getattr(err, "reason", None) or err))
    return Member(url, health, symbols)


def coverage(members: Sequence[Member]) -> tuple[list[str], int]:
    """One line per exchange, and the exit code they call for."""
    reachable = [m for m in members if m.health is not None and m.shard is not None]
    counts = {m.shard[1] for m in reachable}
    if len(counts) > 1:
        return [f"  shard.count differs between the daemons ({', '.join(map(str, sorted(counts)))}):"
                " every shard must be configured with the same count"], 2
    count = counts.pop() if counts else 0
    by_shard: dict[int, list[Member]] = defaultdict(list)
    for member in reachable:
        by_shard[member.shard[0]].append(member)
    lines, code = [], 0
    missing = sorted(set(range(count)) - set(by_shard))
    if missing:
        lines.append(f"  shards {', '.join(map(str, missing))} of {count}: no reachable daemon")
        code = 2
    exchanges = sorted({name for m in reachable for name in m.symbols})
    for name in exchanges:
        line, found = _exchange_line(name, by_shard, count, missing)
        lines.append(line)
        code = max(code, found)
    return lines, code


def _exchange_line(name: str, by_shard: dict[int, list[Member]], count: int,
                   missing: list[int]) -> tuple[str, int]:
    owned: Counter[str] = Counter()
    problems, code = [], 0
    for index, replicas in sorted(by_shard.items()):
        sets = [frozenset(m.symbols.get(name, ())) for m in replicas]
        if len(set(sets)) > 1:
            problems.append(f"the replicas of shard {index} own different symbols (markets not reloaded yet?)")
            code = max(code, 1)
        owned.update(frozenset().union(*sets))
    listed = max((m.health["exchanges"].get(name, {}).get("listed") or 0
                  for replicas in by_shard.values() for m in replicas), default=0)
    twice = sorted(s for s, n in owned.items() if n > 1)
    if twice:
        problems.append(f"{len(twice)} symbols in more than one shard (e.g. {', '.join(twice[:3])})")
        code = max(code, 1)
    if len(owned) < listed or missing:
        gap = f"{listed - len(owned)} of {listed} symbols" if len(owned) < listed else "the missing shards' symbols"
        problems.append(f"{gap} collected by no reachable shard")
        code = 2
    if problems:
        return f"! {name}: " + "; ".join(problems), code
    return f"  {name}: {len(owned)} symbols, each collected by exactly one of {count} shards", 0


def fleet_status(urls: Sequence[str]) -> tuple[str, int]:
    members = [read(url) for url in urls]
    code = max(EXIT_CODES.get(m.status, EXIT_UNREACHABLE) for m in members)
    lines, covered = coverage(members)
    code = max(code, covered)
    head = f"crypto-collector fleet of {len(members)} daemons: {_LEVELS[code].upper()}"
    return "\n".join([head, "", *_table(members), "", "coverage", *lines]), code


def _table(members: Sequence[Member]) -> list[str]:
    rows = [("URL", "STATUS", "SHARD", "SYMBOLS OWNED", "PROBLEMS")]
    for m in members:
        shard = f"{m.shard[0]}/{m.shard[1]}" if m.shard else "-"
        exchanges = (m.health or {}).get("exchanges") or {}
        owned = ", ".join(f"{name} {len(m.symbols.get(name, ()))} of {ex.get('listed', '?')}"
                          for name, ex in sorted(exchanges.items())) or "-"
        problems = m.error or "; ".join((m.health or {}).get("problems") or []) or "-"
        rows.append((m.url, m.status, shard, owned, problems))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, [*widths, 0])).rstrip() for row in rows]
