"""Numbers and times as records hold them, read from what exchanges send (ccxt's structures, the
venues' own JSON): a finite float or None, UTC milliseconds within 2000..2100, funding intervals
in hours. A value no record may hold raises MalformedEntry; the caller skips that entry.

Shared by the ccxt path (exchanges/field_readers.py), the native decoders (venues/) and the
streams, so none of them imports another for it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

from collector.record_checks import MAX_TS, MIN_TS


class MalformedEntry(ValueError):
    """An exchange entry that cannot become a valid record."""


def number(value: Any) -> float | None:
    """A finite float from a ccxt number or an exchange's decimal string; None for absent/empty."""
    kind = type(value)
    if kind is float:
        if value - value == 0.0:  # False for NaN and ±inf
            return value
        raise MalformedEntry(f"not a finite number: {value!r}")
    if value is None:
        return None
    if kind is int:
        return float(value)
    if kind is str:
        if not value:
            return None
        try:
            return number(float(value))
        except ValueError:
            raise MalformedEntry(f"not a number: {value[:40]!r}") from None
    raise MalformedEntry(f"not a number: {type(value).__name__}")


def timestamp(value: Any, default: int | None) -> int | None:
    """UTC ms from a ccxt integer or an exchange's string; `default` when the exchange gives none."""
    if value is None or value == "":
        return default
    if type(value) is not int:
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise MalformedEntry(f"not a millisecond timestamp: {value!r}") from None
    if not MIN_TS <= value <= MAX_TS:
        raise MalformedEntry(f"timestamp {value} is outside 2000..2100")
    return value


def interval_hours(value: Any) -> float | None:
    """ccxt's funding `interval` ("8h", "30m", "1h") as hours; None when absent or unreadable."""
    if not value or type(value) is not str:
        return None
    unit, amount = value[-1], value[:-1]
    scale = {"h": 1.0, "m": 1 / 60, "d": 24.0}.get(unit)
    try:
        return float(amount) * scale if scale is not None else None
    except ValueError:
        return None


# An exchange writes a handful of intervals ("8h", "4h", "1h"), one per symbol per poll.
cached_interval_hours: Final = lru_cache(maxsize=64)(interval_hours)
