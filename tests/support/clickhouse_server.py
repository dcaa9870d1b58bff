"""ClickHouse's HTTP interface over one in-process chDB engine: test support, not product.

A modern ClickHouse server cannot be installed on every development machine, but its engine is
on PyPI as `chdb-core`. This server puts the HTTP interface in front of it, so the sink's real
clickhouse-connect client (compression, Native encoding, error headers, retries) is tested
against the real engine. It implements what clickhouse-connect uses: `GET /ping`, statements in
the `query` parameter and/or the body (also form-encoded), bind parameters (`param_*`), settings
as URL parameters (applied with SET, reset before the next request), `database`, streaming
`INSERT ... FORMAT <fmt>` bodies compressed with lz4, zstd, gzip or deflate (every frame is
decoded), basic auth for one user, and ClickHouse's error headers. Responses are uncompressed;
sessions are not kept (a `SET` statement is accepted and has no lasting effect, as without
`session_id`); one request runs at a time.

chdb opens one data directory per process, so run it as a process of its own:

    TZ=UTC python -m tests.support.clickhouse_server --port 0 --data-dir DIR [--user U --password P]

It prints `LISTENING 127.0.0.1:PORT` once it accepts connections, and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import signal
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lz4.frame
from aiohttp import web
from backports import zstd

# Parameters of the HTTP interface that are not settings.
_TRANSPORT_PARAMS = frozenset({
    "query", "database", "user", "password", "query_id", "session_id", "session_timeout",
    "session_check", "default_format", "quota_key", "buffer_size", "wait_end_of_query",
    "client_protocol_version", "role", "stacktrace", "compress", "decompress",
})
_INSERT_WITH_DATA = re.compile(rb"^(\s*INSERT\b.*?)\bFORMAT\s+(\w+)[ \t]*\r?\n", re.I | re.S)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
_USE_STATEMENT = re.compile(r"^\s*USE\b", re.I)
_SET_STATEMENT = re.compile(r"^\s*SET\b", re.I)
_ERROR_CODE = re.compile(r"Code: (\d+)\.")
_NAME = re.compile(r"^\w+$")
_MAX_HEAD_BYTES = 1 << 20  # an INSERT's statement must be within the first MiB of its body
_APPEND_BYTES = 1 << 20  # data handed to the engine per call
_HTTP_STATUS = {516: 403, 60: 404, 81: 404, 62: 400, 36: 400, 115: 400, 457: 400, 27: 400}


class ClickHouseError(Exception):
    """An error answered the ClickHouse way: a code in a header, the message in the body."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_engine(cls, err: Exception) -> ClickHouseError:
        match = _ERROR_CODE.search(str(err))
        return cls(int(match.group(1)) if match else 1001, str(err))

    def response(self) -> web.Response:
        text = str(self)
        if not text.startswith("Code:"):
            text = f"Code: {self.code}. DB::Exception: {text}"
        return web.Response(
            status=_HTTP_STATUS.get(self.code, 500), text=text + "\n",
            headers={"X-ClickHouse-Exception-Code": str(self.code)})


class BodyDecoder:
    """Incremental decompression of a request body made of one or more concatenated frames."""

    _FACTORIES: dict[str, Callable[[], Any]] = {
        "lz4": lz4.frame.LZ4FrameDecompressor,
        "zstd": zstd.ZstdDecompressor,
        "gzip": lambda: zlib.decompressobj(31),
        "deflate": zlib.decompressobj,
    }

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self._factory = self._FACTORIES.get(encoding) if encoding not in ("", "identity") else None
        if encoding not in ("", "identity") and self._factory is None:
            raise ClickHouseError(36, f"Unknown Content-Encoding {encoding!r}")
        self._frame = self._factory() if self._factory else None
        self._in_frame = False  # bytes of an unfinished frame have been fed

    def feed(self, data: bytes) -> bytes:
        if self._frame is None:
            return data
        out = []
        try:
            while data:
                out.append(self._frame.decompress(data))
                self._in_frame = not self._frame.eof
                if not self._frame.eof:
                    break
                data = self._frame.unused_data
                self._frame = self._factory()
        except (RuntimeError, zlib.error, zstd.ZstdError) as err:
            raise ClickHouseError(1001, f"Cannot decompress the request body: {err}") from None
        return b"".join(out)

    def finish(self) -> None:
        if self._in_frame:
            raise ClickHouseError(1001, "The request body ends inside a compressed frame")


