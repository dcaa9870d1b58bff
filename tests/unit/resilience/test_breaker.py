"""The circuit breaker stops calls to what keeps failing and probes it again after a pause."""

from __future__ import annotations

from structlog.testing import capture_logs

from collector import metrics
from collector.resilience.breaker import BreakerState, CircuitBreaker, CircuitOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, name: str = "test:ticker") -> CircuitBreaker:
    return CircuitBreaker(name, failure_threshold=3, recovery_timeout=10.0, clock=clock)


def test_opens_after_the_threshold_of_consecutive_failures_and_logs_circuit_001_once():
    clock = Clock()
    breaker = _breaker(clock)
    with capture_logs() as logs:
        for _ in range(2):
            breaker.record_failure("boom")
        assert breaker.state is BreakerState.CLOSED and breaker.allow()
        breaker.record_failure("boom")
        assert breaker.state is BreakerState.OPEN
        clock.now += 10.0
        assert breaker.allow()  # the probe
        breaker.record_failure("still down")
    opened = [e for e in logs if e["event"] == "breaker_opened"]
    assert len(opened) == 1 and opened[0]["error_code"] == "CIRCUIT_001"
    assert breaker.state is BreakerState.OPEN


def test_an_open_breaker_refuses_until_the_recovery_timeout():
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    assert not breaker.allow()
    assert breaker.retry_in() == 10.0
    clock.now += 9.9
    assert not breaker.allow()
    try:
        breaker.check()
    except CircuitOpenError as err:
        assert err.code == "CIRCUIT_001"
    else:
        raise AssertionError("check() let a call through an open breaker")


def test_half_open_lets_exactly_one_probe_through_and_its_success_closes_it():
    clock = Clock()
    breaker = _breaker(clock, "test:probe")
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10.0
    assert breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # a second caller waits for the probe's outcome
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0
    assert breaker.allow() and breaker.allow()


def test_a_success_resets_the_failure_count():
    breaker = _breaker(Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_the_state_gauge_follows_the_breaker():
    clock = Clock()
    breaker = _breaker(clock, "test:gauge")
    gauge = lambda: metrics.REGISTRY.get_sample_value("collector_breaker_state", {"name": "test:gauge"})
    assert gauge() == 0
    for _ in range(3):
        breaker.record_failure()
    assert gauge() == 2
    clock.now += 10.0
    breaker.allow()
    assert gauge() == 1
