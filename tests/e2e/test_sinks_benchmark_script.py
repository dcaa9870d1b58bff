"""`python -m benchmarks.sinks` runs every sink alone and together and reports each figure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RATE = r"([\d,]+) records/s"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_sinks_benchmark_reports_a_rate_and_rss_for_every_sink_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sinks", "--records", "3000", "--naive-records", "30",
         "--batch-size", "500"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=280)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-2000:]
    assert "warning" not in out  # every sink wrote every record, from its own journal
    journal = re.search(rf"^journal\s+{RATE} appended\s+([\d,]+) fsyncs/s\s+disk\s+([\d,]+) B/record", out,
                        re.MULTILINE)
    assert journal and all(int(v.replace(",", "")) > 0 for v in journal.groups()), out
    disk_per_record = {}
    for sink in ("postgres", "clickhouse", "rabbitmq", "sqlite"):
        row = re.search(rf"^{sink}\s+{RATE}\s+peak RSS\s+(\d+) MB \(run \+\s*(-?\d+)\)\s+"
                        rf"disk\s+([\d,]+) B/record\s+sink alone\s+([\d,]+)/s \(\s*\d+%\)\s+"
                        rf"naive\s+([\d,]+)/s", out, re.MULTILINE)
        assert row, f"no figures for {sink} in:\n{out}"
        rate, peak, _, disk, alone, naive = (int(v.replace(",", "")) for v in row.groups())
        assert rate > 0 and peak > 0 and alone > 0 and naive > 0
        disk_per_record[sink] = disk
    assert re.search(rf"^together\s+{RATE} into each of 4 sinks", out, re.MULTILINE), out
    assert out.count("load average") == 2
    assert disk_per_record["sqlite"] > 100  # SQLite writes in this process; the servers do not
    assert disk_per_record["postgres"] < disk_per_record["sqlite"]
