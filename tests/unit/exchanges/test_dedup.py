"""Observation dedup per (kind, symbol): an unchanged observation is emitted once, a changed one
always, under a new identity even when the exchange's time did not move with it."""

from __future__ import annotations

from collector.exchanges.polling import KindState
from collector.records import Ticker
from collector.resilience.breaker import CircuitBreaker
from collector.resilience.cache import TTLCache

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
