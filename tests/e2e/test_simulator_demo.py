"""The offline demo as the README gives it: the simulator on a port, the daemon on
config/simulator.yaml, moved to another port by SIMULATOR_URL alone."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.support.daemon import ROOT, clean_env, start_daemon
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)


async def test_the_demo_config_runs_against_a_simulator_on_another_port(tmp_path, simulator_factory):  # noqa: F811
    sim = await simulator_factory(symbols=5)
    assert sim.port != 9100
    env = clean_env(SIMULATOR_URL=f"http://127.0.0.1:{sim.port}")
    daemon = await start_daemon("--config", str(ROOT / "config" / "simulator.yaml"), "--once", cwd=tmp_path, env=env)
    _, stderr = await asyncio.wait_for(daemon.communicate(), timeout=90)
    assert daemon.returncode == 0, stderr.decode()[-2000:]
    with sqlite3.connect(tmp_path / "data" / "simulator.db") as db:
        exchanges = {row[0] for row in db.execute("SELECT DISTINCT exchange FROM tickers")}
    assert exchanges == {"binance", "bybit", "okx"}


def test_the_simulator_on_a_port_in_use_says_so_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "exchange_simulator", "--port", str(port), "--symbols", "1"],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"exchange simulator: 127.0.0.1:{port} is already in use; stop the other process or pick "
                     "another --port (and SIMULATOR_URL for config/simulator.yaml)"]


async def test_once_stores_every_binance_ticker_with_its_open_interest(tmp_path, simulator_factory):  # noqa: F811
    """`--once` on the demo config: binance's tickers (which carry no open interest) are stored
    with the open interest its per-symbol endpoint gave in the same run, even when that endpoint
    answers later than the tickers'."""
    sim = await simulator_factory(symbols=5)
    sim.set_fault("binanceusdm", "latency", path="/fapi/v1/openInterest", latency=0.5)
    env = clean_env(SIMULATOR_URL=f"http://127.0.0.1:{sim.port}")
    daemon = await start_daemon("--config", str(ROOT / "config" / "simulator.yaml"), "--once", cwd=tmp_path, env=env)
    _, stderr = await asyncio.wait_for(daemon.communicate(), timeout=90)
    assert daemon.returncode == 0, stderr.decode()[-2000:]
    with sqlite3.connect(tmp_path / "data" / "simulator.db") as db:
        rows = db.execute("SELECT symbol, open_interest FROM tickers WHERE exchange = 'binance'").fetchall()
    assert {symbol for symbol, _ in rows} == set(sim.symbols("binanceusdm"))
    assert [symbol for symbol, open_interest in rows if open_interest is None] == []
