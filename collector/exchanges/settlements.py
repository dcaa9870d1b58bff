"""The settled-funding series without holes: what to ask each symbol's history for, and what is new.

On the first start every symbol's last `funding_history_days` are fetched (ccxt
`fetch_funding_rate_history`); afterwards a symbol is asked again once its next settlement is
due (its last settlement + its funding interval), always from its last settlement on, so an
outage of any length is filled when the exchange answers again. A restart is such an outage:
the ledger starts from the newest settlement of each symbol the journal holds (`settled.json`),
so nothing journaled is fetched or published twice. A history answer is read page by page
(exchanges return 100 to 1000 rows) until it reaches the present. Only settlements newer than
the last one emitted per symbol are emitted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from collector.exchanges.normalize import Normalizer
from collector.exchanges.parts import fetch_each
from collector.exchanges.rejections import Rejections
from collector.records import FundingRate, FundingSettlement
from collector.values import MalformedEntry

Page = Callable[[str, int], Awaitable[list[Mapping[str, Any]]]]

DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
MAX_PAGES: Final = 50  # per symbol and poll: 50 pages of 100 hourly rows are 200 days
# Until a symbol's interval is known (from its funding records), ask at most this often.
DEFAULT_INTERVAL_MS: Final = HOUR_MS


@dataclass(slots=True)
class SettlementLedger:
    """Per symbol: the newest settlement emitted (or journaled before a restart) and the funding
    interval, to know what is due."""

    history_ms: int
    last: dict[str, int] = field(default_factory=dict)
    interval_ms: dict[str, int] = field(default_factory=dict)
    asked_at: dict[str, int] = field(default_factory=dict)

    def note_intervals(self, records: Iterable[FundingRate]) -> None:
        """The funding interval of each symbol, as its funding-rate record reports it."""
        interval_ms = self.interval_ms
        for record in records:
            hours = record.funding_interval_hours
            if hours:
                interval_ms[record.symbol] = int(hours * HOUR_MS)

    def due(self, symbols: Iterable[str], now_ms: int) -> dict[str, int]:
        """Symbol -> `since` (ms) for every symbol whose next settlement should be out by now."""
        due = {}
        for symbol in symbols:
            last = self.last.get(symbol)
            if last is None:
                due[symbol] = now_ms - self.history_ms
                continue
            interval = self.interval(symbol)
            # Asked since the settlement was due and nothing came: wait a while before asking again.
            asked = self.asked_at.get(symbol, 0)
            if last + interval <= now_ms and asked < now_ms - min(interval, HOUR_MS) // 12:
                due[symbol] = last + 1
        return due

    def interval(self, symbol: str) -> int:
        return self.interval_ms.get(symbol, DEFAULT_INTERVAL_MS)

    def asked(self, symbol: str, now_ms: int) -> None:
        self.asked_at[symbol] = now_ms

    def accept(self, symbol: str, settled_at: int) -> bool:
        """True when `settled_at` is newer than the last settlement of `symbol` emitted."""
        if settled_at <= self.last.get(symbol, -1):
            return False
        self.last[symbol] = settled_at
        return True


async def fetch_due(fetch_page: Page, ledger: SettlementLedger, symbols: Iterable[str], now_ms: int,
                    fanout: asyncio.Semaphore, rejections: Rejections) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """The history of every due symbol, concurrently; raises only when every symbol failed (the
    failed ones are due again next poll, from the same settlement on)."""
    due = ledger.due(symbols, now_ms)

    async def history(symbol: str) -> list[Mapping[str, Any]]:
        return await fetch_history(fetch_page, symbol, due[symbol], now_ms, ledger.interval(symbol))

    histories = await fetch_each("funding_history", history, sorted(due), fanout, rejections)
    for symbol in histories:
        ledger.asked(symbol, now_ms)
    return list(histories.items())


def collect(normalizer: Normalizer, ledger: SettlementLedger,
            histories: Iterable[tuple[str, list[Mapping[str, Any]]]],
            received_at: int) -> tuple[list[FundingSettlement], int]:
    """(the settlements not emitted before, how many entries were malformed)."""
    fresh: list[FundingSettlement] = []
    malformed = 0
    for symbol, history in histories:
        for entry in history:
            try:
                record = normalizer.settlement(entry, received_at)
            except (MalformedEntry, KeyError, TypeError):
                malformed += 1
                continue
            if record.symbol == symbol and ledger.accept(symbol, record.ts):
                fresh.append(record)
    return fresh, malformed


async def fetch_history(fetch_page: Page,
                        symbol: str, since: int, now_ms: int,
                        interval_ms: int) -> list[Mapping[str, Any]]:
    """Every settlement of `symbol` from `since` to now, page after page (oldest first); stops
    at an empty page or once no further settlement can exist yet (newest + interval > now)."""
    entries: list[Mapping[str, Any]] = []
    for _ in range(MAX_PAGES):
        page = [e for e in await fetch_page(symbol, since) if _time(e) is not None and _time(e) >= since]
        if not page:
            break
        page.sort(key=_time)
        entries.extend(page)
        newest = _time(page[-1])
        if newest + interval_ms > now_ms:
            break
        since = newest + 1
    return entries


def _time(entry: Mapping[str, Any]) -> int | None:
    value = entry.get("timestamp")
    return value if type(value) is int else None
