"""`python -m benchmarks.shards` runs end to end on a small market: one daemon, then two shards."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import postgres_config  # noqa: F401 (skips without the server)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_shards_benchmark_reports_updates_and_latency_of_one_daemon_and_of_two_shards(postgres_config):  # noqa: F811
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.shards", "--symbols", "10", "--seconds", "2", "--tick", "0.5",
         "--warmup", "0.5"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-2000:]
    taken = re.findall(r"updates/s taken: ([\d,]+) \(([^)]*)\)", out)
    assert len(taken) == 2 and len(taken[1][1].split(", ")) == 2, out  # two shards, one figure each
    assert all(float(total.replace(",", "")) > 0 for total, _ in taken), out
    latency = re.findall(r"p50 [\d,]+ ms, p99 ([\d,]+) ms over ([\d,]+) records", out)
    assert len(latency) == 2 and all(int(n.replace(",", "")) > 0 for _, n in latency), out
    assert out.count("'binance': 'up', 'bybit': 'up', 'okx': 'up'") == 3, out
