"""Shards in separate processes against one simulator: together they collect every symbol of every
exchange, each symbol in exactly one of them, in both modes; `--status --url ...` says so."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import urllib.request
from collections import Counter

import pytest

from collector.shard import owner, symbols_digest
from tests.support.daemon import ENTRY, clean_env
from tests.support.fleet import fleet
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)

SYMBOLS = 24
TABLES = ("tickers", "funding_rates")


def symbols_in(database, table: str) -> set[tuple[str, str]]:
    with sqlite3.connect(database) as db:
        return set(db.execute(f"SELECT DISTINCT exchange, symbol FROM {table}"))  # noqa: S608 - fixed names


async def until_every_symbol_is_written(members, expected: set[tuple[str, str]], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            written = [symbols_in(m.database, t) for m in members for t in TABLES if m.database.exists()]
            if len(written) == len(members) * len(TABLES) and \
                    all(set().union(*written[i::len(TABLES)]) >= expected for i in range(len(TABLES))):
                return
            await asyncio.sleep(0.5)


def fleet_status(*urls: str) -> subprocess.CompletedProcess[str]:
    args = [arg for url in urls for arg in ("--url", url)]
    return subprocess.run([sys.executable, str(ENTRY), "--status", *args], capture_output=True, text=True,
                          timeout=60, env=clean_env())


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_three_shards_collect_every_symbol_exactly_once(tmp_path, simulator_factory, mode):  # noqa: F811
    sim = await simulator_factory(symbols=SYMBOLS, seed=23, tick=0.5)
    expected = {(name, s) for name, ccxt_id in (("binance", "binanceusdm"), ("bybit", "bybit"), ("okx", "okx"))
                for s in sim.symbols(ccxt_id)}
    env = {f"CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__{name}__MODE": mode for name in ("BINANCE", "BYBIT", "OKX")}
    async with fleet(tmp_path, sim, [(0, 3), (1, 3), (2, 3)], env=env) as members:
        await until_every_symbol_is_written(members, expected)
        status = fleet_status(*(m.url for m in members))
    assert status.returncode in (0, 1), status.stdout + status.stderr  # 1: a stream still connecting
    for name in ("binance", "bybit", "okx"):
        assert f"  {name}: {SYMBOLS} symbols, each collected by exactly one of 3 shards" in status.stdout
    for table in TABLES:
        owners = Counter(pair for m in members for pair in symbols_in(m.database, table))
        assert [pair for pair, n in owners.items() if n > 1] == [], table
    for table in TABLES:
        assert set().union(*(symbols_in(m.database, table) for m in members)) == expected, table
    # each shard holds about a third, and exactly the symbols rendezvous hashing gives it
    for index, member in enumerate(members):
        assert all(owner(exchange, symbol, 3) == index for exchange, symbol in symbols_in(member.database, "tickers"))


async def test_a_shard_shows_its_index_and_owned_symbols_and_the_fleet_table_fails_without_the_other(
        tmp_path, simulator_factory):  # noqa: F811
    sim = await simulator_factory(symbols=12, seed=5, tick=0.5)
    async with fleet(tmp_path, sim, [(0, 2)]) as [member]:
        health = json.loads(urllib.request.urlopen(f"{member.url}/health", timeout=10).read())
        owned = json.loads(urllib.request.urlopen(f"{member.url}/symbols", timeout=10).read())
        metrics = urllib.request.urlopen(f"{member.url}/metrics", timeout=10).read().decode()
        status = fleet_status(member.url, "http://127.0.0.1:9")
    assert status.returncode == 2
    assert "UNREACHABLE" not in status.stdout.splitlines()[0] and "FAILING" in status.stdout.splitlines()[0]
    assert "shards 1 of 2: no reachable daemon" in status.stdout
    assert health["shard"] == {"index": 0, "count": 2}
    okx = health["exchanges"]["okx"]
    assert owned["okx"] == sorted(s for s in sim.symbols("okx") if owner("okx", s, 2) == 0)
    assert (okx["symbols"], okx["listed"], okx["symbols_digest"]) == (
        len(owned["okx"]), 12, symbols_digest(owned["okx"]))
    assert 'collector_shard_info{count="2",index="0"} 1.0' in metrics
    assert f'collector_symbols_owned{{exchange="okx"}} {float(len(owned["okx"]))}' in metrics
