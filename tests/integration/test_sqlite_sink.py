"""SQLiteSink on real files: exact rows, idempotence, schema, readers during writes, errors."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.support.records import mixed_records
from collector.config import DatabaseConfig, SQLiteConfig
from collector.errors import ErrorCode, SinkError
from collector.records import RECORD_TYPES, TABLES, Record, Ticker, columns
from collector.sinks.sqlite import SQLiteSink

DATABASE = DatabaseConfig(timeout=5.0)


def read_back(path: Path) -> list[Record]:
    """Every row of both tables as records, read through a separate connection."""
    with sqlite3.connect(path) as connection:
        return [RECORD_TYPES[kind](*row)
                for kind, table in TABLES.items()
                for row in connection.execute(f"SELECT {', '.join(columns(kind))} FROM {table}")]


def count_rows(path: Path) -> int:
    return len(read_back(path))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "collector.db"


async def write_in_batches(sink: SQLiteSink, records: list[Record], size: int = 10_000) -> None:
    for start in range(0, len(records), size):
        await sink.write(records[start:start + size])


async def test_100k_mixed_records_become_exactly_equal_rows_and_rewriting_changes_nothing(
        db_path: Path) -> None:
    records = mixed_records(100_000)
    async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE) as sink:
        await write_in_batches(sink, records)
        first = read_back(db_path)
        await write_in_batches(sink, records)
        second_count = count_rows(db_path)
    assert len(first) == 100_000
    assert sorted(first, key=repr) == sorted(records, key=repr)
    assert second_count == 100_000


async def test_a_batch_containing_duplicates_of_itself_is_written_once(db_path: Path) -> None:
    records = mixed_records(500)
    async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE) as sink:
        await sink.write(records + records[::-1] + records[:10])
    assert sorted(read_back(db_path), key=repr) == sorted(records, key=repr)


async def test_open_creates_the_directory_and_the_contract_schema_in_wal_mode(
        db_path: Path) -> None:
    async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE):
        pass
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for kind, table in TABLES.items():
            info = connection.execute(f"PRAGMA table_info({table})").fetchall()
            assert tuple(row[1] for row in info) == columns(kind)
            types = {row[1]: row[2] for row in info}
            key = [row[1] for row in sorted(info, key=lambda row: row[5]) if row[5]]
            assert types["ts"] == types["received_at"] == "INTEGER"
            assert key == ["exchange", "symbol", "ts"]
        funding = dict(
            (row[1], row[2]) for row in connection.execute("PRAGMA table_info(funding_rates)"))
        assert funding["next_funding_time"] == "INTEGER"


async def test_open_is_idempotent_and_keeps_existing_rows(db_path: Path) -> None:
    async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE) as sink:
        await sink.open()
        await sink.write(mixed_records(100))
    async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE) as sink:
        await sink.open()
        await sink.close()
        await sink.write(mixed_records(10, start=100))  # a write reopens a closed sink
    assert count_rows(db_path) == 110


async def test_a_reader_can_query_while_the_daemon_writes(db_path: Path) -> None:
    counts: list[int] = []
    errors: list[BaseException] = []
    writing = threading.Event()

    def read_until_done() -> None:
        while not writing.is_set():
            time.sleep(0.001)
        with sqlite3.connect(db_path, timeout=0.5) as connection:
            while writing.is_set():
                try:
                    counts.append(connection.execute("SELECT count(*) FROM tickers").fetchone()[0])
                except sqlite3.Error as err:
                    errors.append(err)

    records = [r for r in mixed_records(60_000) if isinstance(r, Ticker)]
    async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE) as sink:
        reader = asyncio.create_task(asyncio.to_thread(read_until_done))
        writing.set()
        try:
            await write_in_batches(sink, records, size=1_000)
        finally:
            writing.clear()
            await reader
    assert errors == []
    assert counts == sorted(counts)  # every read saw whole batches, never a step back
    assert any(0 < count < len(records) for count in counts)


async def test_an_open_read_transaction_does_not_block_the_writer(db_path: Path) -> None:
    async with SQLiteSink(SQLiteConfig(path=db_path), DatabaseConfig(timeout=1.0)) as sink:
        await sink.write(mixed_records(100))
        reader = sqlite3.connect(db_path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            before = reader.execute("SELECT count(*) FROM tickers").fetchone()[0]
            await sink.write(mixed_records(100, start=100))
            assert reader.execute("SELECT count(*) FROM tickers").fetchone()[0] == before
            reader.execute("COMMIT")
        finally:
            reader.close()
    assert count_rows(db_path) == 200


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 command-line tool is not installed")
async def test_the_sqlite3_command_line_tool_reads_during_writes(db_path: Path) -> None:
    records = mixed_records(40_000)
    async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE) as sink:
        await sink.write(records[:1_000])
        writes = asyncio.create_task(write_in_batches(sink, records[1_000:], size=1_000))
        cli = await asyncio.create_subprocess_exec(
            "sqlite3", str(db_path), "SELECT count(*) FROM tickers;",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await cli.communicate()
        await writes
    assert cli.returncode == 0, err.decode()
    assert int(out) > 0


async def test_a_database_locked_past_the_timeout_raises_db_001(db_path: Path) -> None:
    async with SQLiteSink(SQLiteConfig(path=db_path), DatabaseConfig(timeout=0.3)) as sink:
        other_writer = sqlite3.connect(db_path, isolation_level=None)
        other_writer.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(SinkError) as caught:
                await sink.write(mixed_records(10))
            assert time.monotonic() - started < 2.0
        finally:
            other_writer.execute("ROLLBACK")
            other_writer.close()
        await sink.write(mixed_records(10))  # the lock is gone: the same sink writes again
    assert caught.value.code == ErrorCode.DB_001
    assert "locked" in str(caught.value) and str(db_path) in str(caught.value)
    assert count_rows(db_path) == 10


async def test_an_unwritable_path_raises_db_001_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    path = blocker / "collector.db"
    sink = SQLiteSink(SQLiteConfig(path=path), DATABASE)
    with pytest.raises(SinkError) as caught:
        await sink.write(mixed_records(1))
    await sink.close()
    await sink.close()
    assert caught.value.code == ErrorCode.DB_001
    assert str(path) in str(caught.value)


async def test_a_file_that_is_not_a_database_raises_db_001_naming_the_path(
        db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database file, but it is where the database should be")
    with pytest.raises(SinkError) as caught:
        async with SQLiteSink(SQLiteConfig(path=db_path), DATABASE):
            pass
    assert caught.value.code == ErrorCode.DB_001
    assert str(db_path) in str(caught.value)
