"""The fan-out: every writer gets every valid record; malformed ones are rejected at the door."""

from __future__ import annotations

import math

from structlog.testing import capture_logs

from collector import metrics
from collector.pipeline import Pipeline
from collector.records import FundingRate, Ticker
from tests.support.sinks import FakeClock, MemorySink, make_writer, tickers

T0 = 1_700_000_000_000


def malformed() -> list:
    return [
        Ticker("binance", "BTC/USDT:USDT", T0, T0, last=math.nan),
        Ticker("binance", "BTC/USDT:USDT", T0 + 1, T0, bid=math.inf),
        FundingRate("binance", "BTC/USDT:USDT", T0, T0, None),  # funding_rate is required
        Ticker("binance", "X" * 10_000, T0, T0, last=1.0),
        Ticker("binance", "BTC/USDT:USDT", None, T0),
    ]


def rejected_count() -> float:
    return metrics.REGISTRY.get_sample_value(
        "collector_records_dropped_total", {"sink": "pipeline", "reason": "malformed"}) or 0.0


async def test_every_writer_receives_every_valid_record(tmp_path):
    sinks = [MemorySink("fan-a"), MemorySink("fan-b")]
    async with make_writer(sinks[0], tmp_path) as a, make_writer(sinks[1], tmp_path) as b:
        pipeline = Pipeline([a, b])
        assert pipeline.publish(tickers(250)) == 250
        await pipeline.flush()
    assert sinks[0].records == sinks[1].records == tickers(250)
    assert pipeline.accepted == 250 and pipeline.last_publish is not None


async def test_malformed_records_are_rejected_counted_and_never_reach_a_batch(tmp_path):
    sink = MemorySink("guarded")
    before = rejected_count()
    async with make_writer(sink, tmp_path) as writer:
        pipeline = Pipeline([writer])
        good = tickers(3)
        with capture_logs() as logs:
            assert pipeline.publish([good[0], *malformed(), good[1], good[2]]) == 3
        await pipeline.flush()
    assert sink.records == good
    assert rejected_count() - before == 5
    (line,) = [e for e in logs if e["event"] == "record_rejected"]
    assert line["error_code"] == "RECORD_001" and "finite" in line["reason"]
    assert "X" * 100 not in str(line), "a 10 KB symbol must not land in the log"


def test_a_flood_of_bad_records_from_one_exchange_logs_one_line_per_window():
    clock = FakeClock()
    pipeline = Pipeline([], log_every=60.0, clock=clock)
    with capture_logs() as logs:
        for _ in range(1000):
            pipeline.publish(malformed())
        clock.advance(60.0)
        pipeline.publish(malformed()[:1])
    lines = [e for e in logs if e["event"] == "record_rejected"]
    assert len(lines) == 2
    assert lines[1]["rejected_since_last_line"] == 4999
    assert pipeline.rejected == 5001


def test_each_exchange_gets_its_own_log_window():
    pipeline = Pipeline([], clock=FakeClock())
    bad = [Ticker(name, "BTC/USDT:USDT", T0, T0, last=math.nan) for name in ("binance", "okx", "okx")]
    with capture_logs() as logs:
        assert pipeline.publish(bad) == 0
    assert [e["exchange"] for e in logs if e["event"] == "record_rejected"] == ["binance", "okx"]
