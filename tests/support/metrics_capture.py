"""Series from a real daemon's /metrics, written as promtool `input_series`.

A `Capture` holds the /metrics texts of successive scrapes (None where the scrape failed, as
Prometheus records `up 0`); `input_series` maps scrape i to minute i, so rules with `for:` and
`[10m]` windows can be tested on what the daemon really exported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

JOB, INSTANCE = "crypto-collector", "daemon:8080"


@dataclass
class Capture:
    scrapes: list[str | None] = field(default_factory=list)

    def values(self, sample_name: str) -> dict[tuple[tuple[str, str], ...], list[float | None]]:
        """Per label set, the value of `sample_name` in each scrape (None: absent)."""
        found: dict[tuple[tuple[str, str], ...], list[float | None]] = {}
        for i, text in enumerate(self.scrapes):
            for sample in _samples(text):
                if sample.name == sample_name:
                    key = tuple(sorted(sample.labels.items()))
                    found.setdefault(key, [None] * len(self.scrapes))[i] = sample.value
        return found

    def input_series(self, sample_names: Iterable[str]) -> list[dict[str, str]]:
        series = [{"series": _selector("up", ()), "values": " ".join(
            "0" if text is None else "1" for text in self.scrapes)}]
        for name in sorted(sample_names):
            for labels, values in sorted(self.values(name).items()):
                series.append({"series": _selector(name, labels), "values": _values(values)})
        return series


def family_names(text: str) -> set[str]:
    """Every sample name a /metrics text can carry, from its TYPE lines (children or not)."""
    names = set()
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        names.update(name + suffix for suffix in suffixes.get(kind, ()))
    return names


def _samples(text: str | None):
    if text is None:
        return []
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _selector(name: str, labels: Iterable[tuple[str, str]]) -> str:
    pairs = [("instance", INSTANCE), ("job", JOB), *labels]
    body = ",".join(f'{key}="{_escape(value)}"' for key, value in pairs)
    return f"{name}{{{body}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _values(values: list[float | None]) -> str:
    """promtool notation: `_` before a series appears, `stale` after it went away."""
    seen = False
    out = []
    for value in values:
        if value is None:
            out.append("stale" if seen else "_")
            continue
        seen = True
        out.append("NaN" if math.isnan(value) else repr(float(value)))
    return " ".join(out)
