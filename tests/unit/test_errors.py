"""How a failure reads in a log line: one line, with the reason it was raised from."""

from __future__ import annotations

from collector.errors import one_line


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
