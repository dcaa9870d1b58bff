"""Wiring: one sink per enabled section (nothing connected yet), and the status the daemon
reports to systemd and /health."""

from __future__ import annotations

from types import SimpleNamespace

from collector.app import Daemon
from collector.sinks.enabled import build_sinks
from collector.config import AppConfig
from collector.pipeline import Pipeline
from collector.records import Ticker

T0 = 1_700_000_000_000


def configured(**sections) -> AppConfig:
    return AppConfig.model_validate({"exchange_configs": {"binance": {}}, **sections})


def test_only_the_enabled_sinks_are_built_in_a_fixed_order():
    assert [s.name for s in build_sinks(configured())] == ["sqlite"]
    every = configured(rabbitmq={"enabled": True}, clickhouse={"enabled": True},
                       postgres={"enabled": True}, sqlite={"enabled": True})
    assert [s.name for s in build_sinks(every)] == ["rabbitmq", "clickhouse", "postgres", "sqlite"]
    assert [s.name for s in build_sinks(configured(postgres={"enabled": True}, sqlite={"enabled": False}))] == [
        "postgres"]


def test_building_a_sink_connects_to_nothing(tmp_path):
    config = configured(rabbitmq={"enabled": True, "port": 1}, postgres={"enabled": True, "port": 1},
                        sqlite={"enabled": True, "path": str(tmp_path / "db" / "c.db")})
    assert len(build_sinks(config)) == 3  # unreachable ports: no error until opened
    assert not (tmp_path / "db").exists()


def writer(name: str, state: str, last_flush: float | None):
    status = {"state": state, "queue_depth": 3, "spooled_records": 0, "last_flush": last_flush}
    return SimpleNamespace(sink=SimpleNamespace(name=name), name=name, status=lambda: status)


def source(name: str):
    return SimpleNamespace(name=name, symbols=frozenset({"BTC/USDT:USDT"}),
                           status=lambda: {"breaker": "closed", "consecutive_failures": 0})


class AcceptingJournal:
    """Takes every append at once, as a journal on a healthy disk does."""

    async def append(self, records) -> None:
        self.appended = list(records)


def running_daemon() -> Daemon:
    daemon = Daemon(configured(ticker_interval=10, funding_rate_interval=60), environ={})
    daemon.writers = [writer("postgres", "down", 50.0), writer("sqlite", "ok", 70.0)]
    daemon.sources = [source("binance"), source("okx")]
    daemon.pipeline = Pipeline(AcceptingJournal(), daemon.writers)
    return daemon


def test_the_status_line_counts_exchanges_collected_records_and_each_sinks_state():
    daemon = running_daemon()
    daemon.pipeline.accepted = 1234
    assert daemon.status_line() == "2 exchanges, 1234 records collected; sinks: postgres down, sqlite ok"


def test_before_start_up_the_status_line_says_nothing_was_collected():
    daemon = Daemon(configured(), environ={})
    assert daemon.status_line() == "0 exchanges, 0 records collected; sinks: "


async def test_the_snapshot_gives_health_every_part_and_the_newest_write():
    daemon = running_daemon()
    await daemon.pipeline.publish([Ticker("binance", "BTC/USDT:USDT", T0, T0, last=1.0)])
    snapshot = daemon.snapshot()
    assert set(snapshot["exchanges"]) == {"binance", "okx"}
    assert snapshot["sinks"]["postgres"]["state"] == "down"
    # open interest (60 s) and settlements (at funding cadence) are on by default
    assert snapshot["intervals"] == {"ticker": 10.0, "funding_rate": 60.0, "open_interest": 60.0,
                                     "funding_settlement": 60.0}
    assert snapshot["last_written"] == 70.0  # the newest flush of any sink
    assert snapshot["last_collected"] == daemon.pipeline.last_publish is not None


def test_a_snapshot_with_no_flush_yet_has_no_last_written():
    daemon = running_daemon()
    daemon.writers = [writer("sqlite", "ok", None)]
    assert daemon.snapshot()["last_written"] is None
    assert daemon.snapshot()["last_collected"] is None
