"""Soak: 3 exchanges x 200 symbols streamed for 30 minutes (SOAK_MINUTES to change it), with a
server close every few minutes; the collector's RSS grows by less than 5 %. The simulator runs in
a process of its own, as in the benchmarks, so the figure is the collector's alone. The run spans
two markets reloads (`markets_ttl` 900 s), where a generation of old markets held on would show
as a step. Run it with
`python run_tests.py --soak tests/integration/test_streaming_soak.py`."""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import time
import urllib.request

import psutil
import pytest

from benchmarks.engine import simulator_process
from exchange_simulator import Simulator
from tests.support.collection import EXCHANGES, decoders  # noqa: F401 (fixture)
from tests.support.streams import streaming, wait_until

MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
WARM_UP_S = min(120.0, MINUTES * 60 / 5)


def close_one_connection(url: str, ccxt_id: str) -> None:
    """The simulator's server closes one websocket connection of `ccxt_id` (redialled by us)."""
    body = json.dumps({"exchange": ccxt_id, "kind": "ws_close", "count": 1}).encode()
    request = urllib.request.Request(f"{url}/_sim/faults", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["ok"]


async def sample_rss(process: psutil.Process, into: list[float]) -> None:
    while True:
        await asyncio.sleep(60)
        into.append(round(process.memory_info().rss / 2**20, 1))


@pytest.mark.soak
@pytest.mark.usefixtures("decoders")  # once per decoder: native (the daemon's own sockets) and ccxt pro
@pytest.mark.timeout(int(MINUTES * 60 + 600))
async def test_streaming_three_exchanges_of_200_symbols_for_30_minutes_keeps_memory_flat():
    counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def publish(records) -> None:
        for record in records:
            counts[(record.exchange, record.kind)] += 1

    process = psutil.Process()
    with simulator_process(200, "--seed", "41", "--history-ticks", "30") as url:
        sim = Simulator(port=int(url.rsplit(":", 1)[1]))  # not started: its options point ccxt at `url`
        async with streaming(sim, tuple(EXCHANGES), publish=publish, stream_interval=1.0,
                             stream_stale_after=5.0, settle=True) as (owners, _):  # as the daemon
            await wait_until(lambda: all(o.state == "up" for o in owners), 60, "every stream up")
            await asyncio.sleep(WARM_UP_S)
            gc.collect()
            rss_start = process.memory_info().rss
            started = time.monotonic()
            minutes: list[float] = []  # RSS (MiB) each minute, printed: the trend, not only its ends
            sampler = asyncio.create_task(sample_rss(process, minutes))
            closes = 0
            while time.monotonic() - started < MINUTES * 60 - WARM_UP_S:
                await asyncio.sleep(min(180.0, MINUTES * 60 / 10))
                ccxt_id = list(EXCHANGES.values())[closes % 3]
                await asyncio.to_thread(close_one_connection, url, ccxt_id)
                closes += 1
            await wait_until(lambda: all(o.state == "up" for o in owners), 60, "every stream up at the end")
            gc.collect()
            rss_end = process.memory_info().rss
            sampler.cancel()
            statuses = {o.name: o.status() for o in owners}
    growth = (rss_end - rss_start) / rss_start
    print(f"soak {MINUTES} min: RSS {rss_start / 2**20:.1f} -> {rss_end / 2**20:.1f} MiB ({growth:+.2%}), "
          f"records {sum(counts.values())}, statuses {statuses}\nRSS by minute: {minutes}")
    assert growth < 0.05
    measured_s = MINUTES * 60 - WARM_UP_S
    for name in EXCHANGES:
        for kind in ("ticker", "funding_rate"):
            # at least every other push per symbol: every second, but okx's funding-rate channel,
            # which the venue (and the simulator) pushes every 30 s
            period = 30.0 if (name, kind) == ("okx", "funding_rate") else 1.0
            minimum = 200 * measured_s / period * 0.5
            assert counts[(name, kind)] >= minimum, (name, kind, counts[(name, kind)])
        assert statuses[name]["reconnects"] >= 1
