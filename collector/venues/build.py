"""A venue decoder's `(exchange time, values)` → a record, as normalize.py builds one from a ccxt
structure: the exchange's time where valid (else the receive time; outside 2000..2100 the entry
is malformed), a funding rate required."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.records import FundingRate, Ticker
from collector.values import MalformedEntry, timestamp


def ticker(exchange: str, symbol: str, decoded: tuple[Any, Mapping[str, Any]], received_at: int) -> Ticker:
    ts, values = decoded
    return Ticker(exchange, symbol, timestamp(ts, received_at), received_at, **values)


def funding_rate(exchange: str, symbol: str, decoded: tuple[Any, Mapping[str, Any]],
                 received_at: int) -> FundingRate:
    ts, values = decoded
    if values.get("funding_rate") is None:
        raise MalformedEntry("funding rate missing")
    return FundingRate(exchange, symbol, timestamp(ts, received_at), received_at, **values)
