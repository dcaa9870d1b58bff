"""The daemon's side of the archive writer process (process.py): starts it, sends it requests.

Only that process imports pyarrow and numpy, builds the Arrow row groups and compacts days: the
daemon's RSS does not carry them, and compacting a big day never stalls the daemon's event loop
nor grows its heap. The sink's write task is the only caller, one request at a time.

A process that ended (killed, out of memory, a crash) raises `WriterProcessEnded`, an
`ArchiveFault`: the sink logs ARCHIVE_001, forgets the open part (its records are in the
journal) and the next request starts a new process. A request cancelled half way (the sink's
stop) kills the process: a reply still to come would answer the wrong request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import structlog

import collector
from collector.records import Record
from collector.sinks.parquet import wire
from collector.sinks.parquet.upkeep import ArchiveFault

log = structlog.get_logger(__name__)

MODULE = "collector.sinks.parquet.process"
_CODE_ROOT = str(Path(collector.__file__).resolve().parents[1])


class WriterProcessEnded(ArchiveFault):
    """The archive writer process is gone; a new one is started by the next request."""


class WriterProcess:
    def __init__(self, root: Path, compression: str, *, close_timeout: float = 10.0) -> None:
        self.root, self.compression = root, compression
        self.started = 0  # processes started so far
        self._close_timeout = close_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._ended: list[asyncio.subprocess.Process] = []  # killed, still to be reaped

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def add(self, first: int, records: Sequence[Record]) -> None:
        """Append records to the open range `first ..` (opened by its first add)."""
        body = await asyncio.to_thread(wire.encode_records, records)
        await self._request({"op": "add", "first": first}, body)

    async def commit(self, first: int, last: int) -> tuple[int, int]:
        """Close the range's parts and rename them into place, fsync'd: (rows, files)."""
        done = await self._request({"op": "commit", "first": first, "last": last})
        return done["rows"], done["files"]

    async def abort(self) -> None:
        """Forget the open range and its temporary files (a process that ended left them to the
        sink's next start-up cleanup)."""
        if self._process is not None:
            await self._request({"op": "abort"})

    async def compact(self, ended_before: float) -> dict[str, list[list[Any]]]:
        """Compact every day that ended before `ended_before`: {compacted, corrupt}."""
        return await self._request({"op": "compact", "ended_before": ended_before})

    async def close(self) -> None:
        """End the process: its stdin closed, it exits once its request is done (killed after
        `close_timeout`)."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                async with asyncio.timeout(self._close_timeout):
                    await process.wait()
            except TimeoutError:
                self._ended.append(process)
                process.kill()
        elif process is not None:
            await process.wait()
        for ended in self._ended:
            await ended.wait()
        self._ended.clear()

    async def start(self) -> None:
        """Start the process unless it runs."""
        if self._process is None:
            await self._start()

    async def _request(self, head: dict[str, Any], body: bytes = b"") -> dict[str, Any]:
        process = self._process or await self._start()
        assert process.stdin is not None and process.stdout is not None
        prefix, body = wire.request(head, body)
        try:
            process.stdin.write(prefix)
            process.stdin.write(body)
            await process.stdin.drain()
            line = await process.stdout.readline()
        except ConnectionError:
            line = b""
        except asyncio.CancelledError:
            self._kill()
            raise
        if not line:
            await self._ended_now(process)
        reply: dict[str, Any] = orjson.loads(line)
        if "fault" in reply:
            raise ArchiveFault(self.root, reply["fault"])
        if "bug" in reply:
            raise RuntimeError(f"archive writer process: {reply['bug']}")
        return reply

    async def _start(self) -> asyncio.subprocess.Process:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_CODE_ROOT, os.environ.get("PYTHONPATH")]))}
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", MODULE, str(self.root), self.compression, str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
        self.started += 1
        log.info("archive_writer_process_started", sink="parquet", pid=self._process.pid, started=self.started)
        return self._process

    async def _ended_now(self, process: asyncio.subprocess.Process) -> None:
        self._process = None
        code = await process.wait()
        how = f"signal {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"exit code {code}"
        raise WriterProcessEnded(self.root, f"the archive writer process (pid {process.pid}) ended ({how}); "
                                            "a new one is started")

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            self._ended.append(process)
