"""sd_notify, spoken directly: datagrams to the unix socket named by $NOTIFY_SOCKET.

READY=1 tells systemd (Type=notify) the daemon is up; STATUS= is what `systemctl status`
shows; STOPPING=1 announces the shutdown; WATCHDOG=1 must arrive at least every WatchdogSec.
The watchdog pings come from a task in the daemon's event loop, so a loop that is blocked or
starved stops them and systemd restarts the service. Without $NOTIFY_SOCKET (not under
systemd) every call is a no-op. A failed send is logged once and never stops the daemon.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from typing import Self

import structlog

from collector.errors import ErrorCode

log = structlog.get_logger(__name__)


def notify_address(environ: Mapping[str, str]) -> str | None:
    """The socket address from $NOTIFY_SOCKET; a leading '@' is the abstract namespace."""
    value = environ.get("NOTIFY_SOCKET", "")
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    if value:
        log.warning("sd_notify_unsupported_socket", error_code=ErrorCode.NOTIFY_001, socket=value)
    return None


def watchdog_period(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of $WATCHDOG_USEC, or None when not asked for."""
    usec = environ.get("WATCHDOG_USEC", "")
    watchdog_pid = environ.get("WATCHDOG_PID", "")
    if not usec or (watchdog_pid and watchdog_pid != str(pid)):
        return None
    try:
        period = int(usec) / 2 / 1_000_000
    except ValueError:
        log.warning("sd_watchdog_invalid", error_code=ErrorCode.NOTIFY_001, watchdog_usec=usec)
        return None
    return period if period > 0 else None


class Notifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.address = notify_address(environ)
        self.watchdog_period = watchdog_period(environ, os.getpid()) if self.address else None
        self._socket: socket.socket | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._failure_logged = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    async def __aenter__(self) -> Self:
        if self.address is None:
            return self
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.setblocking(False)
        if self.watchdog_period is not None:
            self._watchdog = asyncio.create_task(self._ping_watchdog(), name="sd_notify:watchdog")
            log.info("sd_watchdog_started", period_s=self.watchdog_period)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._watchdog is not None:
                self._watchdog.cancel()
                await asyncio.gather(self._watchdog, return_exceptions=True)
        finally:
            self._watchdog = None
            self._close()

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={_one_line(status)}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={_one_line(status)}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    async def _ping_watchdog(self) -> None:
        assert self.watchdog_period is not None
        while True:
            await asyncio.sleep(self.watchdog_period)
            self.watchdog()

    def _send(self, message: str) -> None:
        if self._socket is None or self.address is None:
            return
        try:
            self._socket.sendto(message.encode(), self.address)
        except OSError as err:  # BlockingIOError (systemd's queue full) included
            self._log_failure_once(err)
        else:
            self._failure_logged = False

    def _log_failure_once(self, err: OSError) -> None:
        # One line per outage, not one per ping: a lost socket would otherwise log every 30 s.
        if self._failure_logged:
            return
        self._failure_logged = True
        log.warning("sd_notify_failed", error_code=ErrorCode.NOTIFY_001,
                    socket=self.address.replace("\0", "@") if self.address else None, error=str(err))

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())
