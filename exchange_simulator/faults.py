"""Fault rules of one exchange: which request gets which failure, chosen by path, count and chance."""

from __future__ import annotations

import collections
import dataclasses
import random

KINDS = frozenset(
    {
        "latency",
        "http_429",
        "http_418",
        "http_5xx",
        "maintenance",
        "timeout",
        "reset",
        "malformed_json",
        "truncated_json",
        "clock_skew",
        "auth_error",
    }
)
# Websocket faults: standing conditions of an exchange's streams while they are set (until cleared
# or `count` uses): the server closes connections, goes silent (still answering pings), sends
# frames `latency` seconds apart, sends malformed frames, or rejects subscriptions.
WS_KINDS = frozenset({"ws_close", "ws_silence", "ws_slow", "ws_malformed", "ws_reject"})
KINDS = KINDS | WS_KINDS


@dataclasses.dataclass(slots=True)
class Fault:
    """One rule. ``count`` is how many more requests it may hit (None = unlimited)."""

    kind: str
    path: str | None = None
    count: int | None = None
    probability: float = 1.0
    retry_after: float = 1.0
    latency: float = 0.5
    status: int = 500
    skew_ms: int = 0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def make_fault(kind: str, **settings: object) -> Fault:
    """Validate and build a fault; unknown kinds and settings are errors, not silent no-ops."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(KINDS)}")
    names = {f.name for f in dataclasses.fields(Fault)} - {"kind"}
    unknown = set(settings) - names
    if unknown:
        raise ValueError(f"unknown fault settings {sorted(unknown)}; known: {sorted(names)}")
    fault = Fault(kind=kind, **settings)  # type: ignore[arg-type]
    if not 0.0 <= fault.probability <= 1.0:
        raise ValueError("probability must be within 0..1")
    if fault.count is not None and fault.count < 0:
        raise ValueError("count must be >= 0")
    if kind == "http_5xx" and not 500 <= fault.status <= 599:
        raise ValueError("http_5xx status must be within 500..599")
    return fault


class FaultBook:
    """The active faults of one exchange, with a seeded coin for probabilistic ones."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self.fired: collections.Counter[str] = collections.Counter()

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def active(self) -> list[Fault]:
        return list(self._faults)

    def reset_counts(self) -> None:
        self.fired.clear()

    @property
    def skew_ms(self) -> int:
        """Clock skew is a standing condition of the exchange, not a per-request event."""
        return sum(f.skew_ms for f in self._faults if f.kind == "clock_skew")

    def draw(self, path: str) -> list[Fault]:
        """Faults that hit this request: every matching latency, then at most one failure."""
        hits: list[Fault] = []
        failure_taken = False
        for fault in self._faults:
            if fault.kind == "clock_skew" or fault.kind in WS_KINDS or not self._matches(fault, path):
                continue
            if fault.kind != "latency":
                if failure_taken:
                    continue
                failure_taken = True
            self._consume(fault)
            hits.append(fault)
        self._faults = [f for f in self._faults if f.count is None or f.count > 0]
        return hits

    def ws_fault(self, kinds: frozenset[str] = WS_KINDS) -> Fault | None:
        """The first websocket fault of `kinds` in force now; one use of it is counted."""
        for fault in self._faults:
            if fault.kind in kinds and (fault.count is None or fault.count > 0):
                self._consume(fault)
                if fault.count == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _matches(self, fault: Fault, path: str) -> bool:
        if fault.path is not None and fault.path not in path:
            return False
        if fault.count is not None and fault.count <= 0:
            return False
        return fault.probability >= 1.0 or self._rng.random() < fault.probability

    def _consume(self, fault: Fault) -> None:
        if fault.count is not None:
            fault.count -= 1
        self.fired[fault.kind] += 1
