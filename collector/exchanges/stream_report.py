"""What a stream owner reports: its /health fields and its `collector_stream_*` metrics.

Pure reads of the connections (and of ccxt pro's clients for the last frame's time).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from collector import metrics
from collector.exchanges.stream_connection import Connection

CONNECTING, UP, DOWN = "connecting", "up", "down"
_STATE_VALUES = {DOWN: 0, CONNECTING: 1, UP: 2}


def last_frame_age(connections: Sequence[Connection]) -> float | None:
    """Seconds since any connection received a frame (any frame, pongs included)."""
    latest = None
    for connection in connections:
        exchange = connection.exchange
        clients = exchange.clients.values() if exchange is not None and exchange.clients else ()
        for client in clients:
            at = getattr(client, "last_message_at", None)
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


def export(name: str, state: str, connections: Sequence[Connection], now: float, *,
           updates: int, reconnects: int) -> None:
    """Set the exchange's stream gauges; add the updates and reconnects since the last call."""
    metrics.stream_state.labels(name).set(_STATE_VALUES[state])
    up = sum(c.up for c in connections)
    metrics.stream_connections.labels(name, "up").set(up)
    metrics.stream_connections.labels(name, "down").set(len(connections) - up)
    metrics.stream_updates.labels(name).inc(updates)
    metrics.stream_reconnects.labels(name).inc(reconnects)
    age = last_frame_age(connections)
    if age is not None:
        metrics.stream_last_frame_age.labels(name).set(age)
    for kind, seconds in staleness(connections, now).items():
        metrics.staleness.labels(name, kind).set(seconds)
