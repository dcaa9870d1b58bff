"""The websocket data frames of the three dialects, rendered straight to JSON bytes, a whole tick
of one channel at once.

Each function writes, for every symbol of a tick (`quotes.Columns`, a list per quote field), the
text `json.dumps(payload, separators=(",", ":"))` gives for the venue's payload (the same keys in
the same order, the same decimal strings), without building the dict and walking it: one f-string
per frame in one list comprehension per channel, so the simulator can push the feed a native
daemon takes. `ids` are the venue's market ids, `decimals` the price decimals and `prices` their
format specs (".4f"), a value per column. Every value written between quotes is a decimal, an id
or a fixed word, none of which JSON escapes. tests/unit/exchange_simulator/test_ws_render.py
holds each function to the `json.dumps` of the venue's payload, byte for byte, over many quotes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from exchange_simulator.quotes import Columns

DAY_MS = 86_400_000


def binance_books(c: Columns, ids: Sequence[str], prices: Sequence[str]) -> list[bytes]:
    """`<symbol>@bookTicker`: best bid and ask."""
    return [f'{{"e":"bookTicker","u":{ts},"s":"{market}","b":"{bid:{p}}","B":"1.000",'
            f'"a":"{ask:{p}}","A":"1.000","T":{ts},"E":{ts}}}'.encode()
            for ts, market, bid, ask, p in zip(c.ts, ids, c.bid, c.ask, prices, strict=True)]


def binance_marks(c: Columns, ids: Sequence[str]) -> list[bytes]:
    """`<symbol>@markPrice@1s`: mark, index and the funding rate with its next time."""
    return [f'{{"e":"markPriceUpdate","E":{ts},"s":"{market}","p":"{mark:.8f}","i":"{index:.8f}",'
            f'"P":"{index:.8f}","r":"{rate:.8f}","T":{funding_time}}}'.encode()
            for ts, market, mark, index, rate, funding_time
            in zip(c.ts, ids, c.mark, c.index, c.funding_rate, c.next_funding_time, strict=True)]


def binance_tickers(c: Columns, ids: Sequence[str], decimals: Sequence[int], prices: Sequence[str]) -> list[bytes]:
    """`<symbol>@ticker`: the 24 h rolling window (binance futures: no bid/ask in it)."""
    return [_binance_ticker(*values) for values in zip(
        c.ts, ids, decimals, prices, c.last, c.open_24h, c.high_24h, c.low_24h, c.base_volume, c.quote_volume,
        strict=True)]


def _binance_ticker(ts: int, market: str, d: int, p: str, last: float, open_24h: float, high: float, low: float,
                    base_volume: float, quote_volume: float) -> bytes:
    change, volume = round(last - open_24h, d), int(base_volume)
    return (f'{{"e":"24hrTicker","E":{ts},"s":"{market}","p":"{change:{p}}",'
            f'"P":"{change / open_24h * 100:.3f}","w":"{quote_volume / base_volume:{p}}",'
            f'"c":"{last:{p}}","Q":"1.000","o":"{open_24h:{p}}","h":"{high:{p}}",'
            f'"l":"{low:{p}}","v":"{base_volume:.3f}","q":"{quote_volume:.4f}",'
            f'"O":{ts - DAY_MS},"C":{ts},"F":{ts // 1000},"L":{ts // 1000 + volume},"n":{volume + 1}}}').encode()


# bybit's `tickers.<symbol>` row (bybit.ticker_row): its keys in order.
BYBIT_KEYS = (
    "symbol", "lastPrice", "indexPrice", "markPrice", "prevPrice24h", "price24hPcnt", "highPrice24h",
    "lowPrice24h", "prevPrice1h", "openInterest", "openInterestValue", "turnover24h", "volume24h",
    "fundingRate", "nextFundingTime", "predictedDeliveryPrice", "basisRate", "deliveryFeeRate",
    "deliveryTime", "ask1Size", "bid1Price", "ask1Price", "bid1Size", "basis", "preOpenPrice", "preQty",
    "curPreListingPhase",
)
_BYBIT_FIXED = {"predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
                "ask1Size": "1.000", "bid1Size": "1.000", "basis": "", "preOpenPrice": "", "preQty": "",
                "curPreListingPhase": ""}
# the fields a delta can carry: those that are not the same words in every row
_BYBIT_MOVING = tuple(key for key in BYBIT_KEYS[1:] if key not in _BYBIT_FIXED)


def _trimmed_rate(rate: float) -> str:
    text = f"{rate:.8f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def bybit_columns(c: Columns, ids: Sequence[str], prices: Sequence[str]) -> dict[str, list[str]]:
    """The values of bybit's ticker row for every symbol, a list per key of `BYBIT_KEYS` that is
    not one of the fixed words (`_BYBIT_FIXED`)."""
    def formatted(values: list[float]) -> list[str]:
        return [f"{value:{spec}}" for value, spec in zip(values, prices, strict=True)]

    open_24h = formatted(c.open_24h)
    return {
        "symbol": list(ids), "lastPrice": formatted(c.last), "indexPrice": formatted(c.index),
        "markPrice": formatted(c.mark), "prevPrice24h": open_24h,
        "price24hPcnt": [f"{(last - o) / o:.6f}" for last, o in zip(c.last, c.open_24h, strict=True)],
        "highPrice24h": formatted(c.high_24h), "lowPrice24h": formatted(c.low_24h), "prevPrice1h": open_24h,
        "openInterest": [f"{oi:.3f}" for oi in c.open_interest],
        "openInterestValue": [f"{oi * mark:.2f}" for oi, mark in zip(c.open_interest, c.mark, strict=True)],
        "turnover24h": [f"{v:.4f}" for v in c.quote_volume], "volume24h": [f"{v:.3f}" for v in c.base_volume],
        "fundingRate": [_trimmed_rate(rate) for rate in c.funding_rate],
        "nextFundingTime": [str(t) for t in c.next_funding_time],
        "bid1Price": formatted(c.bid), "ask1Price": formatted(c.ask),
    }


def _bybit_frame(kind: str, market: str, data: str, ts: int) -> bytes:
    return (f'{{"topic":"tickers.{market}","type":"{kind}","data":{{"symbol":"{market}{data}"}},'
            f'"cs":{ts},"ts":{ts}}}').encode()


def bybit_snapshot(columns: dict[str, list[str]], at: int, ts: int) -> bytes:
    """The whole row of the symbol in column `at`: a topic's first frame."""
    data = "".join([f'","{key}":"{columns[key][at] if key in columns else _BYBIT_FIXED[key]}'
                    for key in BYBIT_KEYS[1:]])
    return _bybit_frame("snapshot", columns["symbol"][at], data, ts)


