"""What the status page and --status say about each exchange and sink, from a /health document."""

from __future__ import annotations

from collector.ops import status_view as view
from collector.ops.health import health_report
from collector.ops.status_page import render_page

NOW = 1_800_000_000.0


def exchange(**fields):
    return {"breaker": "closed", "last_success": NOW - 4, "consecutive_failures": 0, "stale": False,
            "error_code": None, "last_error": None, "records_per_min": 1200.0,
            "kinds": {"ticker": {"staleness_s": 3.0}, "funding_rate": {"staleness_s": 20.0}}, **fields}


def document(exchanges=None, sinks=None, **extra):
    snapshot = {"exchanges": exchanges or {"binance": exchange()},
                "sinks": sinks if sinks is not None else {"sqlite": {"state": "ok", "queue_depth": 3}},
                "intervals": {"ticker": 5.0, "funding_rate": 30.0}, "last_collected": NOW - 1,
                "last_written": NOW - 1, **extra}
    report, _ = health_report(snapshot, now=NOW, uptime_s=3600, process={"rss_mb": 120.4, "cpu_percent": 2.5})
    return report


def test_a_healthy_exchange_row_reads_fresh_with_its_rate_and_no_error():
    [row] = view.exchange_rows(document(), NOW)
    assert row == {"level": "ok", "exchange": "binance", "symbols": "-", "breaker": "closed", "last success": "4s ago",
                   "records/min": "1200", "freshness": "fresh (exchange time moved 3s ago)", "last error": "-"}


def test_never_reached_is_said_apart_from_stale():
    never = exchange(last_success=None, consecutive_failures=3, error_code="EXCHANGE_001",
                     last_error="RequestTimeout: okx GET http://127.0.0.1:1/api/v5/public/instruments", stale=False)
    stale = exchange(stale=True)
    doc = document({"okx": never, "bybit": stale})
    rows = {row["exchange"]: row for row in view.exchange_rows(doc, NOW)}
    assert rows["okx"]["freshness"] == "never reached since start"
    assert rows["okx"]["level"] == "failing"
    assert rows["bybit"]["freshness"].startswith("stale")
    assert rows["bybit"]["level"] == "degraded"
    assert "exchange okx: never reached since start, 3 consecutive failures (EXCHANGE_001)" in doc["problems"]
    assert not any("okx: data is stale" in problem for problem in doc["problems"])


def test_a_recovered_exchange_says_when_and_what_it_was_instead_of_the_old_error():
    [row] = view.exchange_rows(document({"binance": exchange(recovered_at=NOW - 75,
                                                            recovered_error="RequestTimeout: binance GET ...")}), NOW)
    assert row["last error"] == "recovered 1m15s ago (was: RequestTimeout: binance GET ...)"


def test_a_down_sink_is_failing_a_lagging_one_degraded_and_missing_fields_read_as_dashes():
    doc = document(sinks={"postgres": {"state": "down", "lag_s": 125.0, "spooled_records": 18000,
                                       "dropped_records": 0, "last_error": "DB_001: refused"},
                          "rabbitmq": {"state": "lagging"}, "sqlite": {"state": "ok", "last_error": "DB_001: x"}})
    rows = {row["sink"]: row for row in view.sink_rows(doc, NOW)}
    assert (rows["postgres"]["level"], rows["postgres"]["lag"], rows["postgres"]["spooled"]) == ("failing", "2m05s", "18,000")
    assert rows["rabbitmq"]["level"] == "degraded"
    assert rows["rabbitmq"]["queue"] == rows["rabbitmq"]["last flush"] == "-"
    assert rows["sqlite"]["last error"] == "earlier: DB_001: x"


def test_the_journal_and_the_latest_records_are_shown_when_present():
    doc = document(journal={"bytes": 3 * 2**20, "segments": 2, "records": 12345},
                   latest={"okx": {"symbol": "BTC/USDT:USDT", "last": 64123.5, "funding_rate": 0.0001,
                                   "received_at": NOW - 2}})
    assert view.journal_line(doc) == "journal: 12,345 records, 3.0 MiB, 2 segments"
    assert view.latest_rows(doc, NOW) == [{"level": "ok", "exchange": "okx", "symbol": "BTC/USDT:USDT",
                                           "last": "64,123.5", "funding rate": "0.0100%", "age": "2s ago"}]


def test_the_page_escapes_what_exchanges_and_errors_say():
    doc = document({"binance": exchange(last_error="<script>alert(1)</script>", error_code="EXCHANGE_004",
                                        consecutive_failures=1)})
    page = render_page(doc, now=NOW)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_shard_shows_its_index_and_how_many_of_the_listed_symbols_it_owns():
    report = document({"binance": exchange(symbols=170, listed=512)}, shard={"index": 1, "count": 3})
    assert view.header(report)["shard"] == "shard 1/3"
    [row] = view.exchange_rows(report, NOW)
    assert row["symbols"] == "170 of 512"
    assert "shard 1/3" in render_page(report, now=NOW)


def test_an_unsharded_daemon_shows_shard_0_of_1_and_the_symbol_count_alone():
    report = document({"binance": exchange(symbols=512, listed=512)})
    assert view.header(report)["shard"] == "shard 0/1"
    assert view.exchange_rows(report, NOW)[0]["symbols"] == "512"
