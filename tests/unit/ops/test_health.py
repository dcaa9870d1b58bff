"""The /health status rules, through the pure health_report()."""

from __future__ import annotations

import copy
import time

import pytest

from collector.ops.health import ProcessProbe, health_report

NOW = 1_700_000_000.0
PROCESS = {"rss_mb": 80.0, "cpu_percent": 1.5}


def healthy_snapshot() -> dict:
    exchange = {"breaker": "closed", "last_success": NOW - 5, "consecutive_failures": 0, "stale": False}
    sink = {"state": "ok", "queue_depth": 0, "spooled_records": 0, "last_flush": NOW - 2}
    return {
        "exchanges": {"binance": dict(exchange), "bybit": dict(exchange)},
        "sinks": {"sqlite": dict(sink), "postgres": dict(sink)},
        "intervals": {"ticker": 30.0, "funding_rate": 300.0},
        "last_collected": NOW - 5,
        "last_written": NOW - 2,
    }


def report(snapshot: dict, *, uptime_s: float = 3600.0) -> tuple[dict, int]:
    return health_report(snapshot, now=NOW, uptime_s=uptime_s, process=PROCESS)


def test_everything_working_is_ok_with_http_200():
    document, http_status = report(healthy_snapshot())
    assert (document["status"], http_status) == ("ok", 200)
    assert document["problems"] == []
    assert document["uptime_s"] == 3600.0
    assert document["process"] == PROCESS
    assert document["exchanges"]["binance"] == {
        "breaker": "closed", "last_success": NOW - 5, "consecutive_failures": 0, "stale": False,
        "healthy": True}
    assert document["sinks"]["sqlite"] == {
        "state": "ok", "queue_depth": 0, "spooled_records": 0, "last_flush": NOW - 2, "healthy": True}


@pytest.mark.parametrize("change, problem", [
    ({"breaker": "open", "consecutive_failures": 5}, "exchange bybit: circuit breaker open"),
    ({"breaker": "half_open"}, "exchange bybit: circuit breaker half_open"),
    ({"consecutive_failures": 1}, "exchange bybit: 1 consecutive failures"),
    ({"consecutive_failures": 2, "error_code": "EXCHANGE_001"},
     "exchange bybit: 2 consecutive failures (EXCHANGE_001)"),
    ({"stale": True}, "exchange bybit: data is stale"),
    ({"stream": {"state": "up", "lag_s": 17.4, "lagging": True}},
     "exchange bybit: stream records come 17s after their exchange time (STREAM_004)"),
])
def test_one_failing_exchange_makes_the_daemon_degraded_but_still_200(change, problem):
    snapshot = healthy_snapshot()
    snapshot["exchanges"]["bybit"].update(change)
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("degraded", 200)
    assert problem in document["problems"]
    assert document["exchanges"]["bybit"]["healthy"] is False
    assert document["exchanges"]["binance"]["healthy"] is True


@pytest.mark.parametrize("change, problem", [
    ({"state": "down"}, "sink postgres: down"),
    ({"state": "lagging", "lag_s": 400.4, "lag_threshold_s": 300.0},
     "sink postgres: lagging, oldest unwritten record 400s old (limit 300s)"),
])
def test_one_sink_that_is_not_ok_makes_the_daemon_degraded(change, problem):
    snapshot = healthy_snapshot()
    snapshot["sinks"]["postgres"].update(change, spooled_records=1200)
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("degraded", 200)
    assert problem in document["problems"]
    assert document["sinks"]["postgres"]["spooled_records"] == 1200


def test_a_sink_still_making_its_first_connect_is_healthy():
    snapshot = healthy_snapshot()
    snapshot["sinks"]["postgres"]["state"] = "connecting"
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("ok", 200)
    assert document["sinks"]["postgres"]["healthy"] is True


def test_every_exchange_failing_is_failing_with_503():
    snapshot = healthy_snapshot()
    snapshot["exchanges"]["binance"].update(breaker="open", consecutive_failures=5)
    snapshot["exchanges"]["bybit"].update(stale=True, consecutive_failures=1)
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("degraded", 200)  # bybit still gets through
    snapshot["exchanges"]["bybit"].update(breaker="open", consecutive_failures=5)
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("failing", 503)
    assert "every exchange is failing" in document["problems"]


def test_every_sink_down_is_failing_with_503():
    snapshot = healthy_snapshot()
    for sink in snapshot["sinks"].values():
        sink["state"] = "lagging"
    assert report(snapshot)[1] == 200  # lagging sinks still write, the journal keeps the rest
    for sink in snapshot["sinks"].values():
        sink["state"] = "down"
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("failing", 503)
    assert "every sink is failing" in document["problems"]


def test_nothing_collected_for_three_shortest_intervals_is_failing():
    snapshot = healthy_snapshot()
    snapshot["last_collected"] = NOW - 91  # ticker every 30 s: 3 intervals are 90 s
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("failing", 503)
    assert "nothing collected for 91s (limit 90s)" in document["problems"]


def test_collection_within_three_intervals_is_not_failing():
    snapshot = healthy_snapshot()
    snapshot["last_collected"] = NOW - 89
    assert report(snapshot)[0]["status"] == "ok"


def test_nothing_written_for_three_shortest_intervals_is_failing():
    snapshot = healthy_snapshot()
    snapshot["last_written"] = NOW - 200
    document, http_status = report(snapshot)
    assert (document["status"], http_status) == ("failing", 503)
    assert "nothing written for 200s (limit 90s)" in document["problems"]


def test_a_fresh_daemon_that_has_collected_nothing_yet_is_given_a_grace_period():
    snapshot = healthy_snapshot()
    snapshot.update(last_collected=None, last_written=None)
    for exchange in snapshot["exchanges"].values():
        exchange["last_success"] = None
    assert report(snapshot, uptime_s=60.0)[0]["status"] == "ok"
    document, http_status = report(snapshot, uptime_s=95.0)
    assert (document["status"], http_status) == ("failing", 503)
    assert "nothing collected since start (95s ago)" in document["problems"]
    assert document["exchanges"]["binance"]["last_success"] is None


def test_contract_fields_are_present_even_when_the_snapshot_omits_them():
    snapshot = healthy_snapshot()
    snapshot["sinks"]["sqlite"] = {"state": "ok"}
    document, _ = report(snapshot)
    assert document["sinks"]["sqlite"] == {
        "state": "ok", "queue_depth": None, "spooled_records": None, "last_flush": None, "healthy": True}


def test_the_report_does_not_modify_the_snapshot():
    snapshot = healthy_snapshot()
    snapshot["exchanges"]["bybit"]["breaker"] = "open"
    before = copy.deepcopy(snapshot)
    report(snapshot)
    assert snapshot == before


def test_process_probe_reports_this_process_memory_and_the_cpu_it_burned_since_last_sample():
    probe = ProcessProbe()
    wall, cpu = time.monotonic(), time.process_time()
    while time.process_time() - cpu < 0.3:  # burn 0.3 s of CPU, however long a loaded machine takes
        pass
    sample = probe.sample()
    # What this process really used over the wall time that passed (threads included).
    used_percent = 100 * (time.process_time() - cpu) / (time.monotonic() - wall)
    assert 10 < sample["rss_mb"] < 4096
    assert 0.5 * used_percent <= sample["cpu_percent"] <= 1.5 * used_percent + 5, (sample, used_percent)
