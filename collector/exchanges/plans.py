"""Which requests make one poll of a kind, per exchange: a table, plus the few raw calls ccxt's
unified methods cannot replace.

A poll of a kind runs its parts in order and merges what they return by symbol: the first part
gives the records, each later part fills the fields still empty (normalize.merge). A part runs
only where ccxt's `has` says the exchange supports its method. Exchanges without an entry get the
generic plan: ccxt's unified bulk method, then its bulk helpers (`fetch_mark_prices`,
`fetch_open_interests`) where `has` says so.

Each part also names the ccxt implicit API call it sends (`estimate`), so `--validate-config` can
ask ccxt what the request weighs without sending it (collector/ops/weights.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

# A part's answer: ccxt structures keyed by unified symbol, and the response's own time where the
# exchange puts one in the envelope rather than in the rows (None otherwise).
PartResult = tuple[Mapping[str, Mapping[str, Any]], int | None]


@dataclass(frozen=True, slots=True)
class Part:
    endpoint: str  # label in metrics, logs and the weight estimate
    method: str  # ccxt unified method, or a key of RAW_CALLS
    has: str | None = None  # ccxt `has` key that must be truthy; None: always available
    estimate: tuple[str, Mapping[str, Any]] | None = None  # ccxt implicit API method and params
    per_symbol: bool = False  # one request per symbol (`method(symbol)`), not one per poll
    reads: str = "ticker"  # structure it returns: ticker | open_interest | funding_rate
    # Record fields a later part may fill (None: every field); a first part gives them all.
    fills: tuple[str, ...] | None = None
    stamps: bool = False  # its time is the snapshot time, the record's `ts` (default: the first part's)
    # `decoder: native` (native_plans.py): reads what the part answers instead of normalize's
    # readers of ccxt structures.
    decode: Callable[[Any], tuple[Any, dict]] | None = None


# --- raw calls: where ccxt's unified method drops what we need ------------------------------
async def bybit_tickers(exchange: Any) -> PartResult:
    """bybit's tickers put the snapshot time in the envelope (`time`), which fetch_tickers drops;
    the rows are parsed by ccxt exactly as fetch_tickers parses them."""
    response = await exchange.publicGetV5MarketTickers({"category": "linear"})
    rows = exchange.safe_list(exchange.safe_dict(response, "result", {}), "list", [])
    return exchange.parse_tickers(rows), exchange.safe_integer(response, "time")


async def okx_index_prices(exchange: Any) -> PartResult:
    """okx index tickers are keyed by the index (`BTC-USDT`), not the swap: re-keyed to the
    linear swap settled in the index's quote currency."""
    response = await exchange.publicGetMarketIndexTickers({"quoteCcy": "USDT"})
    parsed: dict[str, Mapping[str, Any]] = {}
    for row in exchange.safe_list(response, "data", []):
        ticker = exchange.parse_ticker(row)
        base, _, quote = ticker["symbol"].partition("/")
        if quote:
            parsed[f"{base}/{quote}:{quote}"] = ticker
    return parsed, None


async def krakenfutures_tickers(exchange: Any) -> PartResult:
    """krakenfutures stamps each row with its last trade (`lastTime`); the snapshot's own time
    is the envelope's `serverTime`."""
    response = await exchange.publicGetTickers()
    rows = exchange.safe_list(response, "tickers", [])
    return exchange.parse_tickers(rows), exchange.parse8601(exchange.safe_string(response, "serverTime"))


RAW_CALLS: Final[Mapping[str, Callable[[Any], Awaitable[PartResult]]]] = {
    "bybit_tickers": bybit_tickers,
    "okx_index_prices": okx_index_prices,
    "krakenfutures_tickers": krakenfutures_tickers,
}

# --- the table ------------------------------------------------------------------------------
PRICES: Final = ("mark_price", "index_price")
OPEN_INTEREST_FIELD: Final = ("open_interest",)
TICKERS = Part("tickers", "fetch_tickers", "fetchTickers")
FUNDING_RATES = Part("funding_rates", "fetch_funding_rates", "fetchFundingRates", reads="funding_rate")
MARK_PRICES = Part("mark_prices", "fetch_mark_prices", "fetchMarkPrices", fills=PRICES)
OPEN_INTERESTS = Part("open_interests", "fetch_open_interests", "fetchOpenInterests",
                      reads="open_interest", fills=OPEN_INTEREST_FIELD)
SETTLEMENTS = Part("funding_history", "fetch_funding_rate_history", "fetchFundingRateHistory",
                   per_symbol=True, reads="funding_rate")

