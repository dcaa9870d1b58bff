"""Running the event loop so that a stop always ends, whatever a library is stuck in.

`asyncio.run` waits without limit for every task it cancels at the end and, at interpreter exit,
for every worker thread: a sink call stuck on a server that accepts TCP and never answers would
keep the process alive after it said it stopped. `run` gives leftover tasks `grace` seconds;
`exit_process` leaves without joining a worker thread that is still blocked. `settle_heap`
takes what start-up built out of the cyclic garbage collector's way and lets the collector's
young threshold follow what it finds (`YoungThreshold`); `trim_heap` hands the C heap's free
pages back to the kernel.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
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


class YoungThreshold:
    """The cyclic collector's young-generation threshold, following what its collections find
    (a `gc.callbacks` entry). A collection that found at most `tolerance` objects of garbage
    doubles it, up to `ceiling`; one that found more sets it back to `floor` (Python's own 700).
    So it settles where a collection finds about `tolerance` objects: the garbage waiting for
    the collector stays a few hundred objects, whatever the threshold.

    Why: the native streams make no reference cycles (every object they make is freed by its
    reference count), and asyncio, aiohttp and asyncpg only a few dozen objects' worth now and
    then; yet at 3 x 500 symbols and every update (~19,000 frames/s) Python's default collected
    ~130 times a second, walking the records in flight: 14 to 25 % of the daemon's time went to
    collections, and a sink that fell behind made each walk longer (up to 300 ms). ccxt and ccxt
    pro parse into cycles: where they run, collections find more, and the threshold stays near
    Python's."""

    def __init__(self, floor: int = 700, ceiling: int = 20_000, tolerance: int = 250, *,
                 set_threshold: Any = gc.set_threshold, get_threshold: Any = gc.get_threshold) -> None:
        self.floor, self.ceiling, self.tolerance = floor, ceiling, tolerance
        self._set, self._get = set_threshold, get_threshold

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase != "stop":
            return
        young, older, oldest = self._get()
        found = info.get("collected", 0) + info.get("uncollectable", 0)
        wanted = self.floor if found > self.tolerance else min(self.ceiling, young * 2)
        if wanted != young:
            self._set(wanted, older, oldest)

    def install(self) -> None:
        if not any(isinstance(callback, YoungThreshold) for callback in gc.callbacks):
            gc.callbacks.append(self)


def settle_heap() -> int:
    """Once start-up is done: what it built (configuration, every exchange's markets, ccxt's
    classes; hundreds of thousands of objects that live as long as the process) leaves the cyclic
    garbage collector's generations (`gc.freeze`), so a full collection walks only what was made
    since. Before, each full collection walked all of it: about half a second on a busy 2-core
    machine, with every stream and writer standing still. Frozen objects are still freed by their
    reference counts; a frozen cycle that later becomes garbage is not collected, so this runs
    once, before any stream makes its ccxt pro instances (they are replaced at every reconnect).
    Raised for good to 10,000-50,000 young objects, the thresholds saved the rest of the
    collections' time, but the 10-minute streaming soak (ccxt pro) then grew RSS by 8 % instead
    of 2 %: the young threshold now rises only while collections find nothing (`YoungThreshold`).
    The number of objects frozen."""
    gc.collect()  # garbage of start-up is not frozen with the rest
    gc.freeze()
    YoungThreshold().install()
    return gc.get_freeze_count()


def _malloc_trim() -> Any:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(None).malloc_trim  # the process's own symbols, the C library's among them
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def trim_heap() -> bool:
    """After a markets reload: the parsed responses and the tables they replaced are freed, but
    glibc keeps the freed pages of its heap, so each reload's peak would stay in RSS (measured at
    the second reload of 3 x 200 streamed markets: RSS +2.0 MB, glibc's free heap +1.4 MB;
    trimmed, +0.7 and +0.6). `malloc_trim(0)` returns them (0.1-0.2 ms here). Python's own
    small-object arenas are not affected. True when it ran."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
