"""Several real daemons (shards, replicas) against one simulator, each in its own directory."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.daemon import clean_env, daemon_config, start_daemon, wait_for_log, write_config


@dataclass
class Member:
    directory: Path
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.directory / "collector.db"

    @property
    def log(self) -> Path:
        return self.directory / "logs" / "collector.log"


@contextlib.asynccontextmanager
async def fleet(tmp_path: Path, sim: Any, shards: list[tuple[int, int]], *, env: dict[str, str] | None = None,
                **sections: Any) -> AsyncIterator[list[Member]]:
    """One daemon per (index, count), started together; SIGTERM to every one still running at the end."""
    members = []
    for n, (index, count) in enumerate(shards):
        directory = tmp_path / f"daemon-{n}"
        directory.mkdir()
        config = daemon_config(directory, sim, shard={"count": count, "index": index}, **sections)
        process = await start_daemon("--config", str(write_config(directory, config)), cwd=directory,
                                     env=clean_env(**(env or {})))
        members.append(Member(directory, config["health"]["port"], process))
    try:
        for member in members:
            await wait_for_log(member.log, "collector_started", timeout=90)
        yield members
    finally:
        for member in members:
            if member.process.returncode is None:
                member.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(90):
            for member in members:
                _, stderr = await member.process.communicate()
                assert member.process.returncode in (0, -signal.SIGKILL), stderr.decode()[-2000:]
                assert b"Traceback" not in stderr
