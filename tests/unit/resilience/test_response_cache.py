"""The response cache: reuse bounded by default_ttl and the poll's bound, one request in flight per
key, failures never cached, LRU eviction, private copies, CACHE_001 once and a fresh request."""

from __future__ import annotations

import asyncio
import copy
import itertools

import ccxt.async_support as ccxt_async
import pytest
from structlog.testing import capture_logs

from collector.config import CacheConfig
from collector.metrics import REGISTRY
from collector.resilience.response_cache import (
    ResponseCache, Reuse, discard_served, read_only, received_at, request_key, reuse_within,
)

_names = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Exchange:
    """What the cache asks of the request side: a response per call, counted; optionally slow."""

    def __init__(self, response=None, *, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.response = response
        self.gate = gate
        self.fail_with: BaseException | None = None

    async def fetch(self):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return self.response if self.response is not None else {"result": {"list": [{"n": self.calls}]}}


def make_cache(clock: Clock, **config) -> ResponseCache:
    return ResponseCache(f"unit{next(_names)}", CacheConfig(**config), clock=clock)


def sample(name: str, cache: ResponseCache) -> float:
    return REGISTRY.get_sample_value(name, {"exchange": cache.exchange}) or 0.0


async def test_a_response_serves_a_poll_only_while_younger_than_its_bound_and_default_ttl():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock, default_ttl=2.0)
    first = await cache.get("tickers", Reuse(max_age=15.0), exchange.fetch)
    clock.now += 0.4
    assert await cache.get("tickers", Reuse(max_age=0.5), exchange.fetch) == first  # 0.4 < 0.5
    clock.now += 0.2
    assert await cache.get("tickers", Reuse(max_age=0.5), exchange.fetch) != first  # 0.6 ≥ 0.5
    assert exchange.calls == 2
    clock.now += 1.9
    await cache.get("tickers", Reuse(max_age=15.0), exchange.fetch)  # 1.9 < min(15, 2)
    clock.now += 0.1
    await cache.get("tickers", Reuse(max_age=15.0), exchange.fetch)  # 2.0: default_ttl is over
    assert exchange.calls == 3
    assert (sample("collector_cache_hits_total", cache), sample("collector_cache_misses_total", cache)) == (2, 3)


async def test_a_clock_that_steps_back_makes_cached_responses_unusable():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock)
    await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    clock.now -= 3600  # NTP stepped the wall clock back an hour
    await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    assert exchange.calls == 2


async def test_a_poll_served_from_the_cache_learns_when_that_response_was_received():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock)
    await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    clock.now += 7.0
    with reuse_within(150.0) as scope:
        await cache.get("tickers", scope, exchange.fetch)
        assert received_at(clock.now) == 1000.0
    assert received_at(clock.now) == clock.now  # outside a poll: now


async def test_concurrent_identical_requests_share_one_request():
    gate = asyncio.Event()
    clock, exchange = Clock(), Exchange(gate=gate)
    cache = make_cache(clock)
    waiters = [asyncio.create_task(cache.get("tickers", Reuse(max_age=0.5), exchange.fetch)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters)
    assert exchange.calls == 1
    assert results[0] == results[1] == results[2]
    assert sample("collector_cache_hits_total", cache) == 2


async def test_a_failed_request_fails_its_waiters_and_is_not_cached():
    gate = asyncio.Event()
    clock, exchange = Clock(), Exchange(gate=gate)
    exchange.fail_with = ConnectionResetError("reset by peer")
    cache = make_cache(clock)
    waiters = [asyncio.create_task(cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)) for _ in range(2)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, ConnectionResetError) for o in outcomes)
    exchange.fail_with = None
    assert await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch) == {"result": {"list": [{"n": 2}]}}
    assert exchange.calls == 2 and len(cache) == 1


async def test_a_cancelled_waiter_does_not_cancel_the_request_for_the_others():
    gate = asyncio.Event()
    clock, exchange = Clock(), Exchange(gate=gate)
    cache = make_cache(clock)
    first = asyncio.create_task(cache.get("tickers", Reuse(max_age=30.0), exchange.fetch))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get("tickers", Reuse(max_age=30.0), exchange.fetch))
    await asyncio.sleep(0)
    first.cancel()  # the one whose request is in flight
    await asyncio.sleep(0)
    gate.set()
    assert await second == {"result": {"list": [{"n": 1}]}}
    assert first.cancelled() and exchange.calls == 1
    await cache.aclose()


async def test_every_caller_gets_its_own_copy_of_a_cached_response():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock)
    mine = await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    mine["result"]["list"].clear()  # a parser that mutates what it was given
    theirs = await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    theirs["result"]["list"][0]["n"] = 99
    assert await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch) == {"result": {"list": [{"n": 1}]}}
    assert exchange.calls == 1


async def test_a_read_only_reader_shares_the_response_and_a_copying_caller_still_gets_its_own():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock)
    with read_only():  # the native decoders: no copy made for them, none kept apart from theirs
        fetched = await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
        assert await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch) is fetched
    theirs = await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    assert theirs == fetched and theirs is not fetched
    theirs["result"]["list"].clear()  # a ccxt parser that mutates what it was given
    with read_only():
        assert await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch) == {"result": {"list": [{"n": 1}]}}
    assert exchange.calls == 1


