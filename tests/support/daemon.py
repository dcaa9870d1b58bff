"""Run the real daemon in a subprocess against the simulator, as an operator would."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "futures_price_collector_v5.py"
EXCHANGES = {"binance": "binanceusdm", "bybit": "bybit", "okx": "okx"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def daemon_config(tmp_path: Path, sim: Any = None, **sections: Any) -> dict[str, Any]:
    """A config with every path under tmp_path; exchanges point at `sim` when given."""
    exchanges = {
        # 10000/min: ccxt weighs bulk calls (binance ticker/24hr = 40), and the tests tick every second.
        name: {"ccxt_id": ccxt_id, "rate_limit": 10000, "ccxt_options": sim.ccxt_options(ccxt_id) if sim else {}}
        for name, ccxt_id in EXCHANGES.items()
    }
    config: dict[str, Any] = {
        "ticker_interval": 1.0,
        "funding_rate_interval": 2.0,
        "exchange_configs": exchanges,
        "batch_processing": {"batch_size": 500, "flush_interval": 0.5, "spool_dir": str(tmp_path / "spool")},
        "retry": {"max_attempts": 2, "base_delay": 0.1, "max_delay": 0.5},
        "logging": {"level": "INFO", "file_path": str(tmp_path / "logs" / "collector.log"), "format": "json"},
        "health": {"enabled": True, "port": free_port()},
        "sqlite": {"enabled": True, "path": str(tmp_path / "collector.db")},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merged = copy.deepcopy(config[key])
            merged.update(value)
            config[key] = merged
        else:
            config[key] = value
    return config


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTO_COLLECTOR_")}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID"):
        env.pop(name, None)
    env.update(extra)
    return env


# Daemons started by the running test; conftest kills those still alive when it ends, so a test
# that fails before stopping its daemon does not leave it collecting beside the next ones.
STARTED: list[asyncio.subprocess.Process] = []


async def start_daemon(*args: str, cwd: Path, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ENTRY), *args, cwd=cwd, env=env or clean_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    STARTED.append(process)
    return process


def kill_leftover_daemons() -> int:
    """SIGKILL every daemon started since the last call that has not exited; how many."""
    killed = 0
    for process in STARTED:
        if process.returncode is None:
            try:
                os.kill(process.pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass  # exited; its status was not read yet
    STARTED.clear()
    return killed


async def wait_for_log(path: Path, event: str, timeout: float = 30.0, **fields: Any) -> str:
    """Wait until the JSON log file has a line with `"event":"<event>"` (and these field values);
    that line."""
    needle = f'"event":"{event}"'
    async with asyncio.timeout(timeout):
        while True:
            if path.exists():
                for line in path.read_text().splitlines():
                    if needle in line and _has_fields(line, fields):
                        return line
            await asyncio.sleep(0.02)


def _has_fields(line: str, fields: dict[str, Any]) -> bool:
    if not fields:
        return True
    try:
        entry = json.loads(line)
    except ValueError:
        return False  # a line still being written
    return all(entry.get(key) == value for key, value in fields.items())


async def metric_total(port: int, family: str, labels: dict[str, str] | None = None) -> float:
    """The sum over every label set (or those carrying `labels`) of a counter family on the
    daemon's /metrics (0 when absent)."""
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(sample.value for metric in text_string_to_metric_families(text) if metric.name == family
               for sample in metric.samples if sample.name == family + "_total"
               and (labels or {}).items() <= sample.labels.items())


async def wait_for_metric(port: int, family: str, at_least: float, timeout: float = 60.0, *,
                          labels: dict[str, str] | None = None) -> float:
    """Scrape until the counter (of the label sets carrying `labels`) reaches `at_least`; its
    value then."""
    async with asyncio.timeout(timeout):
        while (value := await metric_total(port, family, labels)) < at_least:
            await asyncio.sleep(0.05)
    return value
