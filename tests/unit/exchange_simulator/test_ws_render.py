"""The websocket frames rendered straight to text are, byte for byte, what `json.dumps` gives for
the venue's payload built as a dict (the simulator's frames before they were pre-rendered, and the
REST rows bybit and okx share with their websockets)."""

import json

import pytest

from exchange_simulator import bybit, okx
from exchange_simulator.listing import symbol_specs
from exchange_simulator.market import MarketState, Quote
from exchange_simulator.replies import decimal
from exchange_simulator.ws_dialects import WS_DIALECTS
from tests.support.simulator import FakeClock

START = 1_730_729_903.25


def dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def binance_reference(channel: str, q: Quote, market: str, d: int) -> str:
    if channel == "markPrice":
        return dumps({"e": "markPriceUpdate", "E": q.ts, "s": market, "p": decimal(q.mark, 8),
                      "i": decimal(q.index, 8), "P": decimal(q.index, 8), "r": decimal(q.funding_rate, 8),
                      "T": q.next_funding_time})
    if channel == "bookTicker":
        return dumps({"e": "bookTicker", "u": q.ts, "s": market, "b": decimal(q.bid, d), "B": "1.000",
                      "a": decimal(q.ask, d), "A": "1.000", "T": q.ts, "E": q.ts})
    change = round(q.last - q.open_24h, d)
    return dumps({
        "e": "24hrTicker", "E": q.ts, "s": market, "p": decimal(change, d),
        "P": decimal(change / q.open_24h * 100, 3), "w": decimal(q.quote_volume / q.base_volume, d),
        "c": decimal(q.last, d), "Q": "1.000", "o": decimal(q.open_24h, d), "h": decimal(q.high_24h, d),
        "l": decimal(q.low_24h, d), "v": decimal(q.base_volume, 3), "q": decimal(q.quote_volume, 4),
        "O": q.ts - 86_400_000, "C": q.ts, "F": q.ts // 1000, "L": q.ts // 1000 + int(q.base_volume),
        "n": int(q.base_volume) + 1,
    })


def bybit_reference(q: Quote, previous: Quote | None, d: int) -> str:
    row, kind = bybit.ticker_row(q, d), "snapshot"
    if previous is not None:
        old = bybit.ticker_row(previous, d)
        row = {k: v for k, v in row.items() if k == "symbol" or old.get(k) != v}
        kind = "delta"
    return dumps({"topic": f"tickers.{row['symbol']}", "type": kind, "data": row, "cs": q.ts, "ts": q.ts})


def okx_reference(channel: str, q: Quote, d: int) -> str:
    rows = {"tickers": okx.ticker_row, "mark-price": okx.mark_row, "funding-rate": okx.funding_row}
    return dumps({"arg": {"channel": channel, "instId": okx.inst_id(q.symbol)}, "data": [rows[channel](q, d)]})


def ticks(exchange: str, count: int = 12, symbols: int = 60):
    """`count` ticks of `symbols` symbols (prices from 1e-3 to 68,000: every decimals count), as
    (dialect, decimals, the tick's quotes, the tick); the last symbol is held but for its open
    interest (a bybit delta of one field)."""
    clock = FakeClock(START)
    specs = symbol_specs(symbols, 7)
    state = MarketState(exchange, specs, 7, clock, 1.0)
    state.hold(specs[-1].symbol, "open_interest")
    dialect = WS_DIALECTS[exchange](state)
    decimals = {s.symbol: s.price_decimals for s in specs}
    for _ in range(count):
        quotes = state.snapshot()
        yield dialect, decimals, quotes, state.quotes()
        clock.advance(1.0)


def sent_frames(dialect, tick, channel: str, sent: dict | None = None) -> dict[str, str]:
    """Every symbol's frame of `channel` in `tick`, as one connection is sent them."""
    symbols = list(tick)
    frames = dialect.frames(tick, [(channel, symbol) for symbol in symbols], {} if sent is None else sent)
    return {symbol: frame.decode() for symbol, frame in zip(symbols, frames, strict=True)}


