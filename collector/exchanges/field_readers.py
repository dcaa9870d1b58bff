"""What the exchanges' structures hold, and the readers that take a record's fields from one.

ccxt's unified keys per record field come first; then, per ccxt id, the keys of the exchange's
raw row (`info`) that fill a field ccxt leaves empty or that win over ccxt's value where it means
something else than our column. The readers take those fields in one pass per structure, with
ccxt's usual finite float or None checked inline (hot path: every record of every poll), and
raise MalformedEntry for a value no record may hold (a NaN, a string where a number belongs, a
timestamp outside 2000..2100).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final

from collector.exchanges.info_keys import OTHER_TICKER_FIELDS
from collector.record_checks import MAX_TS, MIN_TS

# record field -> ccxt unified key
TICKER_FIELDS: Final = (
    ("last", "last"), ("bid", "bid"), ("ask", "ask"), ("mark_price", "markPrice"),
    ("index_price", "indexPrice"), ("high_24h", "high"), ("low_24h", "low"),
    ("base_volume_24h", "baseVolume"), ("quote_volume_24h", "quoteVolume"),
)
FUNDING_FIELDS: Final = (
    ("funding_rate", "fundingRate"), ("mark_price", "markPrice"), ("index_price", "indexPrice"),
    ("interest_rate", "interestRate"), ("predicted_funding_rate", "nextFundingRate"),
)

# Per ccxt id: record field -> raw `info` key, read when ccxt's unified value is None.
TICKER_INFO_FALLBACK: Final[Mapping[str, Mapping[str, str]]] = {
    "binanceusdm": {"mark_price": "markPrice", "index_price": "indexPrice"},
    # bybit rows carry no time (ccxt leaves `timestamp` None); some recordings add one.
    "bybit": {"open_interest": "openInterest", "ts": "timestamp"},
    "okx": {"mark_price": "markPx", "index_price": "idxPx"},
    **{exchange_id: dict(fields) for exchange_id, fields in OTHER_TICKER_FIELDS.items()},
}
# Per ccxt id: record field -> raw `info` key that wins over ccxt's unified value.
TICKER_INFO_OVERRIDE: Final[Mapping[str, Mapping[str, str]]] = {
    # ccxt's okx swap baseVolume is `vol24h`, counted in contracts; volCcy24h is in base currency.
    "okx": {"base_volume_24h": "volCcy24h"},
}
FUNDING_INFO_FALLBACK: Final[Mapping[str, Mapping[str, str]]] = {
    "binanceusdm": {"interest_rate": "interestRate"},
    "okx": {"ts": "ts"},  # ccxt returns okx funding `timestamp` None
}
FUNDING_INFO_OVERRIDE: Final[Mapping[str, Mapping[str, str]]] = {
    "okx": {"interest_rate": "interestRate"},  # ccxt reports a constant 0 for okx
}
# Per ccxt id: open interest in base currency from the raw row, where ccxt's
# `openInterestAmount` counts contracts (okx `oi`; `oiCcy` is in the base currency). A row
# without it gives contracts × the market's contract size (normalize.Normalizer), never contracts.
OPEN_INTEREST_OVERRIDE: Final[Mapping[str, str]] = {"okx": "oiCcy"}
# Funding interval an exchange documents for every symbol it does not list otherwise: binance's
# fundingInfo lists only the symbols whose interval was adjusted from the default 8 h.
DEFAULT_FUNDING_INTERVAL_HOURS: Final[Mapping[str, float]] = {"binanceusdm": 8.0}
# Per ccxt id: the market's info key that gives the funding interval in minutes, read instead of
# ccxt's `interval` text, which keeps whole hours only (bybit's 30-minute interval is "0h").
MARKET_INTERVAL_MINUTES: Final[Mapping[str, str]] = {"bybit": "fundingInterval"}


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


@dataclass(frozen=True, slots=True)
class Table:
    """Record fields and the ccxt keys they are read from, all in one call (`get`)."""

    names: tuple[str, ...]
    keys: tuple[str, ...]
    get: Callable[[Mapping], tuple]


def make_table(fields: tuple[tuple[str, str], ...]) -> Table:
    names = tuple(field for field, _ in fields)
    keys = tuple(key for _, key in fields)
    # A single key is asked twice so that the getter still returns a tuple (zip stops at `names`).
    return Table(names, keys, itemgetter(*keys) if len(keys) > 1 else itemgetter(*keys, *keys))


TICKER_TABLE: Final = make_table(TICKER_FIELDS)
FUNDING_TABLE: Final = make_table(FUNDING_FIELDS)


def numbers(entry: Mapping, table: Table) -> dict[str, float | None]:
    """`number()` of each field, with ccxt's usual finite float or None checked inline (hot path)."""
    if type(entry) is dict:  # a plain dict: `entry[key]` is `entry.get(key)` unless missing
        try:
            raw = table.get(entry)
        except KeyError:
            raw = tuple(map(entry.get, table.keys))
    else:
        raw = tuple(map(entry.get, table.keys))
    for value in raw:
        if value is not None and (type(value) is not float or value - value != 0.0):
            return dict(zip(table.names, map(number, raw)))
    return dict(zip(table.names, raw))


@dataclass(frozen=True, slots=True)
class InfoFields:
    """What a raw `info` row adds to a ccxt structure: fields read when ccxt's is None, the row's
    time when ccxt gives none (`ts`), and fields read from the row whatever ccxt says."""

    fallback: tuple[tuple[str, str], ...]
    ts_key: str | None
    override: tuple[tuple[str, str], ...]


def info_fields(fallback: Mapping[str, str], override: Mapping[str, str]) -> InfoFields:
    return InfoFields(tuple((f, k) for f, k in fallback.items() if f != "ts"), fallback.get("ts"),
                      tuple(override.items()))


def from_info(values: dict, info: Mapping, fields: InfoFields, ts: Any) -> Any:
    """Fill `values` from the raw row; returns the timestamp (ccxt's, else the row's)."""
    if ts is None and fields.ts_key is not None:
        ts = info.get(fields.ts_key)
    for field, key in fields.fallback:
        if values[field] is None:
            value = info.get(key)
            if value is not None and (type(value) is not float or value - value != 0.0):
                value = number(value)
            values[field] = value
    for field, key in fields.override:
        values[field] = number(info.get(key))
    return ts


def ticker_subset(table: Table, fallback: tuple[tuple[str, str], ...], entry: Mapping) -> tuple[Any, dict]:
    """A later part's ticker: only the fields it may fill, the raw row's where ccxt's is None."""
    values = numbers(entry, table)
    info = entry.get("info")
    if info:
        for field, key in fallback:
            if values[field] is None:
                values[field] = number(info.get(key))
    return entry.get("timestamp"), values


def interval_only(entry: Mapping) -> tuple[Any, dict]:
    """A later part that only gives funding intervals (ccxt's `fetch_funding_intervals`)."""
    interval = entry.get("interval")
    return entry.get("timestamp"), {
        "funding_interval_hours": cached_interval_hours(interval) if type(interval) is str else None}
