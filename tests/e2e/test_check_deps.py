"""`python run_tests.py --check-deps`: the operator's table of OK / FAIL lines."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.support.daemon import ROOT, clean_env, daemon_config, free_port, write_config


async def check_deps(config: Path, cwd: Path, **env: str) -> tuple[int, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "run_tests.py"), "--check-deps", "--config", str(config), "--timeout", "5",
        cwd=cwd, env=clean_env(**env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(90):
        stdout, stderr = await proc.communicate()
    assert b"Traceback" not in stderr, stderr.decode()
    return proc.returncode, checks(stdout.decode())


def checks(text: str) -> list[str]:
    """One line per check: a long reason wraps between words onto indented lines, joined back."""
    lines: list[str] = []
    for line in text.splitlines():
        if lines and line.startswith(" " * 35):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def row(lines: list[str], name: str) -> str:
    [line] = [line for line in lines if line[6:].startswith(name + " ")]
    return line


async def test_all_ok_with_sqlite_and_reachable_exchanges(tmp_path: Path, simulator_factory) -> None:
    sim = await simulator_factory(symbols=7)
    code, lines = await check_deps(write_config(tmp_path, daemon_config(tmp_path, sim)), tmp_path)
    assert code == 0, "\n".join(lines)
    assert row(lines, "python").startswith("OK")
    assert row(lines, "package ccxt").startswith("OK") and "4.5." in row(lines, "package ccxt")
    assert row(lines, "config").startswith("OK")
    assert row(lines, "sink sqlite").startswith("OK")
    for name in ("binance", "bybit", "okx"):
        assert row(lines, f"exchange {name}").startswith("OK")
        assert "7 linear perpetuals" in row(lines, f"exchange {name}")
    assert lines[-1].endswith(" OK, 0 FAIL")


async def test_one_unreachable_sink_is_a_fail_line_and_exit_1(tmp_path: Path, simulator_factory) -> None:
    sim = await simulator_factory(symbols=3)
    closed_port = free_port()  # nothing listens there
    config = daemon_config(tmp_path, sim, postgres={
        "enabled": True, "host": "127.0.0.1", "port": closed_port, "user": "postgres",
        "password": "pg-Secret-9", "database": "nowhere"})
    code, lines = await check_deps(write_config(tmp_path, config), tmp_path)
    assert code == 1
    assert row(lines, "sink postgres").startswith("FAIL") and "DB_001" in row(lines, "sink postgres")
    assert row(lines, "sink sqlite").startswith("OK")
    assert row(lines, "exchange okx").startswith("OK")
    assert lines[-1].endswith(" OK, 1 FAIL")
    assert "pg-Secret-9" not in "\n".join(lines)


async def test_default_config_on_a_machine_without_internet_reports_exchanges_as_fail(tmp_path: Path) -> None:
    # "No internet", made certain (and kept off the real internet): every exchange request goes
    # through an HTTPS proxy on a port where nothing listens.
    nowhere = f"http://127.0.0.1:{free_port()}"
    offline = {f"CRYPTO_COLLECTOR_EXCHANGE_CONFIGS__{name.upper()}__CCXT_OPTIONS": f'{{"httpsProxy": "{nowhere}"}}'
               for name in ("binance", "bybit", "okx")}
    code, lines = await check_deps(ROOT / "config" / "default.yaml", tmp_path, **offline)
    assert code == 1
    assert row(lines, "config").startswith("OK") and row(lines, "sink sqlite").startswith("OK")
    # Each exchange is one FAIL line: unavailable, naming the public endpoint it tried and why.
    for name, ccxt_id, host in (("binance", "binanceusdm", "fapi.binance.com"), ("bybit", "bybit", "api.bybit.com"),
                                ("okx", "okx", "www.okx.com")):
        line = row(lines, f"exchange {name}")
        assert line.startswith("FAIL "), line
        assert f"EXCHANGE_001 ExchangeNotAvailable: {ccxt_id} GET https://{host}/" in line
        assert f"Cannot connect to host {nowhere[7:]}" in line
    assert [line[:4] for line in lines].count("FAIL") == 3
    assert lines[-1] == f"{len(lines) - 4} OK, 3 FAIL"
