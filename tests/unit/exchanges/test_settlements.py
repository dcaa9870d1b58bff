"""What settled funding to ask for: the whole window at first, then a symbol once its next
settlement is due, always from its last one, and nothing twice."""

from __future__ import annotations

import asyncio

from collector.exchanges.settlements import DAY_MS, HOUR_MS, SettlementLedger, fetch_history
from collector.records import FundingRate

NOW = 1_767_225_600_000  # a whole hour


def test_first_every_symbol_asks_for_the_whole_window_then_only_when_a_settlement_is_due():
    ledger = SettlementLedger(7 * DAY_MS)
    assert ledger.due(["A", "B"], NOW) == {"A": NOW - 7 * DAY_MS, "B": NOW - 7 * DAY_MS}
    ledger.note_intervals([FundingRate("x", symbol, NOW, NOW, 0.0001, funding_interval_hours=hours)
                           for symbol, hours in (("A", 8.0), ("B", None))])
    assert ledger.accept("A", NOW - HOUR_MS) and ledger.accept("B", NOW - HOUR_MS)
    assert not ledger.accept("A", NOW - HOUR_MS)  # emitted already
    # B's interval is unknown: 1 h is assumed, so it is due now; A's next one is 7 h away
    assert ledger.due(["A", "B"], NOW) == {"B": NOW - HOUR_MS + 1}
    # after a long outage A asks from its last settlement on, whatever the gap
    assert ledger.due(["A"], NOW + 3 * DAY_MS) == {"A": NOW - HOUR_MS + 1}


def test_after_a_restart_each_symbol_asks_from_its_last_journaled_settlement_and_never_emits_it_again():
    journaled = {"A": NOW - 9 * HOUR_MS, "B": NOW - 10 * 60_000}  # Journal.settled(exchange)
    ledger = SettlementLedger(7 * DAY_MS, dict(journaled))
    # A settled 9 h ago: due, from right after it; B 10 min ago: not due; C is new: the window
    assert ledger.due(["A", "B", "C"], NOW) == {"A": NOW - 9 * HOUR_MS + 1, "C": NOW - 7 * DAY_MS}
    assert not ledger.accept("A", NOW - 9 * HOUR_MS), "an exchange answering from `since` inclusive"
    assert not ledger.accept("A", NOW - 17 * HOUR_MS)
    assert ledger.accept("A", NOW - HOUR_MS)


def test_a_history_is_read_page_by_page_until_no_settlement_can_be_newer():
    hourly = [{"timestamp": NOW - n * HOUR_MS} for n in range(250, -1, -1)]
    asked = []

    async def page(symbol: str, since: int) -> list:
        asked.append(since)
        return [e for e in hourly if e["timestamp"] >= since][:100]

    got = asyncio.run(fetch_history(page, "A", NOW - 250 * HOUR_MS, NOW, HOUR_MS))
    assert got == hourly and len(asked) == 3
