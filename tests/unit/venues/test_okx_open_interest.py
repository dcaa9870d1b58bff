"""okx open interest is stored in the base currency: `oiCcy` where okx sends it, else `oi` (a
count of contracts) x the market's contract size, else nothing (the rule the ccxt path is being
corrected to on another branch; today's ccxt path stores the contract count there)."""

from __future__ import annotations

from collector.venues.okx import open_interest_row

ETH = {"symbol": "ETH/USDT:USDT", "contractSize": 0.1}


def test_oi_ccy_is_stored_as_sent():
    assert open_interest_row({"instId": "ETH-USDT-SWAP", "oi": "5000", "oiCcy": "500.5", "ts": "1743588686291"},
                             ETH) == (1743588686291, {"open_interest": 500.5})


def test_without_oi_ccy_the_contracts_are_counted_in_the_base_currency():
    for missing in ({}, {"oiCcy": ""}, {"oiCcy": None}):
        ts, values = open_interest_row({"instId": "ETH-USDT-SWAP", "oi": "5000", **missing}, ETH)
        assert values == {"open_interest": 500.0}


def test_without_a_contract_size_nothing_is_stored():
    for market in (None, {"symbol": "ETH/USDT:USDT"}, {"symbol": "ETH/USDT:USDT", "contractSize": None}):
        assert open_interest_row({"instId": "ETH-USDT-SWAP", "oi": "5000"}, market)[1] == {"open_interest": None}
