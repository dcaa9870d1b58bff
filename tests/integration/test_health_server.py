"""A real HealthServer on a free port, scraped over HTTP like a monitor and Prometheus would."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector import metrics
from collector.config import HealthConfig
from collector.errors import CollectorError, ErrorCode
from collector.ops.health import HealthServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def config() -> HealthConfig:
    return HealthConfig(host="127.0.0.1", port=free_port())


class Daemon:
    """What the app's snapshot() would return; tests change it between requests."""

    def __init__(self) -> None:
        now = time.time()
        self.state = {
            "exchanges": {"binance": {"breaker": "closed", "last_success": now, "consecutive_failures": 0,
                                      "stale": False}},
            "sinks": {"sqlite": {"state": "ok", "queue_depth": 3, "spooled_records": 0, "last_flush": now}},
            "intervals": {"ticker": 30.0, "funding_rate": 300.0},
            "last_collected": now,
            "last_written": now,
        }

    def snapshot(self) -> dict:
        return self.state


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def get_json(url: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def scrape_families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample_value(family, **labels) -> float:
    for sample in family.samples:
        if sample.name.endswith("_created"):
            continue
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    raise AssertionError(f"no sample of {family.name} with {labels}")


async def test_health_answers_ok_json_with_the_contract_shape(config):
    daemon = Daemon()
    async with HealthServer(config, daemon.snapshot, started_at=time.time() - 12):
        status, document = await get_json(f"http://127.0.0.1:{config.port}/health")
    assert status == 200
    assert document["status"] == "ok"
    assert 12 <= document["uptime_s"] < 60
    assert document["exchanges"]["binance"]["breaker"] == "closed"
    assert document["exchanges"]["binance"]["consecutive_failures"] == 0
    assert isinstance(document["exchanges"]["binance"]["last_success"], float)
    assert document["sinks"]["sqlite"] == {**daemon.state["sinks"]["sqlite"], "healthy": True}
    assert set(document["process"]) == {"rss_mb", "cpu_percent"}
    assert document["process"]["rss_mb"] > 10


async def test_health_turns_degraded_then_failing_with_503_as_the_daemon_breaks(config):
    daemon = Daemon()
    url = f"http://127.0.0.1:{config.port}/health"
    async with HealthServer(config, daemon.snapshot):
        daemon.state["exchanges"]["binance"].update(breaker="open", consecutive_failures=5)
        daemon.state["exchanges"]["bybit"] = {"breaker": "closed", "last_success": time.time(),
                                             "consecutive_failures": 0, "stale": False}
        degraded = await get_json(url)
        daemon.state["sinks"]["sqlite"]["state"] = "down"
        failing = await get_json(url)
        daemon.state["sinks"]["sqlite"]["state"] = "ok"
        daemon.state["exchanges"]["binance"].update(breaker="closed", consecutive_failures=0)
        recovered = await get_json(url)
    assert (degraded[0], degraded[1]["status"]) == (200, "degraded")
    assert (failing[0], failing[1]["status"]) == (503, "failing")
    assert "every sink is failing" in failing[1]["problems"]
    assert (recovered[0], recovered[1]["status"]) == (200, "ok")


async def test_metrics_serves_the_collector_families_in_prometheus_text_format(config):
    async with HealthServer(config, Daemon().snapshot):
        status, content_type, text = await get(f"http://127.0.0.1:{config.port}/metrics")
    assert status == 200
    assert content_type == prometheus_client.CONTENT_TYPE_LATEST  # text/plain; version=...
    families = scrape_families(text)
    for name in ("collector_records_collected", "collector_records_written", "collector_records_spooled",
                 "collector_records_dropped", "collector_exchange_request_seconds", "collector_queue_depth",
                 "collector_breaker_state", "collector_staleness_seconds", "collector_clock_skew_seconds",
                 "process_resident_memory_bytes", "process_cpu_seconds"):
        assert name in families, name
    assert families["process_resident_memory_bytes"].samples[0].value > 10_000_000


async def test_metrics_values_change_between_two_scrapes(config):
    collected = metrics.records_collected.labels(exchange="health-test", kind="ticker")
    depth = metrics.queue_depth.labels(sink="health-test")
    url = f"http://127.0.0.1:{config.port}/metrics"
    async with HealthServer(config, Daemon().snapshot):
        depth.set(7)
        first = scrape_families((await get(url))[2])
        collected.inc(42)
        depth.set(0)
        second = scrape_families((await get(url))[2])
    before = sample_value(first["collector_records_collected"], exchange="health-test", kind="ticker")
    after = sample_value(second["collector_records_collected"], exchange="health-test", kind="ticker")
    assert after - before == 42
    assert sample_value(first["collector_queue_depth"], sink="health-test") == 7
    assert sample_value(second["collector_queue_depth"], sink="health-test") == 0


async def test_root_is_the_html_status_page_linking_the_endpoints(config):
    daemon = Daemon()
    daemon.state["sinks"]["postgres"] = {"state": "down", "last_error": "DB_001: postgres at db:5432: refused"}
    async with HealthServer(config, daemon.snapshot):
        status, content_type, text = await get(f"http://127.0.0.1:{config.port}/")
    assert status == 200  # the page answers even when /health would say 503
    assert content_type.startswith("text/html")
    assert '<tr class="failing" data-sink="postgres">' in text
    assert 'href="/health"' in text and 'href="/metrics"' in text


async def test_a_port_in_use_is_a_health_001_error_naming_the_port_and_the_fix(config):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.port))
        squatter.listen()
        with pytest.raises(CollectorError) as raised:
            async with HealthServer(config, Daemon().snapshot):
                pass
    assert raised.value.code is ErrorCode.HEALTH_001
    assert str(raised.value) == (f"HEALTH_001: health port 127.0.0.1:{config.port} is already in use; "
                                 "stop the other process or set health.port")


async def test_the_port_is_released_on_exit_so_a_restart_can_bind_it_again(config):
    async with HealthServer(config, Daemon().snapshot):
        pass
    async with HealthServer(config, Daemon().snapshot):
        status, _ = await get_json(f"http://127.0.0.1:{config.port}/health")
    assert status == 200
    with pytest.raises(aiohttp.ClientConnectionError):
        await get_json(f"http://127.0.0.1:{config.port}/health")


async def test_health_answers_while_the_loop_is_busy_with_other_tasks(config):
    """The server shares the daemon's loop: it must answer between other coroutines' steps."""
    async def busy_collector() -> None:
        while True:
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as group, HealthServer(config, Daemon().snapshot):
        task = group.create_task(busy_collector(), name="busy")
        status, _ = await asyncio.wait_for(get_json(f"http://127.0.0.1:{config.port}/health"), 5)
        task.cancel()
    assert status == 200
