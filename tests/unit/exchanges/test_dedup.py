"""Observation dedup per (kind, symbol): an unchanged observation is emitted once, a changed one
always, under a new identity even when the exchange's time did not move with it."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from collector.exchanges.kind_state import KindState
from collector.records import Ticker
from collector.resilience.breaker import CircuitBreaker
from collector.resilience.ttl_cache import TTLCache

TS = 1_767_225_600_000


def state() -> KindState:
    return KindState("ticker", CircuitBreaker("x:ticker", failure_threshold=5, recovery_timeout=60.0), normalize=lambda *a: None)


def ticker(ts: int, received_at: int, last: float, volume: float = 10.0) -> Ticker:
    return Ticker("binance", "BTC/USDT:USDT", ts, received_at, last=last, base_volume_24h=volume)


def test_the_same_observation_again_is_skipped_even_when_the_exchange_time_moved():
    kind, cache = state(), TTLCache(max_size=10, default_ttl=60.0)
    assert len(kind.track([ticker(TS, TS + 5, 100.0)], cache, 0.0)) == 1
    assert kind.track([ticker(TS, TS + 1005, 100.0)], cache, 1.0) == []
    assert kind.track([ticker(TS + 1000, TS + 2005, 100.0)], cache, 2.0) == []  # e.g. an envelope time


def test_new_values_at_an_unmoved_exchange_time_take_the_receive_time_and_are_never_dropped():
    kind, cache = state(), TTLCache(max_size=10, default_ttl=60.0)
    kind.track([ticker(TS, TS + 5, 100.0)], cache, 0.0)
    # the 24 h window moved, no trade: a last-trade time stays where it was
    [moved] = kind.track([ticker(TS, TS + 1005, 100.0, volume=9.0)], cache, 1.0)
    assert moved.ts == TS + 1005 and moved.base_volume_24h == 9.0
    [again] = kind.track([ticker(TS, TS + 2005, 100.0, volume=8.0)], cache, 2.0)
    assert again.ts == TS + 2005


def test_without_the_dedup_memory_an_unchanged_observation_keeps_its_first_identity():
    kind = state()
    [first] = kind.track([ticker(TS, TS + 5, 100.0)], None, 0.0)
    [repeat] = kind.track([ticker(TS + 1000, TS + 1005, 100.0)], None, 1.0)
    assert repeat.ts == first.ts  # sinks keep one row


def track_one_by_one(last: dict, cache: TTLCache, records: list[Ticker]) -> list[Ticker]:
    """The dedup rule read plainly, the memory asked and told one record at a time."""
    fresh = []
    for record in records:
        values = tuple(getattr(record, name) for name in Ticker.value_fields)
        key, seen = ("ticker", record.symbol), last.get(record.symbol)
        if seen is not None and seen[1] == values:
            if cache.get(key) is not None:
                cache.set(key, True)
                continue
            record = replace(record, ts=seen[0])
        else:
            if seen is not None and record.ts <= seen[0]:
                record = replace(record, ts=max(record.received_at, seen[0] + 1))
            last[record.symbol] = (record.ts, values)
        cache.set(key, True)
        fresh.append(record)
    return fresh


@pytest.mark.parametrize("max_size", [1, 2, 3, 5, 8, 100])
def test_a_dedup_memory_of_any_size_forgets_and_evicts_as_if_told_one_record_at_a_time(max_size):
    rng, now = random.Random(max_size), [0.0]
    symbols = [f"S{i}/USDT:USDT" for i in range(8)]
    kind, cache = state(), TTLCache(max_size=max_size, default_ttl=3.0, clock=lambda: now[0])
    last, reference = {}, TTLCache(max_size=max_size, default_ttl=3.0, clock=lambda: now[0])
    for poll in range(60):
        received = TS + poll * 1000
        records = [Ticker("binance", symbol, TS + rng.choice((0, 1000)) * (poll // 3), received,
                          last=rng.choice((100.0, 101.0)))
                   for symbol in rng.sample(symbols, rng.randint(1, len(symbols)))]
        assert kind.track(records, cache, now[0]) == track_one_by_one(last, reference, records), poll
        kind.polls += 1
        assert (cache.hits, cache.misses, cache.evictions, len(cache)) == (
            reference.hits, reference.misses, reference.evictions, len(reference))
        now[0] += rng.choice((0.5, 1.0, 2.0))
