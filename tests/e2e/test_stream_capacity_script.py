"""`python -m benchmarks.stream_capacity` ramps the simulator's feed on a small market, first with
counting clients, then through one daemon process, and reports what each side sustained."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def number(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_capacity_benchmark_ramps_the_feed_and_names_the_most_frames_sustained_and_the_limit():
    # One run, both sinks (the simulator's own rounds are measured once, as a reader runs it)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.stream_capacity", "--symbols", "5", "--seconds", "2", "--rounds", "2",
         "--start-tick", "0.1", "--step", "2", "--settle", "0.5", "--warm-up", "1", "--decoder", "native",
         "--sink", "journal", "sqlite"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-2000:]
    alone = re.findall(r"tick ([\d.]+) s: pushed ([\d,]+) frames/s \(feed [\d,]+\), simulator cores busy ([\d.]+), "
                       r"counted ([\d,]+) messages/s", out)
    assert [float(tick) for tick, *_ in alone] == [0.1, 0.05], out
    # 5 symbols: binance 1 book ticker a tick (+ ticker, mark price), bybit 1, okx 1 (+ mark price)
    slow, fast = (number(pushed) for _, pushed, _, _ in alone)
    assert 150 <= slow <= 260 and 1.6 * slow <= fast <= 2.4 * slow, out  # twice the pace, twice the frames
    assert all(number(counted) >= 0.9 * number(pushed) for _, pushed, _, counted in alone), out
    assert re.search(r"simulator capacity: [\d,]+ frames/s at [\d.]+ core", out), out
    for sink, daemon in zip(("journal", "sqlite"), out.split("one daemon process (")[1:], strict=True):
        assert daemon.startswith(f"decoder native, sink {sink})"), out
        rounds = re.findall(r"tick ([\d.]+) s: pushed ([\d,]+) frames/s \(feed ([\d,]+)\), taken ([\d,]+) updates/s;.*"
                            r"p99 (\d+) / (\d+) ms \(halves; target 1250\): (sustained|NOT sustained)", daemon)
        # a few frames/s: both rounds kept up (the simulator may fall short of a 50 ms pace on a busy machine)
        assert [float(r[0]) for r in rounds] == [0.1, 0.05] and all(r[-1] == "sustained" for r in rounds), out
        assert all(number(taken) > 0.5 * number(pushed) for _, pushed, _, taken, *_ in rounds), out
        best = re.search(rf"most frames/s sustained: ([\d,]+) \(decoder native, sink {sink}\) at ([\d.]+) core, "
                         r"[\d.]+ CPU us a frame; limit: (not reached|the simulator|the machine)", daemon)
        assert best and number(best.group(1)) == max(number(r[1]) for r in rounds), out
