"""The venue's strings → our values, exactly as today's ccxt path stores them.

The reference is ccxt's reading followed by normalize.py's: ccxt's `safe_string` keeps a non-empty
string or the text of a JSON number (a bool, a list, "" are absent), its `parse_number` is
`float()` of that text, and anything `float()` refuses becomes None; `safe_ticker` also drops a
zero price (`omit_zero`: "0", "-0.0", "0e5" are None for last, bid, ask, high and low, not for
volumes, mark or index). normalize.py then refuses a NaN or an infinity (the record is skipped,
counted as malformed), and reads a raw field ccxt left empty with its stricter `number()`, which
refuses text that is no number at all. Each venue module says which reading each field gets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from ccxt.base.precise import Precise

from collector.record_checks import MAX_TS, MIN_TS
from collector.values import MalformedEntry, number

__all__ = ("MalformedEntry", "close", "finite", "integer", "lenient", "nonzero", "number", "plain_floats",
           "plain_row", "strict_time", "text")

_NUMBERS: Final = (int, float)


def text(value: Any) -> str | None:
    """ccxt's `safe_string` of a value already taken from the row."""
    kind = type(value)
    if kind is str:
        return value or None
    if kind is float or kind is int:
        return str(value)
    return None


def lenient(value: Any) -> float | None:
    """ccxt's `safe_number` then normalize's finite check: None for absent or unreadable text,
    MalformedEntry for NaN or an infinity."""
    kind = type(value)
    if kind is str:
        if not value:
            return None
        try:
            parsed = float(value)
        except ValueError:
            return None
    elif kind is float:
        parsed = value
    elif kind is int:
        parsed = float(value)
    else:
        return None
    if parsed - parsed != 0.0:
        raise MalformedEntry(f"not a finite number: {value!r}")
    return parsed


def ccxt_number(value: Any) -> float | None:
    """ccxt's `safe_number` alone (a NaN stays a NaN: the record's reader refuses it later)."""
    kind = type(value)
    if kind is str:
        try:
            return float(value) if value else None
        except ValueError:
            return None
    if kind is float or kind is int:
        return float(value)
    return None


def nonzero(value: Any) -> float | None:
    """A price through ccxt's `safe_ticker` (`omit_zero`): zero is no price."""
    if type(value) is str and value:  # the venue's text, the common case, inline (hot path)
        try:
            parsed = float(value)
        except ValueError:
            return None
        if parsed - parsed != 0.0:
            raise MalformedEntry(f"not a finite number: {value!r}")
        return parsed or None  # 0.0 and -0.0
    parsed = lenient(value)
    return None if parsed == 0.0 else parsed


def finite(value: float | None) -> float | None:
    if value is not None and value - value != 0.0:
        raise MalformedEntry(f"not a finite number: {value!r}")
    return value


def fallback(ccxt_value: float | None, raw: Any) -> float | None:
    """A field ccxt reads and normalize reads again from the raw row when ccxt's is None."""
    return ccxt_value if ccxt_value is not None else number(raw)


