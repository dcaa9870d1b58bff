"""What the daemon and its archive writer process say to each other over the child's stdin/stdout.

A request is `<u32 head length><u32 body length>`, the head (a JSON object: `{"op": ...}`), then
the body: for `add`, the records as the journal's frames hold them (one JSON array per record,
`[kind, *values in records.columns(kind)]`), which the process turns into Arrow columns without
making Record objects again. A reply is one JSON line. Both sides import this
module; neither numpy nor pyarrow is imported here, so the daemon never loads them.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Sequence
from typing import Any, Final

import orjson

from collector.records import RECORD_TYPES, Record, columns

PREFIX: Final = struct.Struct("<II")
_ROW_OF: Final = {kind: operator.attrgetter("kind", *columns(kind)) for kind in RECORD_TYPES}


def rows_of(records: Sequence[Record]) -> list[tuple[Any, ...]]:
    row_of = _ROW_OF
    return [row_of[record.kind](record) for record in records]


def encode_records(records: Sequence[Record]) -> bytes:
    return orjson.dumps(rows_of(records))


def request(head: dict[str, Any], body: bytes = b"") -> tuple[bytes, bytes]:
    """The prefix with the head, and the body (written apart: a body is never copied to join them)."""
    encoded = orjson.dumps(head)
    return PREFIX.pack(len(encoded), len(body)) + encoded, body


def reply(values: dict[str, Any]) -> bytes:
    return orjson.dumps(values) + b"\n"
