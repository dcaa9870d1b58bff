"""The writer process's two ways from journal frames to Arrow tables give the same tables."""

from __future__ import annotations

import orjson
import pytest

from collector.journal import frames
from collector.records import FundingRate, Ticker
from collector.sinks.parquet.decode import _as_csv, tables_of_frames
from collector.sinks.parquet.tables import finish, tables_of
from tests.support.records import BASE_TS, mixed_records

DAY = 86_400_000


def framed(batches: list[list]) -> tuple[bytes, int]:
    """The batches as consecutive journal frames from seq 0; the seq after them."""
    body, seq = b"", 0
    for batch in batches:
        body += frames.encode(batch, seq, 0)
        seq += len(batch)
    return body, seq


def by_orjson(body: bytes, start: int, end: int) -> list:
    return tables_of(frames.rows_between(body, start, end))


def same(found: list, expected: list) -> bool:
    """The same rows for each partition, as its part writes them (in whatever order the
    partitions come)."""
    found_by, expected_by = dict(found), dict(expected)
    return found_by.keys() == expected_by.keys() and all(
        finish(found_by[key], key[0]).equals(finish(expected_by[key], key[0])) for key in found_by)


def one_kind(kind: str, count: int) -> list:
    """`count` records of one kind over 3 exchanges, 50 symbols and a day's end (values None too)."""
    return [r.replaced({"ts": r.ts + DAY - 30_000 + i * 211}) for i, r in enumerate(
        r for r in mixed_records(count * 5) if r.kind == kind)][:count]


@pytest.mark.parametrize("kind", ["ticker", "funding_rate"])
@pytest.mark.parametrize(("start", "end"), [(0, 900), (130, 777)], ids=["whole", "cut"])
def test_plain_frames_read_as_csv_give_the_tables_orjson_gives(kind, start, end):
    records = one_kind(kind, 900)
    assert BASE_TS // DAY != (records[-1].ts // DAY), "the records cross midnight"
    body, _ = framed([records[:300], records[300:600], records[600:]])
    assert _as_csv(body, start, end) is not None, "read as CSV"
    found = tables_of_frames(body, start, end)
    assert same(found, by_orjson(body, start, end))
    assert sum(table.num_rows for _, table in found) == len({(r.exchange, r.symbol, r.ts) for r in records[start:end]})


@pytest.mark.parametrize("symbol", ['ODD"Q/USDT:USDT', "BACK\\S/USDT:USDT", "A],[B/USDT:USDT", "LINE\nBREAK"])
def test_a_symbol_the_csv_form_cannot_carry_is_read_through_orjson(symbol):
    records = [Ticker("okx", symbol if i % 2 else "BTC/USDT:USDT", BASE_TS + i, BASE_TS + i, last=float(i))
               for i in range(10)]
    body, end = framed([records])
    assert _as_csv(body, 0, end) is None
    found = tables_of_frames(body, 0, end)
    assert same(found, by_orjson(body, 0, end))
    assert set(found[0][1].column("symbol").to_pylist()) == {symbol, "BTC/USDT:USDT"}


def test_frames_of_two_kinds_or_two_kinds_in_one_frame_are_read_through_orjson():
    ticker = Ticker("okx", "BTC/USDT:USDT", BASE_TS, BASE_TS, last=1.0)
    rate = FundingRate("okx", "BTC/USDT:USDT", BASE_TS, BASE_TS, 0.0001, None)
    for batches in ([[ticker], [rate]], [[ticker, rate]]):
        body, end = framed(batches)
        assert _as_csv(body, 0, end) is None
        assert [key[0] for key, _ in tables_of_frames(body, 0, end)] == ["ticker", "funding_rate"]


def test_frames_of_an_older_shorter_layout_are_read_through_orjson():
    """A journal written before tickers gained their last field: the CSV text has a column less."""
    records = [Ticker("okx", "BTC/USDT:USDT", BASE_TS + i, BASE_TS + i, last=float(i)) for i in range(5)]
    body = frames.framed(orjson.dumps([row[:-1] for row in frames.rows_of(records)]), 5, 0, 0)
    assert _as_csv(body, 0, 5) is None
    assert same(tables_of_frames(body, 0, 5), tables_of([[*row, None] for row in frames.rows_between(body, 0, 5)]))
