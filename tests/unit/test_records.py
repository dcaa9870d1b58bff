"""Records: identity, a message id stable across processes, routing keys, the JSON form, and
the validation that keeps a bad value away from every sink."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from collector.errors import RecordError
from collector.record_checks import validate
from collector.records import (
    RECORD_TYPES, FundingRate, FundingSettlement, Ticker, as_row, columns, from_dict, identity, message_id,
    routing_key, to_dict,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_123
TICKER = Ticker("binance", "BTC/USDT:USDT", T0, T0 + 5, last=42_000.5, bid=42_000.0, ask=42_001.0,
                open_interest=1234.5)
FUNDING = FundingRate("okx", "ETH/USDT:USDT", T0, T0 + 7, 0.0001, T0 + 3_600_000, mark_price=2500.0)


@pytest.mark.parametrize("record_type", RECORD_TYPES.values(), ids=RECORD_TYPES.keys())
def test_a_record_takes_every_field_in_column_order_and_stays_frozen(record_type):
    """Records are built through their own fast __init__: every field lands where it belongs,
    positionally and by name, the defaults are the declared ones, and nothing can change it."""
    declared = dataclasses.fields(record_type)
    values = [f"v{i}" for i in range(len(declared))]
    positional, by_name = record_type(*values), record_type(**{f.name: v for f, v in zip(declared, values)})
    assert [getattr(positional, f.name) for f in declared] == values
    assert positional == by_name and hash(positional) == hash(by_name)
    required = [f.name for f in declared if f.default is dataclasses.MISSING]
    bare = record_type(*values[:len(required)])
    assert all(getattr(bare, f.name) == f.default for f in declared[len(required):])
    with pytest.raises(TypeError, match=required[-1]):
        record_type(*values[:len(required) - 1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        bare.ts = 1  # type: ignore[misc]
    assert dataclasses.replace(bare, ts=1).ts == 1 and bare.ts == values[2]


@pytest.mark.parametrize("record_type", RECORD_TYPES.values(), ids=RECORD_TYPES.keys())
def test_replaced_is_the_record_with_those_fields_changed_and_the_original_untouched(record_type):
    """The merger's fast copy (the fills of every streamed ticker) is dataclasses.replace's."""
    declared = dataclasses.fields(record_type)
    original = record_type(*[f"v{i}" for i in range(len(declared))])
    for changed in ({}, {declared[-1].name: "new"}, {f.name: f"w{i}" for i, f in enumerate(declared)}):
        copy = original.replaced(changed)
        assert copy == dataclasses.replace(original, **changed) and copy is not original
        assert type(copy) is record_type and hash(copy) == hash(dataclasses.replace(original, **changed))
        with pytest.raises(dataclasses.FrozenInstanceError):
            copy.ts = 1  # type: ignore[misc]
    assert [getattr(original, f.name) for f in declared] == [f"v{i}" for i in range(len(declared))]


def test_identity_is_kind_exchange_symbol_and_ts_and_ignores_the_values():
    later_copy = Ticker("binance", "BTC/USDT:USDT", T0, T0 + 999, last=1.0)
    assert identity(TICKER) == ("ticker", "binance", "BTC/USDT:USDT", T0)
    assert identity(later_copy) == identity(TICKER)
    assert message_id(later_copy) == message_id(TICKER)


def test_every_part_of_the_identity_changes_the_message_id():
    ids = {message_id(record) for record in (
        TICKER,
        Ticker("bybit", "BTC/USDT:USDT", T0, T0),
        Ticker("binance", "ETH/USDT:USDT", T0, T0),
        Ticker("binance", "BTC/USDT:USDT", T0 + 1, T0),
        FundingRate("binance", "BTC/USDT:USDT", T0, T0, 0.0001),
    )}
    assert len(ids) == 5


def test_the_message_id_is_the_same_in_another_process_so_a_replay_after_a_restart_deduplicates():
    here = message_id(TICKER)
    code = ("from collector.records import Ticker, message_id;"
            f"print(message_id(Ticker('binance', 'BTC/USDT:USDT', {T0}, 0)))")
    there = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "12345"}).stdout.strip()
    assert there == here
    assert len(here) == 32 and int(here, 16) >= 0  # 128-bit hex, as the contract's consumers store it


def test_routing_key_is_kind_exchange_and_base_quote_settle():
    assert routing_key(TICKER) == "ticker.binance.BTC-USDT-USDT"
    assert routing_key(FUNDING) == "funding_rate.okx.ETH-USDT-USDT"
    assert routing_key(Ticker("okx", "BTC/USD", T0, T0)) == "ticker.okx.BTC-USD"


def test_a_dot_inside_a_symbol_does_not_add_a_topic_word_to_the_routing_key():
    key = routing_key(Ticker("binance", "1000.PEPE/USDT:USDT", T0, T0))
    assert key == "ticker.binance.1000_PEPE-USDT-USDT"
    assert len(key.split(".")) == 3


def test_to_dict_has_kind_and_every_field_and_from_dict_restores_the_record():
    data = to_dict(FUNDING)
    assert data == {"kind": "funding_rate", "exchange": "okx", "symbol": "ETH/USDT:USDT", "ts": T0,
                    "received_at": T0 + 7, "funding_rate": 0.0001, "next_funding_time": T0 + 3_600_000,
                    "mark_price": 2500.0, "index_price": None, "interest_rate": None,
                    "funding_interval_hours": None, "predicted_funding_rate": None}
    assert from_dict(data) == FUNDING
    assert from_dict(to_dict(TICKER)) == TICKER
    assert list(to_dict(TICKER))[1:] == list(columns("ticker"))
    assert as_row(TICKER) == tuple(to_dict(TICKER)[name] for name in columns("ticker"))


def test_from_dict_refuses_an_unknown_kind_and_an_incomplete_record():
    with pytest.raises(RecordError, match="unknown record kind 'trade'"):
        from_dict({"kind": "trade", "exchange": "okx"})
    with pytest.raises(RecordError, match="funding_rate record is incomplete"):
        from_dict({"kind": "funding_rate", "exchange": "okx", "symbol": "ETH/USDT:USDT", "ts": T0})


class _Amount(int):
    """An int subclass: still a number."""


def test_valid_records_pass_validation_silently():
    validate(TICKER)
    validate(FUNDING)
    validate(Ticker("binance", "BTC/USDT:USDT", T0, T0))  # every value may be None
    # finite values whose sum overflows, an int subclass, zeros: valid, however they add up
    validate(Ticker("binance", "BTC/USDT:USDT", T0, T0, last=1e308, bid=1e308, ask=-1e308))
    validate(FundingSettlement("okx", "BTC/USDT:USDT", T0, T0, 0.0, mark_price=_Amount(3)))


@pytest.mark.parametrize("record, fault", [
    (Ticker("binance", "BTC/USDT:USDT", T0, T0, last=math.nan), "last must be a finite number"),
    (Ticker("binance", "BTC/USDT:USDT", T0, T0, bid=-math.inf), "bid must be a finite number"),
    (Ticker("binance", "BTC/USDT:USDT", T0, T0, ask=True), "ask must be a finite number, got True"),
    (Ticker("binance", "BTC/USDT:USDT", T0, T0, last="42000"), "last must be a finite number"),
    (Ticker("binance", "BTC/USDT:USDT", T0 // 1000, T0), "ts 1700000000 is not a UTC millisecond time"),
    (Ticker("binance", "BTC/USDT:USDT", T0, T0 * 1000), "received_at"),
    (Ticker("binance", "BTC/USDT:USDT", float(T0), T0), "ts must be an integer of UTC milliseconds"),
    (Ticker("binance", "B" * 65, T0, T0), "symbol is 65 characters long (at most 64)"),
    (Ticker("", "BTC/USDT:USDT", T0, T0), "exchange must be a non-empty string"),
    (FundingRate("okx", "BTC/USDT:USDT", T0, T0, None), "funding_rate is required"),
    (FundingRate("okx", "BTC/USDT:USDT", T0, T0, math.nan), "funding_rate must be a finite number"),
    (FundingRate("okx", "BTC/USDT:USDT", T0, T0, 0.0001, next_funding_time=3_600), "next_funding_time"),
])
def test_validation_names_the_field_at_fault(record, fault):
    with pytest.raises(RecordError) as caught:
        validate(record)
    assert fault in str(caught.value)
    assert caught.value.code == "RECORD_001"


def test_a_huge_value_in_a_rejection_is_shortened():
    with pytest.raises(RecordError) as caught:
        validate(Ticker("binance", "BTC/USDT:USDT", T0, T0, last="9" * 1000))
    assert len(str(caught.value)) < 120
