"""Normalization of ccxt's parsed structures, built by real ccxt from recorded exchange JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import ccxt
import pytest

from collector.exchanges.normalize import Normalizer
from collector.exchanges.plans import Part
from collector.record_checks import validate
from collector.records import FundingRate, Ticker
from collector.values import MalformedEntry, number, timestamp

FIXTURES = Path(__file__).parents[2] / "fixtures" / "exchanges"
RECEIVED_AT = 1_800_000_000_000


def _load(path: str):
    return json.loads((FIXTURES / path).read_text())


def _binance() -> ccxt.Exchange:
    exchange = ccxt.binanceusdm()
    exchange.set_markets([exchange.parse_market(r) for r in _load("binanceusdm/served/exchangeInfo.json")["symbols"]])
    return exchange


def _okx() -> ccxt.Exchange:
    exchange = ccxt.okx({"options": {"defaultType": "swap"}})
    exchange.set_markets([exchange.parse_market(r) for r in _load("okx/served/instruments_swap.json")["data"]])
    return exchange


def _everything() -> set[str]:
    class Everything:
        def __contains__(self, item: object) -> bool:
            return True
    return Everything()  # type: ignore[return-value]


def test_binance_ticker_takes_last_range_and_volumes_and_the_close_time_as_ts():
    parsed = _binance().parse_tickers(_load("binanceusdm/served/ticker24hr.json"))
    result = Normalizer("binance", "binanceusdm").tickers(parsed.values(), {"BTC/USDT:USDT"}, RECEIVED_AT)
    assert result.malformed == 0
    assert result.records == [Ticker(
        exchange="binance", symbol="BTC/USDT:USDT", ts=1499869899040, received_at=RECEIVED_AT,
        last=4.000002, high_24h=100.0, low_24h=0.1, base_volume_24h=8913.3, quote_volume_24h=15.3,
    )]


def test_binance_funding_rate_carries_next_funding_time_mark_index_and_interest_rate():
    parsed = _binance().parse_funding_rates(_load("binanceusdm/served/premiumIndex.json"))
    result = Normalizer("binance", "binanceusdm").funding_rates(parsed.values(), _everything(), RECEIVED_AT)
    btc = next(r for r in result.records if r.symbol == "BTC/USDT:USDT")
    assert btc == FundingRate(
        exchange="binance", symbol="BTC/USDT:USDT", ts=1732715655000, received_at=RECEIVED_AT,
        funding_rate=0.00013062, next_funding_time=1732723200000, mark_price=93951.8,
        index_price=93902.89680851, interest_rate=0.0001,
    )
    assert len(result.records) == 2


def test_bybit_ticker_has_open_interest_from_the_raw_row_and_receive_time_as_ts():
    parsed = _load("bybit/expected/fetchTicker.json")["parsedResponse"]
    assert parsed["timestamp"] is None  # bybit's ticker rows carry no time
    ticker = Normalizer("bybit", "bybit").ticker(parsed, RECEIVED_AT)
    assert ticker.ts == RECEIVED_AT
    assert ticker.open_interest == 225766.793
    assert (ticker.last, ticker.bid, ticker.ask) == (51444.4, 51444.3, 51444.4)
    assert (ticker.mark_price, ticker.index_price) == (51444.4, 51469.95)
    assert (ticker.base_volume_24h, ticker.quote_volume_24h) == (47293.887, 2352063794.0035)


def test_bybit_funding_rate_keeps_the_envelope_time_ccxt_copied_into_it():
    parsed = _load("bybit/expected/fetchFundingRates.json")["parsedResponse"]
    [record] = Normalizer("bybit", "bybit").funding_rates(parsed.values(), _everything(), RECEIVED_AT).records
    assert record.ts == parsed["BTC/USDT:USDT"]["timestamp"]
    assert record.funding_rate == 0.0001
    assert record.next_funding_time == 1730736000000
    assert (record.mark_price, record.index_price, record.interest_rate) == (68649.9, 68650.75, None)


@pytest.mark.parametrize(("minutes", "hours"), [(30, 0.5), (90, 1.5), (480, 8.0)])
def test_bybit_funding_interval_comes_from_the_market_in_minutes_not_ccxts_whole_hours(minutes, hours):
    """ccxt writes bybit's interval as whole hours ("0h" for 30 minutes); the market says minutes.
    Both decoders and the stream store the market's value."""
    from collector.venues.bybit import market_interval

    parsed = _load("bybit/expected/fetchFundingRates.json")["parsedResponse"]
    market = {"info": {"fundingInterval": str(minutes)}}
    normalizer = Normalizer("bybit", "bybit", market=lambda symbol: market)
    [record] = normalizer.funding_rates(parsed.values(), _everything(), RECEIVED_AT).records
    assert record.funding_interval_hours == hours
    assert market_interval(market) == hours


