"""The real daemon streaming from the simulator: one environment variable switches an exchange to
`mode: stream`; /health and /metrics show the stream; a broken stream is one coded line, REST
fills in, and it comes back — with no traceback anywhere."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.daemon import clean_env, daemon_config, start_daemon, wait_for_log, write_config
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def health_until(port: int, predicate, timeout: float) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            status, body = await http_get(f"http://127.0.0.1:{port}/health")
            document = json.loads(body)
            if predicate(document):
                return document
            await asyncio.sleep(0.2)


def stream_state(document: dict, name: str) -> str | None:
    return (document["exchanges"][name].get("stream") or {}).get("state")


@pytest.mark.parametrize("decoder", ["native", "ccxt"])
async def test_mode_stream_by_environment_streams_reports_health_and_survives_malformed_frames(
    tmp_path: Path, simulator_factory, decoder: str  # noqa: F811
) -> None:
    """Malformed frames: ccxt pro stops reading the connection, native skips each one; either way
    nothing new arrives, the watchdog tears the connections down, REST covers, one STREAM_003."""
    sim = await simulator_factory(symbols=20, seed=31, tick=0.5)
    config = daemon_config(tmp_path, sim)
    for exchange in config["exchange_configs"].values():
        exchange["stream_stale_after"] = 3.0
        exchange["decoder"] = decoder
    port = config["health"]["port"]
    env = clean_env(CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__BINANCE__MODE="stream",
                    CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__OKX__MODE="stream")
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path, env=env)
    log_file = tmp_path / "logs" / "collector.log"
    try:
        await wait_for_log(log_file, "collector_started", timeout=60)
        up = await health_until(port, lambda d: stream_state(d, "binance") == "up" and stream_state(d, "okx") == "up", 30)
        assert up["exchanges"]["bybit"]["mode"] == "poll" and "stream" not in up["exchanges"]["bybit"]
        binance = up["exchanges"]["binance"]["stream"]
        assert binance["connections"] == 3 and binance["connections_up"] == 3
        _, metrics = await http_get(f"http://127.0.0.1:{port}/metrics")
        assert 'collector_stream_state{exchange="binance"} 2.0' in metrics
        assert 'collector_stream_connections{exchange="okx",state="up"} 3.0' in metrics
        rest_before = sim.request_count("binanceusdm", "ticker/24hr")

        sim.set_fault("binanceusdm", "ws_malformed")
        down = await health_until(port, lambda d: stream_state(d, "binance") == "down", 15)
        assert down["status"] == "degraded"
        assert any("binance: stream down" in p for p in down["problems"])
        async with asyncio.timeout(2.5):  # REST took over
            while sim.request_count("binanceusdm", "ticker/24hr") <= rest_before:
                await asyncio.sleep(0.02)
        sim.clear_faults("binanceusdm")
        back = await health_until(port, lambda d: stream_state(d, "binance") == "up", 30)
        assert back["exchanges"]["binance"]["stream"]["fallbacks"] == 1
        _, metrics = await http_get(f"http://127.0.0.1:{port}/metrics")
        assert 'collector_stream_fallbacks_total{exchange="binance"} 1.0' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert "Traceback" not in log_file.read_text()
    assert [e["error_code"] for e in lines if e["event"] == "stream_down"] == ["STREAM_001"]
    assert len([e for e in lines if e["event"] == "stream_recovered"]) == 1
    assert any(e["event"] == "stream_frame_unreadable" and e["error_code"] == "STREAM_003" for e in lines)
    with sqlite3.connect(tmp_path / "collector.db") as db:
        streamed = db.execute("SELECT count(DISTINCT symbol) FROM funding_rates WHERE exchange='okx'").fetchone()[0]
    assert streamed == 20


@pytest.mark.parametrize("decoder", ["native", "ccxt"])
async def test_a_streaming_daemon_s_health_and_metrics_follow_the_stream_and_a_sigterm_writes_what_it_received(
    tmp_path: Path, simulator_factory, decoder: str  # noqa: F811
) -> None:
    """stream_interval 5 s: conflation keeps most markets' newest frame at any moment. /health's
    last_success and ticker staleness move with the streamed records, /metrics counts them, and
    SIGTERM writes the newest frame each market sent before the stop into SQLite."""
    sim = await simulator_factory(symbols=8, seed=37, tick=0.5)
    config = daemon_config(tmp_path, sim)
    config["exchange_configs"]["binance"].update(mode="stream", stream_interval=5.0, stream_stale_after=20.0,
                                                 decoder=decoder)
    for name in ("bybit", "okx"):
        config["exchange_configs"][name]["enabled"] = False
    port = config["health"]["port"]
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path, env=clean_env())
    log_file = tmp_path / "logs" / "collector.log"
    try:
        await wait_for_log(log_file, "collector_started", timeout=60)
        await health_until(port, lambda d: stream_state(d, "binance") == "up", 30)
        up_at = time.time()
        fresh = await health_until(port, lambda d: d["exchanges"]["binance"]["last_success"] > up_at + 2.0, 15)
        staleness = fresh["exchanges"]["binance"]["kinds"]["ticker"]["staleness_s"]
        assert staleness < time.time() - up_at - 1.0, staleness  # not the age of the start-up poll
        _, metrics = await http_get(f"http://127.0.0.1:{port}/metrics")
        sim.set_fault("binanceusdm", "ws_silence")
        silent_ms = int(time.time() * 1000)
        await health_until(port, lambda d: (d["exchanges"]["binance"]["stream"]["last_frame_age_s"] or 0) >= 0.6, 15)
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    counted = [line for line in metrics.splitlines()
               if line.startswith('collector_records_collected_total{exchange="binance",kind="ticker"}')]
    assert counted and float(counted[0].split()[-1]) > 8, counted
    pushed = sorted(ts for ts, _ in sim.history("binanceusdm") if ts < silent_ms)
    with sqlite3.connect(tmp_path / "collector.db") as db:
        newest = dict(db.execute("SELECT symbol, max(ts) FROM tickers WHERE exchange='binance' GROUP BY symbol"))
    missed = {symbol: pushed[-1] - ts for symbol, ts in newest.items() if ts < pushed[-2]}
    assert len(newest) == 8 and not missed, f"ms between the last tick pushed and the newest row: {missed}"
