"""Per exchange, from recorded payloads: every value the exchange sent for a contract field is
stored, equal to ccxt's own parse or to the raw field where ccxt has none, and nothing else is.

The rows are parsed by ccxt itself (its `parse_ticker` / `parse_funding_rate`, no network); the
expected values are read off the recorded rows by hand. Sources: tests/fixtures/exchanges/
(`routes.json` and `others/tickers.json` name each recording)."""

from __future__ import annotations

import json
from pathlib import Path

import ccxt
import pytest

from collector.exchanges.normalize import Normalizer
from collector.exchanges.plans import PLANS, Part
from collector.records import FundingRate, Ticker

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exchanges"
OTHERS = json.loads((FIXTURES / "others" / "tickers.json").read_text())
RECEIVED = 1_800_000_000_000
TICKER_PART = Part("tickers", "fetch_tickers")


def load(relative: str):
    return json.loads((FIXTURES / relative).read_text())


def market(exchange: ccxt.Exchange, fields: dict) -> dict:
    return exchange.safe_market_structure(fields)


def assert_stored(record, stored: dict) -> None:
    """`stored` fields equal, every other value field of the record empty (none invented)."""
    values = {name: getattr(record, name) for name in record.value_fields}
    assert {k: v for k, v in values.items() if v is not None} == stored


@pytest.mark.parametrize("exchange_id", sorted(OTHERS))
def test_other_exchanges_tickers_store_every_value_their_payload_carries(exchange_id):
    case = OTHERS[exchange_id]
    exchange = getattr(ccxt, exchange_id)()
    parsed = exchange.parse_ticker(case["ticker"], market(exchange, case["market"]))
    if exchange_id == "hyperliquid":  # ccxt fills `last` from the mid price (`midPx`)
        assert parsed["last"] == 3465.05
        case["stored"] = {**case["stored"], "last": 3465.05}
    envelope = exchange.parse8601(case["envelope"]["serverTime"]) if "envelope" in case else None
    parts = [(TICKER_PART, ({parsed["symbol"]: parsed}, envelope))]
    [record] = Normalizer(exchange_id, exchange_id).merge("ticker", parts, {parsed["symbol"]},
                                                         RECEIVED).records
    assert_stored(record, case["stored"])
    assert record.ts == case.get("ts", RECEIVED)  # the exchange's time, else the receive time


def test_krakenfutures_tickers_store_the_24h_high_and_low_their_rows_carry():
    """A 2025 GET /tickers response (others/krakenfutures_tickers.json names it): ccxt leaves
    `high`/`low` empty, the rows' `high24h`/`low24h` are stored."""
    case = load("others/krakenfutures_tickers.json")
    exchange = ccxt.krakenfutures()
    exchange.set_markets([market(exchange, fields) for fields in case["markets"].values()])
    parsed = exchange.parse_tickers(case["response"]["tickers"])
    envelope = exchange.parse8601(case["response"]["serverTime"])
    parts = [(PLANS["krakenfutures"]["ticker"][0], (parsed, envelope))]
    records = Normalizer("krakenfutures", "krakenfutures").merge("ticker", parts, set(parsed), RECEIVED).records
    assert {r.symbol for r in records} == set(case["stored"])
    for record in records:
        assert_stored(record, case["stored"][record.symbol])
        assert record.ts == envelope


def test_binance_ticker_merges_the_24h_ticker_and_premium_index_rows():
    exchange = ccxt.binanceusdm()
    btc = market(exchange, {"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT",
                            "settle": "USDT", "type": "swap", "swap": True, "linear": True,
                            "contract": True})
    ticker = exchange.parse_ticker(load("binanceusdm/served/ticker24hr.json")[0], btc)
    premium = exchange.parse_ticker(load("binanceusdm/served/premiumIndex_BTCUSDT.json"), btc)
    plan = {part.endpoint: part for part in PLANS["binanceusdm"]["ticker"]}
    parts = [(plan["tickers"], ({"BTC/USDT:USDT": ticker}, None)),
             (plan["mark_prices"], ({"BTC/USDT:USDT": premium}, None))]
    [record] = Normalizer("binance", "binanceusdm").merge("ticker", parts, {"BTC/USDT:USDT"},
                                                        RECEIVED).records
    assert_stored(record, {"last": 4.000002, "high_24h": 100.0, "low_24h": 0.1,
                           "base_volume_24h": 8913.3, "quote_volume_24h": 15.3,
                           "mark_price": 93951.8, "index_price": 93902.89680851})
    assert record.ts == 1732715655000  # premiumIndex `time`, newer than the 24 h closeTime


