"""The real daemon shares exchange responses between kinds: `--once` asks bybit's tickers endpoint
once with the cache and twice without, for the same rows; `/metrics` shows the cache per exchange."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.support.daemon import daemon_config, metric_total, start_daemon, wait_for_log, write_config
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)

BYBIT_TICKERS = "/v5/market/tickers?category=linear"


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def rows(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("tickers", "funding_rates"))


@pytest.mark.parametrize("enabled, bybit_requests", [(True, 1), (False, 2)])
async def test_once_asks_bybit_tickers_once_with_the_cache_and_twice_without(
    tmp_path: Path, simulator_factory, enabled: bool, bybit_requests: int  # noqa: F811
) -> None:
    sim = await simulator_factory(symbols=15, seed=5)
    config = daemon_config(tmp_path, sim, cache={"enabled": enabled})
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), "--once", cwd=tmp_path)
    async with asyncio.timeout(90):
        _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    _, stats = await get(f"{sim.url}/_sim/stats")
    assert json.loads(stats)["requests"]["bybit"][BYBIT_TICKERS] == bybit_requests
    assert rows(tmp_path / "collector.db") == (45, 45)


async def test_metrics_show_the_cache_of_every_exchange(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=10, seed=6)
    config = daemon_config(tmp_path, sim, funding_rate_interval=1.0)
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    try:
        await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started", timeout=60)
        async with asyncio.timeout(2.5):  # a round whose two kinds read one bybit tickers response
            while await metric_total(config["health"]["port"], "collector_cache_hits",
                                     {"exchange": "bybit"}) < 1:
                await asyncio.sleep(0.05)
        status, text = await get(f"http://127.0.0.1:{config['health']['port']}/metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.communicate()
    assert status == 200
    for family in ("hits_total", "misses_total", "evictions_total", "entries"):
        for name in ("binance", "bybit", "okx"):
            assert f'collector_cache_{family}{{exchange="{name}"}}' in text, (family, name)
    hits = float(re.search(r'collector_cache_hits_total\{exchange="bybit"\} (\S+)', text).group(1))
    assert hits >= 1  # both kinds of a round read one bybit tickers response
