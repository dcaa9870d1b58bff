"""The archive writer process: pyarrow stays out of the daemon, and a dead process costs nothing
but a coded line and a rewrite of the open part."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from structlog.testing import capture_logs

from collector.config import ParquetConfig
from collector.journal import Journal
from collector.sinks.parquet.sink import ArchiveWriter
from tests.support.archive import expected_rows, rows_by_pyarrow
from tests.support.memory_sink import eventually
from tests.support.records import mixed_records

ROOT_DIR = Path(__file__).resolve().parents[2]

ARCHIVE_IN_A_FRESH_PROCESS = """
import asyncio, sys
from pathlib import Path
from collector.config import ParquetConfig
from collector.journal import Journal
from collector.sinks.parquet.sink import ArchiveWriter
from tests.support.records import mixed_records

async def main(tmp):
    async with Journal(tmp / "spool", max_bytes=2**30) as journal:
        async with ArchiveWriter(ParquetConfig(enabled=True, path=tmp / "a"), journal) as writer:
            await journal.append(mixed_records(1000))
            await writer.flush()
            assert journal.backlog("parquet") == 0
    print(sorted(name for name in ("pyarrow", "numpy", "pandas") if name in sys.modules))

asyncio.run(main(Path(sys.argv[1])))
"""


def test_the_daemon_archives_without_importing_pyarrow_or_numpy(tmp_path):
    done = subprocess.run([sys.executable, "-c", ARCHIVE_IN_A_FRESH_PROCESS, str(tmp_path)], cwd=ROOT_DIR,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert list((tmp_path / "a").rglob("*.parquet"))


async def test_a_killed_writer_process_is_one_archive_001_line_and_a_new_one_rewrites_the_part(tmp_path):
    records = mixed_records(3000)
    config = ParquetConfig(enabled=True, path=tmp_path / "a", roll_interval=3600.0)
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        with capture_logs() as logs:
            async with ArchiveWriter(config, journal, retry_delays=[0.05]) as writer:
                await eventually(lambda: writer.following and writer.writer_process_pid)
                first_pid = writer.writer_process_pid
                await journal.append(records[:1500])
                await eventually(lambda: writer.taken_seq == 1500)  # in the open part, in the process
                os.kill(first_pid, signal.SIGKILL)
                await journal.append(records[1500:])
                async with asyncio.timeout(60):
                    while journal.backlog("parquet"):
                        await writer.flush()
                        await asyncio.sleep(0.05)
                assert writer.writer_process_pid not in (None, first_pid)
                assert writer.status()["state"] == "ok"
    failures = [e for e in logs if e.get("error_code") == "ARCHIVE_001"]
    assert len(failures) == 1 and "SIGKILL" in failures[0]["error"], failures
    assert any(e["event"] == "archive_write_recovered" for e in logs)
    for kind in ("ticker", "funding_rate"):
        assert rows_by_pyarrow(tmp_path / "a", kind) == expected_rows(records, kind)
    assert not list((tmp_path / "a").rglob("*.tmp"))


async def test_a_writer_process_that_cannot_start_is_reported_before_any_record_arrives(tmp_path, monkeypatch):
    """The sink waits for the process to say it is ready: a broken install (pyarrow missing) is
    one ARCHIVE_001 line at start, not at the first record an hour later."""
    broken = tmp_path / "broken"
    (broken / "pyarrow").mkdir(parents=True)
    (broken / "pyarrow" / "__init__.py").write_text("raise ImportError('pyarrow is broken here')\n")
    monkeypatch.setenv("PYTHONPATH", str(broken))  # the process's path: before site-packages
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        with capture_logs() as logs:
            # compact_after 0: no compaction request at start either
            async with ArchiveWriter(ParquetConfig(enabled=True, path=tmp_path / "a", compact_after=0.0), journal,
                                     retry_delays=[3600.0]) as writer:
                await eventually(lambda: writer.status()["state"] == "down")
    (failure,) = [e for e in logs if e.get("error_code") == "ARCHIVE_001"]
    assert "exit code 1" in failure["error"]


async def test_stopping_the_sink_ends_the_writer_process(tmp_path):
    async with Journal(tmp_path / "spool", max_bytes=2**30) as journal:
        async with ArchiveWriter(ParquetConfig(enabled=True, path=tmp_path / "a"), journal) as writer:
            await eventually(lambda: writer.writer_process_pid)
            pid = writer.writer_process_pid
            await journal.append(mixed_records(500))
    await eventually(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid))


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def test_the_writer_process_dies_with_a_daemon_killed_9_even_when_it_is_not_reading(tmp_path):
    """A writer process outliving its daemon would write beside the restarted daemon's own."""
    import psutil

    from tests.integration.test_parquet_kill import start_child
    daemon = start_child(tmp_path / "a", tmp_path / "spool")
    try:
        writers = []
        for _ in range(400):  # a part written: the process runs past its start (die_with)
            if list((tmp_path / "a").rglob("*.parquet")):
                writers = psutil.Process(daemon.pid).children()
                break
            time.sleep(0.05)
        assert len(writers) == 1
        writer = writers[0]
        writer.send_signal(signal.SIGSTOP)  # it would not see its stdin close
        daemon.kill()
        daemon.wait()
        for _ in range(200):
            if not writer.is_running() or writer.status() == psutil.STATUS_ZOMBIE:
                break  # gone (a zombie waits for init to reap it: it runs no more)
            time.sleep(0.05)
        else:
            raise AssertionError(f"the writer process outlived its daemon: {writer.status()} {writer.cmdline()}")
    finally:
        daemon.kill()
