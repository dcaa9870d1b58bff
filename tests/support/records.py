"""Realistic batches of records for sink tests."""

from __future__ import annotations

import random

from collector.records import FundingRate, Record, Ticker

BASE_TS = 1_700_000_000_123  # not a whole second: the milliseconds must survive


def mixed_records(count: int, *, seed: int = 7, start: int = 0) -> list[Record]:
    """Tickers and funding rates over 3 exchanges × 50 symbols, some values None; records
    `start .. start+count` of one endless, deterministic stream."""
    rnd = random.Random(seed)

    def price() -> float | None:
        return None if rnd.random() < 0.15 else rnd.uniform(1e-8, 1e6)

    records: list[Record] = []
    for i in range(start, start + count):
        exchange = ("binance", "bybit", "okx")[i % 3]
        symbol = f"C{i // 3 % 50}/USDT:USDT"
        ts = BASE_TS + (i // 150) * 1_001
        if i % 4 == 0:
            next_time = None if rnd.random() < 0.2 else ts + 3_600_000
            records.append(FundingRate(exchange, symbol, ts, ts + 7, rnd.uniform(-0.01, 0.01),
                                       next_time, price(), price(), price()))
        else:
            records.append(Ticker(exchange, symbol, ts, ts + 5,
                                  *(price() for _ in Ticker.value_fields)))
    return records
