"""Market state: seeded walks, one step per tick, funding schedule, delisting, skew."""

import dataclasses

import pytest

from exchange_simulator.listing import FUNDING_INTERVAL_MS, next_funding_time, settlements, symbol_specs
from exchange_simulator.market import MarketState
from tests.support.simulator import FakeClock

START = 1_730_729_903.25  # 2024-11-04T14:18:23.250Z


def make_state(seed: int = 1, symbols: int = 40, clock: FakeClock | None = None, tick: float = 1.0) -> MarketState:
    return MarketState("bybit", symbol_specs(symbols, seed), seed, clock or FakeClock(START), tick)


def test_symbols_start_with_known_bases_then_synthetic_ones():
    specs = symbol_specs(40, seed=3)
    assert [s.symbol for s in specs[:3]] == ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
    assert specs[-1].symbol == "SIM0039/USDT:USDT"
    assert len({s.symbol for s in specs}) == 40


def test_same_seed_serves_same_values_and_other_seed_differs():
    first, second, other = make_state(seed=7), make_state(seed=7), make_state(seed=8)
    assert first.snapshot() == second.snapshot()
    assert first.snapshot()["BTC/USDT:USDT"].last != other.snapshot()["BTC/USDT:USDT"].last


def test_values_and_timestamp_hold_within_a_tick_and_advance_on_the_next():
    clock = FakeClock(START)
    state = make_state(clock=clock)
    before = state.snapshot()
    clock.advance(0.5)
    assert state.snapshot() == before
    clock.advance(0.6)
    after = state.snapshot()
    btc_before, btc_after = before["BTC/USDT:USDT"], after["BTC/USDT:USDT"]
    assert btc_after.ts == btc_before.ts + 1100
    assert btc_after.last != btc_before.last


def test_every_quote_has_bid_below_last_below_ask_and_mark_index_near_last():
    clock = FakeClock(START)
    state = make_state(clock=clock)
    for _ in range(5):
        for quote in state.snapshot().values():
            assert quote.bid < quote.last < quote.ask
            assert quote.low_24h <= quote.bid and quote.ask <= quote.high_24h
            assert abs(quote.mark / quote.last - 1) < 0.001
            assert abs(quote.index / quote.last - 1) < 0.001
            assert quote.base_volume > 0 and quote.quote_volume > 0 and quote.open_interest > 0
        clock.advance(1)


def test_next_funding_time_is_the_next_8h_boundary_and_rolls_forward():
    assert next_funding_time(1_730_729_903_941) == 1_730_736_000_000  # 16:00 UTC
    clock = FakeClock(1_730_735_999.0)
    state = make_state(clock=clock)
    assert state.snapshot()["ETH/USDT:USDT"].next_funding_time == 1_730_736_000_000
    clock.advance(2)
    assert state.snapshot()["ETH/USDT:USDT"].next_funding_time == 1_730_736_000_000 + FUNDING_INTERVAL_MS


def test_funding_rate_settles_when_a_funding_boundary_passes():
    clock = FakeClock(1_730_735_990.0)
    state = make_state(clock=clock)
    for _ in range(5):
        clock.advance(1)
        state.snapshot()
    settled_before = state.snapshot()["BTC/USDT:USDT"].settled_funding_rate
    clock.advance(20)
    quote = state.snapshot()["BTC/USDT:USDT"]
    assert quote.settled_funding_rate == quote.funding_rate != settled_before


def test_history_keeps_what_was_served_per_tick():
    clock = FakeClock(START)
    state = make_state(clock=clock)
    first = state.snapshot()["SOL/USDT:USDT"]
    clock.advance(3)
    state.snapshot()
    assert state.served("SOL/USDT:USDT", first.ts) == first
    assert state.served("SOL/USDT:USDT", first.ts + 1) is None


