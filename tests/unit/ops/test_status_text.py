"""`--status` as text: the same rows as the page, one screen, long errors wrapped between words."""

from __future__ import annotations

import re

from collector.ops import status_text
from tests.unit.ops.test_status_view import NOW, document, exchange

LONG_ERROR = ("ExchangeNotAvailable: binanceusdm GET http://127.0.0.1:9399/fapi/v1/exchangeInfo "
              "(ClientConnectorError: Cannot connect to host 127.0.0.1:9399 ssl:default [Connect call failed])")


def words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def test_a_long_error_wraps_between_words_and_loses_none_of_them():
    doc = document({"binance": exchange(consecutive_failures=2, error_code="EXCHANGE_001", last_error=LONG_ERROR)})
    for width in (200, 120, 80, 60):
        text = status_text.render(doc, url="http://h:1", now=NOW, width=width)
        assert " ".join(words(text)).count(" ".join(words(LONG_ERROR))) == 1, (width, text)


def test_rows_not_ok_are_marked_in_front():
    doc = document(sinks={"postgres": {"state": "down"}, "rabbitmq": {"state": "lagging"},
                          "sqlite": {"state": "ok"}})
    lines = status_text.render(doc, url="http://h:1", now=NOW).splitlines()
    assert [line[:2] + line[2:].split()[0] for line in lines if line[2:].split()[:1] in (["postgres"], ["rabbitmq"], ["sqlite"])] == [
        "! postgres", "~ rabbitmq", "  sqlite"]


def test_exit_codes_follow_the_status_and_an_unreachable_daemon_is_2():
    assert status_text.EXIT_CODES == {"ok": 0, "degraded": 1, "failing": 2}
    text, code = status_text.status("http://127.0.0.1:1")
    assert code == 2
    assert text.startswith("crypto-collector at http://127.0.0.1:1: UNREACHABLE (")