class Engine:
    """One chDB connection, used by one request at a time from one thread."""

    def __init__(self, data_dir: str) -> None:
        import chdb  # imported here so that TZ is set first

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
        self._conn = chdb.connect(data_dir)
        self.lock = asyncio.Lock()
        self._database: str | None = None
        self._settings: dict[str, str] = {}
        self.timezone = self._conn.query("SELECT timezone()", "TabSeparated").bytes().decode().strip()
        self.version = self._conn.query("SELECT version()", "TabSeparated").bytes().decode().strip()

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except RuntimeError as err:  # ChdbError and the streaming inserter's errors
            raise ClickHouseError.from_engine(err) from None

    def prepare(self, database: str, settings: dict[str, str]) -> None:
        """Make the connection's database and settings those of this request alone."""
        if database != self._database:
            self._database = None
            self._conn.query(f"USE `{database}`", "TabSeparated")
            self._database = database
        for name in [n for n in self._settings if n not in settings]:
            self._conn.query(f"SET {name} = DEFAULT", "TabSeparated")
            del self._settings[name]
        for name, value in settings.items():
            if self._settings.get(name) != value:
                self._settings.pop(name, None)
                self._conn.query(f"SET {name} = '{_quote(value)}'", "TabSeparated")
                self._settings[name] = value

    def query(self, sql: str, fmt: str, params: dict[str, str]) -> Any:
        if _USE_STATEMENT.match(sql):
            self._database = None  # a USE must not outlive its request
        return self._conn.query(sql, fmt, params=params)

    def begin_insert(self, sql: str, fmt: str) -> Any:
        return self._conn.send_insert(sql, fmt)

    def close(self) -> None:
        self._conn.close()
        self._pool.shutdown()


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class Handler:
    def __init__(self, engine: Engine, user: str, password: str) -> None:
        self.engine = engine
        self.user = user
        self.password = password

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def statement(self, request: web.Request) -> web.StreamResponse:
        query_id = request.query.get("query_id") or str(uuid.uuid4())
        started = time.perf_counter()
        try:
            self._authenticate(request)
            params = dict(request.query)
            if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
                params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
            if request.method == "GET" and "query" not in params:
                return web.Response(text="Ok.\n")
            async with self.engine.lock:
                await self.engine.call(self.engine.prepare, params.get("database") or "default",
                                       _settings(params))
                response = await self._execute(request, params)
        except ClickHouseError as err:
            response = err.response()
        response.headers["X-ClickHouse-Query-Id"] = query_id
        response.headers["X-ClickHouse-Timezone"] = self.engine.timezone
        response.headers["X-ClickHouse-Server-Display-Name"] = "chdb-test-server"
        response.headers.setdefault("X-ClickHouse-Summary", _summary(0, 0, 0, 0, started))
        return response

    def _authenticate(self, request: web.Request) -> None:
        user = request.headers.get("X-ClickHouse-User") or request.query.get("user") or "default"
        password = request.headers.get("X-ClickHouse-Key") or request.query.get("password") or ""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if (user, password) != (self.user, self.password):
            raise ClickHouseError(516, f"{user}: Authentication failed: password is incorrect, "
                                       "or there is no user with such name. (AUTHENTICATION_FAILED)")

    async def _execute(self, request: web.Request, params: dict[str, str]) -> web.Response:
        decoder = BodyDecoder(request.headers.get("Content-Encoding", ""))
        head = params["query"].encode() + b"\n" if params.get("query") else b""
        chunks = request.content.iter_any() if request.can_read_body else _no_chunks()
        async for chunk in chunks:
            head += decoder.feed(chunk)
            insert = _INSERT_WITH_DATA.match(head)
            if insert:
                return await self._insert(insert, head[insert.end():], chunks, decoder)
            if len(head) > _MAX_HEAD_BYTES:
                break
        async for chunk in chunks:
            head += decoder.feed(chunk)
        decoder.finish()
        insert = _INSERT_WITH_DATA.match(head)
        if insert:
            return await self._insert(insert, head[insert.end():], _no_chunks(), decoder)
        try:
            sql = head.decode().strip()
        except UnicodeDecodeError as err:
            raise ClickHouseError(36, f"The statement is not UTF-8: {err}") from None
        return await self._query(sql, params)

    async def _insert(self, insert: re.Match, data: bytes, chunks: Any,
                      decoder: BodyDecoder) -> web.Response:
        started = time.perf_counter()
        engine = self.engine
        sql, fmt = insert.group(1).decode(), insert.group(2).decode()
        inserter = await engine.call(engine.begin_insert, sql, fmt)
        try:
            async for chunk in chunks:
                data += decoder.feed(chunk)
                if len(data) >= _APPEND_BYTES:
                    await engine.call(inserter.append, data)
                    data = b""
            decoder.finish()
            if data:
                await engine.call(inserter.append, data)
            result = await engine.call(inserter.finish)
        except BaseException:
            await _cancel(engine, inserter)
            raise
        summary = _summary(0, 0, result.rows_written, result.bytes_written, started)
        return web.Response(body=b"", headers={"X-ClickHouse-Summary": summary})

    async def _query(self, sql: str, params: dict[str, str]) -> web.Response:
        started = time.perf_counter()
        binds = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        explicit = _TRAILING_FORMAT.search(sql)
        fmt = explicit.group(1) if explicit else params.get("default_format")
        if _SET_STATEMENT.match(sql):
            body, result = b"", None  # without a session, a SET lasts only for its own request
        elif fmt:
            result = await self.engine.call(self.engine.query, sql, fmt, binds)
            body = result.bytes() or b""
            fmt = fmt if explicit or body else None
        else:
            # With names, a statement that yields a result set always writes a line, even
            # with no rows; a DDL writes nothing. That tells the client which it was.
            result = await self.engine.call(self.engine.query, sql, "TabSeparatedWithNames", binds)
            body = result.bytes() or b""
            fmt = "TabSeparated" if body else None
            body = body[body.find(b"\n") + 1:]
        headers = {}
        if result is not None:
            headers["X-ClickHouse-Summary"] = _summary(
                result.rows_read(), result.bytes_read(), result.rows_written(),
                result.bytes_written(), started)
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
            headers["Content-Type"] = _content_type(fmt)
        return web.Response(body=body, headers=headers)


