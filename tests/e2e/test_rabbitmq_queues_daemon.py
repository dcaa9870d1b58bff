"""The daemon with RabbitMQ queues in its config, as an operator runs it: `--once` into a quorum
queue and a stream nobody reads yet, a queue that exists with other arguments (exit 1, MQ_002,
at start and in `--validate-config --online`)."""

from __future__ import annotations

import asyncio
import json

import aiormq
import pytest

from tests.support.daemon import daemon_config, start_daemon, write_config
from tests.support.rabbitmq import broker_connection, deleted_afterwards, queue_names, read_queue
from tests.support.sink_contents import rabbitmq_identities, sqlite_identities


def rabbitmq_section(exchange: str, *queues: dict) -> dict:
    return {"enabled": True, "host": "127.0.0.1", "port": 5672, "exchange": exchange, "queues": list(queues)}


async def run(*args: str, cwd, timeout: float = 120.0) -> tuple[int, str, str]:
    proc = await start_daemon(*args, cwd=cwd)
    async with asyncio.timeout(timeout):
        stdout, stderr = await proc.communicate()
    return proc.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")


async def test_a_once_run_leaves_every_record_in_a_declared_quorum_queue_and_stream_with_no_consumer(
        tmp_path, simulator_factory, rabbitmq_config) -> None:
    sim = await simulator_factory(symbols=10, seed=31)
    quorum, stream = queue_names("quorum"), queue_names("stream")
    config = daemon_config(tmp_path, sim, rabbitmq=rabbitmq_section(
        rabbitmq_config.exchange, {"name": quorum, "type": "quorum"},
        {"name": stream, "type": "stream", "arguments": {"x-max-age": "1D"}}))
    async with deleted_afterwards(quorum, stream):
        code, _, stderr = await run("--config", str(write_config(tmp_path, config)), "--once", cwd=tmp_path)
        assert code == 0, stderr[-2000:]
        in_quorum = await read_queue(quorum)
        in_stream = await read_queue(stream, stream=True)

    collected = sqlite_identities(tmp_path / "collector.db")
    assert collected, "the run collected nothing"
    assert rabbitmq_identities(in_quorum) == collected
    assert rabbitmq_identities(in_stream) == collected
    assert len(in_quorum) == len(in_stream) == len(collected), "one message per record"


async def test_a_queue_that_exists_with_other_arguments_exits_1_at_start_with_mq_002(
        tmp_path, simulator_factory, rabbitmq_config) -> None:
    sim = await simulator_factory(symbols=5, seed=32)
    name = queue_names("conflict")
    config = daemon_config(tmp_path, sim, rabbitmq=rabbitmq_section(
        rabbitmq_config.exchange, {"name": name, "type": "quorum", "arguments": {"x-delivery-limit": 5}}))
    path = write_config(tmp_path, config)
    async with deleted_afterwards(name):
        async with await broker_connection() as connection:  # another team's queue, other arguments
            await (await connection.channel()).declare_queue(
                name, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 20})
        online = await run("--config", str(path), "--validate-config", "--online", cwd=tmp_path)
        code, _, stderr = await run("--config", str(path), cwd=tmp_path)

    assert code == 1, stderr[-2000:]
    log = [json.loads(line) for line in (tmp_path / "logs" / "collector.log").read_text().splitlines()]
    failed = [line for line in log if line.get("error_code") == "MQ_002" and "failed" in line["event"]]
    assert failed and name in failed[0]["error"] and "x-delivery-limit" in failed[0]["error"], log[-5:]
    online_code, stdout, _ = online
    assert online_code == 1, stdout
    fail_lines = [line for line in stdout.splitlines() if line.startswith("FAIL")]
    assert len(fail_lines) == 1 and "sink rabbitmq" in fail_lines[0] and "MQ_002" in stdout, stdout
    assert [line for line in stdout.splitlines() if line.startswith("OK")][0].split()[1:3] == ["sink", "sqlite"]


async def test_validate_config_online_says_ok_for_each_reachable_sink_and_exits_0(
        tmp_path, rabbitmq_config) -> None:
    quorum = queue_names("quorum")
    config = daemon_config(tmp_path, None, rabbitmq=rabbitmq_section(
        rabbitmq_config.exchange, {"name": quorum, "type": "quorum"}))
    code, stdout, stderr = await run("--config", str(write_config(tmp_path, config)), "--validate-config",
                                     "--online", cwd=tmp_path)
    assert code == 0, stdout + stderr
    lines = [line for line in stdout.splitlines() if line.startswith(("OK", "FAIL"))]
    assert [line.split()[:3] for line in lines] == [["OK", "sink", "rabbitmq"], ["OK", "sink", "sqlite"]], stdout
    assert f"queue {quorum} missing (created at start)" in " ".join(stdout.split())
    async with await broker_connection() as connection:  # checked, not created
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
            await (await connection.channel()).declare_queue(quorum, passive=True)
