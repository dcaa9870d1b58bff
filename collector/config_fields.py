"""Field types of the configuration that say what a client will connect to or write: a host name,
a local path, an endpoint URL. An empty or malformed one is a CONFIG_003 naming the field, at
load, instead of a traceback when the sink or the exchange first uses it. And `Section`, the base
of every section: frozen, a typo an error (`extra="forbid"`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

# A DNS name, an IPv4 address or an IPv6 literal (bare or in brackets): what a client connects to.
_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|\[?[0-9A-Fa-f:.]+(?:%\w+)?\]?")
_URL_SCHEMES = ("http", "https", "ws", "wss")


def check_host(value: str) -> str:
    """A host name a client can connect to: an empty or malformed one (`CRYPTO_COLLECTOR_RABBITMQ__HOST=`,
    `http://mq1`, `mq1:5672`) fails here, naming the field, instead of crashing the sink later."""
    if not value.strip():
        raise ValueError("must be a host name or IP address, not empty")
    if not _HOST.fullmatch(value) or (":" in value and value.count(":") < 2):
        raise ValueError("must be a bare host name or IP address (no scheme, port, path or spaces)")
    return value


def _non_empty_path(value: object) -> object:
    """An empty path would become '.', the working directory itself: refused, naming the field."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("must be a file or directory path, not empty")
    return value


Host = Annotated[str, AfterValidator(check_host)]
LocalPath = Annotated[Path, BeforeValidator(_non_empty_path)]


def url_leaves(options: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in options.items():
        if isinstance(value, Mapping):
            yield from url_leaves(value, (*path, str(key)))
        else:
            yield (*path, str(key)), value


def is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return True  # ccxt's own non-string entries (lists of docs links) are not endpoints
    parts = urlsplit(value)
    return parts.scheme in _URL_SCHEMES and bool(parts.hostname) and value == value.strip()


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