def test_okx_ticker_volume_is_in_base_currency_not_in_contracts():
    exchange = _okx()
    row = dict(_load("okx/served/tickers_swap.json")["data"][0], instId="BTC-USDT-SWAP",
               vol24h="222200", volCcy24h="2222")
    parsed = exchange.parse_ticker(row)
    assert parsed["baseVolume"] == 222200.0  # ccxt: contracts
    ticker = Normalizer("okx", "okx").ticker(parsed, RECEIVED_AT)
    assert ticker.base_volume_24h == 2222.0
    assert ticker.ts == 1597026383085


def test_okx_funding_rate_takes_ts_from_the_raw_row_and_invents_no_interest_rate():
    parsed = _okx().parse_funding_rates(_load("okx/served/funding_rate.json")["data"])
    assert parsed["BTC/USDT:USDT"]["timestamp"] is None and parsed["BTC/USDT:USDT"]["interestRate"] == 0.0
    [record] = Normalizer("okx", "okx").funding_rates(parsed.values(), _everything(), RECEIVED_AT).records
    assert record.ts == 1743588686291
    assert record.next_funding_time == 1743609600000
    assert record.interest_rate is None
    assert record.funding_rate == pytest.approx(0.0000182221218054, rel=0, abs=0)


def _good(symbol: str, last: float = 1.5) -> dict:
    return {"symbol": symbol, "timestamp": RECEIVED_AT - 5, "last": last, "bid": None, "ask": None,
            "markPrice": None, "indexPrice": None, "high": None, "low": None, "baseVolume": None,
            "quoteVolume": None, "info": {}}


@pytest.mark.parametrize("broken", [
    {"last": math.nan}, {"last": math.inf}, {"bid": -math.inf}, {"last": "abc"}, {"last": [1]},
    {"last": True}, {"timestamp": 12}, {"timestamp": "soon"}, {"symbol": None}, {"info": {"x": 1}, "symbol": ""},
])
def test_a_malformed_ticker_is_skipped_and_counted_and_the_rest_kept(broken):
    entries = [_good("A/USDT:USDT"), {**_good("B/USDT:USDT"), **broken}, _good("C/USDT:USDT")]
    result = Normalizer("binance", "binanceusdm").tickers(entries, _everything(), RECEIVED_AT)
    assert [r.symbol for r in result.records] == ["A/USDT:USDT", "C/USDT:USDT"]
    assert result.malformed == 1


def test_a_funding_entry_without_a_rate_is_malformed():
    entries = [{"symbol": "A/USDT:USDT", "fundingRate": None, "timestamp": None, "info": {}},
               {"symbol": "B/USDT:USDT", "fundingRate": 0.0001, "timestamp": None, "info": {}}, "garbage"]
    result = Normalizer("binance", "binanceusdm").funding_rates(entries, _everything(), RECEIVED_AT)
    assert [r.symbol for r in result.records] == ["B/USDT:USDT"]
    assert result.records[0].ts == RECEIVED_AT
    assert result.malformed == 2


TICKERS = Part("tickers", "fetch_tickers")
FUNDING_RATES = Part("funding_rates", "fetch_funding_rates", reads="funding_rate")


@pytest.mark.parametrize("broken", [
    {"last": math.nan}, {"last": math.inf}, {"bid": -math.inf}, {"last": "abc"}, {"last": [1]},
    {"last": True}, {"timestamp": 12}, {"timestamp": "soon"},
])
def test_a_malformed_ticker_in_a_merged_poll_is_skipped_and_counted_and_the_rest_kept(broken):
    entries = {"A/USDT:USDT": _good("A/USDT:USDT"), "B/USDT:USDT": {**_good("B/USDT:USDT"), **broken},
               "C/USDT:USDT": _good("C/USDT:USDT")}
    result = Normalizer("binance", "binanceusdm").merge("ticker", [(TICKERS, (entries, None))],
                                                        _everything(), RECEIVED_AT)
    assert [r.symbol for r in result.records] == ["A/USDT:USDT", "C/USDT:USDT"]
    assert result.malformed == 1


