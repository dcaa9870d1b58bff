"""One sink's writes and their outcome: timeouts, retries, the circuit breaker, the outage log.

`deliver(records)` tries a batch — connecting first if needed, within `connect_timeout`, then
writing within `write_timeout` — and says whether the sink confirmed it. While the sink is up a
failed write is retried with backoff; once it is down, each call is a single probe, spaced by
the backoff and the breaker's pause (`wait_for_probe`). An outage is logged once when it begins
(`sink_down` with the sink's DB_001/MQ_001) and once when it ends (`sink_recovered`).
Two failures are not outages: `SinkHolding` (the sink is up but must not take these records
yet, MQ_003) is tried again after the backoff with no breaker, no `sink_down`, the sink's own
line said why; `SinkMisconfigured` (MQ_002: the sink refuses what the config declares) is final,
`misconfigured` holds it and the daemon exits 1 — retrying cannot mend a config.
A timeout's text names the sink, where it is and what timed out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from collector import metrics
from collector.config import CircuitBreakerConfig, RetryConfig
from collector.errors import ErrorCode, SinkError, SinkHolding, SinkMisconfigured, one_line
from collector.records import Record
from collector.resilience.breaker import CircuitBreaker
from collector.resilience.retry import RetryPolicy, retry
from collector.sinks.base import Sink

log = structlog.get_logger(__name__)

_TICK = 0.05  # longest sleep while a deadline of the (injectable) clock is pending
FAILURES = (SinkError, TimeoutError, OSError)
NOT_RETRIED = (SinkHolding, SinkMisconfigured)  # retried later (held), or never (misconfigured)


class Delivery:
    def __init__(self, sink: Sink, retry_config: RetryConfig, breaker: CircuitBreakerConfig, *,
                 connect_timeout: float, write_timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self.name = sink.name
        self._policy = RetryPolicy.from_config(retry_config)
        self._breaker = CircuitBreaker(f"sink:{sink.name}", failure_threshold=breaker.failure_threshold,
                                       recovery_timeout=breaker.recovery_timeout, clock=clock)
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._clock = clock
        self.opened = False
        self.down = False
        self.held = False  # the last batch was held back (SinkHolding): tried again after the backoff
        self.misconfigured: SinkMisconfigured | None = None
        self.failures = 0
        self.down_since: float | None = None
        self._next_attempt_at = 0.0
        self.last_error: str | None = None
        self.recovered_at: float | None = None  # epoch seconds the last outage ended
        self.last_flush: float | None = None

    async def deliver(self, records: list[Record]) -> bool:
        """Write `records` (or, with none, just connect); True once the sink confirmed them."""
        started = time.perf_counter()
        try:
            if self.down:
                if not self._breaker.allow():
                    await asyncio.sleep(_TICK)
                    return False
                await self._attempt(records)  # a probe: one try
            else:
                await retry(lambda: self._attempt(records), self._policy,
                            retryable=lambda err: isinstance(err, FAILURES) and not isinstance(err, NOT_RETRIED),
                            what="sink_write", sink=self.name)
        except SinkHolding as err:
            self._on_held(err)
            return False
        except FAILURES as err:
            if isinstance(err, SinkMisconfigured):
                self.misconfigured = err
            self._on_failure(err)
            return False
        except Exception as err:
            # A bug in the sink, not an outage: keep the records, show the traceback once.
            log.exception("sink_write_crashed", sink=self.name, error_code=ErrorCode.APP_002)
            self._on_failure(err)
            return False
        self._on_success(len(records), time.perf_counter() - started)
        return True

    async def wait_for_probe(self) -> None:
        while (wait := max(self._next_attempt_at - self._clock(), self._breaker.retry_in())) > 0:
            await asyncio.sleep(min(_TICK, wait))

    async def _attempt(self, records: list[Record]) -> None:
        if not self.opened:
            await self._within(self._connect_timeout, "connect", self.sink.open())
            self.opened = True
        if records:
            await self._within(self._write_timeout, f"write of {len(records)} records", self.sink.write(records))

    async def _within(self, seconds: float, what: str, operation: Any) -> None:
        try:
            async with asyncio.timeout(seconds):
                await operation
        except TimeoutError:
            # The sink's connection is in an unknown state now: it reconnects on the next call.
            self.opened = False
            raise SinkError(f"{self.name} at {_endpoint(self.sink)}: {what} timed out after {seconds:g}s",
                            code=self.sink.error_code) from None

    def _on_held(self, err: SinkHolding) -> None:
        self._breaker.record_success()  # the sink answered: an outage it was in is over
        if self.down:
            self.failures = 0
            self._mark_up()
        self.last_error = " ".join(str(err).split())[:300]
        self.failures += 1
        self.held = True
        self._next_attempt_at = self._clock() + self._policy.backoff(self.failures)

    def _on_success(self, count: int, elapsed: float) -> None:
        self._breaker.record_success()
        self.failures = 0
        self.held = False
        if count:  # a connect with nothing to write yet is not a flush
            self.last_flush = time.time()
            metrics.records_written.labels(sink=self.name).inc(count)
            metrics.sink_write_latency.labels(sink=self.name).observe(elapsed)
        self._mark_up()

    def _mark_up(self) -> None:
        if self.down:
            self.down = False
            self.recovered_at = time.time()
            log.info("sink_recovered", sink=self.name, outage_s=round(time.time() - (self.down_since or 0), 1))
            self.down_since = None

    def _on_failure(self, err: BaseException) -> None:
        self.last_error = " ".join(str(err).split())[:300] if isinstance(err, SinkError) else one_line(err, 300)
        self._breaker.record_failure(self.last_error)
        self.failures += 1
        self._next_attempt_at = self._clock() + self._policy.backoff(self.failures)
        if not self.down:
            self.down = True
            self.down_since = time.time()
            self.recovered_at = None
            code = err.code if isinstance(err, SinkError) else self.sink.error_code
            log.error("sink_down", sink=self.name, error_code=code, error=self.last_error)


def _endpoint(sink: Sink) -> str:
    return getattr(sink, "endpoint", "") or "?"
