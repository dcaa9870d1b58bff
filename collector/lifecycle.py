"""The one shape every resource of the daemon shares: `open()`, `close()`, and `async with`.

The journal and the sinks both are such resources; the protocol lives here, in the core, so
neither package imports the other for it (app.py stacks them with an AsyncExitStack).
"""

from __future__ import annotations

from typing import Self


class OpenClose:
    """The async context manager of a resource that has `open()` and `close()`."""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
