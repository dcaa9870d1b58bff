"""Per-(exchange, kind) poll bookkeeping and the mapping of ccxt errors to our codes.

`KindState` remembers what one poller saw (breaker, freshness, stale symbols, what it last
logged); `Summary` backs the once-a-minute summary line; the functions classify ccxt errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from urllib.parse import urlsplit

import structlog
from ccxt.base import errors as ccxt_errors

from collector import metrics
from collector.config import CircuitBreakerConfig
from collector.errors import ErrorCode, one_line
from collector.exchanges.normalize import Normalized
from collector.exchanges.observations import landing_ts
from collector.records import Record
from collector.resilience.breaker import BreakerState, CircuitBreaker
from collector.resilience.ttl_cache import TTLCache

log = structlog.get_logger(__name__)

# 429s (RateLimitExceeded) and 418 bans (DDoSProtection): siblings in ccxt, not parent and child.
RATE_LIMITED = (ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection)
SUMMARY_EVERY = 60.0  # seconds between two `exchange_summary` lines of an exchange


# --- per-kind bookkeeping ------------------------------------------------------------------
@dataclass(slots=True)
class KindState:
    """What one (exchange, kind) poller remembers: breaker, freshness, and what it last logged."""

    kind: str
    breaker: CircuitBreaker
    normalize: Callable[..., Normalized]
    advanced_at: float = 0.0  # clock time the newest exchange timestamp last moved forward
    last_success: float | None = None
    records: int = 0
    polls: int = 0  # successful polls
    attempts: int = 0  # every poll, an open breaker's included
    advanced_attempt: int = 0
    newest_ts: int = 0
    response_newest: int = 0
    failing: ErrorCode | None = None
    last_error: str | None = None  # of the failing poll, for /health
    recovered_at: float | None = None  # when the last failure streak ended, and what it was
    recovered_error: str | None = None
    crashing: bool = False
    malformed_streak: bool = False
    last_seen: dict[str, Record] = field(default_factory=dict)  # symbol -> its last observation, as it landed
    moved_at: dict[str, int] = field(default_factory=dict)  # symbol -> poll its ts last moved
    stale: list[str] = field(default_factory=list)
    watched: bool = True  # /health judges the exchange's freshness by this kind

    def watch(self, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            self.moved_at[symbol] = self.polls

    def track(self, records: list[Record], cache: TTLCache | None, now: float) -> list[Record]:
        """Remember each symbol's last observation; return the records that observe something new.

        Which record observes something new, and under which `ts`, is `observations.landing_ts`
        (the rule stream mode applies too). A record that observes nothing new is skipped while
        `cache` (the dedup memory, on with `cache.enabled`) remembers emitting it, else emitted
        again under its first identity, so that sinks keep one row.

        Every record's symbol is remembered in `cache`, in turn. While the cache has room for all
        of them, that is one `set_many` after the loop; past it, a symbol remembered early in the
        poll could evict one the poll asks about later, so each is remembered in turn.
        """
        poll, seen, moved, kind = self.polls, self.last_seen, self.moved_at, self.kind
        fresh = []
        newest = 0
        in_turn = cache is not None and len(cache) + len(records) > cache.max_size
        for record in records:
            symbol, ts = record.symbol, record.ts
            if ts > newest:
                newest = ts
            last = seen.get(symbol)
            if last is None or ts != last.ts:
                moved[symbol] = poll
            landing = landing_ts(last, record)
            if landing is None:  # the same observation again
                key = (kind, symbol)
                if cache is not None and cache.get(key) is not None:
                    if in_turn:
                        cache.set(key, True)
                    continue
                if ts != last.ts:
                    record = replace(record, ts=last.ts)
            else:
                if landing != ts:
                    record = replace(record, ts=landing)
                seen[symbol] = record
            if in_turn:
                cache.set((kind, symbol), True)
            fresh.append(record)
        if cache is not None and not in_turn:
            cache.set_many([(kind, record.symbol) for record in records], True)
        self.response_newest = newest
        if newest > self.newest_ts:
            self.newest_ts = newest
            self.advanced_at = now
            self.advanced_attempt = self.attempts + 1  # this poll counts once it ends
        self.records = len(fresh)
        return fresh

    def find_stale(self, wanted: Iterable[str]) -> None:
        """Symbols whose exchange timestamp has not moved for 3 polls."""
        horizon = self.polls - 3
        moved = self.moved_at
        self.stale = [s for s in wanted if moved.get(s, self.polls) <= horizon]

    def staleness(self, now: float) -> float:
        return max(0.0, now - self.advanced_at)

    @property
    def is_stale(self) -> bool:
        # Never reached is not stale: there is no data at all (health says "never reached").
        return self.last_success is not None and self.attempts - self.advanced_attempt >= 3

    def succeeded(self, exchange: str, now: float) -> None:
        self.polls += 1
        self.last_success = now
        if self.failing is not None or self.crashing:
            log.info("exchange_recovered", exchange=exchange, kind=self.kind)
            self.recovered_at, self.recovered_error = now, self.last_error
        self.failing = None
        self.last_error = None
        self.crashing = False

    def streamed(self, now: float) -> None:
        """Records of this kind came from the exchange's stream: it delivered, and their exchange
        times moved on (a stream emits a record only then)."""
        self.last_success = self.advanced_at = now
        self.advanced_attempt = self.attempts

    def failed(self, exchange: str, err: BaseException, text: str | None = None) -> None:
        code = error_code(err)
        self.last_error = text or one_line(err)
        if code == self.failing:
            log.debug("exchange_poll_failed", exchange=exchange, kind=self.kind, error_code=code,
                      error=self.last_error)
            return
        self.failing = code
        emit = log.error if code is ErrorCode.EXCHANGE_002 else log.warning
        emit("exchange_poll_failed", exchange=exchange, kind=self.kind, error_code=code,
             error=self.last_error, breaker=str(self.breaker.state))

    def crashed(self, exchange: str, err: BaseException) -> None:
        self.last_error = one_line(err)
        if not self.crashing:
            self.crashing = True
            log.error("poll_crashed", exchange=exchange, kind=self.kind, error_code=ErrorCode.APP_002,
                      error=self.last_error, exc_info=err)

    def malformed(self, exchange: str, count: int) -> None:
        if count and not self.malformed_streak:
            log.warning("malformed_entries_skipped", exchange=exchange, kind=self.kind, count=count,
                        error_code=ErrorCode.EXCHANGE_004)
        self.malformed_streak = bool(count)

    def status(self, now: float) -> dict:
        return {
            "breaker": str(self.breaker.state),
            "last_success": self.last_success,
            "consecutive_failures": self.breaker.consecutive_failures,
            "records": self.records,
            "staleness_s": round(self.staleness(now), 3),
            "stale": self.is_stale,
            "stale_symbols": len(self.stale),
            "stale_examples": sorted(self.stale)[:10],
            "error_code": str(self.failing) if self.failing else None,
            "last_error": self.last_error,
            "recovered_at": self.recovered_at,
            "recovered_error": self.recovered_error,
        }


# Kinds whose freshness /health watches; the others deliver rarely by design.
WATCHED = frozenset({"ticker", "funding_rate"})


def kind_states(exchange: str, kinds: Iterable[str], breaker: CircuitBreakerConfig,
                merge: Callable[..., Normalized], *, now: float) -> dict[str, KindState]:
    """One state per kind of `exchange`, each with its own breaker and its kind's merge."""
    return {
        kind: KindState(kind, CircuitBreaker(f"{exchange}:{kind}", failure_threshold=breaker.failure_threshold,
                                             recovery_timeout=breaker.recovery_timeout),
                        partial(merge, kind), advanced_at=now, watched=kind in WATCHED)
        for kind in kinds
    }


