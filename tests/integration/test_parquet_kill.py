"""kill -9 at random instants while the archive writes parts and compacts days: after every kill
no reader sees a torn file or a row twice; after the last restart every record is there once
and no temporary file is left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tests.support.archive_child import record
from tests.support.archive import expected_rows, rows_by_pyarrow

ROOT_DIR = Path(__file__).resolve().parents[2]
TOTAL = 100_000
KILLS = 20


def start_child(root: Path, spool: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-m", "tests.support.archive_child", str(root), str(spool), str(TOTAL)],
                             cwd=ROOT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Warnings of the restart (a torn journal frame repaired) may come first.
    for line in child.stdout:
        if line.strip() == "writing":
            return child
    raise AssertionError(f"the child ended before writing: {child.stderr.read()}")


def assert_readers_see_no_torn_file_and_no_duplicate(root: Path) -> None:
    files = sorted((root / "ticker").rglob("*.parquet"))  # what readers open; _staging is not theirs
    for path in files:
        pq.read_metadata(path)  # a torn file has no footer: this raises
    if not files:
        return
    table = ds.dataset(root / "ticker", format="parquet", partitioning="hive").to_table(
        columns=["exchange", "symbol", "ts"])
    keys = list(zip(*(table.column(n).to_pylist() for n in ("exchange", "symbol", "ts")), strict=True))
    assert len(keys) == len(set(keys)), "a row is visible twice"


def test_kill_9_while_writing_and_compacting_loses_and_duplicates_nothing(tmp_path):
    root, spool = tmp_path / "archive", tmp_path / "spool"
    rnd = random.Random(int(os.environ.get("KILL_SEED", time.time())))
    for _ in range(KILLS):
        child = start_child(root, spool)
        time.sleep(rnd.uniform(0.0, 0.6))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert_readers_see_no_torn_file_and_no_duplicate(root)
    child = start_child(root, spool)
    try:
        assert child.wait(timeout=120) == 0, child.stderr.read()
    finally:
        child.kill()
    records = [record(i) for i in range(TOTAL)]
    assert rows_by_pyarrow(root, "ticker") == expected_rows(records, "ticker")
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert not (root / "_staging").exists()
