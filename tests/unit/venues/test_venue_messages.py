"""What the generic websocket connection will send to each venue: subscribe requests within the
venue's limits, and what the simulator's dialects (which speak as the venues do) accept."""

from __future__ import annotations

import json

from collector.venues import binance, bybit, okx
from exchange_simulator.listing import symbol_specs
from exchange_simulator.market import MarketState
from exchange_simulator.ws_dialects import WS_DIALECTS


def dialect(ccxt_id: str, count: int = 5):
    state = MarketState(ccxt_id, symbol_specs(count, 3), 3, lambda: 1_765_000_000.0)
    return WS_DIALECTS[ccxt_id](state), [spec.symbol for spec in symbol_specs(count, 3)]


def test_binance_subscribes_three_streams_a_symbol_and_the_simulator_accepts_them_all():
    sim, symbols = dialect("binanceusdm")
    ids = [s.replace("/USDT:USDT", "USDT") for s in symbols]
    message = binance.subscribe_message(binance.stream_names(ids), 7)
    assert message["params"][:3] == [f"{ids[0].lower()}@ticker", f"{ids[0].lower()}@bookTicker",
                                     f"{ids[0].lower()}@markPrice@1s"]
    accepted = sim.subscribe(message)
    assert accepted.unknown == [] and len(accepted.topics) == 3 * len(ids)
    assert binance.SYMBOLS_PER_CONNECTION * len(binance.STREAMS) <= binance.STREAMS_PER_CONNECTION


def test_bybit_sends_at_most_ten_topics_a_request_and_the_simulator_accepts_them_all():
    sim, symbols = dialect("bybit", 23)
    ids = [s.replace("/USDT:USDT", "USDT") for s in symbols]
    messages = bybit.subscribe_messages(ids)
    assert [len(m["args"]) for m in messages] == [10, 10, 3]
    topics = [topic for m in messages for topic in sim.subscribe(m).topics]
    assert len(topics) == 23
    assert sim.pong(json.dumps(bybit.PING_MESSAGE)) is not None


def test_okx_subscribes_every_channel_and_a_full_connection_stays_under_64_kib():
    sim, symbols = dialect("okx")
    ids = [s.replace("/USDT:USDT", "-USDT-SWAP") for s in symbols]
    message = okx.subscribe_message(ids)
    assert {arg["channel"] for arg in message["args"]} == set(okx.CHANNELS)
    assert {"channel": "index-tickers", "instId": ids[0].removesuffix("-SWAP")} in message["args"]
    # the simulator speaks the three channels ccxt pro watches; index and open interest are REST there
    accepted = sim.subscribe(okx.subscribe_message(ids, ("tickers", "mark-price", "funding-rate")))
    assert accepted.unknown == [] and len(accepted.topics) == 3 * len(ids)
    full = okx.subscribe_message([f"LONGNAME{i}-USDT-SWAP" for i in range(okx.SYMBOLS_PER_CONNECTION)])
    assert len(json.dumps(full, separators=(",", ":"))) < okx.MAX_REQUEST_BYTES
    assert sim.pong(okx.PING_MESSAGE) == okx.PONG_MESSAGE
