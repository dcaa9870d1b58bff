"""`--check-deps` lines: a long reason wraps between words and keeps every one of them."""

from __future__ import annotations

from collector.ops.checks import Check

REASON = ("DB_001: postgres connect failed (crypto_user@db.internal.example:5432/crypto_data): "
          "ConnectionRefusedError: [Errno 111] Connect call failed ('10.0.0.7', 5432) while opening the pool "
          "http://very.long.example/a/path/that/is/longer/than/any/line/could/ever/be/on/a/terminal/screen")


def test_a_long_reason_is_never_cut_mid_word():
    text = Check("sink postgres", False, REASON).line(width=80)
    lines = text.splitlines()
    assert len(lines) > 1
    assert lines[0].startswith("FAIL  sink postgres ")
    assert all(line.startswith(" " * 35) for line in lines[1:])
    assert text.split() == ["FAIL", "sink", "postgres", *REASON.split()]


def test_a_short_reason_stays_one_line():
    assert Check("python", True, "3.11.7").line() == f"OK    {'python':<28} 3.11.7"
