"""`futures_price_collector_v5.py --status [--url URL]`: the status page as a one-screen text table.

Reads a running daemon's /health and prints the same facts as `GET /` (ops/status_view.py). Exit 0
ok, 1 degraded, 2 failing or unreachable — usable from a shell, cron or a monitoring check.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
import urllib.error
import urllib.request
from typing import Any

from collector.ops import status_view as view

EXIT_CODES = {"ok": 0, "degraded": 1, "failing": 2}
EXIT_UNREACHABLE = 2
TIMEOUT_S = 5.0


def fetch(url: str, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """The /health document at `url` (a 503 carries one too); OSError or ValueError when none."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:  # 503: failing, and the body says why
        with err:
            return json.loads(err.read())


def status(url: str, *, width: int | None = None) -> tuple[str, int]:
    """The text to print and the exit code."""
    try:
        document = fetch(url)
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        return f"crypto-collector at {url}: UNREACHABLE ({reason})", EXIT_UNREACHABLE
    text = render(document, url=url, now=time.time(), width=width or shutil.get_terminal_size((160, 40)).columns)
    return text, EXIT_CODES.get(document.get("status"), EXIT_UNREACHABLE)


def render(document: dict[str, Any], *, url: str, now: float, width: int = 120) -> str:
    head = view.header(document)
    lines = [f"crypto-collector at {url}: {head['status'].upper()}  "
             f"({head['shard']}, up {head['uptime']}, RSS {head['rss']}, CPU {head['cpu']})"]
    if head["problems"]:
        lines += [("problems: " if i == 0 else "  ") + line
                  for i, line in enumerate(_wrap(head["problems"], width - 10))]
    lines += ["", *_table(view.EXCHANGE_COLUMNS, view.exchange_rows(document, now), width)]
    lines += ["", *_table(view.SINK_COLUMNS, view.sink_rows(document, now), width)]
    journal = view.journal_line(document)
    if journal:
        lines.append(journal)
    latest = view.latest_rows(document, now)
    if latest:
        lines += ["", *_table(view.LATEST_COLUMNS, latest, width)]
    return "\n".join(lines)


def _table(columns: tuple[str, ...], rows: list[view.Row], width: int) -> list[str]:
    """Aligned columns; a row not ok is marked `!` (failing) or `~` (degraded) in front. The last
    column (an error text) wraps at word boundaries under itself instead of being cut."""
    widths = [len(column) for column in columns[:-1]]
    widths = [max(w, *(len(row[c]) for row in rows)) for c, w in zip(columns, widths)]
    marks = {view.OK: " ", view.DEGRADED: "~", view.FAILING: "!"}
    indent = 2 + sum(w + 2 for w in widths)
    beside = width - indent >= 30  # else the error goes on the lines below its row
    lines = ["  " + "  ".join(c.upper().ljust(w) for c, w in zip(columns, [*widths, 0])).rstrip()]
    for row in rows:
        cells = "  ".join(row[c].ljust(w) for c, w in zip(columns, widths))
        last = _wrap(row[columns[-1]], width - indent if beside else width - 4)
        if not beside and last != ["-"]:
            last = ["", *last]
        lines.append(f"{marks.get(row['level'], '?')} {cells}  {last[0]}".rstrip())
        lines += [" " * (indent if beside else 4) + more for more in last[1:]]
    return lines


def _wrap(text: str, room: int) -> list[str]:
    """Lines of at most `room` characters, broken between words only (a long URL stays whole)."""
    return textwrap.wrap(text, room, break_long_words=False, break_on_hyphens=False) or [""]
