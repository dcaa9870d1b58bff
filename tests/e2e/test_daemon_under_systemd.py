"""The whole daemon as systemd runs it: READY=1 after start-up, watchdog pings, STATUS lines,
/health and /metrics answering from the running loop, STOPPING=1 on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.daemon import clean_env, daemon_config, start_daemon, write_config
from tests.support.simulator import simulator_factory  # noqa: F401 (fixture)


class NotifySocket:
    """systemd's side of $NOTIFY_SOCKET: a task stamps every datagram the daemon sends on arrival."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.received: list[tuple[float, str]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="notify-socket")

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, 4096)
            self.received.append((time.monotonic(), data.decode()))
            self._arrived.set()

    async def wait_for(self, field: str, timeout: float) -> str:
        """The first message (already received or arriving within `timeout`) holding `field`."""
        async with asyncio.timeout(timeout):
            while True:
                for _, message in self.received:
                    if field in message.split("\n"):
                        return message
                self._arrived.clear()
                await self._arrived.wait()

    def messages(self, prefix: str) -> list[tuple[float, str]]:
        return [(at, message) for at, message in self.received if message.startswith(prefix)]

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self.sock.close()


async def http_get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


@pytest.mark.slow
async def test_daemon_speaks_sd_notify_and_serves_health_while_collecting(tmp_path: Path, simulator_factory) -> None:  # noqa: F811
    sim = await simulator_factory(symbols=10, seed=11)
    config = daemon_config(tmp_path, sim)
    port = config["health"]["port"]
    notify = NotifySocket(tmp_path / "notify.sock")
    env = clean_env(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1000000")  # ping every 0.5 s
    proc = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path, env=env)
    try:
        try:
            ready = await notify.wait_for("READY=1", timeout=90)
        except TimeoutError:
            proc.kill()
            _, stderr = await proc.communicate()
            pytest.fail(f"no READY=1 within 90 s; stderr: {stderr.decode()[-2000:]}")
        assert ready.startswith("READY=1\nSTATUS=3 exchanges")

        # /health answers from the running loop; it is ok once a round has been written.
        async with asyncio.timeout(30):
            while True:
                status, body = await http_get(f"http://127.0.0.1:{port}/health")
                if '"last_written": null' not in body:
                    break
                await asyncio.sleep(0.3)
        assert status == 200, body
        assert '"status": "ok"' in body
        for name in ("binance", "bybit", "okx", "sqlite"):
            assert f'"{name}"' in body

        status, text = await http_get(f"http://127.0.0.1:{port}/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        written = [s.value for s in families["collector_records_written"].samples
                   if s.name == "collector_records_written_total" and s.labels["sink"] == "sqlite"]
        assert status == 200 and written and written[0] > 0

        await asyncio.sleep(2.0)
        pings = [at for at, _ in notify.messages("WATCHDOG=1")]
        assert len(pings) >= 4
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < 1.0, gaps  # inside WATCHDOG_USEC: systemd would not restart us

        proc.send_signal(signal.SIGTERM)
        await notify.wait_for("STOPPING=1", timeout=30)
        async with asyncio.timeout(60):
            _, stderr = await proc.communicate()
        assert proc.returncode == 0, stderr.decode()[-2000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await notify.close()
