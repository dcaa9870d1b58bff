"""deploy/prometheus/alerts.yml and deploy/grafana/crypto-collector.json against a real daemon:
promtool checks the rules and tests them on series captured from a daemon run (healthy, then
an exchange failing and a sink cut, then the process gone); every metric the files use exists
in the daemon's real /metrics; every alert names a TROUBLESHOOTING.md section that exists."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml

from exchange_simulator import Simulator
from tests.support import unavailable
from tests.support.daemon import ROOT, daemon_config, start_daemon, wait_for_log, write_config
from tests.support.metrics_capture import INSTANCE, JOB, Capture, family_names
from tests.support.postgres import admin_connection
from tests.support.tcp_proxy import TcpProxy

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "crypto-collector.json"
RULE_SAMPLES = ("collector_records_written_total", "collector_sink_lag_seconds", "collector_records_dropped_total",
                "collector_breaker_state", "collector_staleness_seconds")
HEALTHY, FAILING, GONE = 4, 24, 4  # scrapes per phase; promtool sees one a minute
METRIC = re.compile(r"\b((?:collector|process)_[a-z_]+|up)\b(?=\s*[{\[)]|\s*$|\s*[=<>!*/+-])")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool is not installed (apt-get install prometheus)", "install prometheus")
    return path


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


async def scrape(session: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            return await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return None


async def capture_run(tmp_path: Path) -> Capture:
    admin = await admin_connection()
    database = f"test_collector_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{database}"')
    try:
        async with Simulator(symbols=5) as sim, TcpProxy("127.0.0.1", 5432) as proxy:
            return await _run_phases(tmp_path, sim, proxy, database)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def _run_phases(tmp_path: Path, sim: Simulator, proxy: TcpProxy, database: str) -> Capture:
    config = daemon_config(tmp_path, sim, postgres={
        "enabled": True, "host": "127.0.0.1", "port": proxy.port, "user": "postgres", "database": database,
    }, database={"timeout": 2.0}, circuit_breaker={"failure_threshold": 2, "recovery_timeout": 600.0})
    url = f"http://127.0.0.1:{config['health']['port']}/metrics"
    captured = Capture()
    daemon = await start_daemon("--config", str(write_config(tmp_path, config)), cwd=tmp_path)
    async with aiohttp.ClientSession() as session:
        try:
            await wait_for_log(tmp_path / "logs" / "collector.log", "collector_started")
            await wait_for_log(tmp_path / "logs" / "collector.log", "sink_opened")
            for phase, count in (("healthy", HEALTHY), ("failing", FAILING)):
                if phase == "failing":
                    sim.set_fault("okx", "http_5xx", status=503)
                    await proxy.cut()
                for _ in range(count):
                    captured.scrapes.append(await scrape(session, url))
                    await asyncio.sleep(0.5)
        finally:
            daemon.send_signal(signal.SIGTERM)
            await asyncio.wait_for(daemon.communicate(), timeout=60)
        captured.scrapes += [await scrape(session, url) for _ in range(GONE)]
    return captured


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Capture:
    return asyncio.run(capture_run(tmp_path_factory.mktemp("capture")))


def run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_alert_rules():
    result = run_promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_every_dashboard_query_is_valid_promql(tmp_path):
    # promtool parses the expression of every recording rule: the dashboard's queries as rules.
    rules = [{"record": f"dashboard:query_{i}", "expr": expr.replace("$instance", ".*")}
             for i, expr in enumerate(dashboard_exprs())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_covers_what_an_operator_watches():
    exprs = " ".join(dashboard_exprs())
    for metric in ("collector_records_collected_total", "collector_staleness_seconds",
                   "collector_exchange_request_seconds_bucket", "collector_breaker_state",
                   "collector_sink_lag_seconds", "collector_records_dropped_total",
                   "process_resident_memory_bytes", "process_cpu_seconds_total",
                   "collector_stream_state", "collector_stream_reconnects_total", "collector_stream_lag_seconds"):
        assert metric in exprs, metric


def test_every_metric_the_dashboard_and_the_alerts_use_exists_in_a_real_metrics(captured):
    exported = family_names(captured.scrapes[0]) | {"up"}  # `up` is Prometheus' own, per target
    used = {name for expr in [*dashboard_exprs(), *(rule["expr"] for rule in alert_rules())]
            for name in METRIC.findall(expr)}
    assert {"collector_sink_lag_seconds", "collector_journal_bytes", "up"} <= used
    assert used - exported == set()


def headings_anchors() -> set[str]:
    guide = (ROOT / "TROUBLESHOOTING.md").read_text()
    return {re.sub(r"[^a-z0-9 _-]", "", title.strip().lower()).replace(" ", "-")
            for title in re.findall(r"^#{2,3} (.+)$", guide, re.M)}


def test_every_alert_names_a_troubleshooting_section_that_exists():
    anchors = headings_anchors()
    for rule in alert_rules():
        target = rule["annotations"]["troubleshooting"]
        assert target.startswith("TROUBLESHOOTING.md#"), rule["alert"]
        assert target.split("#", 1)[1] in anchors, rule["alert"]


def alert(name: str, labels: dict[str, str], value: str = "") -> dict:
    """An expected alert: its labels, and its annotations as the rule's templates render them."""
    rule = next(rule for rule in alert_rules() if rule["alert"] == name)
    labels = {"instance": INSTANCE, "job": JOB, **labels}

    def render(template: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
        return re.sub(r"\{\{ \$value[^}]*\}\}", value, text)

    return {"exp_labels": {**labels, **rule["labels"]},
            "exp_annotations": {key: render(text) for key, text in rule["annotations"].items()}}


def firing_for(values: list[float | None], condition, samples: int) -> bool:
    """The condition held for the last `samples` scrapes (a rule's `for:` at one scrape a minute)."""
    tail = values[-samples:]
    return len(tail) == samples and all(v is not None and condition(v) for v in tail)


def captured_expectations(captured: Capture) -> list[dict]:
    end_failing = HEALTHY + FAILING - 1
    breakers = {labels: values[:end_failing + 1]
                for labels, values in captured.values("collector_breaker_state").items()}
    open_ = sorted(dict(labels)["name"] for labels, values in breakers.items()
                   if firing_for(values, lambda v: v == 2, 6))
    assert "okx:ticker" in open_ and "sink:postgres" in open_, open_  # the run did what it should
    written = {dict(labels)["sink"]: values[:end_failing + 1]
               for labels, values in captured.values("collector_records_written_total").items()}
    assert len(set(written["postgres"][-18:])) == 1 and written["sqlite"][-1] > written["sqlite"][-18]
    quiet = [{"eval_time": f"{HEALTHY - 1}m", "alertname": rule["alert"], "exp_alerts": []}
             for rule in alert_rules()]
    return quiet + [
        {"eval_time": f"{end_failing}m", "alertname": "CollectorBreakerOpen", "exp_alerts": [
            alert("CollectorBreakerOpen", {"name": name}) for name in open_]},
        {"eval_time": f"{end_failing}m", "alertname": "CollectorNothingWritten", "exp_alerts": [
            alert("CollectorNothingWritten", {"sink": "postgres"})]},
        {"eval_time": f"{end_failing}m", "alertname": "CollectorTargetDown", "exp_alerts": []},
        {"eval_time": f"{len(captured.scrapes) - 1}m", "alertname": "CollectorTargetDown", "exp_alerts": [
            alert("CollectorTargetDown", {})]},
    ]


def synthetic_test() -> dict:
    """What one short run cannot show: 10 minutes of frozen tickers, a lag, a drop; a stream down
    for 10 minutes, one lagging, one reconnecting again and again."""
    def series(name: str, labels: str, values: str) -> dict:
        return {"series": f'{name}{{instance="{INSTANCE}",job="{JOB}",{labels}}}', "values": values}

    return {"interval": "1m", "input_series": [
        series("collector_stream_state", 'exchange="okx"', "2 2 " + "0 " * 14),
        series("collector_stream_lag_seconds", 'exchange="bybit"', "1 1 " + "30 " * 10),
        series("collector_stream_reconnects_total", 'exchange="binance"', "0 0 0 0 0 " + "12 " * 6),
        {"series": f'collector_staleness_seconds{{instance="{INSTANCE}",job="{JOB}",exchange="okx",kind="ticker"}}',
         "values": "0+60x20"},
        {"series": f'collector_sink_lag_seconds{{instance="{INSTANCE}",job="{JOB}",sink="postgres"}}',
         "values": "0+60x20"},
        {"series": f'collector_records_dropped_total{{instance="{INSTANCE}",job="{JOB}",sink="postgres",reason="spool_full"}}',
         "values": "0 0 0 0 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5"},
    ], "alert_rule_test": [
        {"eval_time": "10m", "alertname": "CollectorExchangeStale", "exp_alerts": []},
        {"eval_time": "17m", "alertname": "CollectorExchangeStale", "exp_alerts": [
            alert("CollectorExchangeStale", {"exchange": "okx", "kind": "ticker"}, "17m 0s")]},
        {"eval_time": "5m", "alertname": "CollectorSinkLagging", "exp_alerts": []},
        {"eval_time": "12m", "alertname": "CollectorSinkLagging", "exp_alerts": [
            alert("CollectorSinkLagging", {"sink": "postgres"}, "12m 0s")]},
        {"eval_time": "3m", "alertname": "CollectorRecordsDropped", "exp_alerts": []},
        {"eval_time": "5m", "alertname": "CollectorRecordsDropped", "exp_alerts": [
            alert("CollectorRecordsDropped", {"sink": "postgres", "reason": "spool_full"}, "5")]},
        {"eval_time": "19m", "alertname": "CollectorRecordsDropped", "exp_alerts": []},
        {"eval_time": "11m", "alertname": "CollectorStreamDown", "exp_alerts": []},
        {"eval_time": "12m", "alertname": "CollectorStreamDown", "exp_alerts": [
            alert("CollectorStreamDown", {"exchange": "okx"})]},
        {"eval_time": "6m", "alertname": "CollectorStreamLagging", "exp_alerts": []},
        {"eval_time": "7m", "alertname": "CollectorStreamLagging", "exp_alerts": [
            alert("CollectorStreamLagging", {"exchange": "bybit"}, "30s")]},
        {"eval_time": "4m", "alertname": "CollectorStreamReconnecting", "exp_alerts": []},
        {"eval_time": "6m", "alertname": "CollectorStreamReconnecting", "exp_alerts": [
            alert("CollectorStreamReconnecting", {"exchange": "binance"}, "12")]},
    ]}


def test_the_alerts_fire_as_meant_on_series_captured_from_a_real_daemon_run(captured, tmp_path):
    tests = [{"interval": "1m", "input_series": captured.input_series(RULE_SAMPLES),
              "alert_rule_test": captured_expectations(captured)}, synthetic_test()]
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": tests},
                                   sort_keys=False, width=1000))
    result = run_promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
