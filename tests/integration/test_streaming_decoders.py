"""The same simulator feed streamed with `decoder: native` (the venue's websockets opened by the
daemon, collector/streams/native.py) and `decoder: ccxt` (ccxt pro) at the same time gives the
same records: the same identities (conflation keeps the same update of each window) and the same
values, field by field; and a native stream reads past bad frames with one STREAM_003 line."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import pytest
from structlog.testing import capture_logs

from collector.streams import native_dialects
from exchange_simulator import Simulator
from tests.support.collection import EXCHANGES
from tests.support.streams import streaming, wait_until

# Fields another stream of the exchange fills (binance bid/ask, mark/index; okx mark): the newest
# that stream gave by the time the record left, which two processes can see one update apart.
FILLED = {"binance": {"bid", "ask", "mark_price", "index_price"}, "okx": {"mark_price"}, "bybit": set()}


def by_identity(records) -> dict[tuple, object]:
    return {(r.kind, r.symbol, r.ts): r for r in records}


def values(record, skip: set[str]) -> dict:
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in skip | {"received_at"}}


@pytest.mark.parametrize("name", ["binance", "bybit", "okx"])
@pytest.mark.parametrize("interval", [0.5, 0.0])
async def test_native_and_ccxt_stream_the_same_records_from_the_same_feed(name, interval):
    async with Simulator(symbols=8, seed=71, tick=0.25) as sim:
        async with contextlib.AsyncExitStack() as stack:
            runs = {}
            for decoder in ("native", "ccxt"):
                runs[decoder] = await stack.enter_async_context(
                    streaming(sim, (name,), stream_interval=interval, stream_stale_after=5.0, decoder=decoder))
            owners = [owners[0] for owners, _ in runs.values()]
            assert [o.native for o in owners] == [True, False]
            await wait_until(lambda: all(o.state == "up" for o in owners), 20, "both streams up")
            await asyncio.sleep(3.0)
            native, ccxt = (by_identity(records) for _, records in runs.values())
    # the ticks both saw (not the first or last second: one connected or stopped a moment apart)
    stamps = sorted({k[2] for k in native} & {k[2] for k in ccxt})
    assert len(stamps) >= 6, stamps
    window = (stamps[0] + 1000, stamps[-1] - 1000)
    inner = {k for k in native.keys() | ccxt.keys() if window[0] <= k[2] <= window[1]}
    assert inner and {k for k in inner if k in native} == {k for k in inner if k in ccxt}
    for key in sorted(inner):
        assert values(native[key], FILLED[name]) == values(ccxt[key], FILLED[name]), key
        assert native[key].received_at > 0


async def test_a_native_stream_reads_past_a_bad_frame_with_one_stream_003_line():
    """A truncated frame among good ones is skipped and counted: one coded line for the episode,
    no traceback, the connection stays up and the next frames are records."""
    async with Simulator(symbols=6, seed=72, tick=0.25) as sim:
        with capture_logs() as logs:
            async with streaming(sim, ("bybit",), stream_interval=0.0, stream_stale_after=5.0,
                                 decoder="native") as ([owner], records):
                await wait_until(lambda: owner.state == "up", 20, "stream up")
                sim.set_fault("bybit", "ws_malformed", count=3)
                await wait_until(lambda: owner.connections[0].decoder_session.bad.count >= 1, 10, "a bad frame read")
                before = len(records)
                await wait_until(lambda: len(records) > before + 20, 10, "records after the bad frames")
                assert owner.state == "up" and owner.connections[0].sessions == 1
    unreadable = [e for e in logs if e["event"] == "stream_frame_unreadable"]
    assert len(unreadable) == 1 and unreadable[0]["error_code"] == "STREAM_003"
    assert [e for e in logs if "exc_info" in e] == []


@pytest.mark.parametrize("name", ["bybit", "okx"])
async def test_a_native_stream_pings_as_the_venue_requires_and_reads_the_pongs_as_no_data(name, monkeypatch):
    """bybit wants `{"op":"ping"}`, okx the text `ping`, well within their timeouts (20 s, 25 s;
    shortened here): the venue answers each, and an answer is neither a record nor a bad frame."""
    wire = native_dialects.WIRES[EXCHANGES[name]]
    assert wire.ping_every <= (20.0 if name == "bybit" else 29.0)
    monkeypatch.setitem(native_dialects.WIRES, EXCHANGES[name], dataclasses.replace(wire, ping_every=0.2))
    async with Simulator(symbols=4, seed=73, tick=0.25) as sim:
        async with streaming(sim, (name,), stream_interval=0.0, stream_stale_after=5.0,
                             decoder="native") as ([owner], _):
            await wait_until(lambda: owner.state == "up", 20, "stream up")
            await wait_until(lambda: sim.ws_pings(EXCHANGES[name]) >= 3 * len(owner.connections), 10, "pings")
            assert all(c.decoder_session.bad.count == 0 for c in owner.connections)


async def test_a_native_binance_stream_answers_the_server_s_pings_and_keeps_its_sockets():
    """binance pings (every 3 minutes; 0.3 s here) and drops a socket that does not answer."""
    async with Simulator(symbols=4, seed=74, tick=0.25, ws_heartbeat=0.3) as sim:
        async with streaming(sim, ("binance",), stream_interval=0.0, stream_stale_after=5.0,
                             decoder="native") as ([owner], _):
            await wait_until(lambda: owner.state == "up", 20, "stream up")
            await asyncio.sleep(2.0)
            assert [c.sessions for c in owner.connections] == [1, 1, 1]
            assert owner.state == "up"
