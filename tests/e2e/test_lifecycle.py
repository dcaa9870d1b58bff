"""The daemon's life as systemd and an operator see it: start, collect, signals, exit codes."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import pytest

from collector.records import TABLES
from exchange_simulator.okx import ccxt_options as okx_options
from tests.support.daemon import (
    clean_env, daemon_config, free_port, metric_total, start_daemon, wait_for_log, wait_for_metric,
    write_config,
)
from tests.support.journal_reader import unwritten_identities
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)
from tests.support.tcp_proxy import TcpProxy

SECRET = "k3y-Never-Logged-77"


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def run_until_collecting(tmp_path: Path, sim, **env: str):
    config = daemon_config(tmp_path, sim)
    path = write_config(tmp_path, config)
    proc = await start_daemon("--config", str(path), cwd=tmp_path, env=clean_env(**env))
    log_file = tmp_path / "logs" / "collector.log"
    await wait_for_log(log_file, "collector_started", timeout=60)
    return proc, log_file, config["health"]["port"]


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
async def test_stop_signal_flushes_every_record_and_exits_with_the_contract_code(
    tmp_path: Path, simulator_factory, signum: int, exit_code: int  # noqa: F811
) -> None:
    sim = await simulator_factory(symbols=20, seed=3)
    proc, log_file, port = await run_until_collecting(tmp_path, sim)
    # 3 exchanges x 20 symbols: two rounds of tickers and one of funding rates, at least (the
    # funding settlements' backfill alone may pass any total at once).
    await wait_for_metric(port, "collector_records_collected", 2 * 3 * 20, labels={"kind": "ticker"})
    await wait_for_metric(port, "collector_records_collected", 3 * 20, labels={"kind": "funding_rate"})
    collected = await metric_total(port, "collector_records_collected")  # every kind
    proc.send_signal(signum)
    async with asyncio.timeout(60):
        _, stderr = await proc.communicate()
    assert proc.returncode == exit_code, stderr.decode()[-2000:]
    stopped = json.loads(await wait_for_log(log_file, "collector_stopped", timeout=1))
    assert stopped["level"] == "info"
    db = tmp_path / "collector.db"
    # every record collected before the signal was flushed before exit, whatever its kind
    assert sum(count_rows(db, table) for table in TABLES.values()) >= collected
    assert count_rows(db, "tickers") >= 3 * 20 and count_rows(db, "funding_rates") >= 3 * 20
    assert b"Traceback" not in stderr


async def test_once_collects_one_round_into_sqlite_and_exits_0(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=15, seed=5)
    path = write_config(tmp_path, daemon_config(tmp_path, sim))
    proc = await start_daemon("--config", str(path), "--once", cwd=tmp_path)
    async with asyncio.timeout(90):
        _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    db = tmp_path / "collector.db"
    assert count_rows(db, "tickers") == 45
    assert count_rows(db, "funding_rates") == 45


async def test_once_with_every_exchange_down_exits_1(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=5)
    config = daemon_config(tmp_path, sim)
    await sim.close()  # nothing listens there any more
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), "--once", cwd=tmp_path)
    async with asyncio.timeout(120):
        _, stderr = await proc.communicate()
    assert proc.returncode == 1
    assert b"Traceback" not in stderr


async def test_secrets_never_reach_the_logs(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    """Every kind of secret the daemon handles is put where it would be printed or logged: API
    keys (shown by --validate-config), credentials inside an exchange URL (in every failed
    request's error line), a sink password; none of them may appear, but their masks must."""
    sim = await simulator_factory(symbols=5)
    config = daemon_config(tmp_path, sim, postgres={
        "enabled": True, "host": "127.0.0.1", "port": free_port(), "user": "collector", "password": SECRET,
        "database": "nowhere"})
    # okx behind a URL with credentials, resetting every ticker request: each failed poll logs
    # the request URL.
    config["exchange_configs"]["okx"]["ccxt_options"] = okx_options(
        sim.url.replace("http://", f"http://collector:{SECRET}@"))
    sim.set_fault("okx", "reset", path="tickers")
    env = clean_env(CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__BYBIT__API_KEY=SECRET,
                    CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__BYBIT__SECRET=SECRET)
    path = write_config(tmp_path, config)

    validate = await start_daemon("--config", str(path), "--validate-config", cwd=tmp_path, env=env)
    async with asyncio.timeout(60):
        shown, errors = await validate.communicate()
    assert validate.returncode == 0, errors.decode()
    assert "api_key *** (set), secret *** (set)" in shown.decode()
    assert f"collector:***@127.0.0.1:{sim.port}" in shown.decode()

    proc = await start_daemon("--config", str(path), cwd=tmp_path, env=env)
    log_file = tmp_path / "logs" / "collector.log"
    failed = json.loads(await wait_for_log(log_file, "exchange_poll_failed", timeout=60, exchange="okx"))
    assert f"collector:***@127.0.0.1:{sim.port}" in failed["error"]
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    everything = shown.decode() + errors.decode() + log_file.read_text() + stdout.decode() + stderr.decode()
    assert SECRET not in everything


async def test_a_sink_that_cannot_be_created_exits_1_with_its_code(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=5)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    config = daemon_config(tmp_path, sim, sqlite={"enabled": True, "path": str(blocker / "collector.db")})
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    async with asyncio.timeout(60):
        _, stderr = await proc.communicate()
    assert proc.returncode == 1
    # Found before anything starts, as --validate-config finds it: one coded line naming the path.
    assert stderr.decode().splitlines()[1:] == [
        f"CONFIG_003 sqlite.path: {blocker / 'collector.db'}: cannot be created: {blocker} is a regular file, "
        "not a directory"]
    assert b"Traceback" not in stderr


async def test_sighup_reopens_the_log_file_for_logrotate(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=5)
    proc, log_file, _ = await run_until_collecting(tmp_path, sim)
    rotated = log_file.with_suffix(".log.1")
    log_file.rename(rotated)
    proc.send_signal(signal.SIGHUP)
    async with asyncio.timeout(30):
        while not log_file.exists():  # reopened: the handler created the file again
            await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        await proc.communicate()
    assert proc.returncode == 0
    assert '"event":"collector_stopped"' in log_file.read_text()
    assert '"event":"collector_stopped"' not in rotated.read_text()


async def test_an_unknown_symbol_fails_the_start_naming_exchange_and_symbol(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=5)
    config = daemon_config(tmp_path, sim)
    config["exchange_configs"]["okx"]["symbols"] = ["NOPE/USDT:USDT"]
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    async with asyncio.timeout(60):
        _, stderr = await proc.communicate()
    assert proc.returncode == 1
    failed = json.loads(await wait_for_log(tmp_path / "logs" / "collector.log", "startup_failed", timeout=1))
    assert failed["error_code"] == "CONFIG_003"
    assert "exchange_configs.okx.symbols" in failed["error"] and "NOPE/USDT:USDT" in failed["error"]
    assert b"Traceback" not in stderr


async def test_the_started_daemon_takes_its_start_up_heap_out_of_the_garbage_collectors_walk(
    tmp_path: Path, simulator_factory  # noqa: F811
) -> None:
    # Every full collection would otherwise walk the markets of every exchange and stall every
    # stream and writer meanwhile (runner.settle_heap); /metrics shows the collector's work.
    sim = await simulator_factory(symbols=50, seed=9)
    proc, log_file, port = await run_until_collecting(tmp_path, sim)
    started = json.loads(await wait_for_log(log_file, "collector_started", timeout=1))
    assert started["heap_frozen_objects"] > 20_000
    await wait_for_metric(port, "collector_records_collected", 3 * 50, labels={"kind": "ticker"})
    assert await metric_total(port, "python_gc_collections", {"generation": "2"}) >= 1  # settle_heap's own
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        await proc.communicate()
    assert proc.returncode == 0


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_second_stop_signal_forces_the_exit_saying_what_the_journal_keeps(
    tmp_path: Path, simulator_factory, signum: int, exit_code: int  # noqa: F811
) -> None:
    sim = await simulator_factory(symbols=5, seed=4)
    async with TcpProxy("127.0.0.1", free_port()) as never_answers:
        await never_answers.stall()  # accepts the PostgreSQL sink's connection, answers nothing
        config = daemon_config(
            tmp_path, sim, batch_processing={"shutdown_timeout": 600.0}, database={"connect_timeout": 600.0},
            postgres={"enabled": True, "host": "127.0.0.1", "port": never_answers.port})
        proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
        log_file = tmp_path / "logs" / "collector.log"
        await wait_for_log(log_file, "collector_started", timeout=60)
        await wait_for_metric(config["health"]["port"], "collector_records_collected", 3 * 5, labels={"kind": "ticker"})
        proc.send_signal(signum)
        await wait_for_log(log_file, "collector_stopping", timeout=30)
        proc.send_signal(signum)  # the stop waits up to 600 s for the sink that never answers
        async with asyncio.timeout(20):
            _, stderr = await proc.communicate()
    assert proc.returncode == exit_code, stderr.decode()[-2000:]
    forced = json.loads(await wait_for_log(log_file, "stop_forced", timeout=1))
    assert forced["exit_code"] == exit_code and forced["signal"] == signal.Signals(signum).name
    assert forced["undelivered_records"]["postgres"] >= 3 * 5  # never delivered: all of it kept
    assert "delivered at the next start" in forced["detail"]
    assert "collector_stopped" not in log_file.read_text()
    assert b"Traceback" not in stderr
    # what the line says is kept is in the journal, whole: the next start reads it back
    kept = await unwritten_identities(tmp_path / "spool", "postgres", tmp_path)
    assert 3 * 5 <= len(kept) <= forced["undelivered_records"]["postgres"]
