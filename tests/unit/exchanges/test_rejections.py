"""A symbol one per-symbol endpoint rejects: counted every time, logged once per episode."""

from __future__ import annotations

from structlog.testing import capture_logs

from collector import metrics
from collector.exchanges.rejections import Rejections


def _count(exchange: str, endpoint: str) -> float:
    return metrics.REGISTRY.get_sample_value(
        "collector_symbols_rejected_total", {"exchange": exchange, "endpoint": endpoint}) or 0.0


def test_an_episode_is_logged_when_it_starts_and_ends_and_counted_every_round():
    reloads = []
    rejections = Rejections("rej-unit", on_new=lambda: reloads.append(1))
    asked = ["BTC", "ETH", "SOL"]
    with capture_logs() as logs:
        for _ in range(3):
            rejections.settle("open_interest", asked, ["ETH"], ["BTC", "SOL"])
        rejections.settle("open_interest", asked, [], asked)
        rejections.settle("open_interest", asked, ["ETH"], ["BTC", "SOL"])
    lines = [(e["event"], e["symbols"], e.get("error_code")) for e in logs]
    assert lines == [("symbols_rejected", ["ETH"], "EXCHANGE_004"), ("symbols_accepted", ["ETH"], None),
                     ("symbols_rejected", ["ETH"], "EXCHANGE_004")]
    assert _count("rej-unit", "open_interest") == 4
    assert len(reloads) == 2  # a markets reload asked once per episode, not every round


def test_episodes_are_per_endpoint_and_a_symbol_no_longer_asked_leaves_without_a_line():
    rejections = Rejections("rej-unit-2", on_new=lambda: None)
    with capture_logs() as logs:
        rejections.settle("open_interest", ["BTC", "ETH"], ["ETH"], ["BTC"])
        rejections.settle("funding_history", ["ETH"], ["ETH"], [])
        rejections.settle("open_interest", ["BTC"], [], ["BTC"])  # the markets dropped ETH
    assert [(e["event"], e["endpoint"]) for e in logs] == [
        ("symbols_rejected", "open_interest"), ("symbols_rejected", "funding_history")]
    assert rejections.rejected("open_interest") == frozenset()
    assert rejections.rejected("funding_history") == {"ETH"}