def last_recovery(states: Iterable[KindState]) -> dict:
    """The latest end of a failure streak: when, and what the failure was (null when none)."""
    latest = max((s for s in states if s.recovered_at is not None), key=lambda s: s.recovered_at, default=None)
    return {"recovered_at": latest.recovered_at if latest else None,
            "recovered_error": latest.recovered_error if latest else None}
def exchange_status(kinds: Mapping[str, KindState], symbols: int, now: float) -> dict:
    """One exchange's part of /health: the worst breaker of its kinds, and each kind's state."""
    states = [s.breaker.state for s in kinds.values()]
    worst = next((b for b in (BreakerState.OPEN, BreakerState.HALF_OPEN) if b in states),
                 BreakerState.CLOSED)
    successes = [s.last_success for s in kinds.values() if s.last_success is not None]
    failing = next((s for s in kinds.values() if s.last_error), None)
    return {
        "breaker": str(worst),
        "last_success": max(successes) if successes else None,
        "consecutive_failures": max(s.breaker.consecutive_failures for s in kinds.values()),
        "stale": any(s.is_stale for s in kinds.values() if s.watched),
        "symbols": symbols,
        # why the last poll of a failing kind failed: the first place to look at 3 a.m.
        "error_code": str(failing.failing) if failing and failing.failing else None,
        "last_error": failing.last_error if failing else None,
        "kinds": {kind: s.status(now) for kind, s in kinds.items()},
    }


