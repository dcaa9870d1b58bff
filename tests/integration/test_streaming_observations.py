"""What a stream records of a symbol whose exchange time stands still while one value moves (an
exchange that stamps its last trade: the open interest moves without a trade), through ccxt pro
over the simulator's websockets: every move lands, under its receive time, and what did not move
does not land again (README "Observations", the same rule as poll mode)."""

from __future__ import annotations

from exchange_simulator import Simulator
from tests.support.streams import streaming, wait_until

SYMBOL = "BTC/USDT:USDT"


def of_btc(records: list, kind: str) -> list:
    return [r for r in records if r.symbol == SYMBOL and r.kind == kind]


def moves(values: list) -> list:
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


async def test_a_streamed_update_whose_values_moved_under_an_unmoved_exchange_time_lands_under_its_receive_time():
    async with Simulator(symbols=3, seed=51, tick=0.5) as sim:
        sim.hold("bybit", SYMBOL, "open_interest", time_moves=False)
        async with streaming(sim, ("bybit",), stream_interval=0.0) as (_, records):
            await wait_until(lambda: len(of_btc(records, "ticker")) >= 5, 30, "5 tickers of BTC")
        served = moves([quotes[SYMBOL].open_interest for _, quotes in sim.history("bybit") if SYMBOL in quotes])
    tickers = of_btc(records, "ticker")
    frozen = tickers[0].ts  # the exchange time every frame of BTC carried
    assert all(t.ts > frozen and t.ts >= t.received_at for t in tickers[1:])
    assert [t.ts for t in tickers] == sorted({t.ts for t in tickers})  # each a new identity, in order
    streamed = [t.open_interest for t in tickers]
    start = served.index(streamed[0])
    assert streamed == served[start:start + len(streamed)]  # every move, once, in order
    assert len(of_btc(records, "funding_rate")) == 1  # the funding rate stood still with its time
