"""Which shard owns a symbol: rendezvous (highest-random-weight) hashing, no coordinator.

Every (exchange, symbol) belongs to exactly one of `count` shards: the shard whose
`blake2b(exchange \\0 symbol \\0 shard)` is the highest. Every host computes the same owner
without talking to the others (the hash is fixed bytes, not Python's salted `hash()`), and
going from N to N+1 shards moves only the symbols the new shard now wins, about 1/(N+1).

`ShardConfig` is the `shard:` section; `index: auto` takes the host name's trailing ordinal
(`crypto-collector-3` -> 3, a StatefulSet pod's name), resolved once when the config loads.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from collector.errors import NestedValueError

_ORDINAL = re.compile(r"(\d+)$")


def score(exchange: str, symbol: str, shard: int) -> int:
    """The weight of `shard` for this symbol; the highest weight owns it. Fixed forever: changing
    it moves every symbol at once (an expected-owner test pins it)."""
    key = f"{exchange}\0{symbol}\0{shard}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def owner(exchange: str, symbol: str, count: int) -> int:
    """The index (0 .. count-1) of the shard that owns `symbol` of `exchange`."""
    if count == 1:
        return 0
    return max(range(count), key=lambda shard: score(exchange, symbol, shard))


def symbols_digest(symbols: Iterable[str]) -> str:
    """A short fingerprint of a set of symbols: /health stays small with 1,500 of them, and two
    replicas (or two loads) of the same set show the same digest."""
    joined = "\n".join(sorted(symbols)).encode()
    return hashlib.blake2b(joined, digest_size=8).hexdigest()


def hostname() -> str:
    """The name `index: auto` reads: $HOSTNAME (a pod's name) or the kernel's host name."""
    return os.environ.get("HOSTNAME") or socket.gethostname()


def ordinal(host: str) -> int | None:
    """`crypto-collector-3` -> 3; None when the name does not end in digits."""
    found = _ORDINAL.search(host.strip())
    return int(found.group(1)) if found else None


class ShardConfig(BaseModel):
    """`shard: {count, index}`; after validation `number` is the index as an int."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    count: int = Field(1, ge=1, le=1024)
    index: int | Literal["auto"] = 0
    _number: int = PrivateAttr(0)
    _host: str | None = PrivateAttr(None)  # the host name `auto` read, for the summary

    @field_validator("index", mode="before")
    @classmethod
    def _int_or_auto(cls, value: object) -> object:
        """One line for a bad index (pydantic would explain both halves of the union)."""
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text == "auto" or text.isdigit():
            return text if text == "auto" else int(text)
        raise ValueError("must be an integer 0 ..= shard.count-1 or auto")

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> ShardConfig:
        number, host = self.index, None
        if number == "auto":
            host = (info.context or {}).get("hostname") or hostname()
            number = ordinal(host)
            if number is None:
                raise NestedValueError(("index",), f"is auto but the host name {host!r} has no trailing "
                                       "ordinal (e.g. crypto-collector-3); set shard.index", self.index)
        if not 0 <= number < self.count:
            where = f" (host name {host!r})" if host else ""
            raise NestedValueError(("index",), f"must be 0 ..= {self.count - 1} (shard.count - 1){where}",
                                   number)
        self._number, self._host = number, host
        return self

    @property
    def number(self) -> int:
        return self._number

    @property
    def label(self) -> str:
        """`0/1` for an unsharded daemon, `2/4` for the third of four."""
        return f"{self._number}/{self.count}"

    def describe(self) -> str:
        auto = f" (index auto from host {self._host})" if self._host else ""
        return f"shard {self.label}{auto}"

    def owns(self, exchange: str, symbol: str) -> bool:
        return self.count == 1 or owner(exchange, symbol, self.count) == self._number

    def owned(self, exchange: str, symbols: Iterable[str]) -> frozenset[str]:
        return frozenset(s for s in symbols if self.owns(exchange, s))
