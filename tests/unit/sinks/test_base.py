"""The SQL sinks' shared schema: every column of a kind, in order, NOT NULL where a record needs it."""

from __future__ import annotations

from collector.records import columns
from collector.sinks.base import column_definitions


def sql_type(name: str) -> str:
    return "BIGINT" if name in ("ts", "received_at", "next_funding_time") else "TEXT" if name in (
        "exchange", "symbol") else "REAL"


def parsed(kind: str) -> list[tuple[str, str, bool]]:
    return [(column.split()[0], column.split()[1], column.endswith(" NOT NULL"))
            for column in column_definitions(kind, sql_type).split(", ")]


def test_every_column_of_the_kind_in_record_order_with_its_type():
    for kind in ("ticker", "funding_rate"):
        assert [(name, type_) for name, type_, _ in parsed(kind)] == [
            (name, sql_type(name)) for name in columns(kind)]


def test_identity_and_times_are_required_and_ticker_values_are_nullable():
    required = {name for name, _, not_null in parsed("ticker") if not_null}
    assert required == {"exchange", "symbol", "ts", "received_at"}


def test_a_funding_rate_row_needs_its_rate_but_not_its_next_funding_time():
    required = {name for name, _, not_null in parsed("funding_rate") if not_null}
    assert required == {"exchange", "symbol", "ts", "received_at", "funding_rate"}
