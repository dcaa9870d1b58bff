"""The daemon with the archive on, against the simulator: after `--once` and after a continuous
run the archive holds SQLite's rows, record for record (read back with pyarrow and DuckDB), the
status page and /metrics list the sink, and `--export` writes ranges as CSV or Parquet."""

from __future__ import annotations

import asyncio
import copy
import csv
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pyarrow.parquet as pq
import pytest

from tests.support.archive import rows_by_duckdb, rows_by_pyarrow, sqlite_rows
from tests.support.daemon import ENTRY, daemon_config, start_daemon, wait_for_log, wait_for_metric, write_config
from exchange_simulator import Simulator
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)

KINDS = ("ticker", "funding_rate", "funding_settlement")


def archive_config(tmp_path: Path, sim) -> dict:
    return daemon_config(tmp_path, sim, parquet={"enabled": True, "path": str(tmp_path / "archive"),
                                                 "roll_interval": 60.0})


def assert_archive_equals_sqlite(tmp_path: Path) -> None:
    for kind in KINDS:
        expected = sqlite_rows(tmp_path / "collector.db", kind)
        assert rows_by_pyarrow(tmp_path / "archive", kind) == expected, kind
        assert rows_by_duckdb(tmp_path / "archive", kind) == expected, kind
    assert sqlite_rows(tmp_path / "collector.db", "ticker")


@dataclass(frozen=True)
class OnceRun:
    path: Path  # the run's directory: its config's archive, SQLite file, spool and log
    config: dict
    returncode: int
    stderr: str


async def _run_once(path: Path) -> OnceRun:
    async with Simulator(symbols=15, seed=5) as sim:
        config = archive_config(path, sim)
        proc = await start_daemon("--config", str(write_config(path, config)), "--once", cwd=path)
        async with asyncio.timeout(90):
            _, stderr = await proc.communicate()
    return OnceRun(path, config, proc.returncode, stderr.decode())


@pytest.fixture(scope="module")
def once_run(tmp_path_factory) -> OnceRun:
    """One `--once` run with the archive on, 15 symbols: the tests below only read what it wrote
    (one daemon start for both, not one each)."""
    return asyncio.run(_run_once(tmp_path_factory.mktemp("once")))


def test_once_archive_equals_sqlite_record_for_record(once_run):
    assert once_run.returncode == 0, once_run.stderr[-2000:]
    assert_archive_equals_sqlite(once_run.path)
    assert len(rows_by_pyarrow(once_run.path / "archive", "ticker")) == 45


async def test_continuous_run_archive_equals_sqlite_and_the_sink_is_listed(tmp_path, simulator_factory):  # noqa: F811
    sim = await simulator_factory(symbols=10, seed=8)
    config = archive_config(tmp_path, sim)
    port = config["health"]["port"]
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    try:
        await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started", timeout=60)
        await wait_for_metric(port, "collector_records_collected", 3 * 3 * 10, labels={"kind": "ticker"})
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                health = await response.json()
            async with session.get(f"http://127.0.0.1:{port}/") as response:
                page = await response.text()
        assert health["sinks"]["parquet"]["state"] == "ok"
        assert health["sinks"]["parquet"]["spooled_records"] > 0  # waiting for the roll, in the journal
        assert "parquet" in page
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr
    assert_archive_equals_sqlite(tmp_path)


async def test_records_written_metric_counts_the_archive(tmp_path, simulator_factory):  # noqa: F811
    sim = await simulator_factory(symbols=5, seed=9)
    config = archive_config(tmp_path, sim)
    config["parquet"]["max_part_records"] = 1  # every record closes a part: written at once
    port = config["health"]["port"]
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    try:
        await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started", timeout=60)
        assert await wait_for_metric(port, "collector_records_written", 15, labels={"sink": "parquet"}) >= 15
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.communicate()


def export(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ENTRY), "--config", str(tmp_path / "config.yaml"), "--export", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)