def bybit_delta(columns: dict[str, list[str]], previous: dict[str, list[str]], at: int, ts: int) -> bytes:
    """The symbol in column `at`, then the fields that changed since `previous` (the values this
    connection was sent last)."""
    data = "".join([f'","{key}":"{columns[key][at]}' for key in _BYBIT_MOVING
                    if columns[key][at] != previous[key][at]])
    return _bybit_frame("delta", columns["symbol"][at], data, ts)


def bybit_deltas(columns: dict[str, list[str]], previous: dict[str, list[str]], ts: list[int]) -> list[bytes]:
    """`bybit_delta` of every column at once: a field at a time over all symbols."""
    data = [""] * len(ts)
    for key in _BYBIT_MOVING:
        if columns[key] == previous[key]:  # the field moved for no symbol (the 24 h open, mostly)
            continue
        prefix = f'","{key}":"'
        data = [text + prefix + value if value != old else text
                for text, value, old in zip(data, columns[key], previous[key], strict=True)]
    return [_bybit_frame("delta", market, text, at_ts)
            for market, text, at_ts in zip(columns["symbol"], data, ts, strict=True)]


def okx_tickers(c: Columns, ids: Sequence[str], prices: Sequence[str],
                contract_values: Sequence[float]) -> list[bytes]:
    """`tickers`: last, best bid/ask, the 24 h window (okx.ticker_row)."""
    return [_okx_ticker(*values) for values in zip(
        c.ts, ids, prices, contract_values, c.last, c.ask, c.bid, c.open_24h, c.high_24h, c.low_24h,
        c.base_volume, strict=True)]


def _okx_ticker(ts: int, inst: str, p: str, contract_value: float, last: float, ask: float, bid: float,
                open_24h: float, high: float, low: float, base_volume: float) -> bytes:
    opened = f"{open_24h:{p}}"
    return (f'{{"arg":{{"channel":"tickers","instId":"{inst}"}},"data":[{{"instType":"SWAP",'
            f'"instId":"{inst}","last":"{last:{p}}","lastSz":"1","askPx":"{ask:{p}}","askSz":"10",'
            f'"bidPx":"{bid:{p}}","bidSz":"10","open24h":"{opened}","high24h":"{high:{p}}",'
            f'"low24h":"{low:{p}}","volCcy24h":"{base_volume:.3f}","vol24h":"{base_volume / contract_value:.1f}",'
            f'"sodUtc0":"{opened}","sodUtc8":"{opened}","ts":"{ts}"}}]}}').encode()


def okx_marks(c: Columns, ids: Sequence[str], prices: Sequence[str]) -> list[bytes]:
    """`mark-price` (okx.mark_row)."""
    return [f'{{"arg":{{"channel":"mark-price","instId":"{inst}"}},"data":[{{"instType":"SWAP",'
            f'"instId":"{inst}","markPx":"{mark:{p}}","ts":"{ts}"}}]}}'.encode()
            for ts, inst, mark, p in zip(c.ts, ids, c.mark, prices, strict=True)]
