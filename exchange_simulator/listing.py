"""The listed perpetuals of the simulated exchanges and what is a pure function of symbol and time:
their specs (ids, decimals, funding interval), the funding schedule and past settlements, and the
small deterministic hashes the market draws from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random

FUNDING_INTERVAL_MS = 8 * 3600 * 1000
HOUR_MS = 3600 * 1000
# Funding intervals in hours that symbols after BTC and ETH (always 8 h) are given, as real
# exchanges mix them (binance fundingInfo, bybit fundingInterval, okx fundingTime spacing).
_INTERVAL_CHOICES = (8, 8, 4, 4, 2, 1)

# (base, rough price) of the first symbols; synthetic bases follow.
_KNOWN_BASES = (
    ("BTC", 68000.0), ("ETH", 3400.0), ("SOL", 160.0), ("XRP", 0.55), ("DOGE", 0.16),
    ("ADA", 0.45), ("AVAX", 35.0), ("LINK", 14.0), ("DOT", 6.5), ("LTC", 80.0),
    ("TRX", 0.16), ("BCH", 420.0), ("NEAR", 5.5), ("UNI", 8.5), ("ATOM", 7.5),
    ("APT", 9.0), ("ARB", 0.9), ("OP", 1.9), ("FIL", 4.5), ("ETC", 24.0),
    ("XLM", 0.11), ("SUI", 1.8), ("INJ", 22.0), ("AAVE", 150.0), ("HBAR", 0.08),
    ("ALGO", 0.17), ("SEI", 0.45), ("TIA", 6.0), ("LDO", 1.7), ("CRV", 0.35),
)


@dataclasses.dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A listed perpetual: ids and the decimals its values are served with."""

    base: str
    price_decimals: int
    initial_price: float
    funding_interval_hours: int = 8

    @property
    def symbol(self) -> str:
        return f"{self.base}/USDT:USDT"

    @property
    def tick_size(self) -> float:
        return round(10.0 ** -self.price_decimals, self.price_decimals)


def symbol_specs(count: int, seed: int) -> list[SymbolSpec]:
    """The first ``count`` symbols: well-known bases first, then SIMnnnn synthetic ones."""
    rng = random.Random(f"specs:{seed}")
    specs = []
    for i in range(count):
        if i < len(_KNOWN_BASES):
            base, price = _KNOWN_BASES[i]
        else:
            base, price = f"SIM{i:04d}", 10.0 ** rng.uniform(-3, 2.5)
        interval = 8 if i < 2 else _INTERVAL_CHOICES[hash_int(base, seed) % len(_INTERVAL_CHOICES)]
        specs.append(SymbolSpec(base, _price_decimals(price), price, interval))
    return specs


def _price_decimals(price: float) -> int:
    """About six significant digits, as exchanges pick tick sizes."""
    return max(1, min(8, 5 - math.floor(math.log10(price))))


def next_funding_time(ts_ms: int, interval_hours: int = 8) -> int:
    interval = interval_hours * HOUR_MS
    return (ts_ms // interval + 1) * interval


def settlement(spec: SymbolSpec, settled_at: int) -> tuple[float, float]:
    """(funding rate, mark price) settled at `settled_at`: a pure function of symbol and time, so
    every past settlement exists however long ago the simulator started."""
    noise = (hash_int(spec.base, settled_at) % 2001 - 1000) * 1e-7
    drift = (hash_int(spec.base, settled_at + 1) % 2001 - 1000) * 1e-5
    return round(0.0001 + noise, 8), round(spec.initial_price * (1 + drift), spec.price_decimals)


def settlements(spec: SymbolSpec, start: int, end: int) -> list[tuple[int, float, float]]:
    """Every (time, rate, mark) settled in start..end (ms, inclusive), oldest first."""
    interval = spec.funding_interval_hours * HOUR_MS
    first = -(-start // interval) * interval
    return [(t, *settlement(spec, t)) for t in range(first, end + 1, interval)]


def seed_for(exchange: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{exchange}:{seed}".encode()).digest()[:8], "big")


def hash_int(text: str, number: int) -> int:
    """A small deterministic hash (Python's str hash is salted per process)."""
    return int.from_bytes(hashlib.blake2b(f"{text}:{number}".encode(), digest_size=4).digest(), "big")


class TextHash:
    """`hash_int(text, n)` for one `text` and many `n`: the hash state of `text` is kept and each
    number hashed on from a copy of it (the market draws three of these per symbol and tick)."""

    __slots__ = ("_state",)

    def __init__(self, text: str) -> None:
        self._state = hashlib.blake2b(f"{text}:".encode(), digest_size=4)

    def __call__(self, number: int) -> int:
        state = self._state.copy()
        state.update(b"%d" % number)
        return int.from_bytes(state.digest(), "big")
