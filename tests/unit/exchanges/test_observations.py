"""A change in any one value field is a new observation, in poll mode and in stream mode.

Table-driven from the record types' own field lists (`records.RECORD_TYPES`, `value_fields`): a
field added to a record type is covered here without a new test. For every kind and every value
field: only that field changes under the same exchange time -> the record lands under its
receive time (README "Observations"); only that field changes under a new exchange time -> it
lands under that time; nothing changes -> nothing lands. Poll mode is `KindState.track` (the
dedup memory on, as `cache.enabled` defaults); stream mode is the stream owner's own comparison
(`StreamOwner._fresh`), fed the records a channel built from a frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from collector.config import CacheConfig, CircuitBreakerConfig, ExchangeConfig, PerformanceConfig, RetryConfig
from collector.exchanges.observations import streamed
from collector.exchanges.kind_state import KindState
from collector.exchanges.source import ExchangeSource
from collector.streams.owner import StreamOwner
from collector.streams.dialects import Channel
from collector.records import RECORD_TYPES, Record
from collector.resilience.breaker import CircuitBreaker
from collector.resilience.ttl_cache import TTLCache

TS = 1_767_225_600_000  # the first observation's exchange time
SECOND = 1_000
CASES = [(kind, name) for kind, cls in RECORD_TYPES.items() for name in cls.value_fields]
IDS = [f"{kind}.{name}" for kind, name in CASES]


def first(kind: str) -> Record:
    """An observation of `kind` with every value field set, each to a value of its own."""
    values: dict[str, Any] = {name: 100.0 + i for i, name in enumerate(RECORD_TYPES[kind].value_fields)}
    if "next_funding_time" in values:
        values["next_funding_time"] = TS + 8 * 3600 * SECOND
    return RECORD_TYPES[kind]("binance", "BTC/USDT:USDT", TS, TS + 5, **values)


def moved(record: Record, name: str) -> Any:
    """A new value for field `name` of `record`: the smallest step the field takes."""
    return getattr(record, name) + (3600 * SECOND if name == "next_funding_time" else 0.5)


def again(record: Record, *, ts: int, received_at: int, **values: Any) -> Record:
    return replace(record, ts=ts, received_at=received_at, **values)


# --- poll mode -------------------------------------------------------------------------------
class Poller:
    """One (exchange, kind) poller's bookkeeping, with the dedup memory on."""

    def __init__(self, kind: str) -> None:
        breaker = CircuitBreaker(f"binance:{kind}", failure_threshold=5, recovery_timeout=60.0)
        self.state = KindState(kind, breaker, normalize=lambda *a: None)
        self.cache = TTLCache(max_size=100, default_ttl=60.0)
        self.now = 0.0

    def observe(self, record: Record) -> list[Record]:
        self.now += 1.0
        return self.state.track([record], self.cache, self.now)


@pytest.mark.parametrize(("kind", "name"), CASES, ids=IDS)
def test_poll_only_one_field_changed_at_the_same_exchange_time_lands_under_its_receive_time(kind, name):
    poller, seen = Poller(kind), first(kind)
    assert poller.observe(seen) == [seen]
    change = {name: moved(seen, name)}
    [landed] = poller.observe(again(seen, ts=TS, received_at=TS + 2 * SECOND, **change))
    assert landed == again(seen, ts=TS + 2 * SECOND, received_at=TS + 2 * SECOND, **change)


@pytest.mark.parametrize(("kind", "name"), CASES, ids=IDS)
def test_poll_only_one_field_changed_at_a_new_exchange_time_lands_under_that_time(kind, name):
    poller, seen = Poller(kind), first(kind)
    poller.observe(seen)
    update = again(seen, ts=TS + SECOND, received_at=TS + 2 * SECOND, **{name: moved(seen, name)})
    assert poller.observe(update) == [update]


@pytest.mark.parametrize("kind", list(RECORD_TYPES))
def test_poll_nothing_changed_does_not_land_whether_or_not_the_exchange_time_moved(kind):
    poller, seen = Poller(kind), first(kind)
    poller.observe(seen)
    assert poller.observe(again(seen, ts=TS, received_at=TS + 2 * SECOND)) == []
    assert poller.observe(again(seen, ts=TS + SECOND, received_at=TS + 3 * SECOND)) == []


