"""`run_tests.py --check-deps` building blocks: one aligned OK/FAIL line per check, a reason for
every failure, exit 1 when anything failed."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

from collector.ops.checks import Check, _timed, check_packages, check_python, run_checks
from config_manager import ConfigManager


def test_a_check_is_one_aligned_line_with_ok_or_fail_first():
    assert Check("python", True, "3.11.7").line() == "OK    python                       3.11.7"
    assert Check("sink postgres", False, "DB_001 refused").line() == (
        "FAIL  sink postgres                DB_001 refused")


def test_this_python_and_every_required_package_pass():
    assert check_python().ok
    packages = check_packages()
    assert {c.name for c in packages} >= {"package ccxt", "package asyncpg", "package aio-pika"}
    assert all(c.ok for c in packages), [c.line() for c in packages if not c.ok]


def test_every_package_of_requirements_txt_is_checked():
    """A package added to requirements.txt and forgotten here would pass --check-deps on a
    machine that cannot start the daemon."""
    requirements = Path(__file__).resolve().parents[3] / "requirements.txt"
    names = {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
             for line in requirements.read_text().splitlines() if line.strip() and not line.startswith("#")}
    checked = {c.name.removeprefix("package ").lower() for c in check_packages()}
    assert names == checked, f"requirements.txt only: {names - checked}; checked only: {checked - names}"


async def test_a_probe_that_answers_is_ok_with_its_detail_and_time():
    async def probe() -> str:
        return "7 linear perpetuals"

    check = await _timed("exchange okx", probe, timeout=5.0)
    assert check.ok and check.detail.startswith("7 linear perpetuals (") and check.detail.endswith(" ms)")


async def test_a_probe_that_hangs_fails_saying_how_long_it_was_given():
    async def probe() -> str:
        await asyncio.Event().wait()
        return ""

    check = await _timed("sink postgres", probe, timeout=0.05)
    assert (check.ok, check.detail) == (False, "no answer within 0.05s")


async def test_a_probe_that_raises_fails_with_its_whole_error_on_one_check():
    async def probe() -> str:
        raise ConnectionRefusedError("DB_001: connection refused\nmore detail")

    check = await _timed("sink postgres", probe, timeout=5.0)
    # nothing cut: the line wraps between words instead (tests/unit/ops/test_check_lines.py)
    assert (check.ok, check.detail) == (False, "DB_001: connection refused more detail")


async def test_a_config_that_cannot_be_loaded_is_a_fail_line_and_exit_1(tmp_path: Path, capsys) -> None:
    code = await run_checks(tmp_path / "absent.yaml", lambda path: ConfigManager(path).load_config(), timeout=1.0)
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    [start] = [i for i, line in enumerate(lines) if line[6:].startswith("config ")]
    more = itertools.takewhile(lambda line: line.startswith(" " * 35), lines[start + 1:])
    config = " ".join([lines[start], *(line.strip() for line in more)])  # a long reason wraps
    assert config.startswith("FAIL") and "CONFIG_001" in config and "absent.yaml" in config
    assert lines[-1].endswith(" OK, 1 FAIL")
