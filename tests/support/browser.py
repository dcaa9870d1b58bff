"""A real headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

    async with headless_page(url, tmp_path) as page:
        await page.wait_for("document.querySelector('#sinks') !== null")
        color = await page.evaluate("getComputedStyle(document.body).color")

Nothing is installed at run time: without the browser the test is skipped with the reason,
except under CI=true, where it fails (`.ci/run` installs chromium).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import unavailable


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("chromium is not installed (apt-get install chromium)", "install chromium")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of `expression` in the page (promises awaited)."""
        request_id = next(self._ids)
        await self._ws.send_json({"id": request_id, "method": "Runtime.evaluate", "params": {
            "expression": expression, "returnByValue": True, "awaitPromise": True}})
        async for message in self._ws:
            answer = json.loads(message.data)
            if answer.get("id") == request_id:
                result = answer["result"]
                if "exceptionDetails" in result:
                    raise AssertionError(f"{expression}: {result['exceptionDetails']}")
                return result["result"].get("value")
        raise AssertionError("the browser closed the DevTools connection")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll `expression` until it is truthy; its value."""
        async with asyncio.timeout(timeout):
            while not (value := await self.evaluate(expression)):
                await asyncio.sleep(0.2)
        return value


@asynccontextmanager
async def headless_page(url: str, tmp_path: Path) -> AsyncIterator[Page]:
    port = _free_port()
    browser = await asyncio.create_subprocess_exec(
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-dev-shm-usage", f"--remote-debugging-port={port}", f"--user-data-dir={tmp_path / 'chromium'}",
        url, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as session:
            target = await _page_target(session, port)
            async with session.ws_connect(target, max_msg_size=0) as ws:
                yield Page(ws)
    finally:
        browser.terminate()
        await browser.wait()


async def _page_target(session: aiohttp.ClientSession, port: int, timeout: float = 30.0) -> str:
    async with asyncio.timeout(timeout):
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    pages = [t for t in await response.json() if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
