"""When a record is a new observation of its symbol, and under which `ts` it lands: the one rule
poll mode (kind_state.KindState.track) and stream mode (`streamed`, from stream.StreamOwner._fresh)
both apply.

A record whose values equal the symbol's last observation of its kind is that observation again.
A record with new values is never dropped: when the exchange time did not move with them (an
exchange that stamps the last trade, not the snapshot), it takes its receive time instead, or one
millisecond past the last observation where that is later: a new identity after the last one.
Every value field of the record type counts (`records.*.value_fields`), so a field added to a
record type is compared without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter
from typing import Final

from collector.records import RECORD_TYPES, Record

# Per kind: the record's values as one tuple (or the one value of a kind with one: either compares).
VALUES_OF: Final = {kind: attrgetter(*t.value_fields) for kind, t in RECORD_TYPES.items()}


def landing_ts(last: Record | None, record: Record) -> int | None:
    """The `ts` under which `record` lands after `last` (the symbol's last observation of this
    kind, as it landed), or None when it observes nothing new."""
    if last is None:
        return record.ts
    values_of = VALUES_OF[record.kind]
    if values_of(record) == values_of(last):
        return None
    return record.ts if record.ts > last.ts else max(record.received_at, last.ts + 1)


def streamed(built: list[Record], last: dict[tuple[str, str], Record],
             rest: Mapping[tuple[str, str], int]) -> list[Record]:
    """The records built from one stream frame that observe something new, under the `ts` they
    land with; `last` ((kind, symbol) -> the stream's last record of it, as it landed) follows.

    `landing_ts`, but a frame whose exchange time moved on lands without its values compared
    (the per-frame path: ~19,000 frames/s): the stream's watchdog reads a symbol whose time moves
    as still delivering, and `stream_interval` keeps it to one record per symbol and interval.
    `rest` holds the exchange time of the REST round a symbol's streaming started with (its
    funding interval, stream.py): the symbol's first frame of that instant or older is not new."""
    fresh = []
    for record in built:
        key = (record.kind, record.symbol)
        seen = last.get(key)
        if seen is None:
            if record.ts <= rest.get(key, 0):
                continue
        elif record.ts <= seen.ts:  # the exchange time did not move: the values decide
            ts = landing_ts(seen, record)
            if ts is None:
                continue
            record = record.replaced({"ts": ts})  # new values take their receive time
        last[key] = record
        fresh.append(record)
    return fresh
