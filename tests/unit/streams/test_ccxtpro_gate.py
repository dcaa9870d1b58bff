"""Conflation in front of ccxt pro (ccxtpro.py): which frames ccxt pro gets to parse, and when,
with the dialects' own frame readers and an injected clock."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from collector.streams.dialects import DIALECTS
from collector.streams.ccxtpro import FrameGate


SYMBOLS = {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT", "BTC-USDT-SWAP": "BTC/USDT:USDT"}


class FakeExchange:
    """Stands in for a ccxt pro instance: its message handler records what it was handed and
    keeps it as the symbol's entry, as ccxt pro keeps a parsed ticker in `tickers`."""

    def __init__(self, ident, fail_on: set[int] | None = None) -> None:
        self.handled: list = []
        self.tickers: dict = {}
        self._ident = ident
        self._fail_on = fail_on or set()

    def handle_message(self, client, message):
        if isinstance(message, dict) and message.get("E") in self._fail_on:
            raise ValueError("unparseable")
        self.handled.append(message)
        ident = self._ident(message) if isinstance(message, dict) else None
        if ident is not None and ident[0] in SYMBOLS:
            self.tickers[SYMBOLS[ident[0]]] = message


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def gate_for(exchange_id: str, interval: float, *, fail_on: set[int] | None = None):
    dialect = DIALECTS[exchange_id]
    exchange, clock, parsed = FakeExchange(dialect.frame_ident, fail_on), Clock(), []
    gate = FrameGate(exchange, dialect.frame_ident, dialect.frame_merge, interval, clock,
                     symbols=SYMBOLS, cache="tickers", parsed=parsed)
    return gate, exchange, clock, parsed


def binance(ts: int, market: str = "BTCUSDT", price: str = "1") -> dict:
    return {"e": "24hrTicker", "E": ts, "s": market, "c": price}


def window(k: int, market: str = "BTCUSDT") -> int:
    """The exchange time (ms) at which `market`'s k-th one-second window starts: windows follow
    the epoch, shifted per market by a hash of its id."""
    return k * 1000 - zlib.crc32(market.encode()) % 1000


def test_the_first_frame_of_each_interval_of_exchange_time_goes_through_at_once():
    gate, exchange, clock, parsed = gate_for("binanceusdm", 1.0)
    start = window(10)
    for offset in (0, 100, 900, 1000, 1500, 2999):
        exchange.handle_message("client", binance(start + offset))  # ccxt pro's clients call the gate
        clock.now += 0.1
    assert [m["E"] - start for m in exchange.handled] == [0, 1000, 2999]
    # each parse queued with the entry it made, for the owner's sweep
    assert [(symbol, entry["E"] - start) for symbol, entry, _ in parsed] == [("BTC/USDT:USDT", 0), ("BTC/USDT:USDT", 1000),
                                                                         ("BTC/USDT:USDT", 2999)]
    assert gate.passed == 3


def test_windows_follow_the_exchange_clock_so_two_daemons_pass_the_same_frames():
    # one started mid-window, one earlier: from the next window on they hand over the same frames
    early, early_exchange, _, _ = gate_for("binanceusdm", 1.0)
    late, late_exchange, _, _ = gate_for("binanceusdm", 1.0)
    stream = [binance(ts) for ts in range(window(20), window(24), 250)]
    for message in stream:
        early_exchange.handle_message("client", message)
    for message in stream[3:]:
        late_exchange.handle_message("client", message)
    assert [m["E"] for m in early_exchange.handled] == [window(20), window(21), window(22), window(23)]
    assert [m["E"] for m in late_exchange.handled] == [window(20) + 750, window(21), window(22), window(23)]


def test_the_markets_of_one_tick_come_due_at_different_moments_of_the_interval():
    gate, exchange, _, _ = gate_for("binanceusdm", 1.0)
    markets = [f"M{i}USDT" for i in range(50)]
    for ts in range(100_000, 103_000, 100):  # every market updated in the same 100 ms ticks
        for market in markets:
            exchange.handle_message("client", binance(ts, market))
    passed_at = {m["E"] % 1000 for m in exchange.handled if m["E"] >= 101_000}
    assert len(passed_at) >= 8  # spread over the ten ticks of a second, not all at its start


