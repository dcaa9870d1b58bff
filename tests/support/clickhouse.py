"""ClickHouse fixtures: a real ClickHouse when CLICKHOUSE_TEST_URL is set, else the chDB-backed one.

Import the fixtures explicitly in a test module:

    from tests.support.clickhouse import clickhouse_config, clickhouse_server  # noqa: F401

`clickhouse_server` (session) yields a `ClickHouseEndpoint`: the server named by
CLICKHOUSE_TEST_URL (e.g. `http://user:pass@host:8123`), or else a
`tests.support.clickhouse_server` subprocess on a free port over a temporary data directory,
killed at the end. `clickhouse_config` yields a `ClickHouseConfig` (enabled) for a uniquely named
database on it, and drops that database afterwards. Without chdb-core and without
CLICKHOUSE_TEST_URL the test is skipped with the reason; under CI=true it fails instead.

`ChdbServerProcess` runs the chDB-backed server itself, for tests that kill and restart it.
"""

from __future__ import annotations

import importlib.util
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import clickhouse_connect
import pytest

from collector.config import ClickHouseConfig
from tests.support import unavailable

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class ClickHouseEndpoint:
    host: str
    port: int
    username: str = "default"
    password: str = ""
    secure: bool = False

    def config(self, database: str, **changes: object) -> ClickHouseConfig:
        fields = {"enabled": True, "host": self.host, "port": self.port,
                  "username": self.username, "password": self.password,
                  "secure": self.secure, "database": database}
        return ClickHouseConfig(**(fields | changes))

    @classmethod
    def from_url(cls, url: str) -> ClickHouseEndpoint:
        parsed = urlparse(url)
        secure = parsed.scheme == "https"
        return cls(host=parsed.hostname or "localhost",
                   port=parsed.port or (8443 if secure else 8123),
                   username=unquote(parsed.username or "default"),
                   password=unquote(parsed.password or ""), secure=secure)


class ChdbServerProcess:
    """`python -m tests.support.clickhouse_server` as a child process on one data directory."""

    def __init__(self, data_dir: Path, *, port: int = 0, user: str = "default",
                 password: str = "") -> None:
        self.data_dir = data_dir
        self.port = port
        self.user = user
        self.password = password
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ClickHouseEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> ClickHouseEndpoint:
        """Start the server (on the same port again after a restart) and wait until it listens."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stderr = open(self.data_dir.parent / f"{self.data_dir.name}.stderr.log", "a")
        with stderr:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.clickhouse_server", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), "--user", self.user,
                 "--password", self.password],
                stdout=subprocess.PIPE, stderr=stderr, text=True,
                env=os.environ | {"TZ": "UTC"}, cwd=Path(__file__).resolve().parents[2])
        self.port = self._wait_for_port(self._process)
        return ClickHouseEndpoint("127.0.0.1", self.port, self.user, self.password)

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-whatever, as in a crash."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        finally:
            process.stdout.close()

    def _wait_for_port(self, process: subprocess.Popen[str]) -> int:
        deadline = time.monotonic() + _START_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([process.stdout], [], [], remaining)
            line = process.stdout.readline() if ready else ""
            if line.startswith("LISTENING "):
                return int(line.split()[1].rpartition(":")[2])
            if ready and not line:
                break  # stdout closed: the process ended
        self._end(signal.SIGKILL)
        log = self.data_dir.parent / f"{self.data_dir.name}.stderr.log"
        raise RuntimeError(f"the chDB ClickHouse server did not start; see {log}")


def require_chdb() -> None:
    """Skip (fail under CI=true) a test that runs the chDB-backed server itself."""
    if importlib.util.find_spec("chdb") is None:
        unavailable("chdb-core is not installed, so the ClickHouse test server cannot run",
                    "a ClickHouse server is required")


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseEndpoint]:
    url = os.environ.get("CLICKHOUSE_TEST_URL")
    if url:
        yield ClickHouseEndpoint.from_url(url)
        return
    require_chdb()
    with ChdbServerProcess(tmp_path_factory.mktemp("clickhouse") / "data") as endpoint:
        yield endpoint


@pytest.fixture
async def clickhouse_config(clickhouse_server: ClickHouseEndpoint) -> AsyncIterator[ClickHouseConfig]:
    config = clickhouse_server.config(f"test_collector_{uuid.uuid4().hex[:12]}")
    try:
        yield config
    finally:
        client = await admin_client(clickhouse_server)
        try:
            await client.command(f"DROP DATABASE IF EXISTS `{config.database}`")
        finally:
            await client.close()


async def admin_client(endpoint: ClickHouseEndpoint) -> clickhouse_connect.driver.AsyncClient:
    """A clickhouse-connect async client on the endpoint, for reading back what a test wrote."""
    return await clickhouse_connect.get_async_client(
        host=endpoint.host, port=endpoint.port, username=endpoint.username,
        password=endpoint.password, secure=endpoint.secure)
