"""The newest settlement journaled per (exchange, symbol): `settled.json` beside the cursors.

Settled funding is history: a restart must not fetch and publish again what is journaled
already (every consumer would get it twice, and ClickHouse would keep the later `received_at`
where PostgreSQL and SQLite keep the first). The journal notes the newest `ts` of every
settlement it commits and writes this file whole (temp file, fsync, rename) right after that
commit's fsync; each exchange source then starts every symbol's series after it. A lost or
unreadable file only makes the next start fetch the backfill window again (rows the sinks
already hold, taken idempotently), never skip a settlement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import structlog

from collector.errors import ErrorCode
from collector.journal.ledger import write_json
from collector.records import FundingSettlement, Record

log = structlog.get_logger(__name__)

FILE_NAME = "settled.json"


class Settled:
    """{exchange: {symbol: ts of the newest settlement journaled}}; changed on the loop only."""

    def __init__(self, newest: dict[str, dict[str, int]] | None = None) -> None:
        self._newest = newest or {}

    def of(self, exchange: str) -> dict[str, int]:
        return dict(self._newest.get(exchange, {}))

    def note(self, records: Iterable[Record]) -> bool:
        """Take the settlements among `records`; True when a newest one moved."""
        moved = False
        for record in records:
            if type(record) is FundingSettlement:
                symbols = self._newest.setdefault(record.exchange, {})
                if record.ts > symbols.get(record.symbol, -1):
                    symbols[record.symbol] = record.ts
                    moved = True
        return moved

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {exchange: dict(symbols) for exchange, symbols in self._newest.items()}


def read(directory: Path) -> Settled:
    path = directory / FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settled()
    except (OSError, ValueError) as err:
        log.warning("journal_settled_unreadable", file=str(path), error_code=ErrorCode.SPOOL_002,
                    error=str(err)[:200], detail="the settled funding window is fetched again")
        return Settled()
    if not isinstance(data, dict):
        return Settled()
    return Settled({exchange: {symbol: ts for symbol, ts in symbols.items() if type(ts) is int}
                    for exchange, symbols in data.items() if isinstance(symbols, dict)})


def write(directory: Path, snapshot: dict[str, dict[str, int]]) -> None:
    write_json(directory / FILE_NAME, snapshot)
