"""The status page's "what did it collect": the latest record per exchange and its rate."""

from __future__ import annotations

from collector.ops.latest import LatestRecords
from collector.records import FundingRate, Ticker
from tests.support.simulator import FakeClock

TS = 1_800_000_000_000


def test_btc_is_shown_where_listed_with_its_latest_ticker_and_funding_rate():
    clock = FakeClock(1_800_000_000.0)
    latest = LatestRecords(clock)
    latest.observe([Ticker("okx", "ADA/USDT:USDT", TS, TS, last=0.5),
                    Ticker("okx", "BTC/USDT:USDT", TS, TS, last=64000.0)])
    latest.observe([FundingRate("okx", "BTC/USDT:USDT", TS + 5, TS + 5, funding_rate=0.0001),
                    FundingRate("okx", "ADA/USDT:USDT", TS + 5, TS + 5, funding_rate=0.0009)])
    latest.observe([Ticker("okx", "BTC/USDT:USDT", TS + 10, TS + 10, last=64100.0),
                    Ticker("okx", "ADA/USDT:USDT", TS + 10, TS + 10, last=0.6)])
    assert latest.snapshot()["okx"] == {"symbol": "BTC/USDT:USDT", "last": 64100.0, "funding_rate": 0.0001,
                                        "ts": (TS + 10) / 1000, "received_at": (TS + 10) / 1000,
                                        "records_per_min": 6.0}


def test_without_btc_the_first_symbol_by_name_is_shown():
    latest = LatestRecords(FakeClock())
    latest.observe([Ticker("bybit", "XRP/USDT:USDT", TS, TS, last=2.0), Ticker("bybit", "ETH/USDT:USDT", TS, TS, last=3000.0)])
    assert latest.snapshot()["bybit"]["symbol"] == "ETH/USDT:USDT"


def test_records_per_minute_counts_only_the_last_minute():
    clock = FakeClock(1_800_000_000.0)
    latest = LatestRecords(clock)
    latest.observe([Ticker("okx", "BTC/USDT:USDT", TS + i, TS, last=1.0) for i in range(30)])
    clock.advance(45)
    latest.observe([Ticker("okx", "BTC/USDT:USDT", TS + 100 + i, TS, last=1.0) for i in range(10)])
    assert latest.records_per_min("okx") == 40.0
    clock.advance(30)
    assert latest.records_per_min("okx") == 10.0
    assert latest.records_per_min("binance") == 0.0
