"""sd_notify over a real unix datagram socket standing in for systemd's notify socket."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import structlog
import structlog.testing

from collector.ops.systemd import Notifier


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: a bound datagram socket read by its own thread, which
    stamps each message on arrival (so a blocked event loop cannot distort the timing)."""

    _MARK = "X-TEST-MARK=1"

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.arrivals: list[tuple[float, str]] = []
        self._marks = threading.Semaphore(0)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="fake-systemd", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if data.decode() == self._MARK:
                self._marks.release()
            else:
                self.arrivals.append((time.monotonic(), data.decode()))

    def messages(self) -> list[str]:
        """Everything sent so far: a datagram socket keeps order, so once a marker sent now has
        been read, so has every message sent before it."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(self._MARK.encode(), self.address)
        assert self._marks.acquire(timeout=30), "the fake systemd stopped reading"
        return [message for _, message in self.arrivals]

    def close(self) -> None:
        self._stop.set()
        self._reader.join()
        self.sock.close()


@pytest.fixture
def systemd(tmp_path) -> Iterator[tuple[FakeSystemd, dict[str, str]]]:
    path = str(tmp_path / "notify")
    fake = FakeSystemd(path)
    yield fake, {"NOTIFY_SOCKET": path}
    fake.close()


def gaps(arrivals: list[tuple[float, str]]) -> list[float]:
    return [later[0] - earlier[0] for earlier, later in zip(arrivals, arrivals[1:])]


async def test_ready_status_and_stopping_reach_the_notify_socket(systemd):
    fake, environ = systemd
    async with Notifier(environ) as notifier:
        notifier.ready("collecting from 3 exchanges into sqlite")
        notifier.status("flushing 120 records")
        notifier.stopping()
    assert fake.messages() == [
        "READY=1\nSTATUS=collecting from 3 exchanges into sqlite",
        "STATUS=flushing 120 records",
        "STOPPING=1",
    ]


async def test_a_status_with_newlines_cannot_inject_other_notify_fields(systemd):
    fake, environ = systemd
    async with Notifier(environ) as notifier:
        notifier.status("line one\nREADY=1")
    assert fake.messages() == ["STATUS=line one READY=1"]


async def test_an_abstract_namespace_socket_is_addressed_with_a_leading_at():
    name = f"crypto-collector-test-{uuid.uuid4().hex}"
    fake = FakeSystemd("\0" + name)
    try:
        async with Notifier({"NOTIFY_SOCKET": "@" + name}) as notifier:
            notifier.ready("up")
        assert fake.messages() == ["READY=1\nSTATUS=up"]
    finally:
        fake.close()


async def test_without_notify_socket_every_call_is_a_harmless_no_op():
    async with Notifier({}) as notifier:
        notifier.ready("up")
        notifier.status("still up")
        notifier.stopping()
    assert not notifier.enabled
    assert notifier.watchdog_period is None


async def wait_for_pings(fake: FakeSystemd, count: int, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while len(fake.arrivals) < count:
            await asyncio.sleep(0.01)


# Real time is the point here (systemd measures it), so the bounds are ratios of the period with
# margins a loaded machine stays inside: pings are never early, and a late one only delays them.
async def test_watchdog_pings_every_half_of_watchdog_usec(systemd):
    fake, environ = systemd
    environ.update(WATCHDOG_USEC="400000", WATCHDOG_PID=str(os.getpid()))  # 0.4 s → a ping every 0.2 s
    async with Notifier(environ) as notifier:
        started = time.monotonic()
        await wait_for_pings(fake, 8)
        elapsed = time.monotonic() - started
    period = notifier.watchdog_period
    assert period == pytest.approx(0.2)
    assert set(fake.messages()) == {"WATCHDOG=1"}
    assert elapsed >= 7.5 * period  # eight pings take (at least) eight periods: none came early
    middle = statistics.median(gaps(fake.arrivals))
    assert 0.8 * period <= middle <= 2.0 * period, gaps(fake.arrivals)


async def test_watchdog_pings_stop_while_the_event_loop_is_blocked(systemd):
    fake, environ = systemd
    environ["WATCHDOG_USEC"] = "200000"  # a ping every 0.1 s
    period, blocked = 0.1, 1.0
    async with Notifier(environ):
        await wait_for_pings(fake, 2)
        time.sleep(blocked)  # a blocking call in the loop: systemd must see the pings stop
        before = len(fake.messages())
        await wait_for_pings(fake, before + 2)
    silences = sorted(gaps(fake.arrivals))
    assert 0.95 * blocked <= silences[-1] < blocked + 10 * period, silences
    assert silences[-2] < blocked / 2, silences  # the block was the one silence: elsewhere they kept on


async def test_watchdog_is_not_pinged_for_another_process(systemd):
    fake, environ = systemd
    environ.update(WATCHDOG_USEC="100000", WATCHDOG_PID=str(os.getpid() + 1))
    async with Notifier(environ) as notifier:
        await asyncio.sleep(0.2)
    assert notifier.watchdog_period is None
    assert fake.messages() == []


async def test_pings_end_when_the_notifier_exits(systemd):
    fake, environ = systemd
    environ["WATCHDOG_USEC"] = "100000"  # a ping every 0.05 s
    async with Notifier(environ):
        await wait_for_pings(fake, 2)
    pings_while_entered = len(fake.messages())
    await asyncio.sleep(0.3)  # six periods: a pinger left running would have sent more
    assert len(fake.messages()) == pings_while_entered


async def test_a_vanished_notify_socket_is_logged_once_and_never_raises(systemd):
    fake, environ = systemd
    with structlog.testing.capture_logs() as logs:
        async with Notifier(environ) as notifier:
            fake.close()
            os.unlink(environ["NOTIFY_SOCKET"])
            notifier.ready("up")
            notifier.status("still up")
            notifier.stopping()
    failures = [entry for entry in logs if entry["event"] == "sd_notify_failed"]
    assert len(failures) == 1
    assert failures[0]["error_code"] == "NOTIFY_001"
    assert failures[0]["socket"] == environ["NOTIFY_SOCKET"]
