"""What a poller remembers and logs: ccxt errors mapped to our codes, Retry-After, log on change
only, and the same record never emitted twice."""

from __future__ import annotations

import pytest
from ccxt.base import errors as ccxt_errors
from structlog.testing import capture_logs

from collector.exchanges.normalize import Normalized
from collector import metrics
from collector.exchanges.kind_state import (
    KindState, Summary, error_code, exchange_status, is_retryable, note_streamed, retry_after,
)
from collector.records import Ticker
from collector.resilience.breaker import CircuitBreaker
from collector.resilience.ttl_cache import TTLCache

T0 = 1_700_000_000_000


@pytest.mark.parametrize("err, code", [
    (ccxt_errors.RateLimitExceeded("429"), "EXCHANGE_003"),
    (ccxt_errors.DDoSProtection("418 banned"), "EXCHANGE_003"),
    (ccxt_errors.AuthenticationError("bad key"), "EXCHANGE_002"),
    (ccxt_errors.PermissionDenied("no rights"), "EXCHANGE_002"),
    (ccxt_errors.RequestTimeout("timed out"), "EXCHANGE_001"),
    (ccxt_errors.ExchangeNotAvailable("502"), "EXCHANGE_001"),
    (ccxt_errors.OnMaintenance("maintenance"), "EXCHANGE_001"),
    (ccxt_errors.NetworkError("reset"), "EXCHANGE_001"),
    (ccxt_errors.OperationFailed("-1001 internal error"), "EXCHANGE_001"),
    (ccxt_errors.BadResponse("truncated json"), "EXCHANGE_004"),
    (ccxt_errors.BadSymbol("no such market"), "EXCHANGE_004"),
    (ccxt_errors.NotSupported("fetchFundingRates"), "EXCHANGE_004"),
    (ValueError("a bug"), "EXCHANGE_004"),
])
def test_each_ccxt_error_gets_the_code_the_operator_guide_gives_it(err, code):
    assert error_code(err) == code


@pytest.mark.parametrize("err, retried", [
    (ccxt_errors.RequestTimeout("t"), True),
    (ccxt_errors.RateLimitExceeded("429"), True),
    (ccxt_errors.BadResponse("truncated"), True),
    (ccxt_errors.AuthenticationError("bad key"), False),
    (ccxt_errors.PermissionDenied("no"), False),
    (ccxt_errors.BadSymbol("x"), False),
    (ccxt_errors.BadRequest("x"), False),
])
def test_only_transient_failures_are_retried_never_auth_or_a_bad_request(err, retried):
    assert is_retryable(err) is retried


def test_retry_after_reads_the_header_in_any_case_in_seconds():
    assert retry_after({"Retry-After": "2"}) == 2.0
    assert retry_after({"retry-after": "0.5"}) == 0.5
    assert retry_after({"RETRY-AFTER": "0"}) == 0.0


