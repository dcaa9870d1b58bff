"""The ccxt pro adapter is written for one range of ccxt: the installed one is in it, and anything
else is refused when a stream with `decoder: ccxt` is built, by version or by the internal it
lacks."""

from __future__ import annotations

from types import SimpleNamespace

import ccxt.pro as ccxt_pro
import pytest

from collector.streams import ccxtpro
from collector.streams.ccxtpro import SUPPORTED_CCXT_PRO, UnsupportedCcxtPro, check_supported


@pytest.mark.parametrize("ccxt_id", ["binanceusdm", "bybit", "okx"])
def test_the_installed_ccxt_pro_is_one_the_adapter_supports(ccxt_id: str) -> None:
    check_supported(getattr(ccxt_pro, ccxt_id))


def test_an_unsupported_ccxt_is_refused_by_name(monkeypatch) -> None:
    monkeypatch.setattr(ccxtpro.metadata, "version", lambda _name: "4.9.0")
    with pytest.raises(UnsupportedCcxtPro, match=r"ccxt 4\.9\.0 is not supported by collector/streams/ccxtpro\.py"):
        check_supported()
    assert (4, 9) not in SUPPORTED_CCXT_PRO


def test_a_pro_exchange_without_handle_message_is_refused_by_that_name() -> None:
    with pytest.raises(UnsupportedCcxtPro, match="pro exchange lacks handle_message$"):
        check_supported(SimpleNamespace(clients={}))
