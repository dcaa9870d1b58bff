"""Settled funding, one history page: `decoder: native` sends ccxt's request, key for key, and
its page becomes the same settlements (or the same skips) as ccxt's fetch_funding_rate_history's."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.exchanges.native_plans import NATIVE_CALLS
from collector.exchanges.normalize import Normalizer
from collector.values import MalformedEntry
from tests.support.native_diff import RECEIVED, bits, offline_exchange, swap
from tests.unit.venues.test_native_properties import NUMBERS, row

SINCE = 1_764_000_000_000
TIMES = st.integers(0, 9).flatmap(lambda i: st.sampled_from([None, "", 0, "abc", SINCE - 1, SINCE, True]) if i == 0
                                  else st.integers(SINCE, SINCE + 10**9) | st.integers(SINCE, SINCE + 10**9).map(str))
CASES = {
    "binanceusdm": ("fapiPublicGetFundingRate", "symbol", "BTCUSDT", "fundingTime", "fundingRate", None,
                    "binance_funding_history"),
    "bybit": ("publicGetV5MarketFundingHistory", "symbol", "BTCUSDT", "fundingRateTimestamp", "fundingRate",
              ("result", "list"), "bybit_funding_history"),
    "okx": ("publicGetPublicFundingRateHistory", "instId", "BTC-USDT-SWAP", "fundingTime", "realizedRate", ("data",),
            "okx_funding_history"),
}
EXCHANGES = {ccxt_id: offline_exchange(ccxt_id, [
    swap(ccxt_id, market_id, "BTC", info={"fundingInterval": 240}),
    swap(ccxt_id, market_id.replace("BTC", "ETH"), "ETH")]) for ccxt_id, (_, _, market_id, *_) in CASES.items()}


def settlements(entries: list) -> list:
    normalizer = Normalizer("x", "x")
    made = []
    for entry in entries:
        try:
            made.append(bits(normalizer.settlement(entry, RECEIVED)))
        except (MalformedEntry, KeyError, TypeError):
            made.append("skipped")
    return made


async def page_both(ccxt_id: str, rows: list) -> tuple:
    method, key, market_id, time_key, rate_key, wrap, native = CASES[ccxt_id]
    exchange = EXCHANGES[ccxt_id]
    body: object = rows
    for name in reversed(wrap or ()):
        body = {name: body}
    asked = []

    async def respond(params=None, *_):
        asked.append(dict(params or {}))
        return body
    setattr(exchange, method, respond)
    reference = await exchange.fetch_funding_rate_history("BTC/USDT:USDT", SINCE)
    mine = await NATIVE_CALLS[native](exchange, "BTC/USDT:USDT", SINCE)
    assert asked[0] == asked[1] and list(asked[0]) == list(asked[1])  # the same request, key for key
    return settlements(reference), settlements(mine), [e["timestamp"] for e in reference], [e["timestamp"] for e in mine]


def rows_for(ccxt_id: str):
    _, key, market_id, time_key, rate_key, _, _ = CASES[ccxt_id]
    one = st.fixed_dictionaries({key: st.sampled_from([market_id, market_id.replace("BTC", "ETH"), "NOSUCH"]),
                                 time_key: TIMES, rate_key: NUMBERS, "markPrice": NUMBERS}).map(row)
    return st.lists(one, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), ccxt_id=st.sampled_from(sorted(CASES)))
async def test_a_history_page_gives_the_same_settlements_both_ways(data, ccxt_id):
    reference, mine, reference_times, my_times = await page_both(ccxt_id, data.draw(rows_for(ccxt_id)))
    assert mine == reference
    assert my_times == reference_times


async def test_a_recorded_shape_page_gives_settlements_in_order():
    rows = [{"symbol": "BTCUSDT", "fundingTime": SINCE + 2 * 28_800_000, "fundingRate": "0.00010000", "markPrice": "93000.1"},
            {"symbol": "BTCUSDT", "fundingTime": SINCE + 28_800_000, "fundingRate": "-0.00002000", "markPrice": ""}]
    reference, mine, _, my_times = await page_both("binanceusdm", rows)
    assert mine == reference and my_times == [SINCE + 28_800_000, SINCE + 2 * 28_800_000]
