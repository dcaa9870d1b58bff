"""The daemon's side of the archive writer process (process.py): starts it, sends it requests.

Only that process imports pyarrow and numpy, builds the Arrow row groups and compacts days: the
daemon's RSS does not carry them, and compacting a big day never stalls the daemon's event loop
nor grows its heap. The sink's write task is the only caller; replies come in the order of the
requests, and up to `UNANSWERED_ADDS` adds are sent before their replies are read.

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
from typing import Any, NoReturn

import orjson
import structlog

import collector
from collector.journal import FrameRead
from collector.sinks.parquet import wire
from collector.sinks.parquet.upkeep import ArchiveFault

log = structlog.get_logger(__name__)

MODULE = "collector.sinks.parquet.process"
SEND_BUFFER_BYTES = 8 * 1024 * 1024
UNANSWERED_ADDS = 8  # adds in flight at most (each the live offers queued, or a read; ranges.ADD_RECORDS)
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
        self._unanswered = 0  # requests sent whose reply is not read yet

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def add(self, first: int, read: FrameRead) -> None:
        """Append the read's records, in their journal frames, to the open range `first ..`
        (opened by its first add). Not awaited one by one: up to `UNANSWERED_ADDS` are in
        flight, so the process converts while the daemon takes the next; a fault among them is
        raised by a later call."""
        await self._send({"op": "add", "first": first, "from": read.first_seq, "to": read.end_seq}, read.frames)
        while self._unanswered > UNANSWERED_ADDS:
            await self._answer()

    async def commit(self, first: int, last: int) -> tuple[int, int]:
        """Close the range's parts and rename them into place, fsync'd: (rows, files)."""
        await self._settle(raise_faults=True)
        await self._send({"op": "commit", "first": first, "last": last})
        done = await self._answer()
        return done["rows"], done["files"]

    async def abort(self) -> None:
        """Forget the open range and its temporary files (a process that ended left them to the
        sink's next start-up cleanup)."""
        await self._settle(raise_faults=False)  # the fault that ended the range is reported already
        if self._process is not None:
            await self._send({"op": "abort"})
            await self._answer()

    async def compact(self, ended_before: float) -> dict[str, list[list[Any]]]:
        """Compact every day that ended before `ended_before`: {compacted, corrupt}."""
        await self._settle(raise_faults=True)
        await self._send({"op": "compact", "ended_before": ended_before})
        return await self._answer()

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
        """Start the process unless it runs; return once it is ready to answer (WriterProcessEnded
        when it cannot start, e.g. pyarrow missing: exit code 1)."""
        if self._process is None:
            await self._start()

    async def _send(self, head: dict[str, Any], body: Sequence[bytes | memoryview] = ()) -> None:
        process = self._process or await self._start()
        assert process.stdin is not None
        try:
            process.stdin.write(wire.request(head, body))
            for piece in body:
                process.stdin.write(piece)
            await process.stdin.drain()
        except ConnectionError:
            await self._ended_now(process)
        except asyncio.CancelledError:
            self._kill()
            raise
        self._unanswered += 1

    async def _answer(self) -> dict[str, Any]:
        """The next reply, in the order of the requests; a fault or a bug raised."""
        process = self._process
        if process is None:
            raise WriterProcessEnded(self.root, "no archive writer process runs")
        line = await self._line(process)
        self._unanswered -= 1
        reply: dict[str, Any] = orjson.loads(line)
        if "fault" in reply:
            raise ArchiveFault(self.root, reply["fault"])
        if "bug" in reply:
            raise RuntimeError(f"archive writer process: {reply['bug']}")
        return reply

    async def _settle(self, *, raise_faults: bool) -> None:
        """Read the replies of the adds in flight; the first fault among them raised (after all
        are read), or not."""
        first: Exception | None = None
        while self._unanswered:
            try:
                await self._answer()
            except WriterProcessEnded:
                raise
            except (ArchiveFault, RuntimeError) as err:
                first = first or err
        if first is not None and raise_faults:
            raise first

    async def _start(self) -> asyncio.subprocess.Process:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_CODE_ROOT, os.environ.get("PYTHONPATH")]))}
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", MODULE, str(self.root), self.compression, str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
        assert self._process.stdin is not None
        # Room for a few adds in flight (10,000 tickers are ~1.7 MB of frames): the process
        # converts one while the next is sent, instead of each send waiting for the pipe's 64 KiB.
        self._process.stdin.transport.set_write_buffer_limits(high=SEND_BUFFER_BYTES)
        self.started += 1
        log.info("archive_writer_process_started", sink="parquet", pid=self._process.pid, started=self.started)
        await self._ready(self._process)
        return self._process

    async def _ready(self, process: asyncio.subprocess.Process) -> None:
        """Wait for the process's first line: it has imported pyarrow (about a second of CPU) and
        answers from now on."""
        await self._line(process)

    async def _line(self, process: asyncio.subprocess.Process) -> bytes:
        """The process's next line; a cancelled wait kills it, an end of output is WriterProcessEnded."""
        assert process.stdout is not None
        try:
            line = await process.stdout.readline()
        except asyncio.CancelledError:
            self._kill()
            raise
        if not line:
            await self._ended_now(process)
        return line

    async def _ended_now(self, process: asyncio.subprocess.Process) -> NoReturn:
        self._process = None
        self._unanswered = 0
        code = await process.wait()
        how = f"signal {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"exit code {code}"
        raise WriterProcessEnded(self.root, f"the archive writer process (pid {process.pid}) ended ({how}); "
                                            "a new one is started")

    def _kill(self) -> None:
        process, self._process = self._process, None
        self._unanswered = 0
        if process is not None and process.returncode is None:
            process.kill()
            self._ended.append(process)
