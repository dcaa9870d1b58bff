"""HTTP replies as plain data, and the per-tick cache of encoded bodies the dialects share."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping

from exchange_simulator.market import MarketState

JSON_TYPE = "application/json"


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


def encode(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_reply(payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, encode(payload), JSON_TYPE, dict(headers or {}))


def html_reply(status: int, title: str) -> Reply:
    """What a gateway in front of an exchange sends when the API itself is down."""
    body = f"<html><head><title>{status} {title}</title></head><body><h1>{status} {title}</h1></body></html>"
    return Reply(status, body.encode(), "text/html")


def decimal(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def trimmed(value: float, places: int = 8) -> str:
    """A decimal without trailing zeros, as bybit and okx print rates ("0.0001")."""
    text = f"{value:.{places}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


class TickCache:
    """Bodies built once per state version (a tick or a delisting), reused until it changes.

    ``listing=True`` entries (instruments) depend only on the listing and survive ticks.
    """

    def __init__(self, state: MarketState) -> None:
        self._state = state
        self._versions = {False: -1, True: -1}
        self._entries: dict[bool, dict[object, object]] = {False: {}, True: {}}

    def get(self, key: object, build: Callable[[], object], listing: bool = False) -> object:
        self._state.advance()
        version = self._state.listing_version if listing else self._state.version
        entries = self._entries[listing]
        if version != self._versions[listing]:
            entries.clear()
            self._versions[listing] = version
        if key not in entries:
            entries[key] = build()
        return entries[key]


class DialectBase:
    """What every exchange dialect shares: the market it serves, a per-tick response cache,
    and the ccxt options that point ccxt at the simulator (its module's `ccxt_options`)."""

    name: str
    prefixes: tuple[str, ...]
    options_for: Callable[[str], dict]

    def __init__(self, state: MarketState) -> None:
        self.state = state
        self._cache = TickCache(state)

    def ccxt_options(self, url: str) -> dict:
        return type(self).options_for(url)


# ccxt options that make binanceusdm and bybit load linear perpetuals only.
LINEAR_OPTIONS: dict = {"defaultType": "swap", "defaultSubType": "linear", "fetchMarkets": {"types": ["linear"]}}


def usdt_market_id(symbol: str) -> str:
    """`BTC/USDT:USDT` → `BTCUSDT`, the id binance and bybit give a USDT perpetual."""
    return symbol.split("/")[0] + "USDT"
