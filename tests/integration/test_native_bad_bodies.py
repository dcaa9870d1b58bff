"""Bad bodies through `decoder: native` against the simulator: rows with NaN, empty or missing
values are skipped or stored empty exactly as the ccxt path does, with one EXCHANGE_004 line per
episode; a venue error envelope is ccxt's error; text ccxt's arithmetic refuses fails the poll
as ccxt's parser fails it. Never a traceback, and the next good body is collected again."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from collector.config import RetryConfig
from exchange_simulator import Simulator
from tests.support.collection import sources

RETRY = RetryConfig(max_attempts=1, base_delay=0.01, max_delay=0.05)


def bybit_body(rows: list[dict]) -> dict:
    return {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": rows},
            "retExtInfo": {}, "time": 1765000000123}


def row(symbol: str, **values: str) -> dict:
    base = {"symbol": symbol, "lastPrice": "100.5", "bid1Price": "100.4", "ask1Price": "100.6",
            "markPrice": "100.5", "indexPrice": "100.4", "prevPrice24h": "99", "price24hPcnt": "0.015",
            "highPrice24h": "101", "lowPrice24h": "98", "volume24h": "10", "turnover24h": "1000",
            "openInterest": "5", "openInterestValue": "500", "fundingRate": "0.0001",
            "nextFundingTime": "1765008000000"}
    return {**base, **values}


async def collect(decoder: str, body: object) -> tuple[list, list]:
    async with Simulator(symbols=3, seed=4) as sim, sources(sim, names=("bybit",), retry=RETRY,
                                                             decoder=decoder) as [bybit]:
        symbols = sorted(sim.symbols("bybit"))
        ids = [s.replace("/USDT:USDT", "USDT") for s in symbols]
        sim.replay("bybit", "/v5/market/tickers", body(ids) if callable(body) else body)
        with capture_logs() as logs:
            records = [await bybit.poll("ticker"), await bybit.poll("ticker")]
    return records, logs


def loud(logs: list) -> list:
    return [(e["event"], e.get("error_code")) for e in logs if e["log_level"] in ("warning", "error")]


@pytest.mark.parametrize("decoder", ["native", "ccxt"])
async def test_a_nan_row_is_skipped_an_empty_value_stored_empty_with_one_line_per_episode(decoder):
    def body(ids):
        return bybit_body([row(ids[0], markPrice="NaN"), row(ids[1], bid1Price="", ask1Price="0"), row(ids[2])])
    (first, second), logs = await collect(decoder, body)
    assert len(first) == 2  # the NaN row skipped, the others stored
    empty = [r for r in first if r.bid is None]
    assert len(empty) == 1 and empty[0].ask is None and empty[0].last == 100.5
    assert second == []  # unchanged observations are not emitted twice
    assert loud(logs) == [("malformed_entries_skipped", "EXCHANGE_004")]


@pytest.mark.parametrize("decoder", ["native", "ccxt"])
async def test_a_venue_error_envelope_is_one_exchange_line_not_a_traceback(decoder):
    body = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "time": 1765000000123}
    (first, second), logs = await collect(decoder, body)
    assert first == second == []
    assert [event for event, _ in loud(logs)] == ["exchange_poll_failed"]
    assert not [e for e in logs if "exc_info" in e or e.get("error_code") == "APP_002"]


@pytest.mark.parametrize("decoder", ["native", "ccxt"])
async def test_text_ccxt_cannot_compute_with_fails_the_poll_the_same_way(decoder):
    def body(ids):
        return bybit_body([row(ids[0], prevPrice24h="NaN"), row(ids[1]), row(ids[2])])
    (first, _), logs = await collect(decoder, body)
    assert first == []
    assert loud(logs) == [("exchange_poll_failed", "EXCHANGE_004")]  # once, not once per poll
    failed = [e for e in logs if e["event"] == "exchange_poll_failed"]
    assert all("BadResponse: bybit tickers: unusable response" in e["error"] for e in failed)
