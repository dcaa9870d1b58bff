"""Every frame the simulator's three websocket dialects send (and frames with edge values) gives
the same records through the venue modules' frame decoders as through ccxt pro's parse of the same
frame and today's streams.dialects builders: every field, bit for bit, the same `ts`; the same
skip where one is skipped. No network: ccxt pro's parsers are called on the frames offline."""

from __future__ import annotations

import json

import ccxt.pro as ccxt_pro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.exchanges.normalize import Normalizer
from collector.streams.dialects import DIALECTS, bybit_frame_merge
from collector.streams.native_dialects import NATIVE_DIALECTS, WIRES
from collector.values import MalformedEntry
from collector.venues import binance, build, bybit, okx
from exchange_simulator.listing import symbol_specs
from exchange_simulator.market import MarketState
from exchange_simulator.ws_dialects import WS_DIALECTS
from tests.support.native_diff import bits, swap
from tests.unit.venues.test_native_properties import BYBIT_ROW, NUMBERS, TIMES, row

RECEIVED = 1_800_000_000_000
IDS = {"binanceusdm": lambda s: s.replace("/USDT:USDT", "USDT"), "bybit": lambda s: s.replace("/USDT:USDT", "USDT"),
       "okx": lambda s: s.replace("/USDT:USDT", "-USDT-SWAP")}
NAMES = {"binanceusdm": "binance", "bybit": "bybit", "okx": "okx"}


def pro_exchange(ccxt_id: str, symbols: list[str]):
    exchange = getattr(ccxt_pro, ccxt_id)({})
    exchange.set_markets([swap(ccxt_id, IDS[ccxt_id](s), s.split("/")[0]) for s in symbols])
    return exchange


def frames(ccxt_id: str, ticks: int = 4, count: int = 6) -> list[tuple[str, dict]]:
    """(channel, frame) of every channel and symbol, tick after tick (bybit: deltas after the first)."""
    now = [1_765_000_000.0]
    state = MarketState(ccxt_id, symbol_specs(count, 3), 3, lambda: now[0])
    dialect = WS_DIALECTS[ccxt_id](state)
    channels = {"binanceusdm": ("ticker", "bookTicker", "markPrice"), "bybit": ("tickers",),
                "okx": ("tickers", "mark-price", "funding-rate")}[ccxt_id]
    sent, last_sent = [], {}
    for _ in range(ticks):
        state.advance()
        tick = state.quotes()
        for channel in channels:
            for frame in dialect.frames(tick, [(channel, symbol) for symbol in tick], last_sent):
                sent.append((channel, json.loads(frame)))
        now[0] += 1.0
    return sent


def outcome(produce):
    """The records or values made, or "skipped" where the entry is malformed."""
    try:
        made = produce()
    except (MalformedEntry, KeyError, TypeError, AttributeError):
        return "skipped"
    except ValueError:  # ccxt's Precise refuses the text: the parse fails (a STREAM_003 line)
        return "refused"
    if isinstance(made, list):
        return [bits(record) for record in made]
    return made


# --- binance ------------------------------------------------------------------------------
BINANCE = DIALECTS["binanceusdm"]
BINANCE_FILLS = {fill.channel: fill.read for fill in BINANCE.fills}
BINANCE_BUILDS = {channel.name: channel.build for channel in BINANCE.channels}


def binance_both(exchange, frame: dict) -> tuple:
    """(ccxt pro + streams.dialects, native) outcomes of one binance frame."""
    normalizer = Normalizer("binance", "binanceusdm")
    symbol = exchange.markets_by_id[frame["s"]][0]["symbol"]
    event = frame["e"]

    def parsed():
        return exchange.parse_ws_ticker(frame, "swap")
    if event == "24hrTicker":
        return (outcome(lambda: BINANCE_BUILDS["ticker"](normalizer, parsed(), RECEIVED)),
                outcome(lambda: [build.ticker("binance", symbol, binance.ticker_frame(frame), RECEIVED)]))
    if event == "bookTicker":
        return (outcome(lambda: BINANCE_FILLS["book_ticker"](normalizer, parsed())),
                outcome(lambda: binance.book_ticker_frame(frame)[1]))
    return ((outcome(lambda: BINANCE_BUILDS["mark_price"](normalizer, parsed(), RECEIVED)),
             outcome(lambda: BINANCE_FILLS["mark_price"](normalizer, parsed()))),
            (outcome(lambda: [build.funding_rate("binance", symbol, binance.mark_price_funding(frame), RECEIVED)]),
             outcome(lambda: binance.mark_price_frame(frame)[1])))