def test_a_kept_frame_goes_through_once_no_newer_one_came_for_an_interval():
    gate, exchange, clock, _ = gate_for("binanceusdm", 1.0)
    exchange.handle_message("client", binance(window(30), price="1"))
    clock.now += 0.9
    exchange.handle_message("client", binance(window(30) + 900, price="2"))  # the market's last update
    gate.release(clock.now + 0.2)  # an interval after the last one went through, but ...
    assert [m["c"] for m in exchange.handled] == ["1"]  # ... the next window's frame may still come
    gate.release(clock.now + 1.0)
    assert [m["c"] for m in exchange.handled] == ["1", "2"]
    gate.release(clock.now + 5.0)
    assert len(exchange.handled) == 2  # once


def test_flush_hands_a_market_s_kept_frame_over_at_once_and_leaves_the_others():
    gate, exchange, _, parsed = gate_for("binanceusdm", 1.0)
    for market in ("BTCUSDT", "ETHUSDT"):
        exchange.handle_message("client", binance(40_000, market))
        exchange.handle_message("client", binance(40_200, market, price="2"))
    gate.flush("ETHUSDT")
    gate.flush("XRPUSDT")  # nothing kept: nothing happens
    assert [(m["s"], m["E"]) for m in exchange.handled] == [
        ("BTCUSDT", 40_000), ("ETHUSDT", 40_000), ("ETHUSDT", 40_200)]
    assert [symbol for symbol, *_ in parsed] == ["BTC/USDT:USDT", "ETH/USDT:USDT", "ETH/USDT:USDT"]


def test_with_interval_0_every_frame_goes_through_even_within_one_millisecond():
    gate, exchange, _, parsed = gate_for("binanceusdm", 0.0)
    for ts in (50_000, 50_000, 50_001):
        exchange.handle_message("client", binance(ts))
    assert len(exchange.handled) == 3 and len(parsed) == 3


@pytest.mark.parametrize(("exchange_id", "message"), [
    ("binanceusdm", {"result": None, "id": 1}),
    ("bybit", {"success": True, "op": "subscribe", "req_id": "1"}),
    ("bybit", {"success": True, "ret_msg": "pong", "op": "ping"}),
    ("okx", {"event": "subscribe", "arg": {"channel": "tickers", "instId": "BTC-USDT-SWAP"}}),
    ("okx", "pong"),
])
def test_acks_pongs_and_errors_go_straight_through_and_are_not_counted(exchange_id, message):
    gate, exchange, _, parsed = gate_for(exchange_id, 1.0)
    for _ in range(3):
        exchange.handle_message("client", message)
    assert exchange.handled == [message] * 3 and parsed == [] and gate.passed == 0


def test_bybit_deltas_kept_within_an_interval_are_merged_as_ccxt_pro_would_merge_them():
    gate, exchange, clock, _ = gate_for("bybit", 1.0)
    topic = "tickers.BTCUSDT"
    exchange.handle_message("client", {"topic": topic, "type": "snapshot", "ts": 60_000,
                                       "data": {"symbol": "BTCUSDT", "lastPrice": "1", "bid1Price": "0.9"}})
    exchange.handle_message("client", {"topic": topic, "type": "delta", "ts": 60_400,
                                       "data": {"symbol": "BTCUSDT", "bid1Price": "0.8"}})
    exchange.handle_message("client", {"topic": topic, "type": "delta", "ts": 60_800,
                                       "data": {"symbol": "BTCUSDT", "lastPrice": "2"}})
    exchange.handle_message("client", {"topic": topic, "type": "delta", "ts": 61_100,
                                       "data": {"symbol": "BTCUSDT", "markPrice": "3"}})
    first, merged = exchange.handled
    assert first["type"] == "snapshot"
    assert merged["type"] == "delta" and merged["ts"] == 61_100
    assert merged["data"] == {"symbol": "BTCUSDT", "bid1Price": "0.8", "lastPrice": "2", "markPrice": "3"}


