"""`run_tests.py --check-deps`: can this machine run the daemon with this config?

One line per check, OK or FAIL with the reason: Python version, every required package and its
version, the config, every enabled sink (opened for real: connect and create tables) and every
enabled exchange (markets loaded for real). Exit 0 only when every line is OK.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from collector.config import AppConfig
from collector.errors import ConfigError

MIN_PYTHON = (3, 11)
LINE_WIDTH = 120
# distribution name → module to import: every line of requirements.txt (a unit test holds them equal)
REQUIRED = {
    "ccxt": "ccxt", "aiohttp": "aiohttp", "pydantic": "pydantic", "pydantic-settings": "pydantic_settings",
    "python-dotenv": "dotenv", "PyYAML": "yaml", "structlog": "structlog", "asyncpg": "asyncpg",
    "aio-pika": "aio_pika", "clickhouse-connect": "clickhouse_connect",
    "prometheus-client": "prometheus_client", "psutil": "psutil", "aiormq": "aiormq", "orjson": "orjson",
    "pyarrow": "pyarrow", "tqdm": "tqdm", "numpy": "numpy",  # numpy: the bundled exchange simulator
}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self, width: int = LINE_WIDTH) -> str:
        """The check's line; a long detail continues on indented lines, broken between words
        only (a URL or a path stays whole, however long)."""
        head = f"{'OK' if self.ok else 'FAIL':<5} {self.name:<28} "
        wrapped = textwrap.wrap(self.detail, max(width - len(head), 20), break_long_words=False,
                                break_on_hyphens=False) or [""]
        return "\n".join([head + wrapped[0], *(" " * len(head) + more for more in wrapped[1:])]).rstrip()


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    return Check("python", ok, version if ok else f"{version}: need >= {'.'.join(map(str, MIN_PYTHON))}")


def check_packages() -> list[Check]:
    checks = []
    for dist, module in REQUIRED.items():
        try:
            importlib.import_module(module)
            checks.append(Check(f"package {dist}", True, metadata.version(dist)))
        except Exception as err:  # an import can fail in many ways; each is a FAIL line
            checks.append(Check(f"package {dist}", False, f"{type(err).__name__}: {err}"))
    return checks


async def _timed(name: str, probe: Callable[[], Awaitable[str]], timeout: float) -> Check:
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            detail = await probe()
    except TimeoutError:
        return Check(name, False, f"no answer within {timeout:g}s")
    except Exception as err:
        return Check(name, False, " ".join(str(err).split()) if str(err) else type(err).__name__)
    return Check(name, True, f"{detail} ({(time.monotonic() - started) * 1000:.0f} ms)")


async def run_checks(config_path: Path, load: Callable[[Path], AppConfig], *, timeout: float = 10.0) -> int:
    """Print the table; `load` reads and validates the config (config_manager's layers, given by
    the caller so this package never imports the command line's side)."""
    from collector.config import LoggingConfig
    from collector.logging import configure_logging, shutdown_logging

    # The table is the output; the parts' own log lines would only interleave with it.
    configure_logging(LoggingConfig(file=False, format="console"), level="CRITICAL", stream=sys.stderr)
    try:
        return await _run_checks(config_path, load, timeout)
    finally:
        shutdown_logging()


async def _run_checks(config_path: Path, load: Callable[[Path], AppConfig], timeout: float) -> int:
    checks = [check_python(), *check_packages()]
    config = None
    try:
        config = load(config_path)
        checks.append(Check("config", True, f"{config_path} valid"))
    except ConfigError as err:
        checks.append(Check("config", False, f"{config_path}: {len(err.problems)} problem(s): " + " | ".join(err.lines())))
    if config is not None:
        checks.extend(await _reachability(config, timeout))
    for check in checks:
        print(check.line())
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} OK, {failed} FAIL")
    return 0 if failed == 0 else 1


async def _reachability(config, timeout: float) -> list[Check]:
    from collector.ops.probe import probe_exchange
    from collector.sinks.enabled import build_sinks

    async def open_sink(sink) -> str:
        try:
            await sink.open()
        finally:
            await sink.close()
        return "reachable, schema ready"

    probes = [_timed(f"sink {sink.name}", lambda sink=sink: open_sink(sink), timeout) for sink in build_sinks(config)]
    probes += [
        _timed(f"exchange {name}", lambda name=name, ex=ex: probe_exchange(name, ex, config.performance), timeout)
        for name, ex in config.enabled_exchanges.items()
    ]
    return list(await asyncio.gather(*probes))
