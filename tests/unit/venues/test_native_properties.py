"""Property tests: rows carrying the values that break parsers ("", "0", "-0.0", exponent
notation, NaN, infinities, nulls, JSON numbers, bools, text, timestamps out of range, unknown
symbols, duplicates) give the same records, the same skipped count, or the same failed response,
through `decoder: native` as through ccxt's parsers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.native_diff import answer, assert_same, both, offline_exchange, swap

ABSENT = object()
# Values a venue does send (absent, null, "", zero, -0.0, exponent notation, JSON numbers), often;
# values that fail a parser (NaN, infinities, text, bools, containers), rarely: most rows of most
# examples must still become records for the comparison to mean something.
SENT = st.sampled_from([ABSENT, None, "", "0", "0.0", "-0.0", "0e5", "1e-5", "2.5E+3", "-1.5", 0, 0.0,
                        -0.0, 1.5, 42])
BROKEN = st.sampled_from(["NaN", "nan", "inf", "-Infinity", "1e999", "abc", " 7 ", "1_000", "1\x002", True, [],
                         {"a": 1}])
PLAIN = st.decimals(min_value=-10**6, max_value=10**6, places=6, allow_nan=False).map(str)
NUMBERS = st.integers(0, 39).flatmap(lambda i: BROKEN if i == 0 else SENT if i < 8 else PLAIN)
# A field the venue's rows do not carry (binance's 24 h ticker has no bid): mostly absent.
RARE = st.integers(0, 3).flatmap(lambda i: NUMBERS if i == 0 else st.just(ABSENT))
TIMES = st.integers(0, 9).flatmap(lambda i: st.sampled_from([
    ABSENT, None, "", 1732715655000.0, "1.732715655e12", 5, "abc", 4_200_000_000_000, True]) if i == 0
    else st.integers(1_700_000_000_000, 1_800_000_000_000) | st.integers(1_700_000_000_000, 1_800_000_000_000).map(str))
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def row(fields: dict) -> dict:
    return {key: value for key, value in fields.items() if value is not ABSENT}


def rows(ids: list[str], key: str, fields: dict) -> st.SearchStrategy:
    one = st.fixed_dictionaries({key: st.sampled_from(ids), **fields}).map(row)
    return st.lists(one, min_size=1, max_size=4)


async def same(exchange, *kinds: str) -> None:
    for kind in kinds:
        ccxt_side, native_side = await both(exchange, kind)
        assert_same(ccxt_side, native_side)


BINANCE_IDS = ["BTCUSDT", "ETHUSDT", "NOSUCHUSDT"]
BINANCE_MARKETS = [swap("binanceusdm", "BTCUSDT", "BTC"), swap("binanceusdm", "ETHUSDT", "ETH")]
TICKER_24HR = {name: NUMBERS for name in (
    "lastPrice", "openPrice", "priceChange", "priceChangePercent", "weightedAvgPrice", "highPrice",
    "lowPrice", "volume", "quoteVolume")} | {name: RARE for name in (
    "bidPrice", "askPrice", "markPrice", "indexPrice", "time")} | {"closeTime": TIMES}
PREMIUM = {name: NUMBERS for name in ("markPrice", "indexPrice", "lastFundingRate", "interestRate")} | {
    "fundingIntervalHours": RARE, "nextFundingTime": TIMES, "time": TIMES}
BOOK = {"bidPrice": NUMBERS, "askPrice": NUMBERS, "time": TIMES}
INFO = {"fundingIntervalHours": NUMBERS}


@SETTINGS
@given(tickers=rows(BINANCE_IDS, "symbol", TICKER_24HR), premium=rows(BINANCE_IDS, "symbol", PREMIUM),
       book=rows(BINANCE_IDS, "symbol", BOOK), intervals=rows(BINANCE_IDS, "symbol", INFO))
async def test_binance_rows_with_edge_values_give_the_same_records(tickers, premium, book, intervals):
    exchange = EXCHANGES["binanceusdm"]
    answer(exchange, fapiPublicGetTicker24hr=tickers, fapiPublicGetPremiumIndex=premium,
           fapiPublicGetTickerBookTicker=book, fapiPublicGetFundingInfo=intervals)
    await same(exchange, "ticker", "funding_rate")


BYBIT_IDS = ["BTCUSDT", "ZRXUSDT", "NOSUCHUSDT"]
BYBIT_MARKETS = [swap("bybit", "BTCUSDT", "BTC", info={"fundingInterval": "480"}),
                 swap("bybit", "ZRXUSDT", "ZRX", info={"fundingInterval": 30})]
BYBIT_ROW = {name: NUMBERS for name in (
    "lastPrice", "prevPrice24h", "price24hPcnt", "bid1Price", "ask1Price", "highPrice24h", "lowPrice24h",
    "volume24h", "turnover24h", "markPrice", "indexPrice", "openInterest", "openInterestValue",
    "fundingRate")} | {"nextFundingTime": TIMES, "timestamp": RARE}


@SETTINGS
@given(tickers=rows(BYBIT_IDS, "symbol", BYBIT_ROW), envelope=TIMES)
async def test_bybit_rows_with_edge_values_give_the_same_records(tickers, envelope):
    exchange = EXCHANGES["bybit"]
    body = row({"retCode": 0, "result": {"category": "linear", "list": tickers}, "time": envelope})
    answer(exchange, publicGetV5MarketTickers=body)
    await same(exchange, "ticker", "funding_rate")


OKX_IDS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "NOSUCH-USDT-SWAP"]
OKX_MARKETS = [swap("okx", "BTC-USDT-SWAP", "BTC", contract_size=0.01),
               swap("okx", "ETH-USDT-SWAP", "ETH", contract_size=0.1)]
OKX_TICKER = {name: NUMBERS for name in ("last", "open24h", "bidPx", "askPx", "high24h", "low24h", "vol24h",
                                         "volCcy24h")} | {"markPx": RARE, "idxPx": RARE, "ts": TIMES}
OKX_MARK = {"markPx": NUMBERS, "ts": TIMES}
OKX_INDEX = {"idxPx": NUMBERS, "ts": TIMES}
# oiCcy always given: without it today's ccxt path stores contracts (fixed on another branch).
OKX_OI = {"oi": NUMBERS, "oiCcy": NUMBERS.filter(lambda v: v not in (ABSENT, None, "")), "ts": TIMES}
OKX_FUNDING = {"fundingRate": NUMBERS, "nextFundingRate": NUMBERS, "interestRate": NUMBERS,
               "fundingTime": TIMES, "nextFundingTime": TIMES, "ts": TIMES}


@SETTINGS
@given(tickers=rows(OKX_IDS, "instId", OKX_TICKER), marks=rows(OKX_IDS, "instId", OKX_MARK),
       index=rows(["BTC-USDT", "ETH-USDT", "NOSUCH-USDT"], "instId", OKX_INDEX),
       interest=rows(OKX_IDS, "instId", OKX_OI), funding=rows(OKX_IDS, "instId", OKX_FUNDING))
async def test_okx_rows_with_edge_values_give_the_same_records(tickers, marks, index, interest, funding):
    exchange = EXCHANGES["okx"]
    answer(exchange, publicGetMarketTickers={"code": "0", "data": tickers},
           publicGetPublicMarkPrice={"code": "0", "data": marks},
           publicGetMarketIndexTickers={"code": "0", "data": index},
           publicGetPublicOpenInterest={"code": "0", "data": interest},
           publicGetPublicFundingRate={"code": "0", "data": funding})
    await same(exchange, "ticker", "funding_rate")


# The usual ticker row of each venue (every number plain text) with one number that overflows to
# an infinity: plain text all the same, so only the finiteness check refuses it, on both paths.
USUAL_ROWS = {
    "binanceusdm": ("fapiPublicGetTicker24hr", lambda rows: rows, {
        "symbol": "BTCUSDT", "lastPrice": "100.5", "openPrice": "99", "priceChange": "1.5",
        "priceChangePercent": "1.515", "weightedAvgPrice": "100", "highPrice": "101", "lowPrice": "98",
        "volume": "12.5", "quoteVolume": "1250", "closeTime": 1_733_000_000_000}),
    "bybit": ("publicGetV5MarketTickers", lambda rows: {"retCode": 0, "result": {"list": rows}, "time": 1_733_000_000_000}, {
        "symbol": "BTCUSDT", "lastPrice": "100.5", "prevPrice24h": "99", "price24hPcnt": "0.015",
        "volume24h": "12.5", "turnover24h": "1250", "bid1Price": "100.4", "ask1Price": "100.6",
        "markPrice": "100.5", "indexPrice": "100.4", "highPrice24h": "101", "lowPrice24h": "98",
        "openInterest": "7", "fundingRate": "0.0001"}),
    "okx": ("publicGetMarketTickers", lambda rows: {"code": "0", "data": rows}, {
        "instId": "BTC-USDT-SWAP", "last": "100.5", "open24h": "99", "bidPx": "100.4", "askPx": "100.6",
        "high24h": "101", "low24h": "98", "vol24h": "1250", "volCcy24h": "12.5", "ts": "1733000000000"}),
}


# The ticker plan's other requests answer no rows (an earlier test's answers would fill the record).
NO_OTHER_ROWS = {"binanceusdm": {"fapiPublicGetTickerBookTicker": [], "fapiPublicGetPremiumIndex": []},
                 "bybit": {},
                 "okx": {name: {"code": "0", "data": []} for name in (
                     "publicGetPublicMarkPrice", "publicGetMarketIndexTickers", "publicGetPublicOpenInterest")}}


@pytest.mark.parametrize("ccxt_id", USUAL_ROWS)
async def test_a_usual_row_with_a_number_that_overflows_is_skipped_as_ccxt_skips_it(ccxt_id):
    exchange = EXCHANGES[ccxt_id]
    endpoint, envelope, usual = USUAL_ROWS[ccxt_id]
    for field in [name for name, value in usual.items() if type(value) is str and value[0].isdigit()]:
        answer(exchange, **NO_OTHER_ROWS[ccxt_id], **{endpoint: envelope([{**usual, field: "1e999"}])})
        ccxt_side, native_side = await both(exchange, "ticker")
        assert_same(ccxt_side, native_side)
    answer(exchange, **NO_OTHER_ROWS[ccxt_id], **{endpoint: envelope([usual])})
    ccxt_side, native_side = await both(exchange, "ticker")
    assert_same(ccxt_side, native_side)
    assert len(native_side[0]) == 1  # the usual row itself is a record


# One instance each for every example: they never open a connection (their API answers offline).
EXCHANGES = {"binanceusdm": offline_exchange("binanceusdm", BINANCE_MARKETS),
             "bybit": offline_exchange("bybit", BYBIT_MARKETS), "okx": offline_exchange("okx", OKX_MARKETS)}