async def test_every_binance_simulator_frame_gives_the_same_records():
    sent = frames("binanceusdm")
    exchange = pro_exchange("binanceusdm", symbol_specs_symbols(6))
    for _, frame in sent:
        reference, native = binance_both(exchange, frame)
        assert native == reference, frame
    assert {frame["e"] for _, frame in sent} == {"24hrTicker", "bookTicker", "markPriceUpdate"}
    await exchange.close()


def symbol_specs_symbols(count: int) -> list[str]:
    return [spec.symbol for spec in symbol_specs(count, 3)]


BINANCE_FRAME = {key: NUMBERS for key in ("c", "o", "p", "P", "w", "h", "l", "v", "q", "b", "a", "i", "r")} | {
    "C": TIMES, "E": TIMES, "T": TIMES}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.fixed_dictionaries(BINANCE_FRAME).map(row),
       event=st.sampled_from(["24hrTicker", "bookTicker", "markPriceUpdate"]))
async def test_binance_frames_with_edge_values_give_the_same_records_or_the_same_skip(fields, event):
    frame = {"e": event, "s": "BTCUSDT", **fields}
    reference, native = binance_both(BINANCE_PRO, frame)
    assert native == reference


BINANCE_PRO = pro_exchange("binanceusdm", ["BTC/USDT:USDT"])


# --- bybit --------------------------------------------------------------------------------
def bybit_both(exchange, client, kept: dict, frame: dict) -> tuple:
    normalizer = Normalizer("bybit", "bybit")
    exchange.handle_ticker(client, frame)
    market_id = frame["topic"].rpartition(".")[2]
    symbol = exchange.markets_by_id[market_id][0]["symbol"]
    entry = exchange.tickers[symbol]
    reference = outcome(lambda: DIALECTS["bybit"].channels[0].build(normalizer, entry, RECEIVED))
    merged = bybit.merge_delta(kept.get(market_id), frame)
    kept[market_id] = merged

    def native_records():
        decoded = bybit.ticker_frame(merged, frame)
        ticker = build.ticker("bybit", symbol, decoded, RECEIVED)
        funding = bybit.frame_funding(merged, decoded[1])
        if funding is None:
            return [ticker]
        from collector.records import FundingRate
        return [ticker, FundingRate("bybit", symbol, ticker.ts, RECEIVED, **funding)]
    return reference, outcome(native_records)


async def test_every_bybit_simulator_frame_snapshots_and_deltas_gives_the_same_records():
    sent = frames("bybit")
    exchange = pro_exchange("bybit", symbol_specs_symbols(6))
    client = exchange.client("ws://127.0.0.1:1/bybit")
    kept: dict = {}
    for _, frame in sent:
        reference, native = bybit_both(exchange, client, kept, frame)
        assert native == reference, frame
        assert reference != "skipped"
    assert {frame["type"] for _, frame in sent} == {"snapshot", "delta"}
    await exchange.close()


# --- okx ----------------------------------------------------------------------------------
OKX = DIALECTS["okx"]


def okx_both(exchange, channel: str, frame: dict) -> tuple:
    normalizer = Normalizer("okx", "okx")
    [data] = frame["data"]
    symbol = exchange.markets_by_id[frame["arg"]["instId"]][0]["symbol"]
    if channel == "tickers":
        entry = exchange.parse_ticker(data)
        return (outcome(lambda: OKX.channels[0].build(normalizer, entry, RECEIVED)),
                outcome(lambda: [build.ticker("okx", symbol, okx.ticker_row(data), RECEIVED)]))
    if channel == "mark-price":
        entry = exchange.parse_ticker(data)
        return (outcome(lambda: OKX.fills[0].read(normalizer, entry)),
                outcome(lambda: {"mark_price": okx.mark_price_row(data)[1]["mark_price"]}))
    entry = exchange.parse_funding_rate(data)
    return (outcome(lambda: OKX.channels[2].build(normalizer, entry, RECEIVED)),
            outcome(lambda: [build.funding_rate("okx", symbol, okx.funding_row(data), RECEIVED)]))


async def test_every_okx_simulator_frame_gives_the_same_records():
    sent = frames("okx")
    exchange = pro_exchange("okx", symbol_specs_symbols(6))
    for channel, frame in sent:
        reference, native = okx_both(exchange, channel, frame)
        assert native == reference, frame
        assert reference != "skipped"
    await exchange.close()


