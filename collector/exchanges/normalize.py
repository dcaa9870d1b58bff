"""ccxt ticker / funding-rate structures → Ticker / FundingRate records. Pure functions, hot path.

ccxt's unified structure is read first; where it lacks a field the exchange's raw `info` row
carries, or where ccxt's unified value means something else than our column, the exchange's own
field is read instead (the tables below). An entry that cannot become a valid record (no funding
rate, a NaN, a string where a number belongs, a timestamp outside 2000..2100) is skipped and
counted; the rest of the response is kept.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from collector.records import _MAX_TS, _MIN_TS, FundingRate, Ticker

# record field -> ccxt unified key
_TICKER_FIELDS: Final = (
    ("last", "last"), ("bid", "bid"), ("ask", "ask"), ("mark_price", "markPrice"),
    ("index_price", "indexPrice"), ("high_24h", "high"), ("low_24h", "low"),
    ("base_volume_24h", "baseVolume"), ("quote_volume_24h", "quoteVolume"),
)
_FUNDING_FIELDS: Final = (
    ("mark_price", "markPrice"), ("index_price", "indexPrice"), ("interest_rate", "interestRate"),
)

# Per ccxt id: record field -> raw `info` key, read when ccxt's unified value is None.
TICKER_INFO_FALLBACK: Final[Mapping[str, Mapping[str, str]]] = {
    "binanceusdm": {"mark_price": "markPrice", "index_price": "indexPrice"},
    # bybit rows carry no time (ccxt leaves `timestamp` None); some recordings add one.
    "bybit": {"open_interest": "openInterest", "ts": "timestamp"},
    "okx": {"mark_price": "markPx", "index_price": "idxPx"},
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


class MalformedEntry(ValueError):
    """An exchange entry that cannot become a valid record."""


@dataclass(frozen=True, slots=True)
class Normalized:
    records: list[Ticker] | list[FundingRate]
    malformed: int


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
    if not _MIN_TS <= value <= _MAX_TS:
        raise MalformedEntry(f"timestamp {value} is outside 2000..2100")
    return value


class Normalizer:
    """Builds records of one exchange; knows which raw fields fill the gaps of its ccxt output."""

    __slots__ = ("exchange", "_ticker_fallback", "_ticker_override", "_funding_fallback",
                 "_funding_override")

    def __init__(self, exchange: str, ccxt_id: str) -> None:
        self.exchange = exchange
        self._ticker_fallback = dict(TICKER_INFO_FALLBACK.get(ccxt_id, {}))
        self._ticker_override = dict(TICKER_INFO_OVERRIDE.get(ccxt_id, {}))
        self._funding_fallback = dict(FUNDING_INFO_FALLBACK.get(ccxt_id, {}))
        self._funding_override = dict(FUNDING_INFO_OVERRIDE.get(ccxt_id, {}))

    def tickers(self, entries: Iterable[Mapping], wanted: Container[str], received_at: int) -> Normalized:
        return self._batch(self.ticker, entries, wanted, received_at)

    def funding_rates(self, entries: Iterable[Mapping], wanted: Container[str], received_at: int) -> Normalized:
        return self._batch(self.funding_rate, entries, wanted, received_at)

    def _batch(self, build, entries, wanted, received_at) -> Normalized:
        records = []
        malformed = 0
        for entry in entries:
            try:
                if entry["symbol"] not in wanted:
                    continue
                records.append(build(entry, received_at))
            except (MalformedEntry, KeyError, TypeError, AttributeError):
                malformed += 1
        return Normalized(records, malformed)

    def ticker(self, entry: Mapping, received_at: int) -> Ticker:
        """One ccxt ticker → Ticker; raises MalformedEntry (or KeyError/TypeError) when unusable."""
        values = _numbers(entry, _TICKER_FIELDS)
        values["open_interest"] = None
        info = entry.get("info")
        ts = entry.get("timestamp")
        if info:
            ts = self._from_info(values, info, self._ticker_fallback, self._ticker_override, ts)
        return Ticker(self.exchange, _symbol(entry), timestamp(ts, received_at), received_at, **values)

    def funding_rate(self, entry: Mapping, received_at: int) -> FundingRate:
        """One ccxt funding-rate structure → FundingRate; the rate itself is required."""
        rate = number(entry.get("fundingRate"))
        if rate is None:
            raise MalformedEntry("funding rate missing")
        values = _numbers(entry, _FUNDING_FIELDS)
        info = entry.get("info")
        ts = entry.get("timestamp")
        if info:
            ts = self._from_info(values, info, self._funding_fallback, self._funding_override, ts)
        next_time = entry.get("fundingTimestamp") or entry.get("nextFundingTimestamp")
        return FundingRate(
            self.exchange, _symbol(entry), timestamp(ts, received_at), received_at, rate,
            timestamp(next_time, None), **values,
        )

    @staticmethod
    def _from_info(values: dict, info: Mapping, fallback: Mapping[str, str],
                   override: Mapping[str, str], ts: Any) -> Any:
        """Fill `values` from the raw row; returns the timestamp (ccxt's, else the row's)."""
        for field, key in fallback.items():
            if field == "ts":
                if ts is None:
                    ts = info.get(key)
            elif values[field] is None:
                values[field] = number(info.get(key))
        for field, key in override.items():
            values[field] = number(info.get(key))
        return ts


def _numbers(entry: Mapping, fields: tuple[tuple[str, str], ...]) -> dict[str, float | None]:
    """`number()` of each field, with ccxt's usual finite float or None checked inline (hot path)."""
    values = {}
    get = entry.get
    for field, key in fields:
        value = get(key)
        if value is not None and (type(value) is not float or value - value != 0.0):
            value = number(value)
        values[field] = value
    return values


def _symbol(entry: Mapping) -> str:
    symbol = entry["symbol"]
    if type(symbol) is not str or not symbol:
        raise MalformedEntry(f"symbol missing: {symbol!r}")
    return symbol
