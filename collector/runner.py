"""Running the event loop so that a stop always ends, whatever a library is stuck in.

`asyncio.run` waits without limit for every task it cancels at the end and, at interpreter exit,
for every worker thread: a sink call stuck on a server that accepts TCP and never answers would
keep the process alive after it said it stopped. `run` gives leftover tasks `grace` seconds;
`exit_process` leaves without joining a worker thread that is still blocked.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def run(main: Coroutine[Any, Any, int], *, grace: float = 2.0) -> int:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_leftovers(loop, grace)
            loop.run_until_complete(_bounded(loop.shutdown_asyncgens(), grace))
        finally:
            asyncio.set_event_loop(None)
            loop.close()  # the default executor is shut down without waiting


def exit_process(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    stuck = [t for t in threading.enumerate()
             if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if stuck:
        os._exit(code)  # never join a thread blocked in a call that cannot be interrupted
    sys.exit(code)


def _cancel_leftovers(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not leftovers:
        return
    for task in leftovers:
        task.cancel()
    loop.run_until_complete(asyncio.wait(leftovers, timeout=grace))
    for task in leftovers:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: reported where it failed, not again at exit


async def _bounded(awaitable: Any, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        pass
