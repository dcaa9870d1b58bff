"""The websocket data frames of the three dialects, rendered straight to JSON text.

Each function writes the text `json.dumps(payload, separators=(",", ":"))` gives for the venue's
payload (the same keys in the same order, the same decimal strings), without building the dict
and walking it: a frame costs a few string formats, so the simulator can push the feed a native
daemon takes. Every value written between quotes is a decimal, an id or a fixed word, none of
which JSON escapes. tests/unit/exchange_simulator/test_ws_render.py holds each function to the
`json.dumps` of the venue's payload, byte for byte, over many quotes.
"""

from __future__ import annotations

from exchange_simulator import okx
from exchange_simulator.market import Quote

DAY_MS = 86_400_000


def binance_book(market: str, q: Quote, d: int) -> str:
    """`<symbol>@bookTicker`: best bid and ask."""
    return (f'{{"e":"bookTicker","u":{q.ts},"s":"{market}","b":"{q.bid:.{d}f}","B":"1.000",'
            f'"a":"{q.ask:.{d}f}","A":"1.000","T":{q.ts},"E":{q.ts}}}')


def binance_mark(market: str, q: Quote) -> str:
    """`<symbol>@markPrice@1s`: mark, index and the funding rate with its next time."""
    index = f"{q.index:.8f}"
    return (f'{{"e":"markPriceUpdate","E":{q.ts},"s":"{market}","p":"{q.mark:.8f}","i":"{index}",'
            f'"P":"{index}","r":"{q.funding_rate:.8f}","T":{q.next_funding_time}}}')


def binance_ticker(market: str, q: Quote, d: int) -> str:
    """`<symbol>@ticker`: the 24 h rolling window (binance futures: no bid/ask in it)."""
    change = round(q.last - q.open_24h, d)
    ts, volume = q.ts, int(q.base_volume)
    return (f'{{"e":"24hrTicker","E":{ts},"s":"{market}","p":"{change:.{d}f}",'
            f'"P":"{change / q.open_24h * 100:.3f}","w":"{q.quote_volume / q.base_volume:.{d}f}",'
            f'"c":"{q.last:.{d}f}","Q":"1.000","o":"{q.open_24h:.{d}f}","h":"{q.high_24h:.{d}f}",'
            f'"l":"{q.low_24h:.{d}f}","v":"{q.base_volume:.3f}","q":"{q.quote_volume:.4f}",'
            f'"O":{ts - DAY_MS},"C":{ts},"F":{ts // 1000},"L":{ts // 1000 + volume},"n":{volume + 1}}}')


# bybit's `tickers.<symbol>` row (bybit.ticker_row): its keys in order; the values of
# `bybit_values` follow them one for one.
BYBIT_KEYS = (
    "symbol", "lastPrice", "indexPrice", "markPrice", "prevPrice24h", "price24hPcnt", "highPrice24h",
    "lowPrice24h", "prevPrice1h", "openInterest", "openInterestValue", "turnover24h", "volume24h",
    "fundingRate", "nextFundingTime", "predictedDeliveryPrice", "basisRate", "deliveryFeeRate",
    "deliveryTime", "ask1Size", "bid1Price", "ask1Price", "bid1Size", "basis", "preOpenPrice", "preQty",
    "curPreListingPhase",
)
_BYBIT_PREFIXES = tuple(f'"{key}":"' for key in BYBIT_KEYS)


def bybit_values(market: str, q: Quote, d: int) -> tuple[str, ...]:
    """The values of bybit's ticker row for `q`, in `BYBIT_KEYS` order."""
    open_24h = f"{q.open_24h:.{d}f}"
    rate = f"{q.funding_rate:.8f}".rstrip("0")
    return (
        market, f"{q.last:.{d}f}", f"{q.index:.{d}f}", f"{q.mark:.{d}f}", open_24h,
        f"{(q.last - q.open_24h) / q.open_24h:.6f}", f"{q.high_24h:.{d}f}", f"{q.low_24h:.{d}f}", open_24h,
        f"{q.open_interest:.3f}", f"{q.open_interest * q.mark:.2f}", f"{q.quote_volume:.4f}",
        f"{q.base_volume:.3f}", rate + "0" if rate.endswith(".") else rate, str(q.next_funding_time),
        "", "", "", "0", "1.000", f"{q.bid:.{d}f}", f"{q.ask:.{d}f}", "1.000", "", "", "", "",
    )


def bybit_frame(values: tuple[str, ...], previous: tuple[str, ...] | None, ts: int) -> str:
    """A snapshot of the whole row, or (after one) a delta of the symbol and the changed fields."""
    if previous is None:
        fields = [prefix + value for prefix, value in zip(_BYBIT_PREFIXES, values, strict=True)]
        kind = "snapshot"
    else:  # the symbol, then what changed
        fields = [_BYBIT_PREFIXES[0] + values[0]]
        fields += [prefix + value for prefix, value, old in zip(_BYBIT_PREFIXES[1:], values[1:], previous[1:], strict=True)
                   if value != old]
        kind = "delta"
    data = '",'.join(fields)
    return f'{{"topic":"tickers.{values[0]}","type":"{kind}","data":{{{data}"}},"cs":{ts},"ts":{ts}}}'


def okx_ticker(inst: str, q: Quote, d: int) -> str:
    """`tickers`: last, best bid/ask, the 24 h window (okx.ticker_row)."""
    open_24h = f"{q.open_24h:.{d}f}"
    contracts = q.base_volume / okx.contract_value(q.symbol.split("/")[0])
    return (f'{{"arg":{{"channel":"tickers","instId":"{inst}"}},"data":[{{"instType":"SWAP",'
            f'"instId":"{inst}","last":"{q.last:.{d}f}","lastSz":"1","askPx":"{q.ask:.{d}f}","askSz":"10",'
            f'"bidPx":"{q.bid:.{d}f}","bidSz":"10","open24h":"{open_24h}","high24h":"{q.high_24h:.{d}f}",'
            f'"low24h":"{q.low_24h:.{d}f}","volCcy24h":"{q.base_volume:.3f}","vol24h":"{contracts:.1f}",'
            f'"sodUtc0":"{open_24h}","sodUtc8":"{open_24h}","ts":"{q.ts}"}}]}}')


def okx_mark(inst: str, q: Quote, d: int) -> str:
    """`mark-price` (okx.mark_row)."""
    return (f'{{"arg":{{"channel":"mark-price","instId":"{inst}"}},"data":[{{"instType":"SWAP",'
            f'"instId":"{inst}","markPx":"{q.mark:.{d}f}","ts":"{q.ts}"}}]}}')