def test_delisted_symbol_leaves_quotes_and_with_remove_the_listing():
    state = make_state()
    state.delist("ETH/USDT:USDT")
    assert "ETH/USDT:USDT" not in state.snapshot()
    assert "ETH/USDT:USDT" in [s.symbol for s in state.listed_specs()]
    state.delist("SOL/USDT:USDT", mode="remove")
    assert "SOL/USDT:USDT" not in [s.symbol for s in state.listed_specs()]
    with pytest.raises(KeyError):
        state.delist("NOPE/USDT:USDT")


def test_clock_skew_offsets_exchange_timestamps():
    clock = FakeClock(START)
    state = make_state(clock=clock)
    plain = state.snapshot()["BTC/USDT:USDT"]
    state.set_skew(-5000)
    skewed = state.snapshot()["BTC/USDT:USDT"]
    assert skewed.ts == plain.ts - 5000
    assert state.now_ms() == int(START * 1000) - 5000


def test_without_trades_the_24h_window_moves_while_last_price_and_trade_time_stay():
    clock = FakeClock(START)
    state = make_state(clock=clock)
    before = state.snapshot()["SOL/USDT:USDT"]
    state.trading = False
    clock.advance(1)
    after = state.snapshot()["SOL/USDT:USDT"]
    assert (after.last, after.last_trade_ts) == (before.last, before.ts)
    assert after.ts > before.ts and after.base_volume < before.base_volume


def test_symbols_settle_funding_at_their_own_intervals_with_a_history_that_never_changes():
    specs = symbol_specs(40, seed=3)
    assert {s.funding_interval_hours for s in specs[:2]} == {8}
    assert {s.funding_interval_hours for s in specs} > {8}
    hourly = next(s for s in specs if s.funding_interval_hours == 1)
    day = settlements(hourly, 1_730_678_400_000, 1_730_764_800_000)
    assert len(day) == 25 and all(b[0] - a[0] == 3_600_000 for a, b in zip(day, day[1:]))
    assert settlements(hourly, 1_730_678_400_000, 1_730_764_800_000) == day


@pytest.mark.parametrize("moving", ["open_interest", "funding_rate"])
def test_a_held_symbol_moves_only_the_named_field_while_its_exchange_time_and_the_others_move_on(moving):
    clock = FakeClock(START)
    state = make_state(clock=clock)
    before = state.snapshot()
    state.hold("BTC/USDT:USDT", moving)
    served = [before]
    for _ in range(3):
        clock.advance(1.0)
        served.append(state.snapshot())
    btc = [snapshot["BTC/USDT:USDT"] for snapshot in served]
    for old, new in zip(btc, btc[1:]):
        changed = {name for name in old.__dataclass_fields__ if getattr(old, name) != getattr(new, name)}
        assert changed <= {"ts", moving} and new.ts > old.ts
    assert len({getattr(quote, moving) for quote in btc}) > 2  # it moved (the walk may rest a tick)
    assert served[-1]["ETH/USDT:USDT"].last != before["ETH/USDT:USDT"].last  # the others walk on


def test_a_symbol_held_with_its_time_moves_only_the_named_field_under_the_same_exchange_time():
    clock = FakeClock(START)
    state = make_state(clock=clock)
    before = state.snapshot()["BTC/USDT:USDT"]
    state.hold("BTC/USDT:USDT", "open_interest", time_moves=False)
    clock.advance(1.0)
    after = state.snapshot()["BTC/USDT:USDT"]
    assert after.ts == before.ts and after.open_interest != before.open_interest
    assert after == dataclasses.replace(before, open_interest=after.open_interest)


def test_holding_an_unknown_symbol_or_a_field_a_quote_lacks_is_refused():
    state = make_state()
    with pytest.raises(KeyError):
        state.hold("NOPE/USDT:USDT", "open_interest")
    with pytest.raises(ValueError):
        state.hold("BTC/USDT:USDT", "ts")


def test_a_kept_text_hash_draws_what_hash_int_draws():
    from exchange_simulator.listing import TextHash, hash_int

    drawn = TextHash("SOL")
    assert [drawn(n) for n in (0, 1, 1_730_729_903_250, -5)] == [hash_int("SOL", n) for n in (0, 1, 1_730_729_903_250, -5)]
