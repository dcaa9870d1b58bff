"""The real daemon, `--once` against the simulator, once with `decoder: native` and once with
`decoder: ccxt` on the same frozen market: the same rows in every table, every column but the
local receive time."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from collector.records import TABLES, columns
from tests.support.daemon import daemon_config, start_daemon, write_config
from tests.support.simulator import FakeClock, simulator_factory  # noqa: F401 (fixture)

START = 1_765_000_000.0


async def once(tmp_path: Path, sim, decoder: str) -> Path:
    config = daemon_config(tmp_path, sim, open_interest_interval=60.0, funding_history_days=1)
    for exchange in config["exchange_configs"].values():
        exchange["decoder"] = decoder
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), "--once", cwd=tmp_path)
    async with asyncio.timeout(120):
        _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr
    return tmp_path / "collector.db"


def rows(db: Path) -> dict[str, list[tuple]]:
    found = {}
    with sqlite3.connect(db) as conn:
        for kind, table in TABLES.items():
            kept = [name for name in columns(kind) if name != "received_at"]
            found[table] = conn.execute(f"SELECT {', '.join(kept)} FROM {table} ORDER BY exchange, symbol, ts").fetchall()
    return found


async def test_once_stores_the_same_rows_with_either_decoder(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=12, seed=7, clock=FakeClock(START))
    (tmp_path / "ccxt").mkdir()
    (tmp_path / "native").mkdir()
    reference = rows(await once(tmp_path / "ccxt", sim, "ccxt"))
    native = rows(await once(tmp_path / "native", sim, "native"))
    assert len(reference["tickers"]) == len(reference["funding_rates"]) == 36
    assert {row[0] for row in reference["tickers"]} == {"binance", "bybit", "okx"}
    for table, expected in reference.items():
        assert native[table] == expected, table


@pytest.mark.parametrize("decoder", ["native", "ccxt"])
async def test_once_collects_every_symbol_of_every_exchange_with_either_decoder(
        tmp_path: Path, simulator_factory, decoder: str) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=15, seed=5)
    db = await once(tmp_path, sim, decoder)
    with sqlite3.connect(db) as conn:
        for table in ("tickers", "funding_rates"):
            per_exchange = dict(conn.execute(f"SELECT exchange, count(*) FROM {table} GROUP BY exchange"))
            assert per_exchange == {"binance": 15, "bybit": 15, "okx": 15}, table
        empty = conn.execute("SELECT count(*) FROM tickers WHERE last IS NULL OR mark_price IS NULL").fetchone()[0]
    assert empty == 0
