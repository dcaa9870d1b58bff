"""When a record is a new observation of its symbol, and under which `ts` it lands: the one rule
poll mode (polling.KindState.track) and stream mode (stream.StreamOwner._fresh) both apply.

A record whose values equal the symbol's last observation of its kind is that observation again.
A record with new values is never dropped: when the exchange time did not move with them (an
exchange that stamps the last trade, not the snapshot), it takes its receive time instead, or one
millisecond past the last observation where that is later: a new identity after the last one.
Every value field of the record type counts (`records.*.value_fields`), so a field added to a
record type is compared without a change here.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Final

from collector.records import RECORD_TYPES, Record

# Per kind: the record's values as one tuple (every record type has more than one value field).
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


def streamed_ts(last: Record | None, record: Record) -> int | None:
    """`landing_ts` as a stream applies it: a frame whose exchange time moved on lands whatever its
    values, without comparing them (the per-frame path), since the stream's watchdog reads a
    symbol whose time moves as one that is still delivering and a stream emits at most one record
    per symbol and `stream_interval` anyway; an unmoved time is judged by the values."""
    if last is None or record.ts > last.ts:
        return record.ts
    return landing_ts(last, record)
