"""`python -m benchmarks.baseline` measures the real daemon and stops it cleanly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(-?\d+(?:\.\d+)?)"
FIGURES = (
    "start-up to first record written", "steady RSS", "peak RSS", "CPU share",
    "CPU s per 10,000 records", "records collected/s", "records written/s",
)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_baseline_prints_every_figure_as_a_number_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.baseline", "--symbols", "20", "--seconds", "4",
         "--ticker-interval", "1"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    out = done.stdout
    values = {}
    for label in FIGURES:
        found = re.search(rf"^{re.escape(label)}.*?\s{NUMBER} \S+$", out, re.MULTILINE)
        assert found, f"no number for {label!r} in:\n{out}"
        values[label] = float(found.group(1))
    assert values["records written/s"] > 0
    assert 0 < values["steady RSS"] <= values["peak RSS"]
    for exchange in ("binance", "bybit", "okx"):
        row = re.search(rf"^{exchange}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out, re.MULTILINE)
        assert row, f"no figures for {exchange} in:\n{out}"
        requests, avg_ms, success = map(float, row.groups())
        assert requests > 0 and avg_ms > 0 and success == 100.0
    assert "daemon exit code after SIGTERM: 0" in out