def test_retry_after_is_none_when_absent_negative_or_a_date():
    assert retry_after(None) is None
    assert retry_after({"Content-Type": "application/json"}) is None
    assert retry_after({"Retry-After": "-1"}) is None
    assert retry_after({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None


def state(kind: str = "ticker") -> KindState:
    breaker = CircuitBreaker(f"test-polling:{kind}", failure_threshold=3, recovery_timeout=10.0)
    return KindState(kind, breaker, lambda *a: Normalized([], 0))


def test_a_lasting_failure_is_logged_once_when_it_starts_and_once_when_it_changes():
    kind = state()
    with capture_logs() as logs:
        for _ in range(5):
            kind.failed("okx", ccxt_errors.RequestTimeout("okx GET /tickers"))
        kind.failed("okx", ccxt_errors.RateLimitExceeded("429"))
    loud = [(e["error_code"], e["log_level"]) for e in logs if e["log_level"] != "debug"]
    assert loud == [("EXCHANGE_001", "warning"), ("EXCHANGE_003", "warning")]
    assert sum(e["log_level"] == "debug" for e in logs) == 4  # the repeats, for debugging


def test_an_auth_failure_is_an_error_not_a_warning():
    kind = state()
    with capture_logs() as logs:
        kind.failed("bybit", ccxt_errors.AuthenticationError("invalid api key"))
    assert [(e["error_code"], e["log_level"]) for e in logs] == [("EXCHANGE_002", "error")]


def test_the_first_success_after_a_failure_logs_the_recovery_once():
    kind = state()
    kind.failed("okx", ccxt_errors.RequestTimeout("t"))
    with capture_logs() as logs:
        kind.succeeded("okx", now=100.0)
        kind.succeeded("okx", now=101.0)
    assert [e["event"] for e in logs] == ["exchange_recovered"]
    assert kind.status(101.0)["error_code"] is None and kind.last_success == 101.0


def test_status_carries_the_failing_code_and_the_error_for_health():
    kind = state()
    kind.failed("okx", ccxt_errors.ExchangeNotAvailable("okx GET http://x/api 503"))
    status = kind.status(10.0)
    assert status["error_code"] == "EXCHANGE_001"
    assert status["last_error"] == "ExchangeNotAvailable: okx GET http://x/api 503"


def ticker(symbol: str, ts: int, last: float | None = None) -> Ticker:
    return Ticker("okx", symbol, ts, ts, last=last)


def test_an_observation_that_did_not_change_is_not_emitted_again():
    kind, cache = state(), TTLCache(max_size=100, default_ttl=60.0, clock=lambda: 0.0)
    first = kind.track([ticker("BTC/USDT:USDT", T0, 100.0), ticker("ETH/USDT:USDT", T0, 10.0)],
                       cache, now=1.0)
    again = kind.track([ticker("BTC/USDT:USDT", T0, 100.0), ticker("ETH/USDT:USDT", T0 + 1000, 11.0)],
                       cache, now=2.0)
    assert len(first) == 2
    assert again == [ticker("ETH/USDT:USDT", T0 + 1000, 11.0)]


def test_symbols_whose_timestamp_stands_still_for_three_polls_turn_stale():
    kind = state()
    kind.watch(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    for poll in range(4):
        kind.track([ticker("BTC/USDT:USDT", T0), ticker("ETH/USDT:USDT", T0 + poll)], None, now=float(poll))
        kind.succeeded("okx", now=float(poll))
        kind.find_stale(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert kind.stale == ["BTC/USDT:USDT"]


def collected(exchange: str, kind: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "collector_records_collected_total", {"exchange": exchange, "kind": kind}) or 0.0


def test_streamed_records_move_health_s_last_success_and_freshness_count_as_collected_and_make_the_summary_line():
    """A streaming exchange's /health, `records_collected_total` and once-a-minute summary follow
    what the stream emits, as they follow polls (the REST round at start is not the last word)."""
    kinds = {kind: KindState(kind, CircuitBreaker(f"streamer:{kind}", failure_threshold=5, recovery_timeout=60.0),
                             normalize=None, advanced_at=100.0) for kind in ("ticker", "funding_rate")}
    summary = Summary(started=100.0)
    before = {kind: collected("streamer", kind) for kind in kinds}
    with capture_logs() as logs:
        note_streamed("streamer", kinds, summary, {"ticker": 40}, 130.0)
        note_streamed("streamer", kinds, summary, {"ticker": 20, "funding_rate": 5}, 150.0)
        note_streamed("streamer", kinds, summary, {}, 161.0)  # a sweep without records: nothing moves
    status = exchange_status(kinds, 2, 161.5)
    assert status["last_success"] == 150.0 and not status["stale"]
    assert status["kinds"]["ticker"]["staleness_s"] == 11.5 and status["kinds"]["funding_rate"]["last_success"] == 150.0
    assert {kind: collected("streamer", kind) - before[kind] for kind in kinds} == {"ticker": 60, "funding_rate": 5}
    [line] = [e for e in logs if e["event"] == "exchange_summary"]
    assert (line["exchange"], line["records"], line["period_s"]) == ("streamer", 65, 61.0)
