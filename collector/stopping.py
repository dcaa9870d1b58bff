"""Stop signals as uvicorn takes them: the handlers only set flags. The first SIGTERM/SIGINT
starts the graceful stop (the daemon drains in its own order); a second one forces the exit.

A forced exit leaves no torn frame in the journal: the journal's one I/O thread finishes the
write under way, starts none after it and saves the sinks' cursors (`Journal.halt`) before the
process ends with `os._exit`. What the sinks had not confirmed stays journaled and is delivered
at the next start, as after `kill -9` (which loses nothing journaled either: a torn tail, if
the disk did not answer in time, fails its checksum and is cut by the next start's scan).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HALT_TIMEOUT_S = 2.0  # for the journal's write under way; a disk that hangs longer is not waited for


class Halting(Protocol):
    def halt(self, timeout: float) -> dict[str, int]:
        """Stop the journal's writes, save its cursors; records each sink has not confirmed."""


class StopSignals:
    """The flags SIGTERM/SIGINT set on the running loop: `stop` first, `forced` at the second."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.stop = asyncio.Event()
        self.forced = asyncio.Event()
        self.received: list[int] = []

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            self._loop.add_signal_handler(signum, self.on_signal, signum)

    def remove(self) -> None:
        for signum in STOP_SIGNALS:
            self._loop.remove_signal_handler(signum)

    def on_signal(self, signum: int) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            log.info("stop_requested", signal=signal.Signals(signum).name)
            self.stop.set()
        else:
            self.forced.set()

    @property
    def first(self) -> int | None:
        return self.received[0] if self.received else None


def forced_exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


async def exit_when_forced(signals: StopSignals, daemon: Halting, *,
                           before_exit: Callable[[], None] = lambda: None,
                           exit_now: Callable[[int], None] = os._exit) -> None:
    """Wait for the second stop signal; then halt the journal, say what it keeps and exit."""
    await signals.forced.wait()
    signum = signals.received[-1]
    code = forced_exit_code(signum)
    # Blocks the loop for at most HALT_TIMEOUT_S: nothing is left for it to serve.
    undelivered = daemon.halt(HALT_TIMEOUT_S)
    log.warning("stop_forced", signal=signal.Signals(signum).name, exit_code=code,
                undelivered_records=undelivered, records_kept=max(undelivered.values(), default=0),
                detail="the records not yet delivered stay in the journal and are delivered at the next start")
    before_exit()
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: the graceful stop is still awaiting sinks that do not answer; nothing else may run.
    exit_now(code)