async def _cancel(engine: Engine, inserter: Any) -> None:
    try:
        await engine.call(inserter.cancel)
    except ClickHouseError:
        pass  # the insert had already failed; its own error is the one to report


async def _no_chunks():
    return
    yield


def _settings(params: dict[str, str]) -> dict[str, str]:
    settings = {k: v for k, v in params.items()
                if k not in _TRANSPORT_PARAMS and not k.startswith("param_")}
    for name in settings:
        if not _NAME.match(name):
            raise ClickHouseError(115, f"Unknown setting {name!r}. (UNKNOWN_SETTING)")
    return settings


def _summary(read_rows: int, read_bytes: int, written_rows: int, written_bytes: int,
             started: float) -> str:
    figures = {"read_rows": read_rows, "read_bytes": read_bytes, "written_rows": written_rows,
               "written_bytes": written_bytes, "total_rows_to_read": 0, "result_rows": 0,
               "result_bytes": 0, "elapsed_ns": int((time.perf_counter() - started) * 1e9)}
    return json.dumps({k: str(v) for k, v in figures.items()})


def _content_type(fmt: str) -> str:
    lowered = fmt.lower()
    if lowered.startswith("json"):
        return "application/json; charset=UTF-8"
    if lowered.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if lowered.startswith("csv"):
        return "text/csv; charset=UTF-8"
    return "application/octet-stream"


async def serve(port: int, data_dir: str, user: str, password: str) -> None:
    engine = Engine(data_dir)
    handler = Handler(engine, user, password)
    app = web.Application(client_max_size=1 << 30)
    app.router.add_get("/ping", handler.ping)
    app.router.add_route("*", "/", handler.statement)
    runner = web.AppRunner(app, auto_decompress=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound_port = runner.addresses[0][1]
    print(f"LISTENING 127.0.0.1:{bound_port} clickhouse {engine.version}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--user", default="default")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()
    asyncio.run(serve(args.port, args.data_dir, args.user, args.password))


if __name__ == "__main__":
    main()
