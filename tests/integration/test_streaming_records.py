"""What a streaming exchange reports and writes (ccxt pro unmodified, the simulator's websockets):
/health's freshness and `collector_records_collected_total` follow the streamed records, a
record's `received_at` is when its frame came, and a stop writes every frame received."""

from __future__ import annotations

import time

import pytest

from collector import metrics
from collector.streams import report as stream_report
from exchange_simulator import Simulator
from tests.support.collection import EXCHANGES, decoders  # noqa: F401 (fixture)
from tests.support.streams import streaming, wait_until

# Each test runs once per decoder (native: the daemon's own websockets; ccxt: ccxt pro).
pytestmark = pytest.mark.usefixtures("decoders")

STALE_AFTER = 10.0  # no watchdog teardown (nor REST fallback) within these tests


def now_ms() -> int:
    return int(time.time() * 1000)


def collected(exchange: str, kind: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "collector_records_collected_total", {"exchange": exchange, "kind": kind}) or 0.0


class Published:
    """The owner's publish: every record with the time it was handed over (UTC ms)."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, list]] = []

    def __call__(self, records) -> None:
        self.batches.append((now_ms(), list(records)))

    @property
    def records(self) -> list:
        return [record for _, batch in self.batches for record in batch]

    def after(self, ms: int) -> list:
        return [record for at, batch in self.batches if at > ms for record in batch]


async def test_a_streaming_exchange_s_health_and_records_collected_follow_the_streamed_records():
    before = {kind: collected("binance", kind) for kind in ("ticker", "funding_rate")}
    published = Published()
    async with Simulator(symbols=12, seed=41, tick=0.5) as sim:
        async with streaming(sim, ("binance",), stream_interval=0.5, stream_stale_after=STALE_AFTER,
                             publish=published) as ([owner], _):
            await wait_until(lambda: owner.state == "up", 20, "stream up")
            up_at = time.time()
            await wait_until(lambda: time.time() - up_at > 4.0 and owner.source.status()["last_success"] > up_at + 3.0,
                             10, "last_success moving with the streamed records")
            status, status_at = owner.source.status(), time.time()
    # /health's exchanges.binance: it delivered just now, and its tickers are fresh, not as old as the start
    assert status["last_success"] > up_at + 3.0 and not status["stale"]
    assert status["kinds"]["ticker"]["staleness_s"] < status_at - up_at - 2.0, status["kinds"]["ticker"]
    assert status["kinds"]["funding_rate"]["last_success"] > up_at
    # every record handed on is counted once, as in poll mode (the REST round at start by its poll)
    counts = {kind: sum(1 for r in published.records if r.kind == kind) for kind in before}
    assert counts["ticker"] > 12
    assert {kind: collected("binance", kind) - before[kind] for kind in before} == counts


async def test_a_frame_kept_by_conflation_keeps_the_time_it_came_as_received_at():
    """stream_interval 2 s: a market's frames after the first of an interval are kept, and go
    through an interval after the market went quiet (here: the websockets fall silent)."""
    published = Published()
    async with Simulator(symbols=12, seed=42, tick=0.5) as sim:
        async with streaming(sim, ("binance",), stream_interval=2.0, stream_stale_after=STALE_AFTER,
                             publish=published) as ([owner], _):
            up_ms = await wait_until(lambda: owner.state == "up", 20, "stream up") and now_ms()
            await wait_until(lambda: now_ms() > up_ms + 1500, 5, "frames after the first of their interval")
            sim.set_fault(EXCHANGES["binance"], "ws_silence")
            silent_ms = now_ms()
            # a market whose last frame was the first of its interval has none kept: most have one
            await wait_until(lambda: len({r.symbol for r in published.after(silent_ms + 1500) if r.kind == "ticker"})
                             >= 3, 10, "kept frames released")
    released = [(at, r) for at, batch in published.batches if at > silent_ms + 1500 for r in batch]
    late = [(r.symbol, r.kind, at - r.received_at) for at, r in released if r.received_at > silent_ms + 500]
    assert not late, f"stamped when released, not when their frame came (ms after silence): {late}"


async def test_a_stop_writes_every_frame_received_also_those_conflation_keeps():
    """stream_interval 5 s: at a stop most markets' newest frame is kept by the conflation (or a
    record waits for a filling stream); the stop writes it, the newest tick each market got."""
    published = Published()
    ccxt_id = EXCHANGES["binance"]
    async with Simulator(symbols=12, seed=43, tick=0.5) as sim:
        async with streaming(sim, ("binance",), stream_interval=5.0, stream_stale_after=STALE_AFTER,
                             publish=published) as ([owner], _):
            up_ms = await wait_until(lambda: owner.state == "up", 20, "stream up") and now_ms()
            await wait_until(lambda: now_ms() > up_ms + 1500, 5, "frames after the first of their interval")
            sim.set_fault(ccxt_id, "ws_silence")
            silent_ms = now_ms()
            await wait_until(lambda: (stream_report.last_frame_age(owner.connections) or 0.0) >= 0.6, 10,
                             "the frames sent before the silence received")
            symbols = set(owner.source.symbols)
            stopped_ms = now_ms()
    pushed = sorted(ts for ts, _ in sim.history(ccxt_id) if ts < silent_ms)
    newest = {}
    for record in published.records:
        if record.kind == "ticker":
            newest[record.symbol] = max(newest.get(record.symbol, 0), record.ts)
    missed = {symbol: (pushed[-1] - newest.get(symbol, 0)) for symbol in symbols if newest.get(symbol, 0) < pushed[-2]}
    assert not missed, f"ms between the last tick pushed and the newest one written: {missed}"
    stamped_at_stop = [r for r in published.after(stopped_ms) if r.received_at >= stopped_ms]
    assert not stamped_at_stop  # what the stop wrote keeps when its frame came