def test_binance_funding_rate_with_its_documented_default_interval_only_once_funding_info_came():
    exchange = ccxt.binanceusdm()
    rate = exchange.parse_funding_rate(load("binanceusdm/served/premiumIndex_BTCUSDT.json"))
    rate["symbol"] = "BTC/USDT:USDT"
    plan = {part.endpoint: part for part in PLANS["binanceusdm"]["funding_rate"]}
    # fundingInfo lists only the symbols whose interval was adjusted: BTC is not among them
    parts = [(plan["funding_rates"], ({"BTC/USDT:USDT": rate}, None)), (plan["funding_intervals"], ({}, None))]
    normalizer = Normalizer("binance", "binanceusdm")
    [record] = normalizer.merge("funding_rate", parts, {"BTC/USDT:USDT"}, RECEIVED).records
    assert isinstance(record, FundingRate)
    assert_stored(record, {"funding_rate": 0.00013062, "next_funding_time": 1732723200000,
                           "mark_price": 93951.8, "index_price": 93902.89680851,
                           "interest_rate": 0.0001, "funding_interval_hours": 8.0})
    assert record.ts == 1732715655000
    # the fundingInfo request failed: BTC's interval is not known, so it is left empty
    [unknown] = normalizer.merge("funding_rate", parts[:1], {"BTC/USDT:USDT"}, RECEIVED).records
    assert unknown.funding_interval_hours is None and unknown.funding_rate == 0.00013062


def test_binance_funding_intervals_come_from_funding_info_also_for_a_listing_premium_index_does_not_serve_yet():
    """A new listing is in the markets (and fundingInfo) a tick before premiumIndex has a row of
    it: the poll has no record of it, yet its interval is known and a stream must take it."""
    exchange = ccxt.binanceusdm()
    rate = exchange.parse_funding_rate(load("binanceusdm/served/premiumIndex_BTCUSDT.json"))
    rate["symbol"] = "BTC/USDT:USDT"
    plan = {part.endpoint: part for part in PLANS["binanceusdm"]["funding_rate"]}
    listed = {"SOL/USDT:USDT": {"symbol": "SOL/USDT:USDT", "interval": "4h"}}
    parts = [(plan["funding_rates"], ({"BTC/USDT:USDT": rate}, None)), (plan["funding_intervals"], (listed, None))]
    normalizer = Normalizer("binance", "binanceusdm")
    wanted = {"BTC/USDT:USDT", "SOL/USDT:USDT"}
    assert [r.symbol for r in normalizer.merge("funding_rate", parts, wanted, RECEIVED).records] == ["BTC/USDT:USDT"]
    assert normalizer.intervals(parts, wanted) == {"BTC/USDT:USDT": 8.0, "SOL/USDT:USDT": 4.0}
    assert normalizer.intervals(parts[:1], wanted) == {}  # fundingInfo failed: nothing is known


def test_bybit_ticker_takes_the_snapshot_time_from_the_envelope():
    exchange = ccxt.bybit()
    body = load("bybit/served/tickers_linear.json")
    row = {k: v for k, v in body["result"]["list"][0].items() if k != "timestamp"}  # as bybit sends it
    btc = market(exchange, {"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT",
                            "settle": "USDT", "type": "swap", "swap": True, "linear": True,
                            "contract": True})
    ticker = exchange.parse_ticker(row, btc)
    parts = [(PLANS["bybit"]["ticker"][0], ({"BTC/USDT:USDT": ticker}, int(body["time"])))]
    [record] = Normalizer("bybit", "bybit").merge("ticker", parts, {"BTC/USDT:USDT"}, RECEIVED).records
    assert isinstance(record, Ticker)
    assert_stored(record, {"last": 68641.3, "bid": 68641.2, "ask": 68641.3, "mark_price": 68649.9,
                           "index_price": 68650.75, "high_24h": 69497.0, "low_24h": 67456.1,
                           "base_volume_24h": 115859.112, "quote_volume_24h": 7940401914.5025,
                           "open_interest": 69655.813})
    assert record.ts == 1730729903941


def test_okx_ticker_and_funding_rate_store_every_value_of_their_rows():
    exchange = ccxt.okx()
    swap = market(exchange, {"id": "BTC-USD-SWAP", "symbol": "BTC/USD:BTC", "base": "BTC", "quote": "USD",
                             "settle": "BTC", "type": "swap", "swap": True, "inverse": True,
                             "linear": False, "contract": True})
    ticker = exchange.parse_ticker(load("okx/served/tickers_swap.json")["data"][0], swap)
    normalizer = Normalizer("okx", "okx")
    [record] = normalizer.merge("ticker", [(TICKER_PART, ({"BTC/USD:BTC": ticker}, None))],
                                {"BTC/USD:BTC"}, RECEIVED).records
    assert_stored(record, {"last": 9999.99, "bid": 8888.88, "ask": 9999.99, "high_24h": 10000.0,
                           "low_24h": 8888.88, "base_volume_24h": 2222.0})  # volCcy24h: base currency
    assert record.ts == 1597026383085
    rate = exchange.parse_funding_rate(load("okx/served/funding_rate.json")["data"][0])
    rate["symbol"] = "BTC/USDT:USDT"
    parts = [(Part("funding_rates", "fetch_funding_rates", reads="funding_rate"), ({"BTC/USDT:USDT": rate}, None))]
    [funding] = normalizer.merge("funding_rate", parts, {"BTC/USDT:USDT"}, RECEIVED).records
    # nextFundingRate and interestRate are empty in this recording: stored empty, not invented
    assert_stored(funding, {"funding_rate": 0.0000182221218054, "next_funding_time": 1743609600000,
                            "funding_interval_hours": 8.0})
    assert funding.ts == 1743588686291