def integer(value: Any) -> int | None:
    """ccxt's `safe_integer`: int(float(value)), None when that fails (bools count as 0 and 1)."""
    if type(value) is int:
        return value
    if value is None or value == "":  # absent (bybit's rows carry no time): no exception raised
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def first_integer(row: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    """ccxt's `safe_integer_n`: the first key with a value (not null, not ""), as an integer;
    None when that one is unreadable (the next key is not tried)."""
    for key in keys:
        value = row.get(key)
        if value is not None and value != "":
            try:
                return int(float(value))
            except (TypeError, ValueError):
                return None
    return None


def strict_time(value: int | None) -> int | None:
    """A time normalize accepts as is (None stays None); outside 2000..2100 is malformed."""
    if value is not None and not MIN_TS <= value <= MAX_TS:
        raise MalformedEntry(f"timestamp {value} is outside 2000..2100")
    return value


def _omit_zero(string: str | None) -> str | None:
    """ccxt's `omit_zero` on a `safe_string`."""
    if string is None:
        return None
    try:
        return None if float(string) == 0 else string
    except ValueError:
        return string


# Text ccxt's Precise reads without failing; anything else takes the slow, exact way.
_NUMBER_TEXT: Final = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_PLAIN: Final = re.compile(_NUMBER_TEXT).fullmatch
# The same check of 4 or 6 texts at once, joined by NUL (a text holding one fails it: more fields).
_ALL_PLAIN: Final = {n: re.compile(f"(?:{_NUMBER_TEXT})?" + f"\x00(?:{_NUMBER_TEXT})?" * (n - 1)).fullmatch
                     for n in (4, 6)}


def close(last: Any, open_: Any = None, change: Any = None, percentage: str | None = None,
          volumes: tuple[Any, Any] | None = None, fraction: bool = False) -> float | None:
    """The last price as ccxt's `safe_ticker` gives it: the venue's unless absent or zero, then
    open + change (or open x percentage / 100) where the venue gives those. `volumes` (base,
    quote) where ccxt derives a vwap from them (the venue sends none). On text Precise cannot
    read, ccxt's `safe_ticker` fails the whole response: so does this (ValueError)."""
    if type(last) is str and last and _plain_texts(last, open_, change, percentage, volumes):
        parsed = float(last)  # the common row: a price, every other field plain text or absent
        if parsed:
            return finite(parsed)
    strings = (text(last), text(open_), text(change), percentage,
               *(map(text, volumes) if volumes else (None, None)))
    for string in strings:  # a loop, not all() over a generator: every streamed ticker comes here
        if string is not None and _PLAIN(string) is None:
            break
    else:
        closing = _omit_zero(strings[0])
        if closing is not None:  # the venue's own last price, the common case
            return lenient(closing)
        if fraction and percentage is not None:
            percentage = Precise.string_mul(percentage, "100")
        closing = _derived_close(_omit_zero(strings[1]), strings[2], _omit_zero(percentage))
        closing = _omit_zero(closing)
        return None if closing is None else lenient(closing)
    if fraction:
        strings = (*strings[:3], Precise.string_mul(percentage, "100"), *strings[4:])
    closing = _omit_zero(_safe_ticker_close(*strings))
    return None if closing is None else lenient(closing)


# Only what plain decimal text is made of: with float() reading each text, each is such text.
_NUMBER_CHARS: Final = re.compile("[0-9.eE+\\-\x00]*").fullmatch


def plain_floats(texts: tuple[Any, ...]) -> tuple[float, ...] | None:
    """The floats of `texts` where every one is plain decimal text (ASCII digits, a point, an
    exponent: what float() and ccxt's Precise read alike) and finite; None where any one is not
    (absent, "", a JSON number, NaN, text of another kind), and the caller reads each field its
    own way. The venues' usual row, read in a few C calls (hot path): there lenient(text) is its
    float, nonzero(text) its float or None, and close() the last price's float unless it is 0."""
    try:
        if _NUMBER_CHARS("\x00".join(texts)) is None:
            return None
        floats = tuple(map(float, texts))
    except (TypeError, ValueError):
        return None
    total = sum(floats)  # NaN or an infinity makes it so (an overflow too: the slow way is exact)
    return floats if total - total == 0.0 else None


def plain_row(fields: Callable[[Mapping[str, Any]], tuple[Any, ...]],
              row: Mapping[str, Any]) -> tuple[float, ...] | None:
    """`plain_floats` of the texts `fields` takes from `row`, its first one the last price: None
    where a field is missing, any is not plain, or the last price is 0 (the slow way reads those)."""
    try:
        floats = plain_floats(fields(row))
    except KeyError:
        return None
    return floats if floats is not None and floats[0] else None


def _plain_texts(last: str, open_: Any, change: Any, percentage: str | None,
                 volumes: tuple[Any, Any] | None) -> bool:
    """True where every field is text Precise reads or absent (None, "", a false value: what
    `text` leaves out or writes plainly); False where one may not be (a number, say): `close`
    then looks at each in turn. One regular expression over the joined texts (hot path)."""
    if not volumes:
        fields = (last, open_ or "", change or "", percentage or "")
    else:
        fields = (last, open_ or "", change or "", percentage or "", volumes[0] or "", volumes[1] or "")
    try:
        return _ALL_PLAIN[len(fields)]("\x00".join(fields)) is not None
    except TypeError:  # a field that is no text
        return False


def _clean(value: Any) -> bool:
    """True where ccxt's `safe_string` of `value` is absent or text Precise reads."""
    kind = type(value)
    if kind is str:
        return not value or _PLAIN(value) is not None
    if kind is float:
        return value - value == 0.0
    return True  # None, an int (its text is plain), anything else (absent for safe_string)


def _derived_close(open_: str | None, change: str | None, percentage: str | None) -> str | None:
    if open_ is None:
        return None
    if change is None and percentage is not None:
        change = Precise.string_mul(open_, Precise.string_div(percentage, "100"))
    return None if change is None else Precise.string_add(open_, change)


def _safe_ticker_close(last, open_, change, percentage, base_volume, quote_volume) -> str | None:
    """ccxt's `safe_ticker` string arithmetic, step by step, for the rare row whose text it may
    refuse: what it computes and where it raises (no average nor vwap is sent by our venues)."""
    open_, closing, percentage = _omit_zero(open_), _omit_zero(last), _omit_zero(percentage)
    if base_volume is not None or quote_volume is not None:
        Precise.string_div(_omit_zero(quote_volume), base_volume)
    if change is not None:
        if open_ is None and closing is not None:
            open_ = Precise.string_sub(closing, change)
    elif percentage is not None and open_ is None and closing is not None:
        open_ = Precise.string_div(closing, Precise.string_add("1", Precise.string_div(percentage, "100")))
    if change is None:
        if closing is not None and open_ is not None:
            change = Precise.string_sub(closing, open_)
        elif closing is not None and percentage is not None:
            change = Precise.string_mul(Precise.string_div(percentage, "100"), Precise.string_div(closing, "100"))
        elif open_ is not None and percentage is not None:
            change = Precise.string_mul(open_, Precise.string_div(percentage, "100"))
    if open_ is not None:
        if percentage is None and change is not None:
            Precise.string_mul(Precise.string_div(change, open_), "100")
        if closing is None and change is not None:
            closing = Precise.string_add(open_, change)
        if closing is not None:
            Precise.string_div(Precise.string_add(open_, closing), "2", 18)
    return closing
