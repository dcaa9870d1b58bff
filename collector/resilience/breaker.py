"""A circuit breaker: stop calling what keeps failing, probe it again after a pause.

closed → open after `failure_threshold` consecutive failures; open → half-open once
`recovery_timeout` has passed, letting one probe through; the probe's success closes it, its
failure opens it again. An open breaker costs the caller nothing: `allow()` says no at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog

from collector import metrics
from collector.errors import CollectorError, ErrorCode

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_GAUGE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class CircuitOpenError(CollectorError):
    code = ErrorCode.CIRCUIT_001


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        recovery_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probe_in_flight = False
        self.consecutive_failures = 0
        self.last_error: str | None = None
        metrics.breaker_state.labels(name=name).set(0)

    @property
    def state(self) -> BreakerState:
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.recovery_timeout - self._clock())

    def allow(self) -> bool:
        """May a call go through now? In half-open, only one probe at a time."""
        if self._state is BreakerState.OPEN:
            if self.retry_in() > 0:
                return False
            self._set_state(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                return False
            self._probe_in_flight = True
        return True

    def check(self) -> None:
        """`allow()`, raising CircuitOpenError instead of returning False."""
        if not self.allow():
            raise CircuitOpenError(f"circuit {self.name} is open; next probe in {self.retry_in():.1f}s")

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._probe_in_flight = False
        if self._state is not BreakerState.CLOSED:
            log.info("breaker_closed", breaker=self.name)
            self._set_state(BreakerState.CLOSED)

    def record_failure(self, error: BaseException | str | None = None) -> None:
        self.consecutive_failures += 1
        self._probe_in_flight = False
        if error is not None:
            self.last_error = str(error)
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self.consecutive_failures >= self.failure_threshold
        ):
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        if self._state is BreakerState.CLOSED:
            # Logged once per opening; failed half-open probes re-open quietly.
            log.error(
                "breaker_opened", breaker=self.name, error_code=ErrorCode.CIRCUIT_001,
                failures=self.consecutive_failures, recovery_timeout=self.recovery_timeout,
                error=self.last_error,
            )
        self._set_state(BreakerState.OPEN)

    def _set_state(self, state: BreakerState) -> None:
        self._state = state
        metrics.breaker_state.labels(name=self.name).set(_GAUGE_VALUE[state])
