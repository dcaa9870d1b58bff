"""Error codes of the contract and the small exception hierarchy that carries them.

Every log line about a failure carries `error_code=<ErrorCode>`; TROUBLESHOOTING.md lists each
code with its cause and fix, and a test keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    CONFIG_001 = "CONFIG_001"  # config file missing, unreadable or not valid YAML
    CONFIG_002 = "CONFIG_002"  # a required field is missing
    CONFIG_003 = "CONFIG_003"  # a value fails validation
    CONFIG_004 = "CONFIG_004"  # a valid config that will work badly (a warning, not an error)
    EXCHANGE_001 = "EXCHANGE_001"  # connection failed, timed out, exchange unavailable
    EXCHANGE_002 = "EXCHANGE_002"  # authentication or permission failed
    EXCHANGE_003 = "EXCHANGE_003"  # rate limit exceeded
    EXCHANGE_004 = "EXCHANGE_004"  # the exchange answered with something we cannot use
    CIRCUIT_001 = "CIRCUIT_001"  # a circuit breaker opened
    RETRY_001 = "RETRY_001"  # retries exhausted
    CACHE_001 = "CACHE_001"  # a cache operation failed
    DB_001 = "DB_001"  # ClickHouse, PostgreSQL or SQLite write or connection failed
    MQ_001 = "MQ_001"  # RabbitMQ publish or connection failed
    MQ_002 = "MQ_002"  # a declared RabbitMQ queue (or exchange) exists with other arguments
    MQ_003 = "MQ_003"  # records no RabbitMQ queue binds (returned by the broker)
    RECORD_001 = "RECORD_001"  # a malformed record was rejected at the boundary
    SPOOL_001 = "SPOOL_001"  # journal full (records dropped), or journal/spool_dir I/O failed
    SPOOL_002 = "SPOOL_002"  # a torn or corrupt journal (or old spool) segment was repaired
    SCHED_001 = "SCHED_001"  # a tick overran its interval; the next one was skipped
    LOG_001 = "LOG_001"  # the log file cannot be opened or created
    HEALTH_001 = "HEALTH_001"  # the health/metrics server could not start (port in use)
    NOTIFY_001 = "NOTIFY_001"  # the systemd notify socket could not be used (READY/watchdog lost)
    STREAM_001 = "STREAM_001"  # an exchange's websocket stream went down; REST polling took over
    STREAM_002 = "STREAM_002"  # the exchange rejected a websocket subscription
    STREAM_003 = "STREAM_003"  # a websocket frame that could not be read (ccxt pro: reconnected; native: skipped)
    STREAM_004 = "STREAM_004"  # a stream's records come stream_stale_after or more after their exchange time
    ARCHIVE_001 = "ARCHIVE_001"  # the Parquet archive cannot be written (path, full disk, corrupt part)
    APP_001 = "APP_001"  # a start-up failure (a part could not be created)
    APP_002 = "APP_002"  # an unexpected exception in a task; the task is restarted


class CollectorError(Exception):
    """An error the daemon knows how to report: a code and a one-line message."""

    code: ErrorCode = ErrorCode.APP_001

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.args[0]}"


class ConfigError(CollectorError):
    """One or more configuration problems; `problems` holds each as (code, message)."""

    code = ErrorCode.CONFIG_003

    def __init__(self, problems: list[tuple[ErrorCode, str]]) -> None:
        self.problems = problems
        first_code = problems[0][0] if problems else ErrorCode.CONFIG_003
        super().__init__("; ".join(message for _, message in problems), code=first_code)

    def lines(self) -> list[str]:
        return [f"{code} {message}" for code, message in self.problems]


class ExchangeError(CollectorError):
    code = ErrorCode.EXCHANGE_001


class SinkError(CollectorError):
    """A sink could not write or connect. `code` is DB_001 or MQ_001."""

    code = ErrorCode.DB_001


class SinkMisconfigured(SinkError):
    """A sink that answered but refuses what the config declares (MQ_002): retrying cannot help."""


class SinkHolding(SinkError):
    """The sink is up but must not have these records confirmed yet (MQ_003: no queue binds
    them): the writer keeps them in the journal and tries again, without calling it an outage."""


class RecordError(CollectorError):
    """A record that must not reach a sink (NaN, missing field, absurd symbol)."""

    code = ErrorCode.RECORD_001


def one_line(err: BaseException | str, limit: int = 500) -> str:
    """`Type: message (CauseType: cause)` on one line, at most `limit` characters.

    The direct cause is added unless the message already says it: ccxt's
    `ExchangeNotAvailable: binanceusdm GET <url>` tells *why* (refused, DNS, TLS) only through the
    aiohttp error it was raised from.
    """
    if isinstance(err, str):
        text = err
    else:
        text = f"{type(err).__name__}: {err}"
        cause = err.__cause__
        if cause is not None and (not str(cause) or str(cause) not in text):
            text += f" ({type(cause).__name__}: {cause})" if str(cause) else f" ({type(cause).__name__})"
    return " ".join(text.split())[:limit]


class NestedValueError(ValueError):
    """A problem below the field a validator runs on (a free-form mapping, a model checking two of
    its fields together): `where` continues the field's path, so the operator reads
    `...ccxt_options.urls.api.rest` or `shard.index`, not the whole mapping or section."""

    def __init__(self, where: tuple[str, ...], message: str, given: Any) -> None:
        super().__init__(f"{'.'.join(where)} {message}")
        self.where, self.message, self.given = where, message, given
