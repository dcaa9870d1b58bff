"""The TTL cache forgets entries after their TTL and evicts the least recently used past max_size."""

from __future__ import annotations

import random

from collector.resilience.ttl_cache import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_after_its_ttl():
    clock = Clock()
    cache = TTLCache(max_size=10, default_ttl=5.0, clock=clock)
    cache.set("markets", {"BTC/USDT:USDT": {}})
    cache.set("short", 1, ttl=1.0)
    clock.now = 1.0
    assert cache.get("short") is None
    clock.now = 4.9
    assert cache.get("markets") == {"BTC/USDT:USDT": {}}
    clock.now = 5.0
    assert cache.get("markets", "gone") == "gone"
    assert len(cache) == 0


def test_past_max_size_the_least_recently_used_entry_is_evicted():
    cache = TTLCache(max_size=2, default_ttl=60.0, clock=Clock())
    cache.set("a", 1)
    cache.set("b", 2)
    cache.get("a")  # a is now more recent than b
    cache.set("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert cache.evictions == 1 and len(cache) == 2


def test_setting_again_refreshes_the_ttl_and_pop_removes():
    clock = Clock()
    cache = TTLCache(max_size=5, default_ttl=2.0, clock=clock)
    cache.set(("ticker", "BTC/USDT:USDT"), 100)
    clock.now = 1.5
    cache.set(("ticker", "BTC/USDT:USDT"), 100)
    clock.now = 3.0
    assert cache.get(("ticker", "BTC/USDT:USDT")) == 100
    assert cache.pop(("ticker", "BTC/USDT:USDT")) == 100
    assert cache.pop(("ticker", "BTC/USDT:USDT"), "none") == "none"


def test_hits_and_misses_are_counted():
    cache = TTLCache(max_size=5, default_ttl=2.0, clock=Clock())
    cache.set("k", "v")
    cache.get("k")
    cache.get("nope")
    assert (cache.hits, cache.misses) == (1, 1)


def test_set_many_is_set_of_each_key_in_turn_entries_order_and_evictions_alike():
    rng = random.Random(5)
    for max_size in (1, 2, 3, 5, 8):
        clock = Clock()
        one_by_one = TTLCache(max_size=max_size, default_ttl=3.0, clock=clock)
        at_once = TTLCache(max_size=max_size, default_ttl=3.0, clock=clock)
        for _ in range(40):
            keys = rng.sample("abcdefghij", rng.randint(0, 7))
            for key in keys:
                one_by_one.set(key, clock.now)
            at_once.set_many(keys, clock.now)
            assert list(at_once._entries.items()) == list(one_by_one._entries.items())
            assert at_once.evictions == one_by_one.evictions
            clock.now += rng.choice((0.0, 1.0, 2.5))
            probe = rng.choice("abcdefghij")  # expiry and recency work on what set_many left
            assert at_once.get(probe) == one_by_one.get(probe)
