"""Settled funding across a restart, from outside the daemon: the second start asks each symbol's
history from the last settlement the first one journaled, and publishes none of those again."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from collector.journal import Journal
from collector.records import FundingSettlement
from tests.support.daemon import daemon_config, start_daemon, wait_for_log, wait_for_metric, write_config

SYMBOLS = 4
# The path of each exchange's history request, and how its query says `since`.
HISTORY = {
    "binance": ("/fapi/v1/fundingRate", lambda q: int(q["startTime"])),
    "bybit": ("/v5/market/funding/history", lambda q: int(q["startTime"])),
    "okx": ("/api/v5/public/funding-rate-history", lambda q: int(q["before"]) + 1),  # ccxt: since - 1
}
EXCHANGE_IDS = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}


def venue_symbol(exchange: str, symbol: str) -> str:
    base = symbol.split("/")[0]
    return f"{base}-USDT-SWAP" if exchange == "okx" else f"{base}USDT"


async def run_until_settled(tmp_path: Path, config_path: Path, port: int, run: int) -> None:
    """Start the daemon, wait until every exchange published settled funding, SIGTERM it."""
    log_file = tmp_path / "logs" / "collector.log"
    process = await start_daemon("--config", str(config_path), cwd=tmp_path)
    await wait_for_log(log_file, "collector_started", timeout=60)
    for exchange in HISTORY:
        await wait_for_metric(port, "collector_records_collected", 1, timeout=60,
                              labels={"exchange": exchange, "kind": "funding_settlement"})
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 0, f"run {run}: {stderr.decode()[-2000:]}"
    log_file.rename(log_file.with_name(f"run-{run}.log"))  # the next run's lines are its own


def newest_stored(db: Path) -> dict[tuple[str, str], int]:
    with sqlite3.connect(db) as connection:
        return {(exchange, symbol): ts for exchange, symbol, ts in connection.execute(
            "SELECT exchange, symbol, max(ts) FROM funding_settlements GROUP BY exchange, symbol")}


async def journaled_settlements(spool_dir: Path, scratch: Path) -> list[FundingSettlement]:
    """Every settlement still in the journal, read from a copy."""
    copy = scratch / "journal-copy"
    shutil.copytree(spool_dir / "journal", copy / "journal")
    found: list[FundingSettlement] = []
    async with Journal(copy, max_bytes=2**40) as journal:
        seq = journal.oldest_seq
        while (read := await journal.read("reader", seq, 10_000)).end_seq > read.first_seq:
            found += [r for r in read.records if isinstance(r, FundingSettlement)]
            seq = read.end_seq
    return found


async def test_a_restart_asks_from_the_last_settlement_journaled_and_publishes_none_twice(
        tmp_path: Path, simulator_factory) -> None:
    # The first run sees the exchanges' clocks 9 h behind, so every symbol settles again (8 h at
    # most) before the second run, whatever the time of day: each one has something new to ask for.
    lag = [9 * 3600.0]
    sim = await simulator_factory(symbols=SYMBOLS, seed=27, clock=lambda: time.time() - lag[0])
    config = daemon_config(tmp_path, sim, funding_history_days=1)
    path = write_config(tmp_path, config)
    port = config["health"]["port"]

    await run_until_settled(tmp_path, path, port, run=1)
    first = newest_stored(tmp_path / "collector.db")
    assert len(first) == 3 * SYMBOLS

    lag[0] = 0.0
    sim.reset_counts()
    restarted_at = int(time.time() * 1000)
    await run_until_settled(tmp_path, path, port, run=2)

    for exchange, (history_path, since_of) in HISTORY.items():
        asked: dict[str, list[int]] = {}
        for request in sim.requests(EXCHANGE_IDS[exchange]):
            url = urlsplit(request)
            if url.path == history_path:
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                asked.setdefault(query.get("symbol") or query["instId"], []).append(since_of(query))
        expected = {venue_symbol(exchange, symbol): ts + 1
                    for (name, symbol), ts in first.items() if name == exchange}
        assert {symbol: min(since) for symbol, since in asked.items()} == expected, exchange

    again = [s for s in await journaled_settlements(tmp_path / "spool", tmp_path)
             if s.received_at >= restarted_at]
    assert again, "the second run published the settlements that came since the first"
    repeated = [s for s in again if s.ts <= first[(s.exchange, s.symbol)]]
    assert repeated == [], "nothing the first run journaled is published again"
    assert len({(s.exchange, s.symbol, s.ts) for s in again}) == len(again)