PLANS: Final[Mapping[str, Mapping[str, tuple[Part, ...]]]] = {
    "binanceusdm": {
        "ticker": (
            Part("tickers", "fetch_tickers", "fetchTickers", ("fapiPublicGetTicker24hr", {})),
            Part("bids_asks", "fetch_bids_asks", "fetchBidsAsks", ("fapiPublicGetTickerBookTicker", {}),
                 fills=("bid", "ask")),
            # premiumIndex `time` is the snapshot time; the 24 h ticker's closeTime is the last trade.
            Part("mark_prices", "fetch_mark_prices", "fetchMarkPrices", ("fapiPublicGetPremiumIndex", {}),
                 fills=PRICES, stamps=True),
        ),
        "funding_rate": (
            Part("funding_rates", "fetch_funding_rates", "fetchFundingRates",
                 ("fapiPublicGetPremiumIndex", {}), reads="funding_rate"),
            Part("funding_intervals", "fetch_funding_intervals", "fetchFundingIntervals",
                 ("fapiPublicGetFundingInfo", {}), reads="funding_rate",
                 fills=("funding_interval_hours",)),
        ),
        # ticker/24hr carries no open interest and binance has no bulk endpoint for it.
        "open_interest": (
            Part("open_interest", "fetch_open_interest", "fetchOpenInterest",
                 ("fapiPublicGetOpenInterest", {"symbol": "BTCUSDT"}), per_symbol=True,
                 reads="open_interest"),
        ),
        "funding_settlement": (
            Part("funding_history", "fetch_funding_rate_history", "fetchFundingRateHistory",
                 ("fapiPublicGetFundingRate", {"symbol": "BTCUSDT"}), per_symbol=True,
                 reads="funding_rate"),
        ),
    },
    "bybit": {
        # The tickers carry open interest, mark and index price: one request.
        "ticker": (Part("tickers", "bybit_tickers", None,
                        ("publicGetV5MarketTickers", {"category": "linear"})),),
        "funding_rate": (Part("funding_rates", "fetch_funding_rates", "fetchFundingRates",
                              ("publicGetV5MarketTickers", {"category": "linear"}),
                              reads="funding_rate"),),
        "open_interest": (),
        "funding_settlement": (
            Part("funding_history", "fetch_funding_rate_history", "fetchFundingRateHistory",
                 ("publicGetV5MarketFundingHistory", {"category": "linear", "symbol": "BTCUSDT"}),
                 per_symbol=True, reads="funding_rate"),
        ),
    },
    "krakenfutures": {  # the generic plan, but the tickers with their envelope's time
        "ticker": (Part("tickers", "krakenfutures_tickers", None, ("publicGetTickers", {})),),
        "funding_rate": (FUNDING_RATES,),
        "open_interest": (),
        "funding_settlement": (SETTLEMENTS,),
    },
    "okx": {
        "ticker": (
            Part("tickers", "fetch_tickers", "fetchTickers", ("publicGetMarketTickers", {"instType": "SWAP"})),
            Part("mark_prices", "fetch_mark_prices", "fetchMarkPrices",
                 ("publicGetPublicMarkPrice", {"instType": "SWAP"}), fills=PRICES),
            Part("index_prices", "okx_index_prices", None,
                 ("publicGetMarketIndexTickers", {"quoteCcy": "USDT"}), fills=("index_price",)),
            Part("open_interests", "fetch_open_interests", "fetchOpenInterests",
                 ("publicGetPublicOpenInterest", {"instType": "SWAP"}), reads="open_interest",
                 fills=OPEN_INTEREST_FIELD),
        ),
        "funding_rate": (Part("funding_rates", "fetch_funding_rates", "fetchFundingRates",
                              ("publicGetPublicFundingRate", {"instId": "ANY"}),
                              reads="funding_rate"),),
        "open_interest": (),
        "funding_settlement": (
            Part("funding_history", "fetch_funding_rate_history", "fetchFundingRateHistory",
                 ("publicGetPublicFundingRateHistory", {"instId": "BTC-USDT-SWAP"}),
                 per_symbol=True, reads="funding_rate"),
        ),
    },
}

_GENERIC: Final[Mapping[str, tuple[Part, ...]]] = {
    "ticker": (TICKERS, MARK_PRICES, OPEN_INTERESTS),
    "funding_rate": (FUNDING_RATES,),
    "open_interest": (),
    "funding_settlement": (SETTLEMENTS,),
}
# Per-symbol fallbacks for an exchange without the bulk method of a kind's first part.
SINGLE: Final[Mapping[str, Part]] = {
    "fetch_tickers": Part("ticker", "fetch_ticker", "fetchTicker", per_symbol=True),
    "fetch_funding_rates": Part("funding_rate", "fetch_funding_rate", "fetchFundingRate",
                                per_symbol=True, reads="funding_rate"),
}


def plan(exchange_id: str, kind: str, has: Mapping[str, Any]) -> tuple[Part, ...]:
    """The parts a poll of `kind` runs on this exchange, those ccxt does not support left out;
    a bulk first part ccxt lacks is replaced by its per-symbol method."""
    parts = PLANS.get(exchange_id, _GENERIC)[kind]
    chosen = []
    for index, part in enumerate(parts):
        if part.has is None or has.get(part.has):
            chosen.append(part)
        elif index == 0 and part.method in SINGLE and has.get(SINGLE[part.method].has):
            chosen.append(SINGLE[part.method])
        elif index == 0:
            return ()
    return tuple(chosen)
