"""Fault rules: matching by path, count, seeded probability; validation of settings."""

import pytest

from exchange_simulator.faults import FaultBook, make_fault


def test_fault_limited_to_path_and_count():
    book = FaultBook(seed=1)
    book.add(make_fault("http_429", path="tickers", count=2))
    assert book.draw("/v5/market/instruments-info?category=linear") == []
    assert [f.kind for f in book.draw("/v5/market/tickers?category=linear")] == ["http_429"]
    assert len(book.draw("/v5/market/tickers?category=linear")) == 1
    assert book.draw("/v5/market/tickers?category=linear") == []
    assert book.fired["http_429"] == 2
    assert book.active() == []


def test_probability_is_seeded_and_repeatable():
    def hits(seed: int) -> list[bool]:
        book = FaultBook(seed=seed)
        book.add(make_fault("http_5xx", probability=0.3))
        return [bool(book.draw("/x")) for _ in range(200)]

    assert hits(5) == hits(5)
    assert 30 < sum(hits(5)) < 90


def test_latency_adds_to_at_most_one_failure():
    book = FaultBook(seed=1)
    book.add(make_fault("latency", latency=0.1))
    book.add(make_fault("http_429"))
    book.add(make_fault("http_5xx"))
    assert [f.kind for f in book.draw("/x")] == ["latency", "http_429"]


def test_clock_skew_is_standing_not_per_request():
    book = FaultBook(seed=1)
    book.add(make_fault("clock_skew", skew_ms=2500))
    assert book.draw("/x") == []
    assert book.skew_ms == 2500


@pytest.mark.parametrize(
    ("kind", "settings"),
    [("nope", {}), ("http_429", {"bogus": 1}), ("http_5xx", {"status": 404}), ("latency", {"probability": 2.0})],
)
def test_bad_fault_settings_are_rejected(kind, settings):
    with pytest.raises(ValueError):
        make_fault(kind, **settings)
