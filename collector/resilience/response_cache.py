"""A bounded TTL cache of parsed exchange responses, shared by every kind of one exchange.

One response often serves several kinds (bybit's `/v5/market/tickers` carries tickers and
funding rates), so the cache sits at ccxt's request level: `install` wraps the exchange
instance's `fetch2`, the step that books the rate limit (`throttle`), signs the request and
calls `fetch`. Wrapping `fetch2` rather than `fetch` lets a reused response cost no rate-limit
budget. An entry is keyed by the signed request (HTTP method, URL with its query, body), so two
ccxt methods that send the same request share it.

The reuse rule: a response serves a request while it is younger than both `cache.default_ttl` and
the requester's bound, which the scheduler sets around each poll to half the kind's interval
(`reuse_within`). Outside such a scope (markets loading, `--check-deps`), for anything but GET,
and for a request carrying the API key (signed), every call goes to the exchange. Concurrent
identical requests share one request in flight; a failure is not cached, nor a body ccxt could
not parse, nor a response the poll's parser rejected (`discard_served`); a waiter that is
cancelled does not cancel the request for the others. A cache failure (an entry that cannot be
stored) is CACHE_001, logged once per streak, and the caller gets a fresh response instead.

Every caller gets a private copy (ccxt's parsers keep rows in the structures they return, and a
caller may change them), except inside `read_only()`: a reader that never changes what it is
given (the native venue decoders) shares the response itself, and a response it fetched is kept
uncopied (a copying caller still gets its own copy of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import structlog
from ccxt.base import errors as ccxt_errors

from collector import ccxt_adapter, metrics
from collector.config import CacheConfig
from collector.errors import ErrorCode, one_line

log = structlog.get_logger(__name__)

_SWEEP_EVERY = 1.0  # seconds between sweeps of expired entries (they are never served anyway)
_SCALARS = frozenset({str, int, float, bool, type(None)})  # exact types: a subclass is no JSON
_ROW = frozenset({dict})


@dataclass(slots=True)
class Reuse:
    """One poll's scope: how old a response it accepts, and what the cache served it."""

    max_age: float
    oldest: float | None = None  # clock time the oldest reused response was received
    served: list[tuple[ResponseCache, Hashable]] = field(default_factory=list)

    def received_at(self, now: float) -> float:
        """When what this poll got was received: the oldest reused response's time, else now."""
        return now if self.oldest is None else min(now, self.oldest)

    def reused(self, stored_at: float) -> None:
        self.oldest = stored_at if self.oldest is None else min(self.oldest, stored_at)


_reuse: ContextVar[Reuse | None] = ContextVar("response_reuse", default=None)
_read_only: ContextVar[bool] = ContextVar("response_read_only", default=False)


