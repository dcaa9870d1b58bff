"""`python -m benchmarks.sinks --only parquet` reports the archive's rate and its bytes per ticker
beside SQLite's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_the_parquet_benchmark_reports_rates_and_bytes_per_ticker_and_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.sinks", "--only", "parquet", "--records", "20000"],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=280)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-2000:]
    rates = re.search(r"^parquet\s+([\d,]+) records/s through the journal .*archive alone\s+([\d,]+)/s\s+"
                      r"CPU [\d.]+ µs/record\s+peak RSS\s+(\d+) MB", out, re.MULTILINE)
    assert rates and all(int(v.replace(",", "")) > 0 for v in rates.groups()), out
    sizes = re.search(r"^disk\s+([\d.]+) B/ticker in (\d+) files\s+sqlite\s+([\d.]+) B/ticker", out, re.MULTILINE)
    assert sizes, out
    parquet, files, sqlite = float(sizes[1]), int(sizes[2]), float(sizes[3])
    assert files == 3 and 0 < parquet < sqlite  # one part per exchange (one day), smaller than SQLite's
    assert out.count("load average") == 2
