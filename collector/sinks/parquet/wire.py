"""What the daemon and its archive writer process say to each other over the child's stdin/stdout.

A request is `<u32 head length><u32 body length>`, the head (a JSON object: `{"op": ...}`), then
the body: for `add`, journal frames as the journal wrote them (frames.py; the live commits' own
bytes, or a read from disk), and the head's `from`/`to` name the records of them to take. So the
daemon never encodes a record a second time, and the process decodes the frames' rows straight
into Arrow columns without making Record objects. A reply is one JSON line. Both sides import
this module; neither numpy nor pyarrow is imported here, so the daemon never loads them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, Final

import orjson

PREFIX: Final = struct.Struct("<II")


def request(head: dict[str, Any], body: Sequence[bytes | memoryview] = ()) -> bytes:
    """The prefix with the head; the body's pieces are written after it as they are (never
    copied to join them)."""
    encoded = orjson.dumps(head)
    return PREFIX.pack(len(encoded), sum(len(piece) for piece in body)) + encoded


def reply(values: dict[str, Any]) -> bytes:
    return orjson.dumps(values) + b"\n"