@contextlib.contextmanager
def reuse_within(max_age: float | None) -> Iterator[Reuse | None]:
    """Requests made inside accept a cached response younger than `max_age` seconds (None: none)."""
    scope = None if max_age is None else Reuse(max_age)
    token = _reuse.set(scope)
    try:
        yield scope
    finally:
        _reuse.reset(token)


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Requests made inside are read by code that never changes a response: no copy is made
    for it (about 1/3 ms per 500-row body, a tenth of the native decoders' CPU per record)."""
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def bypass() -> contextlib.AbstractContextManager[Reuse | None]:
    """Requests made inside always go to the exchange (markets loading)."""
    return reuse_within(None)


def received_at(now: float) -> float:
    """The receive time of what the current poll was served (`now` outside a poll)."""
    scope = _reuse.get()
    return now if scope is None else scope.received_at(now)


def discard_served() -> None:
    """The current poll could not use what it was served (ccxt's parser or ours rejected it):
    forget those responses, so that a retry or a sibling kind asks the exchange again."""
    scope = _reuse.get()
    if scope is not None:
        for cache, key in scope.served:
            cache.discard(key)
        scope.served.clear()


@dataclass(slots=True)
class _Entry:
    stored_at: float
    response: Any  # never changed: handed to read-only callers, copied for the others


class ResponseCache:
    """One exchange's responses; close it (`aclose`) before the exchange."""

    def __init__(self, exchange: str, config: CacheConfig, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.exchange = exchange
        self.max_size = config.max_size
        self.ttl = config.default_ttl
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Task] = {}
        self._swept_at = float("-inf")
        self._failing = False
        self._hits = metrics.cache_hits.labels(exchange)
        self._misses = metrics.cache_misses.labels(exchange)
        self._evictions = metrics.cache_evictions.labels(exchange)
        self._size = metrics.cache_entries.labels(exchange)
        self._size.set(0)

    def __len__(self) -> int:
        return len(self._entries)

    def install(self, exchange: Any) -> None:
        """Route `exchange`'s requests through this cache (wraps the instance's `fetch2`)."""

        def wrap(original: ccxt_adapter.Fetch2) -> ccxt_adapter.Fetch2:
            async def fetch2(path, api=["public"], method="GET", params={}, config={}):  # noqa: B006 (ccxt's defaults)
                call = lambda: original(path, api, method, params, config)  # noqa: E731
                scope = _reuse.get()
                if scope is None or method != "GET":
                    return await call()
                try:
                    key = request_key(exchange, path, api, method, params)
                except ccxt_errors.BaseError:
                    return await call()  # the request itself is wrong: let ccxt raise it as usual
                if key is None:  # signed: private data is never shared
                    return await call()
                return await self.get(key, scope, call)
            return fetch2

        ccxt_adapter.wrap_fetch2(exchange, wrap)

    async def get(self, key: Hashable, scope: Reuse, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """A cached response for `key` young enough for `scope`, else `fetch()`ed (and stored)."""
        try:
            entry = self._entries.get(key)
        except TypeError as err:  # an unhashable key
            self._failed("lookup", err)
            return await fetch()
        scope.served.append((self, key))
        shared = _read_only.get()
        if entry is not None and self._usable(entry, scope.max_age):
            self._entries.move_to_end(key)
            self._hits.inc()
            scope.reused(entry.stored_at)
            return await self._copy_or_fetch(entry.response, fetch, shared)
        task = self._inflight.get(key)
        if task is not None:  # the same request is on its way: wait for it, not for another one
            self._hits.inc()
            _, stored = await asyncio.shield(task)
            return await self._copy_or_fetch(stored, fetch, shared)
        self._misses.inc()
        task = asyncio.create_task(self._fetch_and_store(key, fetch, shared), name=f"cache:{self.exchange}")
        self._inflight[key] = task
        task.add_done_callback(_retrieve)
        response, _ = await asyncio.shield(task)
        return response

    def discard(self, key: Hashable) -> None:
        if self._entries.pop(key, None) is not None:
            self._size.set(len(self._entries))

    async def aclose(self) -> None:
        """Cancel the requests still in flight (their waiters are gone) and forget every entry."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._entries.clear()
        self._size.set(0)

    # --- internals -------------------------------------------------------------------------
    def _usable(self, entry: _Entry, max_age: float) -> bool:
        age = self._clock() - entry.stored_at
        # A negative age means the clock stepped back: the entry's real age is unknown.
        return 0.0 <= age < min(self.ttl, max_age)

    async def _fetch_and_store(self, key: Hashable, fetch: Callable[[], Awaitable[Any]],
                               shared: bool) -> tuple[Any, Any]:
        try:
            response = await fetch()
        finally:
            self._inflight.pop(key, None)
        return response, self._store(key, response, shared)

    def _store(self, key: Hashable, response: Any, shared: bool = False) -> Any:
        """Keep `response` (`shared`: its fetcher only reads it) or a private copy of it; None
        when it cannot be kept (CACHE_001) or is no JSON object or array (ccxt hands back the
        text of a body it could not parse)."""
        if not isinstance(response, (dict, list)):
            self.discard(key)
            return None
        try:
            stored = response if shared else copy_json(response)
        except (TypeError, RecursionError) as err:
            self._failed("store", err)
            self._entries.pop(key, None)  # an older entry must not outlive a newer response
            self._size.set(len(self._entries))
            return None
        now = self._clock()
        self._entries[key] = _Entry(now, stored)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
            self._evictions.inc()
        if now - self._swept_at >= _SWEEP_EVERY:
            self._sweep(now)
        self._size.set(len(self._entries))
        if self._failing:
            self._failing = False
            log.info("cache_recovered", exchange=self.exchange)
        return stored

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        expired = [key for key, entry in self._entries.items()
                   if not 0.0 <= now - entry.stored_at < self.ttl]
        for key in expired:
            del self._entries[key]

    async def _copy_or_fetch(self, stored: Any, fetch: Callable[[], Awaitable[Any]], shared: bool) -> Any:
        if stored is None:  # the shared response could not be stored: ask for one of our own
            return await fetch()
        if shared:
            return stored
        try:
            return copy_json(stored)
        except (TypeError, RecursionError) as err:  # kept uncopied for a reader: not JSON after all
            self._failed("copy", err)
            return await fetch()

    def _failed(self, operation: str, err: BaseException) -> None:
        metrics.cache_failures.labels(self.exchange).inc()
        emit = log.debug if self._failing else log.warning
        self._failing = True
        emit("cache_failed", exchange=self.exchange, operation=operation, error_code=ErrorCode.CACHE_001,
             error=one_line(err), fallback="fresh request")


def copy_json(value: Any) -> Any:
    """A deep copy of parsed JSON (dict, list, str, int, float, bool, None); TypeError otherwise.

    A dict or list holding only scalars is copied whole, and a list of such dicts (an exchange's
    rows) row by row, both in C: about 1/4 ms for bybit's 500-symbol tickers, sixteen times faster
    than `copy.deepcopy`. The rows are checked and copied by `map` rather than a comprehension:
    as fast, and cProfile no longer traces three calls a row (in benchmarks.engine they made the
    copy look several times dearer than it is)."""
    kind = type(value)
    if kind is dict:
        if _SCALARS.issuperset(map(type, value.values())):
            return value.copy()
        return {key: copy_json(item) for key, item in value.items()}
    if kind is list:
        types = set(map(type, value))
        if _SCALARS.issuperset(types):
            return value.copy()
        if types == _ROW and _SCALARS.issuperset(map(type, chain.from_iterable(map(dict.values, value)))):
            return list(map(dict.copy, value))
        return [copy_json(item) for item in value]
    if kind in _SCALARS:
        return value
    raise TypeError(f"a {kind.__name__} is not JSON: the response cannot be cached")


def request_key(exchange: Any, path: str, api: Any, method: str, params: dict) -> Hashable | None:
    """(method, url, body) of the request ccxt will send; None when it carries the API key."""
    request = ccxt_adapter.signed_request(exchange, path, api, method, params)
    api_key = getattr(exchange, "apiKey", None)
    if api_key and any(api_key in str(request.get(part) or "") for part in ("url", "headers", "body")):
        return None
    return request["method"], request["url"], request.get("body")


def _retrieve(task: asyncio.Task) -> None:
    """Mark a failure as seen even when every waiter was cancelled (no 'never retrieved' noise)."""
    if not task.cancelled():
        task.exception()
