"""metrics.child: a labelled child looked up once is the very child `labels` gives, so what it
counts is in the series /metrics shows."""

from __future__ import annotations

from collector import metrics
from collector.metrics import REGISTRY


def test_a_child_looked_up_once_is_the_labelled_series_itself():
    labels = {"exchange": "unit-child", "endpoint": "tickers", "outcome": "ok"}
    child = metrics.child(metrics.requests, *labels.values())
    assert child is metrics.requests.labels(*labels.values())
    child.inc()
    metrics.child(metrics.requests, *labels.values()).inc()
    assert metrics.child(metrics.requests, "unit-child", "tickers", "error") is not child
    assert REGISTRY.get_sample_value("collector_exchange_requests_total", labels) == 2
