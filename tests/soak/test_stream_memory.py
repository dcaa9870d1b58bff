"""Endurance: the real daemon streaming 3 exchanges x 200 symbols (`mode: stream`, once per
decoder) for 30 minutes keeps its memory flat and does not fall behind.

Method. The simulator runs in a process of its own (its memory and CPU are not the daemon's).
The daemon writes to its default sink, SQLite, whose page cache (64 MiB,
`collector/sinks/sqlite.py`) fills over the first ~10 minutes of this feed (measured: 194 ->
261 MiB, then flat) and then stays. So the first `WARM_UP` of the run (10 minutes, a third of a
shorter run, where the cache is still filling and the figure says little) does not count. The
daemon's RSS is sampled every `SAMPLE_S` seconds; the baseline is the median over the `WINDOW`
right after the warm-up, the end figure the median over the last `WINDOW` of the run: medians,
so that one young-generation spike or one journal segment being rolled does not decide. The end
must stay under the baseline + 3 % (issue 22, "Memory"). Each exchange's `lag_s` (/health:
receive time minus exchange time of each sweep's freshest record) is sampled alongside: its
median in the last window may exceed the first window's by no more than one `stream_interval`,
and no STREAM_004 (lagging) line is logged. Frames/s is what the simulator pushed over the run
(`/_sim/stats`). Duration: SOAK_STREAM_MINUTES (default 30).

    SOAK_STREAM_MINUTES=3 python run_tests.py --soak tests/soak/test_stream_memory.py -s
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import time
import urllib.request
from pathlib import Path

import aiohttp
import psutil
import pytest

from benchmarks.engine import simulator_process
from exchange_simulator import Simulator
from tests.support.daemon import EXCHANGES, clean_env, daemon_config, start_daemon, wait_for_log, write_config

MINUTES = float(os.environ.get("SOAK_STREAM_MINUTES", "30"))
WARM_UP = min(600.0, MINUTES * 60 / 3)
WINDOW = min(120.0, MINUTES * 60 / 6)
SAMPLE_S = 5.0
STREAM_INTERVAL = 1.0

pytestmark = [pytest.mark.soak, pytest.mark.timeout(int(MINUTES * 60 + 600))]


def simulator_frames(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_sim/stats", timeout=10) as response:
        return sum(json.load(response)["ws_frames"].values())


async def stream_health(port: int) -> dict[str, dict]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/health") as response:
        document = json.loads(await response.text())
    return {name: document["exchanges"][name].get("stream") or {} for name in EXCHANGES}


async def sample(pid: int, port: int, seconds: float) -> list[tuple[float, float, dict[str, float | None]]]:
    """(seconds since the first sample, RSS MiB, lag_s per exchange) every SAMPLE_S seconds."""
    process = psutil.Process(pid)
    samples, started = [], time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        streams = await stream_health(port)
        lags = {name: stream.get("lag_s") for name, stream in streams.items()}
        samples.append((elapsed, process.memory_info().rss / 2**20, lags))
        await asyncio.sleep(SAMPLE_S)
    return samples


def window(samples, start: float, end: float):
    return [s for s in samples if start <= s[0] < end]


def median_lags(samples) -> dict[str, float]:
    return {name: statistics.median(s[2][name] for s in samples if s[2][name] is not None) for name in EXCHANGES}


def soak_config(tmp_path: Path, sim: Simulator, decoder: str) -> dict:
    config = daemon_config(tmp_path, sim)  # SQLite, the default sink
    for exchange in config["exchange_configs"].values():
        exchange.update(mode="stream", decoder=decoder, stream_interval=STREAM_INTERVAL)
    return config


@pytest.mark.parametrize("decoder", ["native", "ccxt"])
async def test_a_streaming_daemon_of_3_by_200_symbols_grows_rss_under_3_percent_and_keeps_its_lag(
        tmp_path: Path, decoder: str) -> None:
    with simulator_process(200, "--seed", "43", "--history-ticks", "30") as url:
        sim = Simulator(port=int(url.rsplit(":", 1)[1]))  # not started: its options point the daemon at `url`
        config = soak_config(tmp_path, sim, decoder)
        port, log_file = config["health"]["port"], tmp_path / "logs" / "collector.log"
        proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path, env=clean_env())
        try:
            await wait_for_log(log_file, "collector_started", timeout=120)
            frames_before, measured_from = simulator_frames(url), time.monotonic()
            samples = await sample(proc.pid, port, MINUTES * 60)
            frames_per_s = (simulator_frames(url) - frames_before) / (time.monotonic() - measured_from)
            streams = await stream_health(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(120):
                _, stderr = await proc.communicate()
    end = samples[-1][0]
    first, last = window(samples, WARM_UP, WARM_UP + WINDOW), window(samples, end - WINDOW, end + 1)
    rss_first, rss_last = statistics.median(s[1] for s in first), statistics.median(s[1] for s in last)
    lag_first, lag_last = median_lags(first), median_lags(last)
    growth = (rss_last - rss_first) / rss_first
    print(f"\n{decoder} soak {MINUTES:g} min (warm-up {WARM_UP:.0f} s, windows {WINDOW:.0f} s): RSS median "
          f"{rss_first:.1f} -> {rss_last:.1f} MiB ({growth:+.2%}); simulator pushed {frames_per_s:.0f} frames/s; "
          f"lag_s median {lag_first} -> {lag_last}\nRSS by minute: "
          f"{[round(s[1], 1) for s in samples[::int(60 / SAMPLE_S)]]}")
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr and "Traceback" not in log_file.read_text()
    assert all(stream["state"] == "up" for stream in streams.values()), streams
    assert growth < 0.03, f"RSS grew from {rss_first:.1f} MiB to {rss_last:.1f} MiB ({growth:+.2%})"
    assert all(lag_last[n] <= lag_first[n] + STREAM_INTERVAL for n in EXCHANGES), (lag_first, lag_last)
    assert '"event":"stream_lagging"' not in log_file.read_text()
