"""The facts of the status page and of `--status`, as rows of text: one function per table.

Pure functions of the /health document, shared by the HTML page (ops/status_page.py) and the text
table (ops/status_text.py) so both always say the same. Every field may be absent or null (an older
daemon, a sink that never flushed): the cell then reads "-". Each row carries a `level`:
ok, degraded or failing (the page colours it; failing is red).
"""

from __future__ import annotations

from typing import Any

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
NONE = "-"
_SINK_LEVELS = {"ok": OK, "down": FAILING}

Row = dict[str, str]
EXCHANGE_COLUMNS = ("exchange", "symbols", "breaker", "last success", "records/min", "freshness", "last error")
SINK_COLUMNS = ("sink", "state", "lag", "queue", "spooled", "drops", "last flush", "last error")
LATEST_COLUMNS = ("exchange", "symbol", "last", "funding rate", "age")


def age(then: float | None, now: float) -> str:
    """`4s ago`, `3m12s ago`, `2h05m ago`; "-" when it never happened."""
    if then is None:
        return NONE
    return f"{duration(max(0.0, now - then))} ago"


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def header(document: dict[str, Any]) -> Row:
    process = document.get("process") or {}
    return {
        "status": str(document.get("status", "unknown")),
        "uptime": duration(document["uptime_s"]) if document.get("uptime_s") is not None else NONE,
        "rss": f"{process['rss_mb']:.0f} MB" if process.get("rss_mb") is not None else NONE,
        "cpu": f"{process['cpu_percent']:.0f} %" if process.get("cpu_percent") is not None else NONE,
        "problems": "; ".join(document.get("problems") or []),
        "shard": shard_label(document),
    }


def shard_label(document: dict[str, Any]) -> str:
    """`shard 1/3`; "-" for a daemon that predates shards."""
    shard = document.get("shard") or {}
    return f"shard {shard['index']}/{shard['count']}" if "index" in shard else NONE


def owned(exchange: dict[str, Any]) -> str:
    """Symbols this shard collects, of those listed: `512 of 1500` (the count alone unsharded)."""
    symbols, listed = exchange.get("symbols"), exchange.get("listed")
    if symbols is None:
        return NONE
    return f"{symbols} of {listed}" if listed is not None and listed != symbols else str(symbols)


def exchange_rows(document: dict[str, Any], now: float) -> list[Row]:
    rows = []
    for name, exchange in sorted((document.get("exchanges") or {}).items()):
        never = exchange.get("last_success") is None and (exchange.get("consecutive_failures") or 0) > 0
        if exchange.get("breaker") == "open" or never:
            level = FAILING
        else:
            level = OK if exchange.get("healthy", True) else DEGRADED
        rows.append({
            "level": level, "exchange": name, "symbols": owned(exchange), "breaker": str(exchange.get("breaker") or NONE),
            "last success": age(exchange.get("last_success"), now),
            "records/min": _number(exchange.get("records_per_min"), "{:.0f}"),
            "freshness": _freshness(exchange, never),
            "last error": _exchange_error(exchange, now),
        })
    return rows


def _freshness(exchange: dict[str, Any], never: bool) -> str:
    if never:
        return "never reached since start"
    if exchange.get("last_success") is None:
        return "waiting for the first poll"
    # The freshest kind: funding rates move only once per funding interval.
    staleness = min((kind.get("staleness_s") or 0.0 for kind in (exchange.get("kinds") or {}).values()),
                    default=None)
    since = f" (exchange time moved {duration(staleness)} ago)" if staleness is not None else ""
    return f"stale{since}" if exchange.get("stale") else f"fresh{since}"


def _exchange_error(exchange: dict[str, Any], now: float) -> str:
    if exchange.get("last_error"):
        code = exchange.get("error_code")
        return f"{code}: {exchange['last_error']}" if code else str(exchange["last_error"])
    if exchange.get("recovered_at") is not None:
        was = f" (was: {exchange['recovered_error']})" if exchange.get("recovered_error") else ""
        return f"recovered {age(exchange['recovered_at'], now)}{was}"
    return NONE


def sink_rows(document: dict[str, Any], now: float) -> list[Row]:
    rows = []
    for name, sink in sorted((document.get("sinks") or {}).items()):
        state = str(sink.get("state") or NONE)
        error = sink.get("last_error")
        if error and state == "ok":
            error = f"earlier: {error}"  # the sink writes again; the text is history
        rows.append({
            "level": _SINK_LEVELS.get(state, DEGRADED), "sink": name, "state": state,
            "lag": duration(sink["lag_s"]) if sink.get("lag_s") is not None else NONE,
            "queue": _number(sink.get("queue_depth"), "{:,}"),
            "spooled": _number(sink.get("spooled_records"), "{:,}"),
            "drops": _number(sink.get("dropped_records"), "{:,}"),
            "last flush": age(sink.get("last_flush"), now),
            "last error": str(error) if error else NONE,
        })
    return rows


def journal_line(document: dict[str, Any]) -> str | None:
    journal = document.get("journal")
    if not journal:
        return None
    parts = [f"{_number(journal.get('records'), '{:,}')} records",
             f"{_bytes(journal.get('bytes'))}", f"{_number(journal.get('segments'), '{:,}')} segments"]
    return "journal: " + ", ".join(parts)


def latest_rows(document: dict[str, Any], now: float) -> list[Row]:
    rows = []
    for name, latest in sorted((document.get("latest") or {}).items()):
        rows.append({
            "level": OK, "exchange": name, "symbol": str(latest.get("symbol") or NONE),
            "last": _number(latest.get("last"), "{:,.8g}"),
            "funding rate": _number(latest.get("funding_rate"), "{:.4%}"),
            "age": age(latest.get("received_at"), now),
        })
    return rows


def _number(value: Any, spec: str) -> str:
    if value is None:
        return NONE
    try:
        return spec.format(value)
    except (TypeError, ValueError):
        return str(value)


def _bytes(value: Any) -> str:
    if value is None:
        return f"{NONE} bytes"
    size = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
