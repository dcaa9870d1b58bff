"""ccxt structures → Ticker / FundingRate / FundingSettlement records. Pure functions, hot path.

ccxt's unified structure is read first; where it lacks a field the exchange's raw `info` row
carries, or where ccxt's unified value means something else than our column, the exchange's own
field is read instead (the tables and readers of field_readers.py). An entry that cannot become a valid record (no funding
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

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from collector.exchanges.field_readers import (
    DEFAULT_FUNDING_INTERVAL_HOURS, FUNDING_INFO_FALLBACK, FUNDING_INFO_OVERRIDE, FUNDING_TABLE,
    MARKET_INTERVAL_MINUTES, OPEN_INTEREST_OVERRIDE, TICKER_FIELDS, TICKER_INFO_FALLBACK, TICKER_INFO_OVERRIDE, TICKER_TABLE,
    from_info, info_fields, interval_only, make_table, numbers, ticker_subset,
)
from collector.record_checks import MAX_TS, MIN_TS
from collector.records import FundingRate, FundingSettlement, Ticker
from collector.values import MalformedEntry, cached_interval_hours, number, timestamp


@dataclass(frozen=True, slots=True)
class Normalized:
    records: list[Ticker] | list[FundingRate]
    malformed: int


class Normalizer:
    """Builds records of one exchange; knows which raw fields fill the gaps of its ccxt output."""

    __slots__ = ("exchange", "_ticker_fallback", "_ticker_info", "_funding_info", "_oi_key",
                 "_default_interval", "_contract_size", "_market", "_interval_key")

    def __init__(self, exchange: str, ccxt_id: str, contract_size: Callable[[str], Any] | None = None,
                 market: Callable[[str], Mapping | None] | None = None) -> None:
        """`contract_size(symbol)`: base currency per contract (ccxt's market `contractSize`);
        `market(symbol)`: ccxt's loaded market, for what only the market says (bybit's interval)."""
        self.exchange = exchange
        self._contract_size = contract_size
        self._market = market
        self._interval_key = MARKET_INTERVAL_MINUTES.get(ccxt_id) if market is not None else None
        self._ticker_fallback = dict(TICKER_INFO_FALLBACK.get(ccxt_id, {}))
        self._ticker_info = info_fields(self._ticker_fallback, TICKER_INFO_OVERRIDE.get(ccxt_id, {}))
        self._funding_info = info_fields(FUNDING_INFO_FALLBACK.get(ccxt_id, {}),
                                         FUNDING_INFO_OVERRIDE.get(ccxt_id, {}))
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
        values = numbers(entry, TICKER_TABLE)
        values["open_interest"] = None
        info = entry.get("info")
        ts = entry.get("timestamp")
        if info:
            ts = from_info(values, info, self._ticker_info, ts)
        return ts, values

    def funding_values(self, entry: Mapping) -> tuple[Any, dict[str, Any]]:
        values: dict[str, Any] = numbers(entry, FUNDING_TABLE)
        info = entry.get("info")
        ts = entry.get("timestamp")
        if info:
            ts = from_info(values, info, self._funding_info, ts)
        next_time = entry.get("fundingTimestamp") or entry.get("nextFundingTimestamp")
        if next_time is not None and (type(next_time) is not int or not MIN_TS <= next_time <= MAX_TS):
            next_time = timestamp(next_time, None)  # the rest of timestamp(): inline above (hot path)
        values["next_funding_time"] = next_time
        interval = entry.get("interval")
        values["funding_interval_hours"] = cached_interval_hours(interval) if type(interval) is str else None
        if self._interval_key is not None:
            values["funding_interval_hours"] = self._market_interval(entry["symbol"])
        return ts, values

    def _market_interval(self, symbol: str) -> float | None:
        market = self._market(symbol) or {}
        minutes = number((market.get("info") or {}).get(self._interval_key))
        return minutes / 60 if minutes else None

    def open_interest_values(self, entry: Mapping) -> tuple[Any, dict[str, float | None]]:
        if self._oi_key is None:
            return entry.get("timestamp"), {"open_interest": number(entry.get("openInterestAmount"))}
        info = entry.get("info")
        amount = number(info.get(self._oi_key)) if isinstance(info, Mapping) else None
        if amount is None:  # ccxt's amount counts contracts here: never stored as it is
            amount = self._contracts_in_base(entry)
        return entry.get("timestamp"), {"open_interest": amount}

    def _contracts_in_base(self, entry: Mapping) -> float | None:
        """ccxt's `openInterestAmount` (contracts) × the market's contract size; None when
        either is unknown, rather than a figure off by the contract size (100x for okx BTC)."""
        contracts = number(entry.get("openInterestAmount"))
        size = number(self._contract_size(entry["symbol"])) if self._contract_size else None
        return None if contracts is None or size is None else contracts * size

    # --- merging the parts of one poll ----------------------------------------------------------
    def merge(self, kind: str, parts: Sequence[tuple[Any, Any]], wanted: Container[str],
              received_at: int) -> Normalized:
        """`parts` = [(plans.Part, (structures by symbol, envelope time)), ...] → one record per
        wanted symbol of the first part, the later parts filling the fields they may fill."""
        (first, (primary, envelope)), rest = parts[0], parts[1:]
        read = first.decode or self._reader(first.reads)
        record_type = _MERGED_TYPES[kind]
        merged: dict[str, list] = {}  # symbol -> [values, its time, the newest time of other parts]
        malformed = 0
        for symbol, entry in primary.items():
            if symbol not in wanted:
                continue
            try:
                ts, values = read(entry)
                if envelope is not None or not (ts is None or type(ts) is int and MIN_TS <= ts <= MAX_TS):
                    ts = _newest(ts, envelope)  # the rest of _newest(): inline above (hot path)
                merged[symbol] = [values, ts, None]
            except _UNUSABLE:
                malformed += 1
        for part, result in rest:  # each part in turn, over the symbols still usable
            malformed += self._fill(part, result, merged)
        # The documented default holds for a symbol the interval list leaves out, so only when
        # that list came: a failed request leaves the interval empty, not a guess.
        default = self._default_interval if any(p.fills == _INTERVAL_FILLS for p, _ in rest) else None
        records, unusable = self._records(record_type, merged, received_at, default)
        return Normalized(records, malformed + unusable)

    def intervals(self, parts: Sequence[tuple[Any, Any]], wanted: Iterable[str]) -> dict[str, float]:
        """Symbol -> funding interval (hours) of each wanted symbol, from a funding poll's interval
        list alone (binance fundingInfo; the documented default for a symbol it leaves out), so
        also for a symbol the poll's first part has no entry of yet: a new listing the rates
        endpoint does not serve yet. Empty when no interval list came (its request failed)."""
        listed = next((result[0] for part, result in parts[1:] if part.fills == _INTERVAL_FILLS), None)
        if listed is None:
            return {}
        hours = {}
        for symbol in wanted:
            entry = listed.get(symbol)
            try:
                value = self._default_interval if entry is None else interval_only(entry)[1]["funding_interval_hours"]
            except _UNUSABLE:
                continue
            if value:
                hours[symbol] = value
        return hours

    def _fill(self, part: Any, result: tuple[Mapping, Any], merged: dict[str, list]) -> int:
        """Fill the fields `part` may fill where still empty, and note its time; the number of
        symbols whose entry in it is unusable (they are dropped from `merged`)."""
        structures, envelope = result
        read, fills, stamps = part.decode or self._reader(part.reads, part.fills), part.fills, part.stamps
        unusable = []
        for symbol, slot in merged.items():
            entry = structures.get(symbol)
            if entry is None:
                continue
            try:
                ts, part_values = read(entry)
                if envelope is not None or not (ts is None or type(ts) is int and MIN_TS <= ts <= MAX_TS):
                    ts = _newest(ts, envelope)
            except _UNUSABLE:
                unusable.append(symbol)
                continue
            if stamps and ts is not None:  # the record's time, not the first part's
                slot[1] = ts
            elif ts is not None and (slot[2] is None or ts > slot[2]):
                slot[2] = ts
            values = slot[0]
            for field in fills or part_values:
                if values.get(field) is None:
                    values[field] = part_values.get(field)
        for symbol in unusable:
            del merged[symbol]
        return len(unusable)

    def _records(self, record_type: type, merged: dict[str, list], received_at: int,
                 default_interval: float | None) -> tuple[list, int]:
        """The merged records (their time: the first or stamping part's, else the newest other
        part's, else `received_at`), and how many could not become one."""
        exchange = self.exchange
        rate_required = record_type is FundingRate
        records, unusable = [], 0
        for symbol, (values, clock, others) in merged.items():
            if default_interval is not None and values.get("funding_interval_hours", 0) is None:
                values["funding_interval_hours"] = default_interval
            ts = clock if clock is not None else others
            try:
                if rate_required and values["funding_rate"] is None:
                    raise MalformedEntry("funding rate missing")
                records.append(record_type(exchange, symbol, received_at if ts is None else ts,
                                           received_at, **values))
            except _UNUSABLE:
                unusable += 1
        return records, unusable

    def _reader(self, reads: str, fills: tuple[str, ...] | None = None):
        if reads == "ticker" and fills:  # a later part: read only the fields it may fill
            table = make_table(tuple((f, k) for f, k in TICKER_FIELDS if f in fills))
            fallback = tuple((f, k) for f, k in self._ticker_fallback.items() if f in table.names)
            return partial(ticker_subset, table, fallback)
        if reads == "funding_rate" and fills == _INTERVAL_FILLS:
            return interval_only  # binance fundingInfo: the interval, nothing else
        return {"ticker": self.ticker_values, "funding_rate": self.funding_values,
                "open_interest": self.open_interest_values}[reads]


_INTERVAL_FILLS: Final = ("funding_interval_hours",)
_UNUSABLE: Final = (MalformedEntry, KeyError, TypeError, AttributeError)
_MERGED_TYPES: Final = {"ticker": Ticker, "funding_rate": FundingRate}


def _newest(a: Any, b: Any) -> int | None:
    """The later of two exchange times (validated), None when neither is given."""
    a, b = timestamp(a, None), timestamp(b, None)
    if a is None:
        return b
    return a if b is None or a >= b else b


def _symbol(entry: Mapping) -> str:
    symbol = entry["symbol"]
    if type(symbol) is not str or not symbol:
        raise MalformedEntry(f"symbol missing: {symbol!r}")
    return symbol
