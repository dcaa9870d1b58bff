"""The real daemon against the simulator, SQLite as its sink: a symbol of which only one value
moves (an illiquid symbol: the price stands still, the open interest or the funding rate moves)
has every move stored, and nothing else."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.support.daemon import daemon_config, start_daemon, wait_for_log, write_config
from tests.support.simulator import FakeClock, simulator_factory  # noqa: F401 (fixture)

SYMBOL = "BTC/USDT:USDT"
MOVES = 4


def stored(database: Path, table: str, column: str) -> list:
    """`column` of the symbol's rows in `table`, oldest first (none while the table is missing)."""
    if not database.exists():
        return []
    with sqlite3.connect(database) as connection:
        try:
            rows = connection.execute(f"SELECT {column} FROM {table} WHERE exchange = 'bybit' AND symbol = ? "
                                      "ORDER BY ts", (SYMBOL,)).fetchall()
        except sqlite3.OperationalError:  # the sink has not created its tables yet
            return []
    return [row[0] for row in rows]


async def stored_until(database: Path, table: str, column: str, value: object, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while value not in stored(database, table, column):
            await asyncio.sleep(0.2)


def moves(values: list) -> list:
    """`values` without the repeats of the one before (a tick in which the field rested)."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


@pytest.mark.parametrize(("moving", "table", "column"), [
    ("open_interest", "tickers", "open_interest"),
    ("funding_rate", "funding_rates", "funding_rate"),
])
async def test_every_move_of_a_symbol_whose_only_moving_value_is_one_field_is_stored_in_sqlite(
        tmp_path: Path, simulator_factory, moving: str, table: str, column: str):  # noqa: F811
    clock = FakeClock()  # the exchange's time moves one tick when the test says so
    sim = await simulator_factory(symbols=3, seed=41, clock=clock)
    sim.hold("bybit", SYMBOL, moving)
    config = daemon_config(tmp_path, sim, funding_rate_interval=1.0, funding_history_days=0)
    for name, exchange in config["exchange_configs"].items():
        exchange["enabled"] = name == "bybit"
    database = Path(config["sqlite"]["path"])
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    try:
        await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started", timeout=60)
        served = [getattr(sim.state("bybit")[SYMBOL], moving)]
        await stored_until(database, table, column, served[0])
        for _ in range(MOVES):
            clock.advance(1.0)
            served.append(getattr(sim.state("bybit")[SYMBOL], moving))
            await stored_until(database, table, column, served[-1])
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert len(moves(served)) > 2  # the field did move
    # each move once, in order: the held values in between added no row of their own
    assert stored(database, table, column) == moves(served)