def test_binance_frames_are_the_json_of_the_venue_payload_byte_for_byte():
    for dialect, decimals, quotes, tick in ticks("binanceusdm"):
        for channel in ("bookTicker", "ticker", "markPrice"):
            sent = sent_frames(dialect, tick, channel)
            for symbol, q in quotes.items():
                assert sent[symbol] == binance_reference(channel, q, dialect.market_id(symbol), decimals[symbol])


def test_bybit_snapshots_and_deltas_are_the_json_of_the_venue_payload_byte_for_byte():
    """One connection takes every tick (snapshots, then the deltas rendered for all symbols at
    once), one every other tick (deltas from two ticks back, rendered one by one)."""
    every, every_other, deltas = {}, {}, 0
    served = list(ticks("bybit"))
    for at, (dialect, decimals, quotes, tick) in enumerate(served):
        for sent, step in ((every, 1), (every_other, 2)):
            if at % step:
                continue
            previous = served[at - step][2] if at >= step else None
            frames = sent_frames(dialect, tick, "tickers", sent)
            for symbol, q in quotes.items():
                before = previous.get(symbol) if previous else None
                assert frames[symbol] == bybit_reference(q, before, decimals[symbol])
                deltas += before is not None
    assert deltas


def test_a_bybit_topic_subscribed_later_gets_its_snapshot_among_the_others_deltas():
    served = list(ticks("bybit", count=3, symbols=5))
    sent: dict = {}
    symbols = list(served[0][2])
    dialect = served[0][0]
    dialect.frames(served[0][3], [("tickers", s) for s in symbols[:3]], sent)
    dialect.frames(served[1][3], [("tickers", s) for s in symbols[:3]], sent)
    frames = dialect.frames(served[2][3], [("tickers", s) for s in symbols], sent)
    assert [json.loads(frame)["type"] for frame in frames] == ["delta"] * 3 + ["snapshot"] * 2
    quotes, previous, decimals = served[2][2], served[1][2], served[2][1]
    assert [f.decode() for f in frames] == [
        bybit_reference(quotes[s], previous[s] if at < 3 else None, decimals[s]) for at, s in enumerate(symbols)]


@pytest.mark.parametrize("channel", ["tickers", "mark-price", "funding-rate"])
def test_okx_frames_are_the_json_of_the_venue_payload_byte_for_byte(channel):
    for dialect, decimals, quotes, tick in ticks("okx"):
        sent = sent_frames(dialect, tick, channel)
        for symbol, q in quotes.items():
            assert sent[symbol] == okx_reference(channel, q, decimals[symbol])


def test_a_delisted_symbol_gets_no_frame_from_the_tick_it_left():
    (dialect, _, quotes, tick), = list(ticks("okx", count=1, symbols=3))
    symbols = list(quotes)
    dialect.state.delist(symbols[1])
    frames = dialect.frames(dialect.state.quotes(), [("tickers", s) for s in symbols], {})
    assert [json.loads(f)["data"][0]["instId"] for f in frames] == [okx.inst_id(s) for s in (symbols[0], symbols[2])]


def test_a_frame_is_rendered_once_per_tick_and_shared_by_every_session_that_pushes_it():
    (dialect, _, quotes, tick), (_, _, later, later_tick) = list(ticks("okx", count=2, symbols=3))
    topics = [("tickers", symbol) for symbol in quotes]
    first, second = dialect.frames(tick, topics, {}), dialect.frames(tick, topics, {})
    assert all(a is b for a, b in zip(first, second, strict=True))  # the same bytes, not re-rendered
    moved = dialect.frames(later_tick, topics, {})
    assert [json.loads(f)["data"][0]["ts"] for f in moved] == [str(q.ts) for q in later.values()]
    assert moved != first
