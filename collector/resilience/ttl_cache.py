"""A bounded TTL cache: entries expire after their TTL; past `max_size` the least recently
used entry is evicted. Single-threaded by design (one event loop), so no locks."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from itertools import repeat
from typing import Any

_MISSING = object()


class TTLCache:
    def __init__(
        self, *, max_size: int, default_ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_size = max_size
        self.default_ttl = default_ttl
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.get(key, _MISSING)
        if entry is _MISSING:
            self.misses += 1
            return default
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            self.misses += 1
            return default
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def set(self, key: Hashable, value: Any, ttl: float | None = None) -> None:
        expires_at = self._clock() + (self.default_ttl if ttl is None else ttl)
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
            self.evictions += 1

    def set_many(self, keys: Sequence[Hashable], value: Any, ttl: float | None = None) -> None:
        """`set(key, value, ttl)` for each of `keys` (distinct) in turn: the same entries in the
        same order, and the same evictions; at one clock reading while no eviction is due."""
        entries = self._entries
        if len(entries) + len(keys) > self.max_size:  # a key may be evicted before its turn
            for key in keys:
                self.set(key, value, ttl)
            return
        entry = (self._clock() + (self.default_ttl if ttl is None else ttl), value)
        entries.update(zip(keys, repeat(entry)))
        deque(map(entries.move_to_end, keys), maxlen=0)  # in turn, like set(): in C

    def pop(self, key: Hashable, default: Any = None) -> Any:
        entry = self._entries.pop(key, _MISSING)
        return default if entry is _MISSING else entry[1]

    def clear(self) -> None:
        self._entries.clear()
