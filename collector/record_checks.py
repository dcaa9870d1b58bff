"""What a record must hold to be accepted: `validate` raises RecordError naming the first field at fault.

Every record passes through `validate` at the pipeline's boundary, so the common case is one
expression (`_plainly_valid`); only a record that fails it is checked field by field.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import Any, Final

from collector.errors import RecordError
from collector.records import RATE_REQUIRED, FundingRate, FundingSettlement, Record, Ticker

MAX_SYMBOL_LENGTH: Final = 64
MAX_EXCHANGE_LENGTH: Final = 64
# 2000-01-01 .. 2100-01-01 in ms: a timestamp outside is a unit or parsing mistake.
MIN_TS: Final = 946_684_800_000
MAX_TS: Final = 4_102_444_800_000


def validate(record: Record) -> None:
    """Raise RecordError naming the first field at fault; a valid record passes silently."""
    if not _plainly_valid(record):
        _find_fault(record)


# Per record type: its number fields (next_funding_time is a time, checked as one).
_NUMBERS_OF: Final = {
    cls: attrgetter(*names) if len(names) > 1 else attrgetter(*names, *names)  # always a tuple
    for cls in (Ticker, FundingRate, FundingSettlement)
    for names in [tuple(name for name in cls.value_fields if name != "next_funding_time")]}
_NUMBER_TYPES: Final = frozenset({int, float, type(None)})  # exact: bool is no number here


def _plainly_valid(record: Record) -> bool:
    """The checks of `_find_fault` in one expression (every record passes through here); False
    also for what only looks doubtful (a subclass of int, a sum of values that overflows), which
    `_find_fault` then settles."""
    numbers_of = _NUMBERS_OF.get(type(record))
    if numbers_of is None:
        return False
    exchange, symbol, ts, received_at = record.exchange, record.symbol, record.ts, record.received_at
    if not (type(exchange) is str and 0 < len(exchange) <= MAX_EXCHANGE_LENGTH
            and type(symbol) is str and 0 < len(symbol) <= MAX_SYMBOL_LENGTH
            and type(ts) is int and MIN_TS <= ts <= MAX_TS
            and type(received_at) is int and MIN_TS <= received_at <= MAX_TS):
        return False
    if record.kind in RATE_REQUIRED and record.funding_rate is None:
        return False
    if type(record) is FundingRate:
        next_time = record.next_funding_time
        if next_time is not None and not (type(next_time) is int and MIN_TS <= next_time <= MAX_TS):
            return False
    values = numbers_of(record)
    if not _NUMBER_TYPES.issuperset(map(type, values)):
        return False
    total = sum(filter(None, values))  # NaN or ±inf in any value makes the sum NaN or ±inf
    return total - total == 0


def _find_fault(record: Record) -> None:
    """The field at fault, checked one by one (raises RecordError)."""
    _check_text("exchange", record.exchange, MAX_EXCHANGE_LENGTH)
    _check_text("symbol", record.symbol, MAX_SYMBOL_LENGTH)
    for name in ("ts", "received_at"):
        _check_time(name, getattr(record, name), required=True)
    if record.kind in RATE_REQUIRED and record.funding_rate is None:
        raise RecordError("funding_rate is required")
    if isinstance(record, FundingRate):
        _check_time("next_funding_time", record.next_funding_time, required=False)
    for name in record.value_fields:
        if name == "next_funding_time":
            continue
        value = getattr(record, name)
        if value is None:
            continue
        if type(value) is bool or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RecordError(f"{name} must be a finite number, got {_short(value)}")


def _check_text(name: str, value: Any, max_length: int) -> None:
    if not isinstance(value, str) or not value:
        raise RecordError(f"{name} must be a non-empty string, got {_short(value)}")
    if len(value) > max_length:
        raise RecordError(f"{name} is {len(value)} characters long (at most {max_length})")


def _check_time(name: str, value: Any, *, required: bool) -> None:
    if value is None and not required:
        return
    if type(value) is not int:
        raise RecordError(f"{name} must be an integer of UTC milliseconds, got {_short(value)}")
    if not MIN_TS <= value <= MAX_TS:
        raise RecordError(f"{name} {value} is not a UTC millisecond time between 2000 and 2100")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
