"""Error codes are the contract's, and a failure reads as one line with the reason it was raised from."""

from __future__ import annotations

import re
from pathlib import Path

from collector.errors import ErrorCode, one_line

ROOT = Path(__file__).resolve().parents[2]
# DESIGN.md's error-code table, copied: the tests cannot read the contract itself.
CONTRACT_TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "contract" / "error_codes.md"
_CODE_ROW = re.compile(r"^\| ([A-Z]+_\d{3}) \|", re.M)


def contract_codes() -> list[str]:
    return _CODE_ROW.findall(CONTRACT_TABLE.read_text())


def guide_codes() -> list[str]:
    guide = (ROOT / "TROUBLESHOOTING.md").read_text()
    start = guide.index("## Error code reference\n")
    return _CODE_ROW.findall(guide[start:guide.find("\n## ", start + 1)])


def test_error_codes_are_the_contract_codes():
    codes = contract_codes()
    assert len(codes) == 11, "the contract's table no longer parses"
    missing = [code for code in codes if code not in ErrorCode.__members__]
    assert missing == []
    assert [ErrorCode[code].value for code in codes] == codes  # written exactly as the contract spells them


def test_codes_beyond_the_contract_follow_its_style():
    for code in ErrorCode:
        assert re.fullmatch(r"[A-Z]+_\d{3}", code.value) and code.name == code.value, code


def test_the_operator_guide_explains_every_contract_code_in_the_contracts_order():
    listed = guide_codes()
    assert [code for code in listed if code in contract_codes()] == contract_codes()


def _raised_from(error: Exception, cause: BaseException) -> Exception:
    try:
        raise error from cause
    except Exception as err:
        return err


def test_the_cause_a_library_error_was_raised_from_is_named():
    err = _raised_from(ConnectionError("okx GET http://127.0.0.1:9/api"),
                       ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)"))
    assert one_line(err) == ("ConnectionError: okx GET http://127.0.0.1:9/api "
                             "(ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 9))")


def test_a_cause_without_a_message_is_named_by_its_type_and_one_already_said_is_not_repeated():
    assert one_line(_raised_from(RuntimeError("okx GET /api"), TimeoutError())) == (
        "RuntimeError: okx GET /api (TimeoutError)")
    assert one_line(_raised_from(ValueError("unusable response (KeyError: 'data')"), KeyError("data"))) == (
        "ValueError: unusable response (KeyError: 'data')")


def test_it_is_one_line_and_bounded():
    text = one_line(ValueError("line one\nline two\r\n" + "x" * 500), limit=300)
    assert "\n" not in text and "\r" not in text
    assert text.startswith("ValueError: line one line two x") and len(text) == 300
    assert one_line("already\ntext") == "already text"
