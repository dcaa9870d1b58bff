"""What a stream owner reports: its /health fields and its `collector_stream_*` metrics.

Reads of the connections (each session says when its last frame came), how late the
records come (`LagWatch`), and the metrics set at each sweep (`Exporter`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import structlog

from collector import metrics
from collector.errors import ErrorCode
from collector.streams.connection import Connection
from collector.records import Record

log = structlog.get_logger(__name__)

CONNECTING, UP, DOWN = "connecting", "up", "down"
_STATE_VALUES = {DOWN: 0, CONNECTING: 1, UP: 2}


def last_frame_age(connections: Sequence[Connection]) -> float | None:
    """Seconds since any connection received a frame (any frame, pongs included)."""
    latest = None
    for connection in connections:
        at = connection.frame_at()
        if at is not None and (latest is None or at > latest):
            latest = at
    return None if latest is None else max(0.0, time.time() - latest / 1000)


def staleness(connections: Sequence[Connection], now: float) -> dict[str, float]:
    """Per record kind, seconds since the slowest of its connections last moved on."""
    ages: dict[str, float] = {}
    for connection in connections:
        for kind in connection.channel.kinds:
            ages[kind] = max(ages.get(kind, 0.0), now - connection.advanced_at)
    return ages


def connection_status(connections: Sequence[Connection], now: float) -> dict[str, Any]:
    failed = next((c for c in connections if not c.up and c.last_error), None)
    age = last_frame_age(connections)
    return {
        "connections": len(connections),
        "connections_up": sum(c.up for c in connections),
        "last_frame_age_s": None if age is None else round(age, 3),
        "staleness_s": {kind: round(v, 3) for kind, v in staleness(connections, now).items()},
        "reconnects": sum(c.reconnects for c in connections),
        "error_code": str(failed.error_code) if failed and failed.error_code else None,
        "last_error": failed.last_error if failed else None,
    }


class LagWatch:
    """How late a stream's records come: the freshest record of each sweep, its receive time
    minus its exchange time. From `limit` (`stream_stale_after`) on the daemon takes the frames
    more slowly than they come (or the exchange's clock is off): one STREAM_004 line when that
    starts, one when the lag is back under half the limit (no flapping)."""

    def __init__(self, name: str, *, limit: float) -> None:
        self.name = name
        self.limit = limit
        self.seconds: float | None = None
        self.lagging = False

    def note(self, records: Sequence[Record], **context: Any) -> None:
        self.seconds = lag = min(r.received_at - r.ts for r in records) / 1000
        metrics.stream_lag.labels(self.name).set(lag)
        lagging = lag >= (self.limit / 2 if self.lagging else self.limit)
        if lagging == self.lagging:
            return
        self.lagging = lagging
        if lagging:
            log.warning("stream_lagging", exchange=self.name, error_code=ErrorCode.STREAM_004, lag_s=round(lag, 1),
                        stream_stale_after=self.limit, **context)
        else:
            log.info("stream_lag_recovered", exchange=self.name, lag_s=round(lag, 1))

    def status(self) -> dict[str, Any]:
        return {"lag_s": None if self.seconds is None else round(self.seconds, 3), "lagging": self.lagging}


_RATE_WINDOW = 5.0  # seconds over which updates/s is measured


class Exporter:
    """The exchange's `collector_stream_*` gauges and counters, set at each sweep from the owner's
    running totals (updates taken, the connections' reconnects), and its updates/s over
    `_RATE_WINDOW`."""

    def __init__(self, name: str, now: float) -> None:
        self.name = name
        self._rate = (now, 0, 0.0)  # (since, updates then, updates/s)
        self._updates = 0  # the totals already added to the counters
        self._reconnects = 0

    @property
    def updates_per_s(self) -> float:
        return self._rate[2]

    def export(self, state: str, connections: Sequence[Connection], now: float, updates: int) -> None:
        since, count, _ = self._rate
        if now - since >= _RATE_WINDOW:
            self._rate = (now, updates, (updates - count) / (now - since))
        reconnects = sum(c.reconnects for c in connections)
        name = self.name
        metrics.stream_state.labels(name).set(_STATE_VALUES[state])
        up = sum(c.up for c in connections)
        metrics.stream_connections.labels(name, "up").set(up)
        metrics.stream_connections.labels(name, "down").set(len(connections) - up)
        metrics.stream_updates.labels(name).inc(updates - self._updates)
        metrics.stream_reconnects.labels(name).inc(reconnects - self._reconnects)
        self._updates, self._reconnects = updates, reconnects
        age = last_frame_age(connections)
        if age is not None:
            metrics.stream_last_frame_age.labels(name).set(age)
        for kind, seconds in staleness(connections, now).items():
            metrics.staleness.labels(name, kind).set(seconds)