def test_frame_rows_tell_data_from_events():
    assert okx.frame_rows({"event": "subscribe", "arg": {"channel": "tickers"}}) == (None, None, [])
    assert okx.frame_rows({"arg": {"channel": "tickers", "instId": "BTC-USDT-SWAP"}, "data": [{"last": "1"}]}) == (
        "tickers", "BTC-USDT-SWAP", [{"last": "1"}])
    assert bybit.merge_delta(None, {"type": "delta", "data": {"lastPrice": "1"}}) is None
    kept = bybit.merge_delta(None, {"type": "snapshot", "data": {"symbol": "BTCUSDT", "lastPrice": "1", "bid1Price": "0.9"}})
    merged = bybit.merge_delta(kept, {"type": "delta", "data": {"symbol": "BTCUSDT", "lastPrice": "2"}})
    assert merged == {"symbol": "BTCUSDT", "lastPrice": "2", "bid1Price": "0.9"}
    assert merged == bybit_frame_merge({"type": "snapshot", "data": kept}, {"type": "delta", "data": {
        "symbol": "BTCUSDT", "lastPrice": "2"}})["data"]


BYBIT_PRO = pro_exchange("bybit", ["BTC/USDT:USDT"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.fixed_dictionaries({key: value for key, value in BYBIT_ROW.items() if key != "timestamp"}).map(row),
       frame_ts=TIMES)
async def test_bybit_snapshots_with_edge_values_give_the_same_records_or_the_same_skip(data, frame_ts):
    frame = row({"topic": "tickers.BTCUSDT", "type": "snapshot", "data": {"symbol": "BTCUSDT", **data},
                 "ts": frame_ts})
    client = BYBIT_PRO.client("ws://127.0.0.1:1/bybit")
    try:
        reference, native = bybit_both(BYBIT_PRO, client, {}, frame)
    except ValueError:  # ccxt pro's handle_ticker refuses the frame (Precise): ours must too
        try:
            bybit.ticker_frame(bybit.merge_delta(None, frame), frame)
        except MalformedEntry:
            raise AssertionError("native skipped what ccxt pro refused") from None
        except ValueError:
            return
        raise AssertionError("native decoded what ccxt pro refused") from None
    assert native == reference


# --- the native fills: what a ticker takes from another stream, entry after entry -----------
async def test_native_fills_read_each_entry_s_own_values_as_ccxt_pro_reads_its_frame():
    """binance bookTicker and markPrice, okx mark-price: each simulator frame becomes its
    symbol's entry as the native stream makes it (the wire's `absorb`), and the native dialect's
    fill reads it twice (the second time from the values the entry keeps): both equal ccxt pro's
    fill of the same frame, tick after tick, never an earlier entry's values."""
    checked = 0
    for ccxt_id, fill_of in (("binanceusdm", {"bookTicker": "book_ticker", "markPrice": "mark_price"}),
                             ("okx", {"mark-price": "mark_price"})):
        normalizer = Normalizer(NAMES[ccxt_id], ccxt_id)
        exchange = pro_exchange(ccxt_id, symbol_specs_symbols(6))
        native_fills = {fill.channel: fill.read for fill in NATIVE_DIALECTS[ccxt_id].fills}
        ccxt_fills = {fill.channel: fill.read for fill in DIALECTS[ccxt_id].fills}
        entries: dict = {}
        for channel, frame in frames(ccxt_id, ticks=6):
            if channel not in fill_of:
                continue
            data = frame["data"][0] if ccxt_id == "okx" else frame
            market_id = data["instId"] if ccxt_id == "okx" else frame["s"]
            symbol = exchange.markets_by_id[market_id][0]["symbol"]
            entry = entries[symbol] = WIRES[ccxt_id].absorb(entries.get(symbol), symbol, frame)
            parsed = exchange.parse_ticker(data) if ccxt_id == "okx" else exchange.parse_ws_ticker(frame, "swap")
            reference = outcome(lambda: ccxt_fills[fill_of[channel]](normalizer, parsed))
            read = native_fills[fill_of[channel]]
            assert outcome(lambda: read(normalizer, entry)) == reference, frame
            assert outcome(lambda: read(normalizer, entry)) == reference, frame
            checked += 1
        await exchange.close()
    assert checked == 6 * 6 * 3
