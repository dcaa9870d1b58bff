"""Every recorded payload the project holds gives the same records through `decoder: native` as
through ccxt's parsers (tests/fixtures/exchanges; routes.json names each recording): every field,
bit for bit, the same `ts`, the same symbols, the same count of skipped entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.exchanges.native_plans import OPEN_INTEREST_JOIN
from collector.exchanges.plans import Part
from tests.support.native_diff import answer, assert_same, both, fetch, offline_exchange, plans, swap

CCXT_JOIN = Part("open_interest", "fetch_open_interest", reads="open_interest", fills=("open_interest",))

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exchanges"


def load(relative: str):
    return json.loads((FIXTURES / relative).read_text())


def binance_markets(*bodies) -> list[dict]:
    """A market for every symbol the rows name (the recordings outnumber exchangeInfo's two)."""
    ids = {row["symbol"] for body in bodies for row in (body if isinstance(body, list) else [body])}
    return [swap("binanceusdm", market_id, market_id.removesuffix("USDT")) for market_id in sorted(ids)]


async def binance_case(tickers, premium, book=(), intervals=()):
    exchange = offline_exchange("binanceusdm", binance_markets(tickers, premium))
    answer(exchange, fapiPublicGetTicker24hr=tickers, fapiPublicGetPremiumIndex=premium,
           fapiPublicGetTickerBookTicker=list(book), fapiPublicGetFundingInfo=list(intervals))
    return exchange


@pytest.mark.parametrize("tickers", ["served/ticker24hr.json", "raw/nautilus_http_futures_usdt_ticker_24hr.json"])
@pytest.mark.parametrize("premium", ["served/premiumIndex.json", "served/premiumIndex_full.json"])
async def test_binance_recorded_tickers_and_funding_rates_are_the_same_records(tickers, premium):
    body = load(f"binanceusdm/{tickers}")
    exchange = await binance_case(body if isinstance(body, list) else [body], load(f"binanceusdm/{premium}"))
    for kind in ("ticker", "funding_rate"):
        ccxt_side, native_side = await both(exchange, kind)
        assert_same(ccxt_side, native_side)
        assert ccxt_side[0], "the recording gives records"
    await exchange.close()


async def test_binance_open_interest_joins_the_tickers_with_the_same_value():
    exchange = await binance_case(load("binanceusdm/served/ticker24hr.json"), load("binanceusdm/served/premiumIndex.json"))
    answer(exchange, fapiPublicGetOpenInterest=lambda params: {
        "symbol": params["symbol"], "openInterest": "10659.509", "time": 1732715655123})
    ccxt_oi, native_oi = plans(exchange, "open_interest")
    [(_, (ccxt_values, _))] = await fetch(exchange, ccxt_oi)
    [(_, (native_values, _))] = await fetch(exchange, native_oi)
    joined = (((CCXT_JOIN, (ccxt_values, None)),), ((OPEN_INTEREST_JOIN, (native_values, None)),))
    ccxt_side, native_side = await both(exchange, "ticker", joined=joined)
    assert_same(ccxt_side, native_side)
    assert {r.open_interest for r in native_side[0]} == {10659.509}
    await exchange.close()


def bybit_markets() -> list[dict]:
    rows = load("bybit/served/instruments_linear.json")["result"]["list"]
    return [swap("bybit", row["symbol"], row["baseCoin"], info=row) for row in rows]


@pytest.mark.parametrize("body", ["served/tickers_linear.json", "fetchTicker", "fetchFundingRates",
                                  "fetchFundingRate"])
async def test_bybit_recorded_tickers_are_the_same_records(body):
    if body.endswith(".json"):
        bodies = [load(f"bybit/{body}")]
    else:
        bodies = [entry["httpResponse"] for entry in load("bybit/raw/ccxt_static_response_bybit_excerpt.json")[body]]
    for response in bodies:
        exchange = offline_exchange("bybit", bybit_markets())
        answer(exchange, publicGetV5MarketTickers=response)
        for kind in ("ticker", "funding_rate"):
            ccxt_side, native_side = await both(exchange, kind)
            assert_same(ccxt_side, native_side)
            assert ccxt_side[0]
        await exchange.close()


def okx_markets() -> list[dict]:
    markets = []
    for row in load("okx/served/instruments_swap.json")["data"]:
        base, quote, _ = row["instId"].split("-")
        markets.append(swap("okx", row["instId"], base, quote=quote, contract_size=float(row["ctVal"]),
                            inverse=row["ctType"] == "inverse", info=row))
    return markets


async def test_okx_recorded_tickers_and_funding_rates_are_the_same_records():
    exchange = offline_exchange("okx", okx_markets())
    answer(exchange, publicGetMarketTickers=load("okx/served/tickers_swap.json"),
           publicGetPublicFundingRate=load("okx/served/funding_rate.json"),
           publicGetPublicMarkPrice={"code": "0", "data": []},
           publicGetMarketIndexTickers={"code": "0", "data": []},
           publicGetPublicOpenInterest={"code": "0", "data": []})
    for kind in ("ticker", "funding_rate"):
        ccxt_side, native_side = await both(exchange, kind)
        assert_same(ccxt_side, native_side)
        assert ccxt_side[0]
    await exchange.close()
