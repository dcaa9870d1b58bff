"""`python -m benchmarks.engine` runs end to end on a small market and reports every figure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_engine_benchmark_reports_records_cpu_and_our_share_of_the_mix_and_of_each_kind():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", "--symbols", "10", "--seconds", "2", "--repeat", "1"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=240)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-2000:]
    assert int(re.search(r"records/s: +[\d,]+ +\(([\d,]+) records", out).group(1).replace(",", "")) > 0, out
    assert float(re.search(r"CPU s per 10,000 records: +([\d.]+)", out).group(1)) > 0, out
    share = re.search(r"ours / ccxt parsing: +([\d.]+)% +\(median; runs ([\d.]+)%;", out)
    assert share and 0 < float(share.group(1)) == float(share.group(2)), out
    for kind in ("ticker", "funding_rate"):
        alone = re.search(rf"{kind} alone, every 1 s: ([\d.]+)% +\(([\d,]+) records\)", out)
        assert alone and float(alone.group(1)) > 0 and int(alone.group(2).replace(",", "")) > 0, out
