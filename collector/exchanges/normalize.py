"""ccxt structures → Ticker / FundingRate / FundingSettlement records. Pure functions, hot path.

ccxt's unified structure is read first; where it lacks a field the exchange's raw `info` row
carries, or where ccxt's unified value means something else than our column, the exchange's own
field is read instead (the tables below). An entry that cannot become a valid record (no funding
rate, a NaN, a string where a number belongs, a timestamp outside 2000..2100) is skipped and
counted; the rest of the response is kept.

A poll may merge several responses per symbol (`Normalizer.merge`, the parts of plans.py): the
first gives the record, later ones fill the fields they carry that are still empty. The record's
`ts` is the snapshot time of one response: the part the plan marks as stamping the record
(binance premiumIndex `time`), else the first part's (its row's time or its envelope's), else the
newest any other part gives, the receive time only when none gives one. One response's time, not
the newest of all: responses of one poll can straddle an exchange update, and mixing their times
would give the next poll's snapshot the identity of this one.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from collector.exchanges.rawfields import OTHER_TICKER_FIELDS
from collector.records import _MAX_TS, _MIN_TS, FundingRate, FundingSettlement, Ticker

# record field -> ccxt unified key
_TICKER_FIELDS: Final = (
    ("last", "last"), ("bid", "bid"), ("ask", "ask"), ("mark_price", "markPrice"),
    ("index_price", "indexPrice"), ("high_24h", "high"), ("low_24h", "low"),
    ("base_volume_24h", "baseVolume"), ("quote_volume_24h", "quoteVolume"),
)
_FUNDING_FIELDS: Final = (
    ("mark_price", "markPrice"), ("index_price", "indexPrice"), ("interest_rate", "interestRate"),
    ("predicted_funding_rate", "nextFundingRate"),
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
# `openInterestAmount` counts contracts (okx `oi`; `oiCcy` is in the base currency).
OPEN_INTEREST_OVERRIDE: Final[Mapping[str, str]] = {"okx": "oiCcy"}
# Funding interval an exchange documents for every symbol it does not list otherwise: binance's
# fundingInfo lists only the symbols whose interval was adjusted from the default 8 h.
DEFAULT_FUNDING_INTERVAL_HOURS: Final[Mapping[str, float]] = {"binanceusdm": 8.0}


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
                 "_funding_override", "_oi_key", "_default_interval")

    def __init__(self, exchange: str, ccxt_id: str) -> None:
        self.exchange = exchange
        self._ticker_fallback = dict(TICKER_INFO_FALLBACK.get(ccxt_id, {}))
        self._ticker_override = dict(TICKER_INFO_OVERRIDE.get(ccxt_id, {}))
        self._funding_fallback = dict(FUNDING_INFO_FALLBACK.get(ccxt_id, {}))
        self._funding_override = dict(FUNDING_INFO_OVERRIDE.get(ccxt_id, {}))
        self._oi_key = OPEN_INTEREST_OVERRIDE.get(ccxt_id)
        self._default_interval = DEFAULT_FUNDING_INTERVAL_HOURS.get(ccxt_id)

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
        ts, values = self.ticker_values(entry)
        return Ticker(self.exchange, _symbol(entry), timestamp(ts, received_at), received_at, **values)

    def funding_rate(self, entry: Mapping, received_at: int) -> FundingRate:
        """One ccxt funding-rate structure → FundingRate; the rate itself is required."""
        ts, values = self.funding_values(entry)
        if values["funding_rate"] is None:
            raise MalformedEntry("funding rate missing")
        return FundingRate(self.exchange, _symbol(entry), timestamp(ts, received_at), received_at, **values)

    def settlement(self, entry: Mapping, received_at: int) -> FundingSettlement:
        """One ccxt funding-rate-history entry → FundingSettlement (`ts` = settlement time)."""
        rate = number(entry.get("fundingRate"))
        settled_at = timestamp(entry.get("timestamp"), None)
        if rate is None or settled_at is None:
            raise MalformedEntry("settlement without rate or time")
        info = entry.get("info") or {}
        mark = number(info.get("markPrice")) if isinstance(info, Mapping) else None
        return FundingSettlement(self.exchange, _symbol(entry), settled_at, received_at, rate, mark)

    # --- field readers: ccxt structure → (exchange time or None, record fields) ---------------
    def ticker_values(self, entry: Mapping) -> tuple[Any, dict[str, float | None]]:
        values = _numbers(entry, _TICKER_FIELDS)
        values["open_interest"] = None
        info = entry.get("info")
        ts = entry.get("timestamp")
        if info:
            ts = self._from_info(values, info, self._ticker_fallback, self._ticker_override, ts)
        return ts, values

    def funding_values(self, entry: Mapping) -> tuple[Any, dict[str, Any]]:
        values: dict[str, Any] = {"funding_rate": number(entry.get("fundingRate"))}
        values.update(_numbers(entry, _FUNDING_FIELDS))
        info = entry.get("info")
        ts = entry.get("timestamp")
        if info:
            ts = self._from_info(values, info, self._funding_fallback, self._funding_override, ts)
        next_time = entry.get("fundingTimestamp") or entry.get("nextFundingTimestamp")
        values["next_funding_time"] = timestamp(next_time, None)
        values["funding_interval_hours"] = interval_hours(entry.get("interval"))
        return ts, values

    def open_interest_values(self, entry: Mapping) -> tuple[Any, dict[str, float | None]]:
        info = entry.get("info")
        if self._oi_key and isinstance(info, Mapping) and info.get(self._oi_key) not in (None, ""):
            amount = number(info.get(self._oi_key))
        else:
            amount = number(entry.get("openInterestAmount"))
        return entry.get("timestamp"), {"open_interest": amount}

    # --- merging the parts of one poll ----------------------------------------------------------
    def merge(self, kind: str, parts: Sequence[tuple[Any, Any]], wanted: Container[str],
              received_at: int) -> Normalized:
        """`parts` = [(plans.Part, (structures by symbol, envelope time)), ...] → one record per
        wanted symbol of the first part, the later parts filling the fields they may fill."""
        (_, (primary, envelope)), rest = parts[0], parts[1:]
        readers = [(self._reader(part.reads, part.fills), part.fills, result, part.stamps)
                   for part, result in rest]
        read = self._reader(parts[0][0].reads)
        build = _BUILDERS[kind]
        records, malformed = [], 0
        for symbol, entry in primary.items():
            if symbol not in wanted:
                continue
            try:
                records.append(self._merged(build, symbol, read(entry), envelope, readers,
                                            received_at))
            except (MalformedEntry, KeyError, TypeError, AttributeError):
                malformed += 1
        return Normalized(records, malformed)

    def _merged(self, build, symbol, first, envelope, readers, received_at):
        ts, values = first
        clock = _newest(ts, envelope)  # the first part's time, unless a part stamps the record
        others = None
        for read, fills, (structures, part_envelope), stamps in readers:
            entry = structures.get(symbol)
            if entry is None:
                continue
            part_ts, part_values = read(entry)
            part_time = _newest(part_ts, part_envelope)
            if stamps and part_time is not None:
                clock = part_time
            elif part_time is not None and (others is None or part_time > others):
                others = part_time
            for field in fills or part_values:
                if values.get(field) is None:
                    values[field] = part_values.get(field)
        if "funding_interval_hours" in values and values["funding_interval_hours"] is None:
            values["funding_interval_hours"] = self._default_interval
        ts = clock if clock is not None else others
        return build(self.exchange, symbol, received_at if ts is None else ts, received_at, values)

    def _reader(self, reads: str, fills: tuple[str, ...] | None = None):
        if reads == "ticker" and fills:  # a later part: read only the fields it may fill
            return partial(self._ticker_subset, tuple((f, k) for f, k in _TICKER_FIELDS if f in fills))
        return {"ticker": self.ticker_values, "funding_rate": self.funding_values,
                "open_interest": self.open_interest_values}[reads]

    def _ticker_subset(self, fields: tuple[tuple[str, str], ...], entry: Mapping) -> tuple[Any, dict]:
        values = _numbers(entry, fields)
        info = entry.get("info")
        if info:
            for field, key in self._ticker_fallback.items():
                if values.get(field, 0) is None:
                    values[field] = number(info.get(key))
        return entry.get("timestamp"), values

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


def _build_ticker(exchange: str, symbol: str, ts: int, received_at: int, values: dict) -> Ticker:
    return Ticker(exchange, symbol, ts, received_at, **values)


def _build_funding(exchange: str, symbol: str, ts: int, received_at: int, values: dict) -> FundingRate:
    if values["funding_rate"] is None:
        raise MalformedEntry("funding rate missing")
    return FundingRate(exchange, symbol, ts, received_at, **values)


_BUILDERS: Final = {"ticker": _build_ticker, "funding_rate": _build_funding}


def _newest(a: Any, b: Any) -> int | None:
    """The later of two exchange times (validated), None when neither is given."""
    a, b = timestamp(a, None), timestamp(b, None)
    if a is None:
        return b
    return a if b is None or a >= b else b


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
