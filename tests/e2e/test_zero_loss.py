"""Nothing lost, whatever happens, seen from outside the daemon against the real servers: kill -9
at random instants with all four sinks, restarts with remote sinks refused or stalled, stops that
never hang, and a stalled sink that /health shows as lagging."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.daemon import ROOT, clean_env, daemon_config, start_daemon, wait_for_log, write_config
from tests.support.journal_reader import unwritten_identities
from tests.support.rabbitmq import bound_queue, drain
from tests.support.sink_contents import (clickhouse_identities, postgres_identities, rabbitmq_identities,
                                         sqlite_identities)
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SHUTDOWN_TIMEOUT = 3.0


def four_sinks(tmp_path: Path, sim, *, pg, pg_port: int, mq, mq_port: int, ch, ch_port: int | None = None,
               write_timeout: float = 3.0) -> Path:
    config = daemon_config(
        tmp_path, sim,
        postgres={"enabled": True, "host": "127.0.0.1", "port": pg_port, "user": pg.user, "database": pg.database},
        rabbitmq={"enabled": True, "host": "127.0.0.1", "port": mq_port, "exchange": mq.exchange},
        clickhouse={"enabled": True, "host": ch.host, "port": ch_port or ch.port, "username": ch.username,
                    "password": ch.password.get_secret_value(), "database": ch.database},
        database={"timeout": write_timeout, "connect_timeout": 2.0},
        circuit_breaker={"failure_threshold": 2, "recovery_timeout": 1.0},
        batch_processing={"batch_size": 200, "flush_interval": 0.3, "shutdown_timeout": SHUTDOWN_TIMEOUT},
    )
    return write_config(tmp_path, config)


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, float, str]:
    """SIGTERM; the exit code, the seconds it took, and stderr."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(SHUTDOWN_TIMEOUT + 30):
        _, stderr = await proc.communicate()
    return proc.returncode, time.monotonic() - started, stderr.decode(errors="replace")


async def test_20_kill_9s_at_random_instants_lose_nothing_journaled_and_every_sink_converges(
        tmp_path, simulator_factory, postgres_config, rabbitmq_config, clickhouse_server, clickhouse_config):
    sim = await simulator_factory(symbols=10, seed=21)
    rng = random.Random(9)
    log_file = tmp_path / "logs" / "collector.log"
    journaled: set = set()
    async with TcpProxy("127.0.0.1", 5432) as pg_proxy, TcpProxy("127.0.0.1", 5672) as mq_proxy, \
            bound_queue(rabbitmq_config, "#") as queue:
        path = four_sinks(tmp_path, sim, pg=postgres_config, pg_port=pg_proxy.port, mq=rabbitmq_config,
                          mq_port=mq_proxy.port, ch=clickhouse_config)
        for run in range(20):
            if run == 6:  # PostgreSQL and RabbitMQ cut for a third of the runs
                await pg_proxy.cut()
                await mq_proxy.cut()
            if run == 13:
                await pg_proxy.restore()
                await mq_proxy.restore()
            log_file.unlink(missing_ok=True)
            proc = await start_daemon("--config", str(path), cwd=tmp_path)
            if run % 2:  # half the kills while it starts, half while it runs
                await wait_for_log(log_file, "collector_started", timeout=60)
            await asyncio.sleep(rng.uniform(0.1, 2.5))
            proc.kill()
            await proc.wait()
            journaled |= await unwritten_identities(tmp_path / "spool", "sqlite", tmp_path, everything=True)

        assert len(journaled) > 100, "the runs collected and journaled records"
        log_file.unlink(missing_ok=True)
        proc = await start_daemon("--config", str(path), cwd=tmp_path)
        await wait_for_log(log_file, "collector_started", timeout=60)
        async with asyncio.timeout(120):
            while not (journaled <= await postgres_identities(postgres_config)
                       and journaled <= await clickhouse_identities(clickhouse_server, clickhouse_config)
                       and journaled <= sqlite_identities(tmp_path / "collector.db")):
                await asyncio.sleep(0.5)
        code, _, stderr = await stop(proc)
        assert code == 0, stderr[-2000:]
        messages = await drain(queue, quiet=2.0)

    in_sqlite = sqlite_identities(tmp_path / "collector.db")
    in_postgres = await postgres_identities(postgres_config)
    in_clickhouse = await clickhouse_identities(clickhouse_server, clickhouse_config)
    in_rabbitmq = rabbitmq_identities(messages)
    assert journaled <= in_sqlite, "every record journaled before a kill is in the sinks"
    assert in_sqlite == in_postgres == in_clickhouse == in_rabbitmq, {
        "sqlite": len(in_sqlite), "postgres": len(in_postgres), "clickhouse": len(in_clickhouse),
        "rabbitmq": len(in_rabbitmq)}


