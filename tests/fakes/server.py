"""A scriptable fake upstream: HTTP/1.1 on 127.0.0.1, an ephemeral port, its own thread and event loop.

Sync and async tests use it alike, because it never runs on the test's loop::

    with FakeServer() as server:
        server.script("POST", "/v1/chat/completions", Reply.json(completion), Reply.json(error, status=429))
        ...  # point a client at server.url + "/v1"
        assert server.requests[0].json()["model"] == "gpt-4o"

Each route answers with its scripted replies in order; the last one answers every later request. A
route with no script answers 404 in OpenAI's error shape. Every request is recorded (method, path,
query, headers, body, the number of the connection it came on) before its reply starts, so a test
whose reply hangs can still inspect it.

A `Reply` is a JSON or bytes body with Content-Length, or `pieces` sent with chunked transfer encoding,
one chunk per bytes piece, with a float in `pieces` meaning "sleep that many seconds" (to split SSE
events or UTF-8 characters across TCP writes). `delay` waits before the status line; `before` replaces
the response with a close, a TCP reset or a hang; `end` decides what follows the pieces: the final
chunk, a close or a reset mid-body, or a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson

Piece = bytes | str | float
Ending = Literal["complete", "close", "reset", "hang"]
Cutoff = Literal["close", "reset", "hang"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    pieces: tuple[bytes | float, ...] | None = None
    content_length: int | None = None
    delay: float = 0.0
    before: Cutoff | None = None
    end: Ending = "complete"

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0.0) -> Reply:
        head = {"content-type": "application/json", **(headers or {})}
        return cls(status, tuple(head.items()), orjson.dumps(data), delay=delay)

    @classmethod
    def text(
        cls,
        body: bytes | str,
        status: int = 200,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        raw = body.encode() if isinstance(body, str) else body
        return cls(status, tuple({"content-type": content_type, **(headers or {})}.items()), raw)

    @classmethod
    def stream(
        cls,
        pieces: Iterable[Piece],
        *,
        status: int = 200,
        content_type: str = "text/event-stream; charset=utf-8",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        end: Ending = "complete",
        content_length: int | None = None,
    ) -> Reply:
        """Pieces sent as they are given (str is UTF-8 encoded, a float pauses) with chunked encoding,
        or raw under `content_length` when one is given."""
        items = tuple(piece.encode() if isinstance(piece, str) else piece for piece in pieces)
        head = tuple({"content-type": content_type, **(headers or {})}.items())
        return cls(status, head, pieces=items, delay=delay, end=end, content_length=content_length)

    sse = stream

    @classmethod
    def hang(cls) -> Reply:
        """Read the request, then never answer."""
        return cls(before="hang")

    @classmethod
    def close(cls, delay: float = 0.0) -> Reply:
        """Read the request, then close the connection without a response."""
        return cls(before="close", delay=delay)

    @classmethod
    def reset(cls, delay: float = 0.0) -> Reply:
        """Read the request, then reset the connection (TCP RST) without a response."""
        return cls(before="reset", delay=delay)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    connection: int = 0

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Malformed(Exception):
    pass


@dataclass
class _State:
    routes: dict[tuple[str, str], deque[Reply]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)


def _not_scripted(method: str, path: str) -> Reply:
    error = {"message": f"no reply scripted for {method} {path}", "type": "invalid_request_error"}
    return Reply.json({"error": {**error, "param": None, "code": "unknown_url"}}, status=404)


class FakeServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._state = _State()
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections = itertools.count(1)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, path: str = "") -> str:
        return self.url + path

    def script(self, method: str, path: str, *replies: Reply) -> FakeServer:
        """Append replies to the route `method path` (path without the query string)."""
        with self._changed:
            queue = self._state.routes.setdefault((method.upper(), path), deque())
            queue.extend(replies)
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._changed:
            return list(self._state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._state.requests) >= count, timeout):
                raise TimeoutError(f"{len(self._state.requests)} requests arrived, expected {count}")
            return list(self._state.requests)

    def reset(self) -> None:
        with self._changed:
            self._state = _State()

    def start(self) -> FakeServer:
        loop = asyncio.SelectorEventLoop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-upstream", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.get_running_loop().shutdown_asyncgens()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._changed:
            self._state.requests.append(request)
            self._changed.notify_all()
            queue = self._state.routes.get((request.method, request.path))
            if not queue:
                return _not_scripted(request.method, request.path)
            return queue.popleft() if len(queue) > 1 else queue[0]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        connection = next(self._connections)
        open_ = True
        try:
            while open_:
                request = await _read_request(reader, connection)
                if request is None:
                    break
                reply = self._next_reply(request)
                keep_alive = (request.header("connection") or "").lower() != "close"
                open_ = await _send(writer, reply, keep_alive) and keep_alive
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _Malformed):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping; ending quietly keeps asyncio from logging the cancellation
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader, connection: int) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _Malformed("connection closed inside a request head") from exc
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise _Malformed(f"bad request line {lines[0]!r}")
    method, target, _ = parts
    headers = tuple(
        (name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:] if line)
    )
    fields = {name.lower(): value for name, value in headers}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(fields.get("content-length", "0")))
    path, _, query = target.partition("?")
    return RecordedRequest(method.upper(), path, query, headers, body, connection)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _head(reply: Reply, framing: dict[str, str], keep_alive: bool) -> bytes:
    try:
        phrase = http.HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    skip = {"content-length", "transfer-encoding", "connection"}
    lines = [f"HTTP/1.1 {reply.status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in reply.headers if name.lower() not in skip]
    lines += [f"{name}: {value}" for name, value in framing.items()]
    if not keep_alive or reply.end != "complete":
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool) -> bool:
    """Write one reply; True when the connection may serve another request."""
    if reply.delay:
        await asyncio.sleep(reply.delay)
    if reply.before is not None:
        await _cut(writer, reply.before)
        return False
    if reply.pieces is None:
        writer.write(_head(reply, {"content-length": str(len(reply.body))}, keep_alive) + reply.body)
        await writer.drain()
        return True
    chunked = reply.content_length is None
    framing = {"transfer-encoding": "chunked"} if chunked else {"content-length": str(reply.content_length)}
    writer.write(_head(reply, framing, keep_alive))
    await writer.drain()
    for piece in reply.pieces:
        if isinstance(piece, bytes):
            if piece:
                writer.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
                await writer.drain()
        else:
            await asyncio.sleep(piece)
    if reply.end != "complete":
        await _cut(writer, reply.end)
        return False
    if chunked:
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    return True


async def _cut(writer: asyncio.StreamWriter, how: Cutoff) -> None:
    if how == "hang":
        await asyncio.Event().wait()
    if how == "reset":
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    writer.close()