def test_a_bybit_snapshot_replaces_the_kept_deltas():
    gate, exchange, _, _ = gate_for("bybit", 1.0)
    topic = "tickers.BTCUSDT"
    exchange.handle_message("client", {"topic": topic, "type": "snapshot", "ts": 70_000, "data": {"lastPrice": "1"}})
    exchange.handle_message("client", {"topic": topic, "type": "delta", "ts": 70_500, "data": {"bid1Price": "5"}})
    exchange.handle_message("client", {"topic": topic, "type": "snapshot", "ts": 71_000, "data": {"lastPrice": "2"}})
    assert exchange.handled[-1]["data"] == {"lastPrice": "2"}


def test_okx_frames_are_conflated_by_their_string_exchange_time():
    gate, exchange, _, parsed = gate_for("okx", 1.0)
    for ts in ("80000", "80500", "81000"):
        exchange.handle_message("client", {"arg": {"channel": "tickers", "instId": "BTC-USDT-SWAP"},
                                           "data": [{"instId": "BTC-USDT-SWAP", "last": ts, "ts": ts}]})
    assert [m["data"][0]["ts"] for m in exchange.handled] == ["80000", "81000"]
    assert [entry["data"][0]["ts"] for _, entry, _ in parsed] == ["80000", "81000"]


def test_frames_without_an_exchange_time_are_conflated_by_arrival():
    gate, exchange, clock, _ = gate_for("okx", 1.0)
    frame = {"arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"}, "data": [{"markPx": "1"}]}
    for _ in range(4):
        exchange.handle_message("client", frame)
        clock.now += 0.4
    assert len(exchange.handled) == 2  # at 0 s and 1.2 s (0.4 and 0.8 were within the interval)


async def test_a_kept_frame_ccxt_pro_cannot_parse_is_reported_and_the_others_still_go_through():
    gate, exchange, clock, _ = gate_for("binanceusdm", 1.0, fail_on={90_500})
    reported = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context["exception"]))
    try:
        for market in ("BTCUSDT", "ETHUSDT"):
            exchange.handle_message("client", binance(90_000, market))
        exchange.handle_message("client", binance(90_500, "BTCUSDT"))  # kept, then unparseable
        exchange.handle_message("client", binance(90_600, "ETHUSDT"))
        gate.release(clock.now + 1.0)
    finally:
        asyncio.get_running_loop().set_exception_handler(None)
    assert [type(err) for err in reported] == [ValueError]
    assert [(m["s"], m["E"]) for m in exchange.handled][-1] == ("ETHUSDT", 90_600)


class Client:
    """ccxt pro's websocket client as the gate reads it: when its last frame came (UTC ms)."""

    def __init__(self) -> None:
        self.last_message_at: int | None = None


def test_each_parsed_entry_carries_when_its_frame_came_also_one_kept_and_released_later():
    gate, exchange, clock, parsed = gate_for("binanceusdm", 1.0)
    client = Client()
    for arrived, ts, price in ((1_800_000_000_000, window(50), "1"), (1_800_000_000_400, window(50) + 400, "2")):
        client.last_message_at = arrived
        exchange.handle_message(client, binance(ts, price=price))
    client.last_message_at = 1_800_000_003_000  # a pong, two and a half seconds later
    clock.now += 3.0
    gate.release(clock.now)  # the kept frame goes through at the sweep, long after it came
    assert [(entry["c"], arrived) for _, entry, arrived in parsed] == [("1", 1_800_000_000_000), ("2", 1_800_000_000_400)]


def test_at_a_stop_every_kept_frame_goes_through_however_recently_it_came():
    gate, exchange, clock, parsed = gate_for("binanceusdm", 1.0)
    for market in ("BTCUSDT", "ETHUSDT"):
        exchange.handle_message("client", binance(window(60, market), market))
        exchange.handle_message("client", binance(window(60, market) + 10, market, price="2"))
    gate.release(clock.now)
    assert len(parsed) == 2  # within the interval: kept
    gate.release(clock.now, everything=True)
    assert sorted((symbol, entry["c"]) for symbol, entry, _ in parsed) == [
        ("BTC/USDT:USDT", "1"), ("BTC/USDT:USDT", "2"), ("ETH/USDT:USDT", "1"), ("ETH/USDT:USDT", "2")]
