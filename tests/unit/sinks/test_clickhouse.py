"""The ClickHouse sink's pure parts: column types of the design, column pivot, failure text."""

from __future__ import annotations

from collector.records import FundingRate, Ticker, columns
from collector.sinks.clickhouse import column_data, column_types, create_table_sql, failure_reason

TS = 1_767_225_600_000


def test_times_are_utc_millisecond_datetimes_and_names_low_cardinality() -> None:
    types = dict(zip(columns("funding_rate"), column_types("funding_rate")))

    assert types["ts"] == types["received_at"] == "DateTime64(3, 'UTC')"
    assert types["next_funding_time"] == "Nullable(DateTime64(3, 'UTC'))"
    assert types["exchange"] == types["symbol"] == "LowCardinality(String)"
    assert types["funding_rate"] == "Float64"
    assert types["mark_price"] == types["interest_rate"] == "Nullable(Float64)"


def test_every_ticker_value_is_a_nullable_float() -> None:
    types = dict(zip(columns("ticker"), column_types("ticker")))

    assert {types[name] for name in Ticker.value_fields} == {"Nullable(Float64)"}


def test_tables_replace_by_received_at_and_sort_by_identity() -> None:
    ddl = create_table_sql("crypto_data", "ticker")

    assert ddl.startswith("CREATE TABLE IF NOT EXISTS `crypto_data`.`tickers`")
    assert "ENGINE = ReplacingMergeTree(received_at)" in ddl
    assert "PARTITION BY toYYYYMM(ts)" in ddl
    assert "ORDER BY (exchange, symbol, ts)" in ddl


def test_records_pivot_into_one_sequence_per_column_in_column_order() -> None:
    records = [FundingRate("okx", "BTC/USDT:USDT", TS, TS + 5, 0.0001),
               FundingRate("okx", "ETH/USDT:USDT", TS, TS + 6, -0.0002, TS + 3_600_000, 1.5)]

    pivoted = column_data(records, "funding_rate")

    assert len(pivoted) == len(columns("funding_rate"))
    assert dict(zip(columns("funding_rate"), pivoted)) == {
        "exchange": ("okx", "okx"), "symbol": ("BTC/USDT:USDT", "ETH/USDT:USDT"),
        "ts": (TS, TS), "received_at": (TS + 5, TS + 6), "funding_rate": (0.0001, -0.0002),
        "next_funding_time": (None, TS + 3_600_000), "mark_price": (None, 1.5),
        "index_price": (None, None), "interest_rate": (None, None),
        "funding_interval_hours": (None, None), "predicted_funding_rate": (None, None)}


def test_a_failure_reason_is_one_line_with_the_password_masked() -> None:
    err = OSError("cannot reach http://default:hunter2@db:8123\n  retry later")

    reason = failure_reason(err, "hunter2", 60.0)

    assert reason == "cannot reach http://default:***@db:8123 retry later"


def test_a_timeout_reason_names_the_timeout() -> None:
    assert failure_reason(TimeoutError(), "", 2.5) == "no answer within 2.5 s"
