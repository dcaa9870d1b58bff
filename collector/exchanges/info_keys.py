"""Raw fields of exchanges beyond binance, bybit and okx that ccxt's unified ticker leaves empty.

Per ccxt id: record field -> key of the exchange's own ticker row (`info`), read only where
ccxt's unified value is None. Each entry was read off a recorded payload (the rows in
tests/fixtures/exchanges/others/*.json, which name their source). Open interest is mapped
only where the exchange counts it in the base currency, as the other exchanges do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

OTHER_TICKER_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    # metaAndAssetCtxs rows: ccxt reads bid/ask (impactPxs) and the quote volume (dayNtlVlm).
    "hyperliquid": {"mark_price": "markPx", "index_price": "oraclePx",
                    "open_interest": "openInterest", "base_volume_24h": "dayBaseVlm"},
    # /derivatives/api/v3/tickers: ccxt reads last, bid, ask, mark, index and vol24h; rows since
    # (at the latest) 2025 add high24h/low24h (others/krakenfutures_tickers.json), which it leaves empty.
    "krakenfutures": {"open_interest": "openInterest", "high_24h": "high24h", "low_24h": "low24h"},
    # /api/v2/mix/market/tickers: ccxt reads prices and volumes; holdingAmount is in base coin.
    "bitget": {"open_interest": "holdingAmount"},
    # gate's futures tickers count open interest (total_size) in contracts: not mapped.
}
