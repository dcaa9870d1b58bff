"""A stream record merged from the exchange's other streams (merge.py), as poll mode
merges its parts: bid/ask and mark/index filled per symbol, the funding interval from what is
known of the symbol."""

from __future__ import annotations

from types import SimpleNamespace

from collector.exchanges.normalize import Normalizer
from collector.streams.dialects import DIALECTS
from collector.streams.merge import Merger
from collector.records import FundingRate, Ticker

SYMBOL = "BTC/USDT:USDT"
BOOK_TICKER = {"symbol": SYMBOL, "timestamp": 1796117432010, "bid": 69160.0, "ask": 69160.2,
               "info": {"e": "bookTicker", "s": "BTCUSDT", "b": "69160.0", "a": "69160.2"}}
MARK_PRICE = {"symbol": SYMBOL, "timestamp": 1796117432000, "markPrice": 69167.2, "indexPrice": 69160.1,
              "info": {"e": "markPriceUpdate", "p": "69167.20000000", "i": "69160.10000000", "r": "0.0001"}}


KINDS = {c.name: c.kinds for dialect in DIALECTS.values() for c in dialect.channels}


def connection(channel: str, entries: dict, *, session_started: float = 0.0, live: bool = True):
    return SimpleNamespace(channel=SimpleNamespace(name=channel, kinds=KINDS[channel]), symbols=(SYMBOL,),
                           entries=lambda: entries, latest=entries.get,
                           exchange=object() if live else None, session_started=session_started)


def binance_merger(*connections) -> Merger:
    merger = Merger(DIALECTS["binanceusdm"], Normalizer("binance", "binanceusdm"), stale_after=10.0)
    merger.watch(connections)
    return merger


def test_a_binance_ticker_takes_bid_ask_from_book_ticker_and_mark_index_from_mark_price_keeping_its_ts():
    merger = binance_merger(connection("book_ticker", {SYMBOL: BOOK_TICKER}),
                            connection("mark_price", {SYMBOL: MARK_PRICE}))
    [ticker] = merger.merge([Ticker("binance", SYMBOL, 1796117431900, 1796117432100, last=69161.0)])
    assert (ticker.bid, ticker.ask, ticker.mark_price, ticker.index_price) == (69160.0, 69160.2, 69167.2, 69160.1)
    assert (ticker.ts, ticker.last) == (1796117431900, 69161.0)


def test_a_filling_stream_without_the_symbol_leaves_its_fields_empty():
    merger = binance_merger(connection("book_ticker", {}), connection("mark_price", {SYMBOL: MARK_PRICE}))
    [ticker] = merger.merge([Ticker("binance", SYMBOL, 1, 2, last=1.0)])
    assert (ticker.bid, ticker.ask, ticker.mark_price) == (None, None, 69167.2)


def test_a_ticker_waits_for_a_fresh_filling_session_but_not_longer_than_the_wait_nor_between_sessions():
    fresh = binance_merger(connection("book_ticker", {}, session_started=100.0))  # stream_stale_after 10 s
    assert not fresh.ready(("ticker",), SYMBOL, 104.9)
    assert fresh.ready(("ticker",), SYMBOL, 105.0)  # half of stream_stale_after at most
    assert fresh.ready(("funding_rate",), SYMBOL, 102.0)  # nothing fills funding rates
    assert binance_merger(connection("book_ticker", {}, live=False)).ready(("ticker",), SYMBOL, 1.0)


def test_a_funding_rate_takes_the_interval_the_rest_source_reported_and_none_before_it_did():
    merger = binance_merger()
    merger.learn([FundingRate("binance", SYMBOL, 1, 2, 0.0001, funding_interval_hours=4.0)])
    streamed = [FundingRate("binance", SYMBOL, 3, 4, 0.0002), FundingRate("binance", "ETH/USDT:USDT", 3, 4, 0.0001)]
    # ETH's fundingInfo never came (a new listing, a failed request): no 8 h guess, and asked again
    assert [r.funding_interval_hours for r in merger.merge(streamed)] == [4.0, None]
    assert merger.missing_intervals([SYMBOL, "ETH/USDT:USDT"]) == {"ETH/USDT:USDT"}


def test_a_bybit_funding_rate_takes_the_interval_of_its_market():
    merger = Merger(DIALECTS["bybit"], Normalizer("bybit", "bybit"), stale_after=10.0)
    merger.learn_markets({SYMBOL: {"info": {"fundingInterval": "240"}}, "X/USDT:USDT": {"info": {}}})
    [record] = merger.merge([FundingRate("bybit", SYMBOL, 1, 2, 0.0001)])
    assert record.funding_interval_hours == 4.0
    assert merger.merge([FundingRate("bybit", "X/USDT:USDT", 1, 2, 0.0001)])[0].funding_interval_hours is None
