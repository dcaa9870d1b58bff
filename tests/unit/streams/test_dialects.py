"""Stream entries (ccxt pro's structures, shaped as the venues' frames) → the poll-mode records."""

from __future__ import annotations

import asyncio
import logging

import pytest
from structlog.testing import capture_logs

from collector.exchanges.normalize import Normalizer
from collector.records import FundingRate, Ticker
from collector.streams.ccxtpro import UnreadableFrames
from collector.streams.dialects import DIALECTS, binance_mark_price, bybit_ticker, chunks
from collector.values import MalformedEntry

MARK_PRICE = {  # ccxt pro binance parse_ws_ticker of a markPriceUpdate frame
    "symbol": "BTC/USDT:USDT", "timestamp": 1796117432000, "markPrice": 69167.2, "indexPrice": 69160.1,
    "info": {"e": "markPriceUpdate", "E": 1796117432000, "s": "BTCUSDT", "p": "69167.20000000",
             "i": "69160.10000000", "P": "69160.10000000", "r": "0.00007162", "T": 1796121600000},
}
BYBIT = {  # ccxt pro bybit: the merged snapshot + deltas, parsed
    "symbol": "ETH/USDT:USDT", "timestamp": 1796117433500, "last": 3401.5, "bid": 3401.4, "ask": 3401.6,
    "high": 3450.0, "low": 3300.0, "baseVolume": 1200.5, "quoteVolume": 4080000.25, "markPrice": 3401.7,
    "indexPrice": 3401.9,
    "info": {"symbol": "ETHUSDT", "lastPrice": "3401.5", "openInterest": "5512.25", "fundingRate": "0.0001",
             "nextFundingTime": "1796121600000", "markPrice": "3401.7", "indexPrice": "3401.9"},
}


def test_a_binance_mark_price_frame_is_a_funding_rate_at_its_event_time():
    [record] = binance_mark_price(Normalizer("binance", "binanceusdm"), MARK_PRICE, 1796117432100)
    assert record == FundingRate("binance", "BTC/USDT:USDT", 1796117432000, 1796117432100, 0.00007162,
                                 1796121600000, mark_price=69167.2, index_price=69160.1)


def test_a_bybit_ticker_entry_is_a_ticker_and_the_funding_rate_it_carries_with_one_ts():
    ticker, funding = bybit_ticker(Normalizer("bybit", "bybit"), BYBIT, 1796117433600)
    assert isinstance(ticker, Ticker) and ticker.ts == funding.ts == 1796117433500
    assert (ticker.last, ticker.bid, ticker.open_interest, ticker.mark_price) == (3401.5, 3401.4, 5512.25, 3401.7)
    assert (funding.funding_rate, funding.next_funding_time, funding.mark_price) == (0.0001, 1796121600000, 3401.7)


def test_a_bybit_entry_without_funding_fields_is_a_ticker_only():
    entry = {**BYBIT, "info": {k: v for k, v in BYBIT["info"].items() if k != "fundingRate"}}
    assert [r.kind for r in bybit_ticker(Normalizer("bybit", "bybit"), entry, 1)] == ["ticker"]


def test_a_mark_price_frame_without_a_rate_is_malformed_not_a_record():
    entry = {**MARK_PRICE, "info": {**MARK_PRICE["info"], "r": ""}}
    with pytest.raises(MalformedEntry):
        binance_mark_price(Normalizer("binance", "binanceusdm"), entry, 1)


def test_symbols_are_split_by_each_venues_connection_limit():
    symbols = [f"S{i}/USDT:USDT" for i in range(450)]
    sizes = {ccxt_id: [len(c) for c in chunks(symbols, d.symbols_per_connection)] for ccxt_id, d in DIALECTS.items()}
    assert sizes == {"binanceusdm": [200, 200, 50], "bybit": [200, 200, 50], "okx": [100] * 4 + [50]}


def test_a_frame_ccxt_pro_cannot_parse_is_one_coded_line_a_minute_not_a_traceback(caplog):
    now = [0.0]
    handler = UnreadableFrames(every=60.0, clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    try:
        err = _raise_inside_ccxt()
        with capture_logs() as logs, caplog.at_level(logging.ERROR, logger="asyncio"):
            handler(loop, {"message": "Exception in callback", "exception": err})
            now[0] = 30.0
            handler(loop, {"message": "Exception in callback", "exception": err})
            now[0] = 61.0
            handler(loop, {"message": "Exception in callback", "exception": err})
            handler(loop, {"message": "something else", "exception": ValueError("ours")})
    finally:
        loop.close()
    lines = [e for e in logs if e["event"] == "stream_frame_unreadable"]
    assert [e["unlogged_since_last_line"] for e in lines] == [0, 1]
    assert all(e["error_code"] == "STREAM_003" for e in lines)
    assert "ours" in caplog.text  # not from ccxt: asyncio's default handler reports it as before


def _raise_inside_ccxt() -> BaseException:
    from ccxt.async_support.base.ws import client
    try:
        client.Client.handle_text_or_binary_message(_FakeClient(), '{"truncated": ')
    except Exception as err:  # noqa: BLE001 - the error ccxt pro raises for a truncated frame
        return err
    raise AssertionError("ccxt pro parsed a truncated frame")


class _FakeClient:
    verbose = False
    decompressBinary = True

    def on_message_callback(self, client, message):  # pragma: no cover - not reached
        raise AssertionError("parsed")
