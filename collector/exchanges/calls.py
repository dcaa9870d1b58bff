"""Every request of one exchange source: retry → global semaphore → ccxt, counted per endpoint.

A ccxt parser that fails on a body that is not the JSON it expects (TypeError, KeyError, ...) is
turned into ccxt's BadResponse, which is retried; a response the exchange or the parser rejected
is not served again by the response cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import structlog
from ccxt.base import errors as ccxt_errors

from collector import metrics
from collector.exchanges.kind_state import RATE_LIMITED, Summary, is_retryable, retry_after
from collector.resilience import response_cache
from collector.resilience.retry import RetryPolicy, retry

log = structlog.get_logger(__name__)

# ccxt's parsers fail with these on a body that is not the JSON they expect.
_PARSE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError)


class Requests:
    """`call(endpoint, request, policy)`: `request()` under retry and the global semaphore."""

    def __init__(self, name: str, exchange_id: str, *, policy: RetryPolicy, semaphore: asyncio.Semaphore,
                 summary: Summary, exchange: Callable[[], Any]) -> None:
        self.name = name
        self.exchange_id = exchange_id
        self._policy = policy
        self._semaphore = semaphore
        self._summary = summary
        self._exchange = exchange

    async def call(self, endpoint: str, call: Callable, policy: RetryPolicy = None):
        # Debug only: the poll reports the failure once per change (exchange_poll_failed), and
        # a per-symbol poll would otherwise log one line per symbol per tick during an outage.
        return await retry(
            lambda: self._request(endpoint, call), policy or self._policy, retryable=is_retryable,
            retry_after=self._retry_after, what="exchange_request", exhausted_level=logging.DEBUG,
            exchange=self.name, endpoint=endpoint,
        )

    async def _request(self, endpoint: str, call: Callable):
        async with self._semaphore:
            started = time.perf_counter()
            try:
                result = await call()
            except ccxt_errors.BaseError:
                self._count(endpoint, started, "error")
                response_cache.discard_served()  # a rejected response is not served again
                raise
            except _PARSE_ERRORS as err:
                self._count(endpoint, started, "error")
                response_cache.discard_served()
                raise ccxt_errors.BadResponse(
                    f"{self.exchange_id} {endpoint}: unusable response ({type(err).__name__}: {err})"
                ) from err
        self._count(endpoint, started, "ok")
        return result

    def _count(self, endpoint: str, started: float, outcome: str) -> None:
        elapsed = time.perf_counter() - started
        metrics.child(metrics.requests, self.name, endpoint, outcome).inc()
        metrics.child(metrics.request_latency, self.name, endpoint).observe(elapsed)
        self._summary.requests += 1
        self._summary.response_time += elapsed
        log.debug("exchange_request", exchange=self.name, endpoint=endpoint,
                  response_time=round(elapsed * 1000, 1), outcome=outcome)

    def _retry_after(self, err: BaseException) -> float | None:
        if not isinstance(err, RATE_LIMITED):
            return None
        return retry_after(getattr(self._exchange(), "last_response_headers", None))
