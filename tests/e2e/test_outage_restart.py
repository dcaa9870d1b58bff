"""A sink outage seen from outside the daemon: after SIGTERM every record the sink did not get is
in the journal, kill -9 loses nothing that was journaled, and a restart delivers it to the sink
once it is back."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import asyncpg

from collector.records import TABLES
from tests.support.journal_reader import unwritten_identities
from tests.support.daemon import daemon_config, start_daemon, wait_for_log, write_config
from tests.support.tcp_proxy import TcpProxy

Identity = tuple[str, str, str, int]


def sqlite_identities(db: Path) -> set[Identity]:
    with sqlite3.connect(db) as conn:
        return {(kind, ex, sym, ts) for kind, table in TABLES.items()
                for ex, sym, ts in conn.execute(f"SELECT exchange, symbol, ts FROM {table}")}


async def postgres_identities(config) -> list[Identity]:
    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user=config.user, database=config.database)
    try:
        rows: list[Identity] = []
        for kind, table in TABLES.items():
            exists = await conn.fetchval("SELECT to_regclass($1)", table)
            if exists:
                rows += [(kind, r[0], r[1], r[2]) for r in await conn.fetch(
                    f"SELECT exchange, symbol, (extract(epoch FROM ts) * 1000)::bigint FROM {table}")]
        return rows
    finally:
        await conn.close()


def config_with_postgres(tmp_path: Path, sim, postgres_config, proxy_port: int) -> Path:
    config = daemon_config(tmp_path, sim, postgres={
        "enabled": True, "host": "127.0.0.1", "port": proxy_port, "user": postgres_config.user,
        "database": postgres_config.database,
    }, database={"timeout": 3.0}, circuit_breaker={"failure_threshold": 2, "recovery_timeout": 1.0})
    return write_config(tmp_path, config)


async def test_sigterm_during_an_outage_leaves_every_record_the_sink_did_not_get_in_the_journal(
    tmp_path: Path, simulator_factory, postgres_config
) -> None:
    sim = await simulator_factory(symbols=10, seed=11)
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        await proxy.cut()
        path = config_with_postgres(tmp_path, sim, postgres_config, proxy.port)
        proc = await start_daemon("--config", str(path), cwd=tmp_path)
        await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started", timeout=60)
        await asyncio.sleep(3.5)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
        assert proc.returncode == 0, stderr.decode()[-2000:]

    collected = sqlite_identities(tmp_path / "collector.db")
    assert len(collected) >= 3 * 10 * 3  # a few ticks of 3 exchanges x 10 symbols
    # Every record collected is either in PostgreSQL (nothing: it was down) or journaled for it.
    assert await postgres_identities(postgres_config) == []
    assert await unwritten_identities(tmp_path / "spool", "postgres", tmp_path) == collected


async def test_kill_9_during_an_outage_then_restart_delivers_the_journal_and_loses_nothing(
    tmp_path: Path, simulator_factory, postgres_config
) -> None:
    sim = await simulator_factory(symbols=10, seed=12)
    log_file = tmp_path / "logs" / "collector.log"
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        await proxy.cut()
        path = config_with_postgres(tmp_path, sim, postgres_config, proxy.port)
        proc = await start_daemon("--config", str(path), cwd=tmp_path)
        await wait_for_log(log_file, "collector_started", timeout=60)
        await asyncio.sleep(3.5)
        proc.kill()
        await proc.wait()
        spooled = await unwritten_identities(tmp_path / "spool", "postgres", tmp_path)
        assert len(spooled) >= 3 * 10  # at least one round made it to disk before the kill

        await proxy.restore()
        log_file.unlink()
        proc = await start_daemon("--config", str(path), cwd=tmp_path)
        await wait_for_log(log_file, "collector_started", timeout=60)
        async with asyncio.timeout(60):
            while not spooled <= set(await postgres_identities(postgres_config)):
                await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.communicate()
        assert proc.returncode == 0

    rows = await postgres_identities(postgres_config)
    assert len(rows) == len(set(rows))  # none twice
    assert spooled <= set(rows)
    assert await unwritten_identities(tmp_path / "spool", "postgres", tmp_path) == set()  # delivered