def newest_received_at(db: Path) -> int:
    if not db.exists():
        return 0
    with closing(sqlite3.connect(db)) as connection:
        try:
            return connection.execute("SELECT coalesce(max(received_at), 0) FROM tickers").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


async def test_20_restarts_with_postgres_and_rabbitmq_refused_then_stalled_all_start_and_record_within_3s(
        tmp_path, simulator_factory, postgres_config, rabbitmq_config, clickhouse_server, clickhouse_config):
    sim = await simulator_factory(symbols=10, seed=22)
    log_file = tmp_path / "logs" / "collector.log"
    db = tmp_path / "collector.db"
    async with TcpProxy("127.0.0.1", 5432) as pg_proxy, TcpProxy("127.0.0.1", 5672) as mq_proxy:
        path = four_sinks(tmp_path, sim, pg=postgres_config, pg_port=pg_proxy.port, mq=rabbitmq_config,
                          mq_port=mq_proxy.port, ch=clickhouse_config, write_timeout=30.0)
        await pg_proxy.cut()
        await mq_proxy.cut()
        for run in range(20):
            if run == 10:  # accept TCP, never answer
                await pg_proxy.stall()
                await mq_proxy.stall()
            log_file.unlink(missing_ok=True)
            spawned_ms = int(time.time() * 1000)
            proc = await start_daemon("--config", str(path), cwd=tmp_path)
            try:
                await wait_for_log(log_file, "collector_started", timeout=60)
            except TimeoutError:
                proc.kill()
                _, stderr = await proc.communicate()
                pytest.fail(f"run {run} did not reach READY: {stderr.decode()[-2000:]}")
            ready = time.monotonic()
            while newest_received_at(db) < spawned_ms:
                assert time.monotonic() - ready < 3.0, f"run {run}: no record in SQLite 3 s after READY"
                await asyncio.sleep(0.05)
            if run:
                assert "journal_opened" in log_file.read_text()
            code, took, stderr = await stop(proc)
            assert code == 0, stderr[-2000:]
            assert took < SHUTDOWN_TIMEOUT + 5, f"run {run}: SIGTERM took {took:.1f}s"
            assert "Traceback" not in stderr and "never awaited" not in stderr, stderr[-3000:]
        journal_lines = [json.loads(line) for line in log_file.read_text().splitlines() if '"journal_opened"' in line]
        assert journal_lines and journal_lines[0]["records"] > 0, "the restarts ran with a non-empty journal"


async def test_sigterm_while_the_broker_stalls_a_write_exits_0_within_the_bound(
        tmp_path, simulator_factory, rabbitmq_config):
    sim = await simulator_factory(symbols=10, seed=23)
    log_file = tmp_path / "logs" / "collector.log"
    async with TcpProxy("127.0.0.1", 5672) as mq_proxy:
        config = daemon_config(
            tmp_path, sim, rabbitmq={"enabled": True, "host": "127.0.0.1", "port": mq_proxy.port,
                                     "exchange": rabbitmq_config.exchange},
            database={"timeout": 120.0}, batch_processing={"shutdown_timeout": SHUTDOWN_TIMEOUT})
        proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
        await wait_for_log(log_file, "sink_connected", timeout=60)
        await mq_proxy.stall()  # the next publish waits for confirms that never come
        await asyncio.sleep(2.0)
        code, took, stderr = await stop(proc)
    assert code == 0, stderr[-2000:]
    assert took < SHUTDOWN_TIMEOUT + 5, f"SIGTERM took {took:.1f}s with a stalled broker"
    assert "collector_stopped" in log_file.read_text()


