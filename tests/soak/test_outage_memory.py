"""Endurance: a 10-minute outage of every remote sink leaves the daemon's memory flat, and every
record collected meanwhile reaches every sink once they are back.

SQLite is off here: its page cache (64 MiB, `collector/sinks/sqlite.py`) fills over the first
quarter of an hour whatever the other sinks do, and would hide what this measures.

    python run_tests.py --soak tests/soak/test_outage_memory.py -s
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import psutil
import pytest

from tests.support.daemon import daemon_config, start_daemon, wait_for_log, write_config
from tests.support.journal_reader import unwritten_identities
from tests.support.sink_contents import clickhouse_identities, postgres_identities
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.soak, pytest.mark.timeout(3600)]

OUTAGE_S = float(os.environ.get("SOAK_OUTAGE_S", 600))


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def steady_rss(pid: int, seconds: float) -> float:
    """The median of one sample a second: one young-generation spike does not count."""
    samples = []
    for _ in range(int(seconds)):
        samples.append(rss_mb(pid))
        await asyncio.sleep(1.0)
    return sorted(samples)[len(samples) // 2]


async def test_rss_stays_within_10_percent_through_a_10_minute_outage_of_every_remote_sink(
        tmp_path, simulator_factory, postgres_config, rabbitmq_config, clickhouse_server, clickhouse_config):
    sim = await simulator_factory(symbols=200, seed=31)
    log_file = tmp_path / "logs" / "collector.log"
    async with TcpProxy("127.0.0.1", 5432) as pg, TcpProxy("127.0.0.1", 5672) as mq, \
            TcpProxy(clickhouse_config.host, clickhouse_config.port) as ch:
        config = daemon_config(
            tmp_path, sim,
            postgres={"enabled": True, "host": "127.0.0.1", "port": pg.port, "user": postgres_config.user,
                      "database": postgres_config.database},
            rabbitmq={"enabled": True, "host": "127.0.0.1", "port": mq.port, "exchange": rabbitmq_config.exchange},
            clickhouse={"enabled": True, "host": "127.0.0.1", "port": ch.port, "username": clickhouse_config.username,
                        "password": clickhouse_config.password.get_secret_value(),
                        "database": clickhouse_config.database},
            database={"timeout": 5.0, "connect_timeout": 2.0},
            circuit_breaker={"failure_threshold": 2, "recovery_timeout": 5.0},
            sqlite={"enabled": False})
        proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
        await wait_for_log(log_file, "collector_started", timeout=120)
        await asyncio.sleep(120)  # warm: every symbol collected, sinks written, caches full
        before = await steady_rss(proc.pid, 60)
        for proxy in (pg, mq, ch):
            await proxy.cut()
        started = time.monotonic()
        await asyncio.sleep(max(0.0, OUTAGE_S - 60))
        during = await steady_rss(proc.pid, 60)
        print(f"\nRSS before the outage {before:.1f} MB, at its end ({time.monotonic() - started:.0f} s) "
              f"{during:.1f} MB ({(during - before) / before:+.1%})")
        collected = await unwritten_identities(tmp_path / "spool", "postgres", tmp_path, everything=True)
        for proxy in (pg, mq, ch):
            await proxy.restore()
        async with asyncio.timeout(600):
            while not (collected <= await postgres_identities(postgres_config)
                       and collected <= await clickhouse_identities(clickhouse_server, clickhouse_config)):
                await asyncio.sleep(2.0)
        print(f"caught up {len(collected)} records in every sink {time.monotonic() - started:.0f} s after the cut")
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.communicate()
    assert proc.returncode == 0
    assert during <= before * 1.10, f"RSS grew from {before:.1f} MB to {during:.1f} MB during the outage"
