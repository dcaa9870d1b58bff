"""Log output as operators read it: JSON file, journald priorities, masked secrets, rotation."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import structlog

from collector.config import LoggingConfig
from collector.logging import configure_logging, console_mode, reopen_log_files, shutdown_logging


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def emit(config: LoggingConfig, *, environ: dict[str, str], stream: io.StringIO, level: str = "INFO") -> None:
    configure_logging(config, level=level, environ=environ, stream=stream)
    log = structlog.get_logger("test")
    log.debug("debug_detail", exchange="okx", response_time=12.5)
    log.info("collector_started", exchanges=["okx"])
    log.error("sink_down", sink="postgres", error_code="DB_001",
              dsn="postgresql://collector:pg-Pass-1@db:5432/crypto", password="pg-Pass-1")
    logging.getLogger("aiohttp.client").warning("library line")
    shutdown_logging()


def test_file_gets_json_lines_with_codes_and_masked_secrets(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "collector.log"
    emit(LoggingConfig(console=False, file_path=path), environ={}, stream=io.StringIO())
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["collector_started", "sink_down", "library line"]
    down = lines[1]
    assert down["error_code"] == "DB_001" and down["level"] == "error" and down["timestamp"].endswith("Z")
    assert "pg-Pass-1" not in path.read_text()
    assert down["dsn"] == "postgresql://collector:***@db:5432/crypto"


def test_debug_level_adds_request_lines_with_response_time(tmp_path: Path) -> None:
    path = tmp_path / "collector.log"
    emit(LoggingConfig(console=False, file_path=path), environ={}, stream=io.StringIO(), level="DEBUG")
    first = json.loads(path.read_text().splitlines()[0])
    assert (first["event"], first["exchange"], first["response_time"]) == ("debug_detail", "okx", 12.5)


def test_under_systemd_console_lines_carry_the_syslog_priority_and_no_timestamp() -> None:
    stream = io.StringIO()
    emit(LoggingConfig(file=False), environ={"JOURNAL_STREAM": "8:12345"}, stream=stream)
    lines = stream.getvalue().splitlines()
    assert [line[:3] for line in lines] == ["<6>", "<3>", "<4>"]
    body = json.loads(lines[1][3:])
    assert body["event"] == "sink_down" and "timestamp" not in body
    assert "pg-Pass-1" not in stream.getvalue()


def test_console_is_readable_on_a_tty_and_json_when_piped() -> None:
    config = LoggingConfig(file=False)
    assert console_mode(config, {}, Tty()) == "tty"
    assert console_mode(config, {}, io.StringIO()) == "json"
    tty = Tty()
    emit(config, environ={}, stream=tty)
    assert "collector_started" in tty.getvalue() and not tty.getvalue().lstrip().startswith("{")


def test_file_rotates_at_max_bytes_and_keeps_backup_count(tmp_path: Path) -> None:
    path = tmp_path / "collector.log"
    configure_logging(LoggingConfig(console=False, file_path=path, max_bytes=2048, backup_count=2),
                      environ={}, stream=io.StringIO())
    log = structlog.get_logger("test")
    for i in range(200):
        log.info("filler", i=i, padding="x" * 50)
    shutdown_logging()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["collector.log", "collector.log.1", "collector.log.2"]
    assert path.stat().st_size <= 2048


def test_reopen_after_the_file_was_moved_writes_to_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "collector.log"
    configure_logging(LoggingConfig(console=False, file_path=path), environ={}, stream=io.StringIO())
    log = structlog.get_logger("test")
    log.info("before_rotation")
    # Lines are written by the listener thread: move the file only once this one is in it.
    wait_until(lambda: "before_rotation" in path.read_text())
    path.rename(tmp_path / "moved.log")
    reopen_log_files()
    log.info("after_rotation")
    shutdown_logging()
    assert "after_rotation" in path.read_text() and "before_rotation" in (tmp_path / "moved.log").read_text()