@dataclass(slots=True)
class Summary:
    """Counters behind the once-a-minute `exchange_summary` line."""

    started: float
    records: int = 0
    failures: int = 0
    requests: int = 0
    response_time: float = 0.0

    def log(self, exchange: str, now: float) -> None:
        mean = self.response_time / self.requests * 1000 if self.requests else None
        log.info("exchange_summary", exchange=exchange, records=self.records, failures=self.failures,
                 requests=self.requests, mean_response_time=None if mean is None else round(mean, 1),
                 period_s=round(now - self.started, 1))
        self.started, self.records, self.failures, self.requests, self.response_time = now, 0, 0, 0, 0.0


def note_streamed(exchange: str, kinds: Mapping[str, KindState], summary: Summary, counts: Mapping[str, int],
                  now: float) -> None:
    """What a stream emitted since the last call, per kind (at each of its sweeps): /health's
    last_success and staleness, `records_collected` and the once-a-minute `exchange_summary` follow
    the streamed records as they follow polls."""
    for kind, count in counts.items():
        if count:
            kinds[kind].streamed(now)
            metrics.child(metrics.records_collected, exchange, kind).inc(count)
            summary.records += count
    if now - summary.started >= SUMMARY_EVERY:
        summary.log(exchange, now)


# --- ccxt errors -----------------------------------------------------------------------------
def error_code(err: BaseException) -> ErrorCode:
    """network/timeout/unavailable → EXCHANGE_001, auth → 002, rate limit → 003, the rest → 004."""
    if isinstance(err, RATE_LIMITED):
        return ErrorCode.EXCHANGE_003
    if isinstance(err, ccxt_errors.AuthenticationError):  # PermissionDenied, AccountSuspended
        return ErrorCode.EXCHANGE_002
    # NetworkError (RequestTimeout, ExchangeNotAvailable, OnMaintenance) and the exchange's own
    # "internal error, try again" (plain OperationFailed, e.g. binance -1001); an unusable
    # answer (BadResponse) is the exchange's data, not its availability.
    if isinstance(err, ccxt_errors.OperationFailed) and not isinstance(err, ccxt_errors.BadResponse):
        return ErrorCode.EXCHANGE_001
    return ErrorCode.EXCHANGE_004


def describe(err: BaseException, *, exchange: str, operation: str, timeout: float) -> str:
    """One line for /health and the log. A timeout names the exchange, the operation, host:port
    and the limit, which ccxt's own `RequestTimeout: okx GET <url> (TimeoutError)` leaves to guess."""
    if not isinstance(err, ccxt_errors.RequestTimeout):
        return one_line(err)
    request = re.search(r"\b(GET|POST|PUT|DELETE) (\S+)", str(err))
    if request is None:
        return f"RequestTimeout: {exchange} {operation}: no answer within {timeout:g}s ({one_line(err)})"
    method, url = request.groups()
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (f"RequestTimeout: {exchange} {operation}: no answer from {parts.hostname}:{port} within "
            f"{timeout:g}s ({method} {parts.path}; exchange_configs.{exchange}.timeout)")


def is_retryable(err: BaseException) -> bool:
    """ccxt's OperationFailed: network errors, timeouts, unavailability, rate limits, and bad
    (malformed/truncated) responses. Never auth, permission, bad symbol or bad request."""
    return isinstance(err, ccxt_errors.OperationFailed)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds form), if the response had one."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if seconds >= 0 else None
    return None