async def test_a_read_only_reader_never_shares_what_a_copying_caller_was_given():
    clock, exchange = Clock(), Exchange(gate=asyncio.Event())
    cache = make_cache(clock)
    mine = asyncio.create_task(cache.get("tickers", Reuse(max_age=30.0), exchange.fetch))
    await asyncio.sleep(0)
    with read_only():
        waiter = asyncio.create_task(cache.get("tickers", Reuse(max_age=30.0), exchange.fetch))
    await asyncio.sleep(0)
    exchange.gate.set()
    (await mine)["result"]["list"].clear()
    assert (await waiter) == {"result": {"list": [{"n": 1}]}}
    with read_only():
        assert await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch) is await waiter
    assert exchange.calls == 1


async def test_rows_that_hold_objects_of_their_own_are_copied_all_the_way_down():
    clock = Clock()
    cache = make_cache(clock)
    response = {"data": [{"n": 1, "levels": {"bid": [1.0, 2.0]}}, {"n": 2}], "rows": [{"n": 3}, [4, {"m": 5}]]}

    async def fetch():
        return copy.deepcopy(response)

    first = await cache.get("depth", Reuse(max_age=30.0), fetch)
    first["data"][0]["levels"]["bid"].append(3.0)  # a parser that mutates a nested part
    first["rows"][1][1]["m"] = 0
    assert await cache.get("depth", Reuse(max_age=30.0), fetch) == response


async def test_past_max_size_the_least_recently_used_response_is_evicted_and_counted():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock, max_size=2)
    for key in ("tickers", "premium_index", "tickers", "open_interest"):  # premium_index is LRU
        await cache.get(key, Reuse(max_age=30.0), exchange.fetch)
    assert exchange.calls == 3 and len(cache) == 2
    await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    await cache.get("premium_index", Reuse(max_age=30.0), exchange.fetch)
    assert exchange.calls == 4
    assert sample("collector_cache_evictions_total", cache) == 2
    assert sample("collector_cache_entries", cache) == 2


async def test_expired_responses_leave_the_entries_gauge():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock, default_ttl=5.0)
    await cache.get("premium_index", Reuse(max_age=30.0), exchange.fetch)
    clock.now += 6.0
    await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    assert len(cache) == 1 and sample("collector_cache_entries", cache) == 1


@pytest.mark.parametrize("response", [{"list": [{1, 2}]}, {"when": object()}])
async def test_a_response_that_cannot_be_stored_is_cache_001_once_and_each_poll_asks_afresh(response):
    clock, exchange = Clock(), Exchange(response)
    cache = make_cache(clock)
    with capture_logs() as logs:
        served = [await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch) for _ in range(3)]
    assert served == [response] * 3 and exchange.calls == 3
    failures = [e for e in logs if e.get("error_code") == "CACHE_001" and e["log_level"] == "warning"]
    assert len(failures) == 1 and failures[0]["exchange"] == cache.exchange
    assert sample("collector_cache_failures_total", cache) == 3
    exchange.response = None
    with capture_logs() as logs:
        await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    assert [e["event"] for e in logs] == ["cache_recovered"]


async def test_waiters_of_a_response_that_cannot_be_stored_make_their_own_request():
    gate = asyncio.Event()
    clock, exchange = Clock(), Exchange({"list": ({"n": 1},)}, gate=gate)  # a tuple is no JSON
    cache = make_cache(clock)
    waiters = [asyncio.create_task(cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)) for _ in range(2)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [exchange.response] * 2
    assert exchange.calls == 2


async def test_an_unhashable_request_key_is_cache_001_and_a_fresh_request():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock)
    with capture_logs() as logs:
        await cache.get(("GET", "/v5/market/tickers", {"body": "dict"}), Reuse(max_age=30.0), exchange.fetch)
    assert exchange.calls == 1
    assert [e["error_code"] for e in logs if "error_code" in e] == ["CACHE_001"]


@pytest.mark.parametrize("ccxt_id, private, public", [
    ("bybit", ("v5/account/wallet-balance", ["private"]), ("v5/market/tickers", ["public"])),
    ("okx", ("account/balance", ["private"]), ("market/tickers", ["public"])),
    ("binanceusdm", ("balance", ["fapiPrivateV2"]), ("ticker/24hr", ["fapiPublic"])),
])
async def test_a_signed_request_is_never_cached_and_a_public_one_is_keyed_by_its_url(ccxt_id, private, public):
    exchange = getattr(ccxt_async, ccxt_id)({"apiKey": "k3y-of-the-desk", "secret": "s3cret", "password": "pass"})
    try:  # ccxt's own signing, no network
        assert request_key(exchange, *private, "GET", {}) is None
        method, url, body = request_key(exchange, *public, "GET", {"category": "linear"})
        assert (method, body) == ("GET", None) and url.endswith("?category=linear")
    finally:
        await exchange.close()


async def test_a_body_ccxt_could_not_parse_is_never_cached():
    clock, exchange = Clock(), Exchange('{"retCode":0,"result"{"list":[')  # ccxt returns the text
    cache = make_cache(clock)
    with capture_logs() as logs:
        for _ in range(2):
            await cache.get("tickers", Reuse(max_age=30.0), exchange.fetch)
    assert exchange.calls == 2 and len(cache) == 0
    assert not [e for e in logs if e.get("error_code")]  # not a cache failure: nothing to store


async def test_a_response_the_poll_rejected_is_forgotten_so_the_retry_asks_again():
    clock, exchange = Clock(), Exchange()
    cache = make_cache(clock)
    with reuse_within(15.0) as scope:
        await cache.get("tickers", scope, exchange.fetch)
        discard_served()  # the parser choked on it
        await cache.get("tickers", scope, exchange.fetch)
    assert exchange.calls == 2
    with reuse_within(15.0) as scope:
        await cache.get("tickers", scope, exchange.fetch)  # the retry's good response is reused
    assert exchange.calls == 2
