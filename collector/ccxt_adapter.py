"""The one adapter to ccxt's (REST, `ccxt.async_support`) internals: the steps between a unified
method and the HTTP call that ccxt does not offer to replace, and that we replace on an instance.

- `take_throttle`: ccxt awaits `exchange.throttle(cost)` before each request; our rate limiter
  (resilience/ratelimit.py) takes its place, and `--check-weights` prices a request offline by
  putting a throttle there that raises the cost it is given (ops/weights.py).
- `leaky_bucket`: whether the instance uses ccxt's default limiter (`tokenBucket`), the one ours
  replaces (a rolling window chosen through ccxt_options is left to ccxt).
- `wrap_fetch2`: `fetch2` books the rate limit, signs the request and calls `fetch`; the
  response cache (resilience/response_cache.py) wraps it, so a reused response costs no weight.
- `signed_request`: the request ccxt will send for (path, api, method, params), via `sign`.

Nothing else in the project reads or replaces them. `check_supported()` fails loudly (at an
exchange's start, and in tests/unit/test_ccxt_adapter.py) on a ccxt whose version or
instance lacks them, instead of polling around a limiter ccxt no longer calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any, Final

from collector.errors import CollectorError, ErrorCode

SUPPORTED_CCXT: Final = ((4, 5),)  # (major, minor) whose internals this adapter uses
_INSTANCE_INTERNALS: Final = ("throttle", "fetch2", "sign", "tokenBucket", "rateLimit")

Fetch2 = Callable[..., Awaitable[Any]]


class UnsupportedCcxt(CollectorError):
    """The installed ccxt is not one whose internals this adapter was written against."""

    code = ErrorCode.APP_001


def check_supported(exchange: object | None = None) -> None:
    """Raise UnsupportedCcxt unless ccxt (and `exchange`, an instance or its class, when given)
    has what we replace."""
    version = metadata.version("ccxt")
    major_minor = tuple(int(part) for part in version.split(".")[:2])
    if major_minor not in SUPPORTED_CCXT:
        raise UnsupportedCcxt(f"ccxt {version} is not supported by collector/ccxt_adapter.py "
                              f"(written for {', '.join('.'.join(map(str, v)) for v in SUPPORTED_CCXT)})")
    if exchange is not None and (missing := [name for name in _INSTANCE_INTERNALS if not hasattr(exchange, name)]):
        raise UnsupportedCcxt(f"ccxt {version}'s exchange lacks {', '.join(missing)}")


def leaky_bucket(exchange: Any) -> bool:
    return (exchange.tokenBucket or {}).get("algorithm") == "leakyBucket"


def requests_per_second(exchange: Any) -> float:
    """ccxt's `rateLimit` is milliseconds between two requests of cost 1."""
    return exchange.rateLimit / 1000


def take_throttle(exchange: Any, throttle: Callable[..., Any]) -> None:
    """`throttle(cost)` is called before every request of `exchange` instead of ccxt's own."""
    exchange.throttle = throttle


def wrap_fetch2(exchange: Any, wrap: Callable[[Fetch2], Fetch2]) -> None:
    """`exchange`'s `fetch2(path, api, method, params, config)` becomes `wrap(original)`."""
    exchange.fetch2 = wrap(exchange.fetch2)


def signed_request(exchange: Any, path: str, api: Any, method: str, params: dict) -> dict[str, Any]:
    """{"url", "method", "body", "headers"} of the request ccxt will send."""
    return exchange.sign(path, api, method, params)
