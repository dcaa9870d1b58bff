"""Retry with exponential backoff and full jitter, for retryable errors only.

The caller says what is retryable and how long the server asked us to wait (`Retry-After`);
everything else is re-raised at once. When attempts run out, RETRY_001 is logged and the last
error is re-raised so the caller's breaker sees it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from collector.config import RetryConfig
from collector.errors import ErrorCode, one_line

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        return cls(config.max_attempts, config.base_delay, config.max_delay)

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(attempt-1))]."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * rng()


async def retry(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retryable: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] = lambda err: None,
    what: str = "call",
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    exhausted_level: int = logging.WARNING,
    **log_fields: object,
) -> T:
    """Await `call()` up to `policy.max_attempts` times; between tries sleep the backoff, or
    the server's own `Retry-After` when longer (capped at `max_delay`). A caller that reports
    the failure itself, once per change, passes `exhausted_level=logging.DEBUG`."""
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as err:
            if not retryable(err):
                raise
            if attempt >= policy.max_attempts:
                log.log(exhausted_level, "retries_exhausted", what=what, attempts=attempt,
                        error_code=ErrorCode.RETRY_001, error=one_line(err), **log_fields)
                raise
            delay = policy.backoff(attempt, rng)
            asked = retry_after(err)
            if asked is not None:
                delay = min(policy.max_delay, max(delay, asked))
            log.debug("retrying", what=what, attempt=attempt, delay_s=round(delay, 3),
                      error=one_line(err), **log_fields)
            await sleep(delay)
            attempt += 1

