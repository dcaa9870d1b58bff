"""The archive writer process: the only process that imports pyarrow; it writes and compacts.

    python -m collector.sinks.parquet.process ROOT COMPRESSION DAEMON_PID

The parquet sink starts it (writer_process.py) and waits for its first line, `{"ready": pid}`
(its imports done), then sends it requests on stdin (wire.py), each answered in order by one
JSON line on stdout:

    add {first, from, to} + frames   append records `from ..< to` of the journal frames to the
                            open range `first ..` (opened by the first add)
    commit {first, last}    close the range's parts, fsync, rename them into place: {rows, files}
    abort                   forget the open range, delete its temporary files
    compact {ended_before}  compact every due day: {compacted, corrupt}

A failure the disk or a file causes is answered `{"fault": reason}` (the open range forgotten);
a bug `{"bug": reason}` with its traceback on stderr. It keeps no state of its own beyond the
open range: the daemon's journal and the archive's state file say what is archived, so a crash
of this process loses nothing that is not written again. It dies with the daemon (SIGKILL
through PR_SET_PDEATHSIG) and ignores SIGINT/SIGTERM, which the daemon's own stop answers (a
Ctrl-C or systemd reaches the whole process group): at the end of its stdin it exits.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow as pa

from collector.errors import one_line
from collector.sinks.parquet import wire
from collector.sinks.parquet.compaction import compact_due
from collector.sinks.parquet.decode import tables_of_frames
from collector.sinks.parquet.parts import RangeWriter

_PR_SET_PDEATHSIG = 1


class OpenRange:
    """The requests' handler: at most one open range of part files."""

    def __init__(self, root: Path, compression: str) -> None:
        self.root, self.compression = root, compression
        self.range: RangeWriter | None = None

    def handle(self, head: dict[str, Any], body: bytes) -> dict[str, Any]:
        try:
            return self._do(head, body)
        except (OSError, ValueError, pa.ArrowException) as err:
            self.abort()
            return {"fault": one_line(err, 300)}
        except Exception as err:  # a bug: the daemon logs it (APP_002); this process goes on
            traceback.print_exc(file=sys.stderr)
            self.abort()
            return {"bug": one_line(err)}

    def _do(self, head: dict[str, Any], body: bytes) -> dict[str, Any]:
        op = head["op"]
        if op == "add":
            if self.range is None or self.range.first != head["first"]:
                self.abort()
                self.range = RangeWriter(self.root, head["first"], self.compression)
            self._add(body, head["from"], head["to"])
            return {}
        if op == "commit":
            if self.range is None or self.range.first != head["first"]:
                return {"rows": 0, "files": 0}  # nothing of the range exists in the journal
            paths = self.range.commit(head["last"])
            rows, self.range = self.range.rows_written, None
            return {"rows": rows, "files": len(paths)}
        if op == "abort":
            self.abort()
            return {}
        if op == "compact":
            return compact_due(self.root, head["ended_before"], self.compression)
        raise ValueError(f"unknown request {op!r}")

    def _add(self, body: bytes, start: int, end: int) -> None:
        """Records `start ..< end` of the frames in `body` into the open range. The garbage
        collector waits meanwhile: where the frames are read through orjson (decode.py) their rows
        are ~10 Python objects per record, all freed by reference counting when this returns,
        and collections that scan them while they live cost a third as much as the conversion."""
        assert self.range is not None
        gc.disable()
        try:
            self.range.add(tables_of_frames(body, start, end))
        finally:
            gc.enable()

    def abort(self) -> None:
        if self.range is not None:
            self.range.abort()
            self.range = None


def read_request(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """The next request; None at the end of the stream (the daemon closed it, or died)."""
    prefix = stream.read(wire.PREFIX.size)
    if len(prefix) < wire.PREFIX.size:
        return None
    head_length, body_length = wire.PREFIX.unpack(prefix)
    head, body = stream.read(head_length), stream.read(body_length)
    if len(head) < head_length or len(body) < body_length:
        return None
    return orjson.loads(head), body


def serve(requests: BinaryIO, replies: BinaryIO, root: Path, compression: str) -> None:
    handler = OpenRange(root, compression)
    replies.write(wire.reply({"ready": os.getpid()}))  # imported: requests are answered from now on
    replies.flush()
    try:
        while (message := read_request(requests)) is not None:
            replies.write(wire.reply(handler.handle(*message)))
            replies.flush()
    finally:
        handler.abort()


def die_with(daemon_pid: int) -> None:
    """SIGKILL this process when the daemon ends, however it ends (a kill -9 included)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != daemon_pid:  # the daemon ended before the line above took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    die_with(int(sys.argv[3]))
    serve(sys.stdin.buffer, sys.stdout.buffer, Path(sys.argv[1]), sys.argv[2])
