"""How late a stream's records come: measured on the freshest record of each sweep, one line when
the daemon falls `stream_stale_after` behind, one when it has caught up again."""

from __future__ import annotations

from structlog.testing import capture_logs

from collector.streams.report import LagWatch
from collector.metrics import REGISTRY
from collector.records import Ticker

T0 = 1_790_000_000_000


def sweep(*lags_s: float) -> list[Ticker]:
    """One sweep's records, each received `lag` seconds after its exchange time."""
    return [Ticker("okx", f"S{i}/USDT:USDT", T0, T0 + int(lag * 1000)) for i, lag in enumerate(lags_s)]


def test_the_freshest_record_of_a_sweep_is_the_lag_and_one_line_marks_each_end_of_an_episode():
    watch = LagWatch("okx", limit=10.0)
    lines = []
    with capture_logs() as logs:
        for records in (sweep(0.4, 30.0), sweep(9.9), sweep(12.0, 15.0), sweep(11.0), sweep(5.0), sweep(4.9),
                        sweep(8.0)):
            watch.note(records, stream_interval=0.0, symbols=500)
            lines.append([(e["event"], e["log_level"]) for e in logs])
            logs.clear()
    # a stale record beside a fresh one is not lag; 9.9 s is under the limit; 12 s is lagging; it
    # stays lagging down to half the limit (no flapping); it has caught up under 5 s; 8 s is not
    # a new episode
    assert lines == [[], [], [("stream_lagging", "warning")], [], [], [("stream_lag_recovered", "info")], []]
    assert watch.status() == {"lag_s": 8.0, "lagging": False}
    assert REGISTRY.get_sample_value("collector_stream_lag_seconds", {"exchange": "okx"}) == 8.0


def test_the_lagging_line_names_its_code_the_lag_and_what_to_change():
    watch = LagWatch("binance", limit=10.0)
    with capture_logs() as logs:
        watch.note(sweep(42.0), stream_interval=0.0, symbols=500)
    (line,) = logs
    assert line["error_code"] == "STREAM_004"
    assert (line["lag_s"], line["stream_stale_after"], line["stream_interval"], line["symbols"]) == (42.0, 10.0, 0.0, 500)
    assert watch.status() == {"lag_s": 42.0, "lagging": True}