def test_a_funding_entry_without_a_rate_in_a_merged_poll_is_malformed():
    entries = {"A/USDT:USDT": {"symbol": "A/USDT:USDT", "fundingRate": None, "timestamp": None, "info": {}},
               "B/USDT:USDT": {"symbol": "B/USDT:USDT", "fundingRate": 0.0001, "timestamp": None, "info": {}}}
    result = Normalizer("binance", "binanceusdm").merge("funding_rate", [(FUNDING_RATES, (entries, None))],
                                                        _everything(), RECEIVED_AT)
    assert [(r.symbol, r.funding_rate) for r in result.records] == [("B/USDT:USDT", 0.0001)]
    assert result.malformed == 1


def test_symbols_not_collected_are_ignored_without_counting_them_malformed():
    entries = [_good("A/USDT:USDT"), _good("Z/USDT:USDT", last=math.nan)]
    result = Normalizer("binance", "binanceusdm").tickers(entries, {"A/USDT:USDT"}, RECEIVED_AT)
    assert [r.symbol for r in result.records] == ["A/USDT:USDT"]
    assert result.malformed == 0


def test_every_record_from_recorded_responses_passes_validation():
    binance, okx = _binance(), _okx()
    records = [
        *Normalizer("binance", "binanceusdm").tickers(
            binance.parse_tickers(_load("binanceusdm/served/ticker24hr.json")).values(), _everything(), RECEIVED_AT).records,
        *Normalizer("binance", "binanceusdm").funding_rates(
            binance.parse_funding_rates(_load("binanceusdm/served/premiumIndex.json")).values(), _everything(), RECEIVED_AT).records,
        *Normalizer("okx", "okx").funding_rates(
            okx.parse_funding_rates(_load("okx/served/funding_rate.json")["data"]).values(), _everything(), RECEIVED_AT).records,
        Normalizer("bybit", "bybit").ticker(_load("bybit/expected/fetchTicker.json")["parsedResponse"], RECEIVED_AT),
    ]
    assert len(records) == 5
    for record in records:
        validate(record)


def test_numbers_from_decimal_strings_and_absent_values():
    assert number("68641.30") == 68641.3
    assert number("") is None and number(None) is None
    assert number(3) == 3.0 and type(number(3)) is float
    with pytest.raises(MalformedEntry):
        number("nan")
    assert timestamp("1730729903941", None) == 1730729903941
    assert timestamp(None, 7) == 7
    with pytest.raises(MalformedEntry):
        timestamp(1730729903941 * 1000, None)  # microseconds: a unit mistake


def test_okx_open_interest_is_in_base_currency_with_or_without_oiccy_and_never_in_contracts():
    """ccxt's okx `openInterestAmount` is `oi`, in contracts: the stored figure is `oiCcy`, else
    `oi` × the market's contract size (ETH-USDT-SWAP: 0.1), else empty (no market known)."""
    exchange = _okx()
    row = {"instType": "SWAP", "instId": "ETH-USDT-SWAP", "oi": "2500", "oiCcy": "250.5",
           "oiUsd": "900000", "ts": "1700000000000"}
    without = {k: v for k, v in row.items() if k != "oiCcy"}
    markets = exchange.markets
    normalizer = Normalizer("okx", "okx", contract_size=lambda s: markets[s]["contractSize"] if s in markets else None)
    read = normalizer.open_interest_values
    assert read(exchange.parse_open_interest(row))[1] == {"open_interest": 250.5}
    assert read(exchange.parse_open_interest(without))[1] == {"open_interest": 2500 * 0.1}
    unknown = exchange.parse_open_interest(dict(without, instId="SOL-USDT-SWAP"))
    assert read(unknown)[1] == {"open_interest": None}
    assert Normalizer("okx", "okx").open_interest_values(exchange.parse_open_interest(without))[1] == {
        "open_interest": None}