# --- stream mode -----------------------------------------------------------------------------
def built(normalizer: Any, entry: Mapping[str, Any], received_at: int) -> list[Record]:
    """A channel's build: the frame's records, as the dialect's functions return them."""
    return [replace(record, received_at=received_at) for record in entry["records"]]


class Streamer:
    """A stream owner's comparison of what its channels built (no connection is opened)."""

    def __init__(self, kind: str) -> None:
        config = ExchangeConfig(ccxt_id="binanceusdm", mode="stream")
        source = ExchangeSource(
            "binance", config, performance=PerformanceConfig(), cache=CacheConfig(), retry=RetryConfig(),
            circuit_breaker=CircuitBreakerConfig(), semaphore=asyncio.Semaphore(1))
        self.owner = StreamOwner(source, config, ticker_interval=1.0, retry=RetryConfig(), publish=list)
        self.channel = Channel("frames", "watch_tickers", "tickers", (kind,), built)

    def observe(self, record: Record) -> list[Record]:
        return self.owner._fresh(self.channel, {"records": [record]}, record.received_at)


@pytest.mark.parametrize(("kind", "name"), CASES, ids=IDS)
def test_stream_only_one_field_changed_at_the_same_exchange_time_lands_under_its_receive_time(kind, name):
    streamer, seen = Streamer(kind), first(kind)
    assert streamer.observe(seen) == [seen]
    change = {name: moved(seen, name)}
    [landed] = streamer.observe(again(seen, ts=TS, received_at=TS + 2 * SECOND, **change))
    assert landed == again(seen, ts=TS + 2 * SECOND, received_at=TS + 2 * SECOND, **change)


@pytest.mark.parametrize(("kind", "name"), CASES, ids=IDS)
def test_stream_only_one_field_changed_at_a_new_exchange_time_lands_under_that_time(kind, name):
    streamer, seen = Streamer(kind), first(kind)
    streamer.observe(seen)
    update = again(seen, ts=TS + SECOND, received_at=TS + 2 * SECOND, **{name: moved(seen, name)})
    assert streamer.observe(update) == [update]


@pytest.mark.parametrize("kind", list(RECORD_TYPES))
def test_stream_nothing_changed_at_the_same_exchange_time_does_not_land(kind):
    streamer, seen = Streamer(kind), first(kind)
    streamer.observe(seen)
    assert streamer.observe(again(seen, ts=TS, received_at=TS + 2 * SECOND)) == []


# --- what both modes share -------------------------------------------------------------------
@pytest.mark.parametrize("mode", [Poller, Streamer], ids=["poll", "stream"])
def test_a_second_change_under_the_same_exchange_time_lands_one_millisecond_on_when_the_receive_time_did_not_move(mode):
    observer, seen = mode("ticker"), first("ticker")
    observer.observe(seen)
    [one] = observer.observe(again(seen, ts=TS, received_at=TS + 7, last=1.0))
    [two] = observer.observe(again(seen, ts=TS, received_at=TS + 7, last=2.0))
    [three] = observer.observe(again(seen, ts=TS, received_at=TS + 7, last=1.0))  # back to a value seen before
    assert (one.ts, two.ts, three.ts) == (TS + 7, TS + 8, TS + 9)


def test_a_stream_frame_whose_exchange_time_moved_lands_with_values_unchanged_as_the_watchdog_reads_it():
    """The one difference, kept on purpose: a stream's symbol whose time moves is delivering."""
    streamer, seen = Streamer("funding_rate"), first("funding_rate")
    streamer.observe(seen)
    later = again(seen, ts=TS + SECOND, received_at=TS + 2 * SECOND)
    assert streamer.observe(later) == [later]


def test_a_symbols_first_frame_of_the_instant_the_rest_round_streaming_started_with_observed_is_not_new():
    """binance: the funding rates of one REST round come first (their interval), then the frames."""
    rest = {("funding_rate", "BTC/USDT:USDT"): TS}
    seen = first("funding_rate")
    assert streamed([seen], {}, rest) == []
    assert streamed([again(seen, ts=TS - SECOND, received_at=TS + 5, mark_price=1.0)], {}, rest) == []
    later = again(seen, ts=TS + SECOND, received_at=TS + 5)
    assert streamed([later], {}, rest) == [later]
