"""The raw ASGI lane for the two hot endpoints: `POST /v1/chat/completions` and `POST /v1/embeddings`.

Quart serves every other route. These two go straight from Hypercorn's ASGI scope into the request
pipeline, with no request or app context, URL map, blueprint or hook dispatch per request: the
framework's share of a gateway request was about a third of its time (see benchmarks/README.md).
What Quart's hooks did for these paths is done here, the same way: the header-size guard (431),
the request id, the body limit and timeout, CORS response headers, the routing headers every
response carries, OpenAI-shaped errors, and cancelling the work when the client goes away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.runtime.http.responses import UNROUTED_HEADERS, internal_error_message, new_request_id
from modelmux.runtime.ingress import (
    body_too_large,
    body_too_slow,
    check_chat_request,
    check_embeddings_request,
    headers_too_large,
    parse_json_body,
)
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import Outcome
from modelmux.runtime.services import Services
from modelmux.security.http_guards import EXPOSED_HEADERS, allowed_origin

log = logging.getLogger("modelmux.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Quart types its scope and events more narrowly

ENDPOINTS: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "/v1/chat/completions": ("chat", check_chat_request),
    "/v1/embeddings": ("embeddings", check_embeddings_request),
}
JSON_TYPE = (b"content-type", b"application/json")
SSE_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)
UNROUTED = tuple((name.lower(), value) for name, value in UNROUTED_HEADERS.items())


class FastLane:
    """Wraps the Quart app's ASGI callable; takes the hot endpoints, hands everything else on."""

    def __init__(self, framework: ASGIApp, services: Services, body_timeout: float) -> None:
        self.framework = framework
        self.services = services
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ENDPOINTS.get(scope.get("path", "")) if scope["type"] == "http" else None
        plan = self.services.holder.plan
        if endpoint is None or scope["method"] != "POST" or plan is None:
            await self.framework(scope, receive, send)
            return
        await _Exchange(self, scope, receive, send, plan).run(*endpoint)


class _Exchange:
    """One request on the fast lane, from its scope to the last byte sent."""

    def __init__(self, lane: FastLane, scope: Scope, receive: Receive, send: Send, plan: Plan) -> None:
        self.started = time.perf_counter()
        self.lane = lane
        self.scope = scope
        self.receive = receive
        self.send = send
        self.plan = plan
        self.headers: dict[str, str] = {}
        self.header_bytes = 0
        for raw_name, raw_value in scope["headers"]:
            self.headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
            self.header_bytes += len(raw_name) + len(raw_value) + 4
        supplied = self.headers.get("x-request-id", "")
        self.request_id = new_request_id(supplied)
        self.disconnected = False
        self.watcher: asyncio.Task[None] | None = None
        self.started_response = False
        self.finished = False

    async def run(self, endpoint: str, check: Callable[[dict[str, Any]], None]) -> None:
        try:
            if self.header_bytes > self.plan.server.max_header_size:
                raise headers_too_large(self.plan.server.max_header_size)
            client = self.scope.get("client")
            ctx = RequestContext(
                self.request_id, self.plan, endpoint, {}, self.headers, client[0] if client else None, self.started
            )

            async def checked_body() -> dict[str, Any]:
                body = parse_json_body(await self._read_body(), max_depth=self.plan.server.max_json_depth)
                check(body)
                return body

            ctx.pending_body = checked_body
            outcome = await self.lane.services.pipeline(self.plan)(ctx)
            await self._respond(outcome)
        except RequestError as error:
            await self._error(error)
        except asyncio.CancelledError:
            if not self.disconnected:
                raise
        except Exception:
            log.exception("unexpected error while serving %s", self.request_id)
            await self._error(RequestError(500, internal_error_message(self.request_id), type="api_error"))
        finally:
            if self.watcher is not None:
                self.watcher.cancel()

    async def _read_body(self) -> bytes:
        """The body, refused as soon as it is over the limit, whether it announced its length or not;
        once it is in, a watcher listens for the client going away and cancels the work."""
        limit = self.plan.server.max_body_size
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise body_too_large(limit)
        raw = bytearray()
        try:
            async with asyncio.timeout(self.lane.body_timeout):
                while True:
                    message = await self.receive()
                    if message["type"] == "http.disconnect":
                        self.disconnected = True
                        raise asyncio.CancelledError
                    raw += message.get("body", b"")
                    if len(raw) > limit:
                        raise body_too_large(limit)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise body_too_slow(self.lane.body_timeout) from None
        task = asyncio.current_task()
        if task is not None:
            self.watcher = asyncio.ensure_future(self._watch(task))
        return bytes(raw)

    async def _watch(self, task: asyncio.Task[Any]) -> None:
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                if not self.finished:  # the server also says so once a response is complete
                    self.disconnected = True
                    task.cancel()
                return

    async def _respond(self, outcome: Outcome) -> None:
        if outcome.stream is None:
            outcome.complete()  # before the answer leaves: a client that has it finds it logged and audited
            await self._send_json(outcome.status, outcome.body or b"{}", outcome.headers)
            return
        headers = [*SSE_HEADERS, *self._headers(outcome.headers, outcome.status)]
        await self._start(outcome.status, headers)
        stream = outcome.stream
        try:
            async for chunk in stream:
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.finished = True
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                await closer()

    async def _error(self, error: RequestError) -> None:
        if self.started_response:
            log.error("request %s failed after its response began: %s", self.request_id, error.message)
            return
        await self._send_json(error.status, orjson.dumps(error.body()), error.headers)

    async def _send_json(self, status: int, body: bytes, extra: dict[str, str]) -> None:
        headers = [JSON_TYPE, (b"content-length", str(len(body)).encode()), *self._headers(extra, status)]
        await self._start(status, headers)
        self.finished = True
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    async def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started_response = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    def _headers(self, extra: dict[str, str], status: int) -> list[tuple[bytes, bytes]]:
        """The outcome's headers, the request id, the routing headers (empty when nothing was routed),
        CORS for an allowed origin, and `Connection: close` after a refused body that was not read."""
        names = {name.lower() for name in extra}
        pairs = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]
        pairs.append((b"x-request-id", self.request_id.encode("latin-1")))
        pairs.extend((name.encode(), value.encode()) for name, value in UNROUTED if name not in names)
        if status == 413:
            pairs.append((b"connection", b"close"))
        cors = self.plan.server.cors
        origin = self.headers.get("origin")
        if cors is not None and origin:
            allowed = allowed_origin(cors, origin)
            if allowed is not None:
                pairs.append((b"access-control-allow-origin", allowed.encode("latin-1")))
                pairs.append((b"access-control-expose-headers", EXPOSED_HEADERS.encode()))
                pairs.append((b"vary", b"Origin"))
        return pairs
