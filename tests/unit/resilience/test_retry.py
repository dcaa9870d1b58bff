"""Retry: only retryable errors, full-jitter backoff, Retry-After honoured, RETRY_001 when exhausted."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from collector.resilience.retry import RetryPolicy, retry


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


class Sleeps(list):
    async def __call__(self, delay: float) -> None:
        self.append(delay)


def _retryable(err: BaseException) -> bool:
    return isinstance(err, ConnectionError)


async def test_a_retryable_error_is_retried_until_it_succeeds():
    call, sleeps = Flaky([ConnectionError("reset"), ConnectionError("reset")]), Sleeps()
    result = await retry(call, RetryPolicy(3, 1.0, 30.0), retryable=_retryable, sleep=sleeps, rng=lambda: 1.0)
    assert result == "ok" and call.calls == 3
    assert sleeps == [1.0, 2.0]  # exponential ceiling, full jitter at its top


async def test_a_non_retryable_error_is_raised_at_once():
    call, sleeps = Flaky([PermissionError("bad key")]), Sleeps()
    with pytest.raises(PermissionError):
        await retry(call, RetryPolicy(5, 1.0, 30.0), retryable=_retryable, sleep=sleeps)
    assert call.calls == 1 and sleeps == []


async def test_exhausted_retries_log_retry_001_and_reraise_the_last_error():
    call, sleeps = Flaky([ConnectionError("a"), ConnectionError("b"), ConnectionError("c")]), Sleeps()
    with capture_logs() as logs, pytest.raises(ConnectionError, match="c"):
        await retry(call, RetryPolicy(3, 0.1, 1.0), retryable=_retryable, sleep=sleeps, what="fetch", exchange="okx")
    assert call.calls == 3 and len(sleeps) == 2
    [event] = [e for e in logs if e["event"] == "retries_exhausted"]
    assert event["error_code"] == "RETRY_001" and event["exchange"] == "okx" and event["attempts"] == 3


async def test_the_servers_retry_after_wins_over_a_shorter_backoff_but_is_capped():
    call, sleeps = Flaky([ConnectionError("429"), ConnectionError("429")]), Sleeps()
    asked = iter([2.0, 120.0])
    await retry(call, RetryPolicy(3, 0.5, 30.0), retryable=_retryable, retry_after=lambda err: next(asked),
                sleep=sleeps, rng=lambda: 0.5)
    assert sleeps == [2.0, 30.0]


def test_backoff_is_full_jitter_under_a_capped_exponential_ceiling():
    policy = RetryPolicy(10, 1.0, 8.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.backoff(3, lambda: 0.0) == 0.0
