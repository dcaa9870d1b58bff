"""structlog setup: JSON lines to a rotated file, a console a person can read on a TTY, JSON
otherwise, and under systemd journald-friendly lines (no timestamp of our own, a `<N>` syslog
priority prefix so `journalctl -p err` works). Secrets are masked in every event.

Handlers run on a background thread behind a queue, so a slow disk never blocks the event loop.
Only `collector.app` (and the CLI) call `configure_logging`; modules use structlog.get_logger.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import orjson
import structlog

from collector.config import LoggingConfig
from collector.masking import SECRET_KEYS, mask_text, mask_value

_SYSLOG_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2, "exception": 3}
_NOISY_LIBRARIES = ("aio_pika", "aiormq", "asyncio", "urllib3", "ccxt", "aiohttp.access")
_listener: logging.handlers.QueueListener | None = None
_file_handler: logging.handlers.RotatingFileHandler | None = None
# What every line gets, whichever logger wrote it (structlog's or a library's stdlib one).
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def mask_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: secret-named keys show only whether they are set; URLs lose
    their credentials (also inside formatted exceptions)."""
    for key, value in event.items():
        if key.lower() in SECRET_KEYS:
            event[key] = mask_value(value)
        elif isinstance(value, str) and "://" in value:
            event[key] = mask_text(value)
    return event


def _json_dumps(data: Any, **_: Any) -> str:
    return orjson.dumps(data, default=str).decode()


class _JournaldRenderer:
    """`<3>{"event": ...}`: journald reads the priority prefix and adds its own timestamp."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        priority = _SYSLOG_PRIORITY.get(event.get("level", name), 6)
        event.pop("timestamp", None)
        return f"<{priority}>{self._inner(logger, name, event)}"


class _RecordQueueHandler(logging.handlers.QueueHandler):
    # The stock prepare() renders the record to text here, on the caller's thread, which would
    # turn structlog's event dict into a string before ProcessorFormatter sees it.
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def console_mode(config: LoggingConfig, environ: Mapping[str, str], stream: TextIO) -> str:
    """"tty", "json" or "journald": how console lines are rendered."""
    under_systemd = bool(environ.get("JOURNAL_STREAM") or environ.get("INVOCATION_ID"))
    if under_systemd:
        return "journald-console" if config.format == "console" else "journald"
    if config.format == "json":
        return "json"
    if config.format == "console":
        return "tty"
    return "tty" if stream.isatty() else "json"


def _console_renderer(mode: str, stream: TextIO) -> Any:
    if mode == "tty":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    if mode == "journald":
        return _JournaldRenderer(structlog.processors.JSONRenderer(serializer=_json_dumps))
    if mode == "journald-console":
        return _JournaldRenderer(structlog.dev.ConsoleRenderer(colors=False))
    return structlog.processors.JSONRenderer(serializer=_json_dumps)


def configure_logging(
    config: LoggingConfig,
    *,
    level: str | None = None,
    environ: Mapping[str, str] = os.environ,
    stream: TextIO | None = None,
) -> None:
    """(Re)configure structlog and the stdlib root logger from the logging section."""
    shutdown_logging()
    global _listener
    stream = stream or sys.stderr
    level_no = logging.getLevelName(level or config.level)
    handlers: list[logging.Handler] = []
    if config.console:
        handlers.append(_console_handler(config, environ, stream))
    if config.file:
        handlers.append(_open_file_handler(config))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    root = logging.getLogger()
    root.handlers[:] = [_RecordQueueHandler(records)]
    root.setLevel(level_no)
    for name in _NOISY_LIBRARIES:
        # aio-pika/aiormq log every reconnect attempt; the RabbitMQ sink logs an outage once.
        quiet = logging.CRITICAL if name in ("aio_pika", "aiormq") else logging.WARNING
        logging.getLogger(name).setLevel(max(level_no, quiet))
    _listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=False)
    _listener.start()
    structlog.configure(
        # Tracebacks are rendered here, on the caller's thread: sys.exc_info() is empty on the
        # thread that writes the lines.
        processors=[*_SHARED, structlog.processors.format_exc_info,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        cache_logger_on_first_use=False,
    )


def _console_handler(config: LoggingConfig, environ: Mapping[str, str], stream: TextIO) -> logging.Handler:
    console = logging.StreamHandler(stream)
    console.setFormatter(_formatter(_console_renderer(console_mode(config, environ, stream), stream)))
    return console


def _open_file_handler(config: LoggingConfig) -> logging.Handler:
    global _file_handler
    config.file_path.parent.mkdir(parents=True, exist_ok=True)
    _file_handler = logging.handlers.RotatingFileHandler(
        config.file_path, maxBytes=config.max_bytes, backupCount=config.backup_count, encoding="utf-8",
    )
    _file_handler.setFormatter(_formatter(structlog.processors.JSONRenderer(serializer=_json_dumps)))
    return _file_handler


def _formatter(renderer: Any) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, mask_secrets, renderer],
    )


def reopen_log_files() -> None:
    """SIGHUP: reopen the log file, so logrotate can move it away without copytruncate."""
    handler = _file_handler
    if handler is None:
        return
    reopened = open(handler.baseFilename, handler.mode, encoding=handler.encoding)  # noqa: SIM115 (the handler's now)
    previous = handler.setStream(reopened)  # under the handler's lock, flushed first
    if previous is not None:
        previous.close()


def shutdown_logging() -> None:
    """Drain the queue and close the handlers (idempotent)."""
    global _listener, _file_handler
    if _listener is not None:
        _listener.stop()
        for handler in _listener.handlers:
            handler.close()
        _listener = None
    _file_handler = None