def test_export_writes_a_range_as_csv_and_parquet_from_the_archive_or_sqlite(tmp_path, once_run):
    # the run's config (its paths, its archive and SQLite file), here: the outputs land in tmp_path
    config = copy.deepcopy(once_run.config)
    write_config(tmp_path, config)
    rows = sqlite_rows(once_run.path / "collector.db", "ticker")
    binance_btc = [r for r in rows if r[0] == "binance" and r[1] == "BTC/USDT:USDT"]
    assert binance_btc
    done = export(tmp_path, "--kind", "ticker", "--since", "2000-01-01", "--format", "csv", "--out", "all.csv")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "all.csv", newline="") as file:
        table = list(csv.DictReader(file))
    assert len(table) == len(rows)
    assert {"exchange", "symbol", "timestamp", "local_timestamp", "last_price", "mark_price",
            "index_price", "open_interest", "bid", "ask"} <= set(table[0])
    first = min(table, key=lambda r: (r["exchange"], r["symbol"], int(r["timestamp"])))
    assert int(first["timestamp"]) == rows[0][2] * 1000  # microseconds, as tardis writes them
    done = export(tmp_path, "--kind", "ticker", "--exchange", "binance", "--symbol", "BTC/USDT:USDT",
                  "--since", "2000-01-01", "--until", "2100-01-01", "--format", "parquet", "--out", "btc.parquet")
    assert done.returncode == 0, done.stderr
    assert "from " + str(once_run.path / "archive" / "ticker") in done.stdout
    table = pq.read_table(tmp_path / "btc.parquet")
    assert table.column("symbol").to_pylist() == ["BTC/USDT:USDT"] * len(binance_btc)
    assert table.column("exchange").to_pylist() == ["binance"] * len(binance_btc)
    # The archive off: the same range from the SQLite file.
    config["parquet"]["enabled"] = False
    write_config(tmp_path, config)
    done = export(tmp_path, "--kind", "ticker", "--exchange", "binance", "--symbol", "BTC/USDT:USDT",
                  "--since", "2000-01-01", "--format", "parquet", "--out", "btc-sqlite.parquet")
    assert done.returncode == 0, done.stderr
    assert "collector.db" in done.stdout
    assert pq.read_table(tmp_path / "btc-sqlite.parquet").equals(table)


def test_export_bad_input_is_one_line_and_exit_2(tmp_path):
    write_config(tmp_path, daemon_config(tmp_path))
    done = export(tmp_path, "--kind", "ticker", "--since", "yesterday", "--format", "csv", "--out", "x.csv")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--since 'yesterday'" in done.stderr
    done = export(tmp_path, "--kind", "ticker", "--format", "csv")
    assert done.returncode == 2 and "--since, --out" in done.stderr


def readme_one_liners() -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Reading the archive\n"):]
    section = section[:section.index("\n## ", 1)]
    block = section[section.index("```bash\n") + 8:]
    return [line for line in block[:block.index("```")].splitlines() if line.startswith("python -c ")]


def test_the_readmes_three_one_liners_read_the_archive(tmp_path):
    import shlex

    from collector.sinks.parquet.parts import RangeWriter
    from collector.journal.frames import rows_of
    from collector.sinks.parquet.tables import tables_of
    from tests.support.records import mixed_records
    records = [r for r in mixed_records(600) if r.kind == "ticker"]
    records += [r.replaced({"symbol": "BTC/USDT:USDT", "ts": r.ts + 1 + k}) for k, r in enumerate(records[:30])]
    writer = RangeWriter(tmp_path / "data" / "archive", 0, "zstd")
    writer.add(tables_of(rows_of(records)))
    writer.commit(len(records) - 1)
    lines = readme_one_liners()
    assert [line.split(";")[0] for line in lines] == [
        "python -c \"import pandas as pd", "python -c \"import polars as pl", "python -c \"import duckdb"]
    outputs = []
    for line in lines:
        done = subprocess.run([sys.executable, *shlex.split(line)[1:]], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    pandas_out, polars_out, duckdb_out = outputs
    assert "binance" in pandas_out and "bybit" not in pandas_out  # the exchange filter
    assert "BTC/USDT:USDT" in polars_out and "shape: (30, 5)" in polars_out
    per_exchange = {name: sum(1 for r in records if r.exchange == name) for name in ("binance", "bybit", "okx")}
    for name, count in per_exchange.items():
        assert re.search(rf"{name}\s*│\s*2023-11-14\s*│\s*{count}\s*│", duckdb_out), duckdb_out