async def test_check_deps_with_a_stalled_broker_exits_within_its_timeout(tmp_path, rabbitmq_config):
    async with TcpProxy("127.0.0.1", 5672) as mq_proxy:
        await mq_proxy.stall()
        config = daemon_config(tmp_path, None, rabbitmq={"enabled": True, "host": "127.0.0.1",
                                                         "port": mq_proxy.port, "exchange": rabbitmq_config.exchange})
        config["exchange_configs"] = {"binance": {"ccxt_id": "binanceusdm", "ccxt_options": {
            "urls": {"api": {"fapiPublic": "http://127.0.0.1:9/fapi/v1"}}}}}
        path = write_config(tmp_path, config)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "run_tests.py"), "--check-deps", "--config", str(path), "--timeout", "2",
            cwd=ROOT, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(60):
            stdout, _ = await proc.communicate()
        took = time.monotonic() - started
    assert proc.returncode == 1, stdout.decode()
    assert any(line.startswith("FAIL") and "rabbitmq" in line for line in stdout.decode().splitlines()), \
        stdout.decode()
    assert took < 2 + 5 + 3, f"--check-deps --timeout 2 took {took:.1f}s (process start included)"


def health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())


async def test_a_stalled_clickhouse_turns_health_degraded_with_the_sink_lagging_within_twice_the_threshold(
        tmp_path, simulator_factory, clickhouse_server, clickhouse_config):
    sim = await simulator_factory(symbols=10, seed=24)
    log_file = tmp_path / "logs" / "collector.log"
    async with TcpProxy(clickhouse_config.host, clickhouse_config.port) as ch_proxy:
        config = daemon_config(
            tmp_path, sim, clickhouse={"enabled": True, "host": "127.0.0.1", "port": ch_proxy.port,
                                       "username": clickhouse_config.username,
                                       "password": clickhouse_config.password.get_secret_value(),
                                       "database": clickhouse_config.database},
            database={"timeout": 120.0}, batch_processing={"shutdown_timeout": SHUTDOWN_TIMEOUT})
        port = config["health"]["port"]
        threshold = max(3 * config["batch_processing"]["flush_interval"], 10.0)
        proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
        await wait_for_log(log_file, "collector_started", timeout=60)
        async with asyncio.timeout(30):
            while health(port)["sinks"]["clickhouse"]["state"] != "ok":
                await asyncio.sleep(0.2)
        await ch_proxy.stall()
        stalled = time.monotonic()
        while (report := await asyncio.to_thread(health, port))["sinks"]["clickhouse"]["state"] != "lagging":
            assert time.monotonic() - stalled < 2 * threshold, report["sinks"]["clickhouse"]
            await asyncio.sleep(0.5)
        assert report["status"] == "degraded"
        assert report["sinks"]["clickhouse"]["lag_s"] >= threshold
        assert any("clickhouse" in problem and "lagging" in problem for problem in report["problems"])
        await ch_proxy.restore()
        code, took, stderr = await stop(proc)
    assert code == 0, stderr[-2000:]


@pytest.mark.parametrize("fault", ["spool_dir_is_a_file", "log_file_under_a_file"])
async def test_a_local_path_that_cannot_be_used_is_one_coded_line_and_exit_1(tmp_path, simulator_factory, fault):
    sim = await simulator_factory(symbols=3)
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file")
    config = daemon_config(tmp_path, sim)
    if fault == "spool_dir_is_a_file":
        config["batch_processing"]["spool_dir"] = str(blocker)
        field = "batch_processing.spool_dir"
    else:
        config["logging"]["file_path"] = str(blocker / "collector.log")
        field = "logging.file_path"
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    async with asyncio.timeout(60):
        _, stderr = await proc.communicate()
    text = stderr.decode()
    assert proc.returncode == 1
    assert "Traceback" not in text
    # The start checks what --validate-config checks: one CONFIG_003 line naming field and path
    # (the journal's own SPOOL_001 and the logger's LOG_001 stay for a disk that fails later).
    (line,) = [line for line in text.splitlines() if "CONFIG_003" in line]
    assert field in line and str(blocker) in line
