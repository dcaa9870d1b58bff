"""The three kinds of record the daemon produces: plain, frozen data with identity and serialization.

Times are UTC milliseconds (int). Prices are floats or None. A record's identity is
`(kind, exchange, symbol, ts)`; every sink is idempotent on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final

from collector.errors import RecordError


def _slot_setters(cls: type) -> tuple[Any, ...]:
    """Each field's slot descriptor's `__set__`, in field order.

    A frozen dataclass refuses plain assignment, and the `__init__` that `dataclass` writes calls
    `object.__setattr__` per field: 1.6 µs for a Ticker, the largest single cost of normalizing a
    record. Setting each slot through its descriptor builds the same frozen instance in 0.9 µs,
    so each record writes its own `__init__` that way (`init=False` keeps dataclass's out)."""
    return tuple(cls.__dict__[item.name].__set__ for item in fields(cls))


@dataclass(frozen=True, slots=True, init=False)
class Ticker:
    kind: ClassVar[str] = "ticker"
    value_fields: ClassVar[tuple[str, ...]] = (
        "last", "bid", "ask", "mark_price", "index_price", "high_24h", "low_24h",
        "base_volume_24h", "quote_volume_24h", "open_interest",
    )

    exchange: str
    symbol: str
    ts: int
    received_at: int
    last: float | None = None
    bid: float | None = None
    ask: float | None = None
    mark_price: float | None = None
    index_price: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    base_volume_24h: float | None = None
    quote_volume_24h: float | None = None
    open_interest: float | None = None

    def __init__(self, exchange: str, symbol: str, ts: int, received_at: int, last: float | None = None,
                 bid: float | None = None, ask: float | None = None, mark_price: float | None = None,
                 index_price: float | None = None, high_24h: float | None = None, low_24h: float | None = None,
                 base_volume_24h: float | None = None, quote_volume_24h: float | None = None,
                 open_interest: float | None = None) -> None:
        (set_exchange, set_symbol, set_ts, set_received_at, set_last, set_bid, set_ask, set_mark_price,
         set_index_price, set_high_24h, set_low_24h, set_base_volume_24h, set_quote_volume_24h,
         set_open_interest) = _TICKER_SLOTS
        set_exchange(self, exchange)
        set_symbol(self, symbol)
        set_ts(self, ts)
        set_received_at(self, received_at)
        set_last(self, last)
        set_bid(self, bid)
        set_ask(self, ask)
        set_mark_price(self, mark_price)
        set_index_price(self, index_price)
        set_high_24h(self, high_24h)
        set_low_24h(self, low_24h)
        set_base_volume_24h(self, base_volume_24h)
        set_quote_volume_24h(self, quote_volume_24h)
        set_open_interest(self, open_interest)

    def replaced(self, values: Mapping[str, Any]) -> Ticker:
        """What dataclasses.replace(self, **values) returns, in half its time (the stream's
        merger fills every ticker it emits)."""
        get = values.get
        return Ticker(get("exchange", self.exchange), get("symbol", self.symbol), get("ts", self.ts),
                      get("received_at", self.received_at), get("last", self.last), get("bid", self.bid),
                      get("ask", self.ask), get("mark_price", self.mark_price),
                      get("index_price", self.index_price), get("high_24h", self.high_24h),
                      get("low_24h", self.low_24h), get("base_volume_24h", self.base_volume_24h),
                      get("quote_volume_24h", self.quote_volume_24h), get("open_interest", self.open_interest))


@dataclass(frozen=True, slots=True, init=False)
class FundingRate:
    kind: ClassVar[str] = "funding_rate"
    value_fields: ClassVar[tuple[str, ...]] = (
        "funding_rate", "next_funding_time", "mark_price", "index_price", "interest_rate",
        "funding_interval_hours", "predicted_funding_rate",
    )

    exchange: str
    symbol: str
    ts: int
    received_at: int
    funding_rate: float
    next_funding_time: int | None = None
    mark_price: float | None = None
    index_price: float | None = None
    interest_rate: float | None = None
    # Fields added after the first release go last, with a default: the journal and the spool
    # store rows positionally, so rows written by the previous version still decode.
    funding_interval_hours: float | None = None
    predicted_funding_rate: float | None = None

    def __init__(self, exchange: str, symbol: str, ts: int, received_at: int, funding_rate: float,
                 next_funding_time: int | None = None, mark_price: float | None = None,
                 index_price: float | None = None, interest_rate: float | None = None,
                 funding_interval_hours: float | None = None, predicted_funding_rate: float | None = None) -> None:
        (set_exchange, set_symbol, set_ts, set_received_at, set_funding_rate, set_next_funding_time,
         set_mark_price, set_index_price, set_interest_rate, set_funding_interval_hours,
         set_predicted_funding_rate) = _FUNDING_RATE_SLOTS
        set_exchange(self, exchange)
        set_symbol(self, symbol)
        set_ts(self, ts)
        set_received_at(self, received_at)
        set_funding_rate(self, funding_rate)
        set_next_funding_time(self, next_funding_time)
        set_mark_price(self, mark_price)
        set_index_price(self, index_price)
        set_interest_rate(self, interest_rate)
        set_funding_interval_hours(self, funding_interval_hours)
        set_predicted_funding_rate(self, predicted_funding_rate)

    def replaced(self, values: Mapping[str, Any]) -> FundingRate:
        get = values.get
        return FundingRate(get("exchange", self.exchange), get("symbol", self.symbol), get("ts", self.ts),
                           get("received_at", self.received_at), get("funding_rate", self.funding_rate),
                           get("next_funding_time", self.next_funding_time), get("mark_price", self.mark_price),
                           get("index_price", self.index_price), get("interest_rate", self.interest_rate),
                           get("funding_interval_hours", self.funding_interval_hours),
                           get("predicted_funding_rate", self.predicted_funding_rate))


@dataclass(frozen=True, slots=True, init=False)
class FundingSettlement:
    """A funding payment the exchange settled: `ts` is the settlement time."""

    kind: ClassVar[str] = "funding_settlement"
    value_fields: ClassVar[tuple[str, ...]] = ("funding_rate", "mark_price")

    exchange: str
    symbol: str
    ts: int
    received_at: int
    funding_rate: float
    mark_price: float | None = None

    def __init__(self, exchange: str, symbol: str, ts: int, received_at: int, funding_rate: float,
                 mark_price: float | None = None) -> None:
        set_exchange, set_symbol, set_ts, set_received_at, set_funding_rate, set_mark_price = _SETTLEMENT_SLOTS
        set_exchange(self, exchange)
        set_symbol(self, symbol)
        set_ts(self, ts)
        set_received_at(self, received_at)
        set_funding_rate(self, funding_rate)
        set_mark_price(self, mark_price)

    def replaced(self, values: Mapping[str, Any]) -> FundingSettlement:
        get = values.get
        return FundingSettlement(get("exchange", self.exchange), get("symbol", self.symbol), get("ts", self.ts),
                                 get("received_at", self.received_at), get("funding_rate", self.funding_rate),
                                 get("mark_price", self.mark_price))


_TICKER_SLOTS: Final = _slot_setters(Ticker)
_FUNDING_RATE_SLOTS: Final = _slot_setters(FundingRate)
_SETTLEMENT_SLOTS: Final = _slot_setters(FundingSettlement)

Record = Ticker | FundingRate | FundingSettlement
RECORD_TYPES: Final[dict[str, type[Ticker] | type[FundingRate] | type[FundingSettlement]]] = {
    Ticker.kind: Ticker,
    FundingRate.kind: FundingRate,
    FundingSettlement.kind: FundingSettlement,
}
KINDS: Final = tuple(RECORD_TYPES)
# Table name per kind, shared by every SQL sink.
TABLES: Final = {Ticker.kind: "tickers", FundingRate.kind: "funding_rates",
                 FundingSettlement.kind: "funding_settlements"}
# Kinds whose `funding_rate` is required (NOT NULL in every SQL sink).
RATE_REQUIRED: Final = frozenset({FundingRate.kind, FundingSettlement.kind})
KEY_FIELDS: Final = ("exchange", "symbol", "ts", "received_at")


def columns(kind: str) -> tuple[str, ...]:
    """Column order of a kind's table: identity and times first, then its values."""
    return KEY_FIELDS + RECORD_TYPES[kind].value_fields


def identity(record: Record) -> tuple[str, str, str, int]:
    return (record.kind, record.exchange, record.symbol, record.ts)


def message_id(record: Record) -> str:
    """A stable hash of the identity: the same record always gets the same id."""
    key = f"{record.kind}|{record.exchange}|{record.symbol}|{record.ts}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def routing_key(record: Record) -> str:
    """`<kind>.<exchange>.<BASE>-<QUOTE>-<SETTLE>`, e.g. `ticker.binance.BTC-USDT-USDT`."""
    base, _, rest = record.symbol.partition("/")
    quote, _, settle = rest.partition(":")
    parts = "-".join(p for p in (base, quote, settle) if p)
    # A dot inside a word would split it into two topic words.
    return f"{record.kind}.{record.exchange}.{parts.replace('.', '_')}"


def as_row(record: Record) -> tuple[Any, ...]:
    """The record's values in `columns(kind)` order."""
    return tuple(getattr(record, name) for name in columns(record.kind))


def to_dict(record: Record) -> dict[str, Any]:
    """JSON-ready form: the record's fields, times as UTC ms integers, plus `kind`."""
    data = {"kind": record.kind}
    for name in columns(record.kind):
        data[name] = getattr(record, name)
    return data


def from_dict(data: dict[str, Any]) -> Record:
    """Inverse of `to_dict`; raises RecordError for an unknown kind or missing field."""
    kind = data.get("kind")
    record_type = RECORD_TYPES.get(kind)  # type: ignore[arg-type]
    if record_type is None:
        raise RecordError(f"unknown record kind {kind!r}")
    try:
        return record_type(**{name: data[name] for name in columns(kind) if name in data})
    except TypeError as err:
        raise RecordError(f"{kind} record is incomplete: {err}") from None
