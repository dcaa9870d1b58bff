"""The HTML status page at `GET /` on the health port: plain, dense tables, no build step.

Server-rendered from the /health document (ops/status_view.py decides what each cell says); a few
lines of script fetch the page again every REFRESH_S seconds and swap the body in, so it stays
live without flicker, and say "unreachable" when the daemon stops answering.
"""

from __future__ import annotations

from html import escape
from typing import Any

from collector.ops import status_view as view

REFRESH_S = 5

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}
h1{font-size:1.3em;margin:0 0 .3em} h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;width:100%} th,td{padding:.25em .6em;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f2f2f2;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{background:#e6f4ea} .degraded{background:#fff4ce} .failing{background:#f8d7da;color:#842029}
.badge{display:inline-block;padding:.1em .6em;border-radius:.3em;font-weight:700;text-transform:uppercase}
.meta{color:#555} .problems{margin:.4em 0} footer{margin-top:2em;color:#777;font-size:.9em}
"""

_SCRIPT = f"""
setInterval(async () => {{
  try {{
    const page = await fetch(location.href, {{cache: "no-store"}});
    document.body.replaceWith(new DOMParser().parseFromString(await page.text(), "text/html").body);
  }} catch (err) {{ document.getElementById("status").textContent = "unreachable"; document.getElementById("status").className = "badge failing"; }}
}}, {REFRESH_S * 1000});
"""

_NUMERIC = {"records/min", "queue", "spooled", "drops", "last", "funding rate", "lag"}


def render_page(document: dict[str, Any], *, now: float) -> str:
    head = view.header(document)
    status = escape(head["status"])
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>crypto-collector: {status}</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head>",
        f'<body data-status="{status}"><h1>crypto-collector <span id="status" class="badge {status}">{status}</span></h1>',
        f'<div class="meta">{escape(head["shard"])} · up {escape(head["uptime"])} · RSS {escape(head["rss"])} · CPU {escape(head["cpu"])}'
        f" · refreshes every {REFRESH_S}s</div>",
    ]
    if head["problems"]:
        parts.append(f'<div class="problems">{escape(head["problems"])}</div>')
    parts += _table("Exchanges", "exchange", view.EXCHANGE_COLUMNS, view.exchange_rows(document, now))
    parts += _table("Sinks", "sink", view.SINK_COLUMNS, view.sink_rows(document, now))
    journal = view.journal_line(document)
    if journal:
        parts.append(f'<div class="meta" id="journal">{escape(journal)}</div>')
    parts += _table("Latest record per exchange", "latest", view.LATEST_COLUMNS, view.latest_rows(document, now))
    parts.append('<footer><a href="/health">/health</a> (JSON; 503 when failing) · '
                 '<a href="/metrics">/metrics</a> (Prometheus)</footer></body></html>')
    return "\n".join(parts)


def _table(title: str, key: str, columns: tuple[str, ...], rows: list[view.Row]) -> list[str]:
    lines = [f"<h2>{escape(title)}</h2>", f'<table id="{key}s"><thead><tr>']
    lines.append("".join(f"<th>{escape(column)}</th>" for column in columns) + "</tr></thead><tbody>")
    if not rows:
        lines.append(f'<tr><td colspan="{len(columns)}">none yet</td></tr>')
    for row in rows:
        cells = "".join(
            f'<td class="num">{escape(row[c])}</td>' if c in _NUMERIC else f"<td>{escape(row[c])}</td>"
            for c in columns)
        lines.append(f'<tr class="{row["level"]}" data-{key}="{escape(row[columns[0]])}">{cells}</tr>')
    lines.append("</tbody></table>")
    return lines
