"""One ccxt exchange → normalized records: `ExchangeSource.poll(kind)`.

A poll is, in this order: markets (market_watch.py, reloaded every `markets_ttl`) → circuit breaker (an open
one costs no request) → retry (calls.py: retryable ccxt errors only, honouring Retry-After) → the requests
of the kind's plan (plans.py, run by parts.py) under the global semaphore, each answered by the
response cache when another kind of this exchange just made it (resilience/response_cache.py),
else under the exchange's rate limiter (resilience/ratelimit.py) → normalize and merge → dedup
against the last observation per (kind, symbol). Failures are counted, logged on state changes,
fed to the breaker; `poll` itself raises nothing but CancelledError.

Kinds: `ticker` and `funding_rate` give records; `open_interest` (per-symbol polls where the
exchange has no bulk endpoint) gives none itself, its values join the next tickers;
`funding_settlement` backfills the settled funding series (settlements.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import structlog
from ccxt.base import errors as ccxt_errors

from collector import metrics
from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.errors import one_line
from collector.exchanges import market_selection as mk
from collector.exchanges.calls import Requests
from collector.exchanges.ccxt_client import kind_plans, open_exchange
from collector.exchanges.kind_state import (
    SUMMARY_EVERY, KindState, Summary, describe, exchange_status, kind_states, last_recovery, note_streamed,
)
from collector.exchanges.market_watch import MarketWatch
from collector.exchanges.native_plans import NATIVE_CALLS, NATIVE_PLANS, forget_swaps
from collector.exchanges.normalize import Normalizer
from collector.exchanges.parts import fetch_parts
from collector.exchanges.plans import Part
from collector.exchanges.rejections import Rejections
from collector.exchanges.settlements import DAY_MS, SettlementLedger, collect, fetch_due
from collector.records import Record
from collector.resilience import response_cache
from collector.resilience.breaker import BreakerState
from collector.resilience.retry import RetryPolicy
from collector.resilience.ttl_cache import TTLCache
from collector.runner import trim_heap
from collector.shard import ShardConfig

log = structlog.get_logger(__name__)

KINDS = ("ticker", "funding_rate", "open_interest", "funding_settlement")


class ExchangeSource:
    """One ccxt async exchange; an async context manager (loads markets on enter, closes on exit)."""

    def __init__(
        self,
        name: str,
        config: ExchangeConfig,
        *,
        performance: PerformanceConfig,
        cache: CacheConfig,
        retry: RetryConfig,
        circuit_breaker: CircuitBreakerConfig,
        semaphore: asyncio.Semaphore,
        clock: Callable[[], float] = time.time,
        markets_ttl: float = 900.0,
        funding_history_days: float = 0.0,
        settled: Mapping[str, int] | None = None,
        shard: ShardConfig = ShardConfig(),
    ) -> None:
        """`settled`: symbol -> the newest settlement already journaled (Journal.settled), where
        each symbol's settled funding continues after a restart."""
        self.name = name
        self.exchange_id = mk.ccxt_id(name, config)
        self.exchange: ccxt_async.Exchange | None = None
        self._config = config
        self._pool_size = performance.connection_pool_size
        self._fanout = asyncio.Semaphore(performance.connection_pool_size)
        self._clock = clock
        self._policy = RetryPolicy.from_config(retry)
        # A half-open breaker's probe is one request, not a retry sequence.
        self._probe_policy = RetryPolicy(1, retry.base_delay, retry.max_delay)
        self.markets_ttl = markets_ttl
        self._markets = MarketWatch(name, self.exchange_id, config.symbols, ttl=markets_ttl,
                                    timeout=config.timeout, load=self._load_markets,
                                    current=lambda: self.exchange.markets, on_listed=self._track_new,
                                    owns=partial(shard.owns, name))
        # The dedup memory of emitted records stays on whatever `cache.enabled` says (that governs
        # only the reuse of responses): bounded by `cache.max_size`, forgotten after `default_ttl`.
        self._last_ts = TTLCache(max_size=cache.max_size, default_ttl=cache.default_ttl)
        self._responses = response_cache.ResponseCache(name, cache, clock=clock) if cache.enabled else None
        self._session: aiohttp.ClientSession | None = None
        self._normalizer = normalizer = Normalizer(name, self.exchange_id, contract_size=self._contract_size,
                                                 market=self._market)
        self._kinds = kind_states(name, KINDS, circuit_breaker, normalizer.merge, now=clock())
        self._plans: dict[str, tuple[Part, ...]] = {}
        self._native = config.decoder == "native" and self.exchange_id in NATIVE_PLANS
        self._open_interest_join: Part | None = None
        self._open_interest: dict[str, Any] = {}  # symbol -> ccxt's structure, or native's values
        self._ledger = SettlementLedger(int(funding_history_days * DAY_MS), dict(settled or {}))
        self._rejections = Rejections(name, on_new=self._markets.suspect_delistings)
        self.funding_intervals: dict[str, float] = {}  # symbol -> hours, as the last interval list gave them
        self._summary = Summary(clock())
        self._call = Requests(name, self.exchange_id, policy=self._policy, semaphore=semaphore,
                              summary=self._summary, exchange=lambda: self.exchange).call

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    @property
    def symbols(self) -> frozenset[str]:
        return self._markets.wanted or frozenset()

    # --- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> ExchangeSource:
        self.exchange, self._session = open_exchange(self.name, self.exchange_id, self._config, self._pool_size)
        self._plans, self._open_interest_join = kind_plans(
            self.exchange_id, self.exchange.has, KINDS, native=self._native, settlements=bool(self._ledger.history_ms))
        if self._responses is not None:
            self._responses.install(self.exchange)
        try:
            await self._markets.load_at_start(self._policy)
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._responses is not None:
            await self._responses.aclose()
        if self.exchange is not None:
            await self.exchange.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh_markets(self) -> bool:
        """Reload the markets if `markets_ttl` has passed (streaming asks; a poll does it itself).
        True when new markets were loaded."""
        return await self._markets.refresh(self._policy)

    async def _load_markets(self, policy: RetryPolicy) -> dict:
        with response_cache.bypass():  # the markets are always loaded afresh
            loaded = await self._call("markets", lambda: self.exchange.load_markets(reload=True), policy)
        forget_swaps(self.exchange)
        return loaded

    def _contract_size(self, symbol: str) -> float | None:
        return self._market(symbol).get("contractSize")

    def _market(self, symbol: str) -> dict:
        return (self.exchange.markets or {}).get(symbol) or {}

    def _track_new(self, symbols: Iterable[str]) -> None:
        for state in self._kinds.values():
            state.watch(symbols)

    # --- polling ---------------------------------------------------------------------------
    async def poll(self, kind: str) -> list[Record]:
        """One round of `kind`; returns the new records ([] on failure). Raises only CancelledError."""
        state = self._kinds[kind]
        try:
            records = await self._poll(state)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a bug, not an exchange failure: log it with its traceback
            state.breaker.record_failure(err)
            state.crashed(self.name, err)
            records = []
        self._after_poll(state)
        return records

    async def _poll(self, state: KindState) -> list[Record]:
        if not self._plans.get(state.kind):
            return []  # nothing to ask this exchange for this kind (or the kind is off)
        breaker = state.breaker
        if not breaker.allow():
            log.debug("poll_skipped", exchange=self.name, kind=state.kind, reason="breaker_open",
                      retry_in=round(breaker.retry_in(), 3))
            return []
        probe = breaker.state is BreakerState.HALF_OPEN
        policy = self._probe_policy if probe else self._policy
        try:
            if await self._markets.refresh(policy):
                trim_heap()  # the tables it replaced were freed
            if state.kind == "funding_settlement":
                entries, received_at = await self._fetch_settlements(policy)
            else:
                entries, received_at = await self._fetch(state.kind, policy)
        except ccxt_errors.BaseError as err:
            breaker.record_failure(one_line(err))
            self._summary.failures += 1
            state.failed(self.name, err, describe(err, exchange=self.name, operation=f"{state.kind} poll",
                                                  timeout=self._config.timeout))
            return []
        except asyncio.CancelledError:
            if probe:  # let the next poll probe again after the recovery timeout
                breaker.record_failure("probe cancelled")
            raise
        breaker.record_success()
        state.succeeded(self.name, self._clock())
        if state.kind == "open_interest":
            # The answers of this poll only: a symbol whose request failed or was rejected has
            # no open interest in the tickers until it is answered again, never an old figure.
            self._open_interest = dict(entries[0][1][0])
            return []
        if state.kind == "funding_settlement":
            return self._collect_settlements(state, entries, received_at)
        return self._collect(state, entries, received_at)

    async def _fetch(self, kind: str, policy: RetryPolicy) -> tuple[list, int]:
        call = partial(self._call, policy=policy)
        wanted = self._markets.wanted
        fetched = await fetch_parts(self.exchange, self._plans[kind], call, wanted,
                                    self._fanout, self._rejections, self.name)
        received_at = self._received_at()
        if len(fetched[0][1][0]) < len(wanted) and not fetched[0][0].per_symbol:
            self._markets.suspect_delistings()
        if kind == "ticker" and self._open_interest:
            fetched.append((self._open_interest_join, (self._open_interest, None)))
        return fetched, received_at

    def _received_at(self) -> int:
        """Now in UTC ms, or when the oldest response the cache reused for this poll arrived."""
        return int(response_cache.received_at(self._clock()) * 1000)

    async def _fetch_settlements(self, policy: RetryPolicy) -> tuple[list, int]:
        (part,) = self._plans["funding_settlement"]
        method = partial(NATIVE_CALLS[part.method], self.exchange) if part.decode else getattr(self.exchange, part.method)

        async def page(symbol: str, since: int) -> list:
            return await self._call(part.endpoint, lambda: method(symbol, since), policy)

        histories = await fetch_due(page, self._ledger, self._markets.wanted, int(self._clock() * 1000),
                                    self._fanout, self._rejections)
        return histories, int(self._clock() * 1000)

    # --- records ---------------------------------------------------------------------------
    def _collect_settlements(self, state: KindState, histories: list, received_at: int) -> list[Record]:
        fresh, malformed = collect(self._normalizer, self._ledger, histories, received_at)
        state.malformed(self.name, malformed)
        if fresh:
            metrics.records_collected.labels(self.name, state.kind).inc(len(fresh))
        self._summary.records += len(fresh)
        return fresh

    def _collect(self, state: KindState, entries: Iterable[dict], received_at: int) -> list[Record]:
        wanted = self._markets.wanted
        normalized = state.normalize(entries, wanted, received_at)
        if state.kind == "funding_rate":
            self._ledger.note_intervals(normalized.records)
            self.funding_intervals.update(self._normalizer.intervals(entries, wanted))
        if normalized.malformed:
            metrics.records_skipped.labels(self.name, state.kind, "malformed").inc(normalized.malformed)
            state.malformed(self.name, normalized.malformed)
        fresh = state.track(normalized.records, self._last_ts, received_at / 1000)
        unchanged = len(normalized.records) - len(fresh)
        if unchanged:
            metrics.child(metrics.records_skipped, self.name, state.kind, "unchanged").inc(unchanged)
        if fresh:
            metrics.child(metrics.records_collected, self.name, state.kind).inc(len(fresh))
        if state.response_newest and state.response_newest != received_at:
            metrics.child(metrics.clock_skew, self.name).set((state.response_newest - received_at) / 1000)
        state.find_stale(wanted)
        self._summary.records += len(fresh)
        return fresh

    def _after_poll(self, state: KindState) -> None:
        state.attempts += 1
        now = self._clock()
        metrics.child(metrics.staleness, self.name, state.kind).set(state.staleness(now))
        metrics.child(metrics.stale_symbols, self.name, state.kind).set(len(state.stale))
        if now - self._summary.started >= SUMMARY_EVERY:
            self._summary.log(self.name, now)

    def streamed(self, counts: Mapping[str, int]) -> None:
        """The records this exchange's stream emitted since the last call, per kind."""
        note_streamed(self.name, self._kinds, self._summary, counts, self._clock())

    def status(self) -> dict:
        return {**exchange_status(self._kinds, len(self.symbols), self._clock()),
                **last_recovery(self._kinds.values()), "listed": self._markets.listed}
