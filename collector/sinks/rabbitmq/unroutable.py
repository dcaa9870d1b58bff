"""Records the broker returned because no queue binds their routing key (`mandatory` publishing).

Counted per kind (`collector_mq_unroutable_total{kind}`) and logged once per episode: `MQ_003`
with an example routing key when the first comes back, `mq_unroutable_ended` once a batch goes
through without one. Then `rabbitmq.unroutable` decides: `hold` fails the batch with
`SinkHolding`, so the writer keeps it in the journal, unconfirmed, and tries it again until a
queue binds the key (the sink goes `lagging`); the records of a held batch that did reach a
queue are remembered and not sent again. `count` lets the returned records go.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import structlog

from collector import metrics
from collector.errors import ErrorCode, SinkHolding
from collector.records import Record, message_id, routing_key

log = structlog.get_logger(__name__)


class Unroutable:
    def __init__(self, policy: Literal["hold", "count"], exchange: str) -> None:
        self.policy = policy
        self._exchange = exchange
        self._routed: set[str] = set()  # ids of a held batch that a queue took: not sent again
        self._since: float | None = None  # monotonic start of the episode
        self._returned = 0  # in this episode

    def still_to_send(self, records: Sequence[Record]) -> Sequence[Record]:
        if not self._routed:
            return records
        return [record for record in records if message_id(record) not in self._routed]

    def settle(self, records: Sequence[Record], returned: list[int]) -> None:
        """After every message of `records` was confirmed; `returned`: the positions sent back."""
        if not returned:
            self._routed.clear()
            if self._since is not None:
                log.info("mq_unroutable_ended", sink="rabbitmq", returned=self._returned,
                         duration_s=round(time.monotonic() - self._since, 1))
                self._since, self._returned = None, 0
            return
        kinds = Counter(records[i].kind for i in returned)
        for kind, count in kinds.items():
            metrics.mq_unroutable.labels(kind=kind).inc(count)
        self._returned += len(returned)
        example = routing_key(records[returned[0]])
        if self._since is None:
            self._since = time.monotonic()
            log.warning("mq_unroutable", sink="rabbitmq", error_code=ErrorCode.MQ_003, exchange=self._exchange,
                        returned=len(returned), example_routing_key=example, kinds=dict(kinds),
                        unroutable=self.policy,
                        detail=("kept in the journal until a queue binds them" if self.policy == "hold"
                                else "counted and let go"))
        if self.policy == "count":
            return
        back = set(returned)
        self._routed.update(message_id(record) for i, record in enumerate(records) if i not in back)
        raise SinkHolding(f"RabbitMQ returned {len(returned)} of {len(records)} messages: no queue binds "
                          f"their routing key (e.g. {example}); held in the journal", code=ErrorCode.MQ_003)
