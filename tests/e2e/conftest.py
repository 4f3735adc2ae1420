"""End-to-end fixtures: ModelMux served in-process by Hypercorn, and fake upstreams on 127.0.0.1.

`start_gateway(yaml_text, env)` compiles the YAML with the product's compiler, serves the plan with
`create_app` on an ephemeral port in a background thread (its own event loop, a real TCP socket), and
returns a `Gateway` with its base URL. `gateway_for(upstream, yaml_text)` does the same for a config
that names the fake upstream as `${UPSTREAM_URL}`; every config here may name `${TEST_API_KEY}`.

Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import orjson
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from modelmux.compiler.compile import compile_file
from modelmux.plan.models import Plan
from modelmux.runtime.app import create_app
from modelmux.runtime.services import Services
from tests.conformance import assert_valid_chunk, assert_valid_error, conformance_errors
from tests.fakes import FakeServer, RecordedRequest

TEST_API_KEY = "sk-test-modelmux-e2e-0123456789"
CONFIG_NAME = "modelmux.yaml"
MODELMUX_HEADERS = ("x-modelmux-provider", "x-modelmux-route", "x-modelmux-attempts", "x-request-id")
USER_HI = [{"role": "user", "content": "Say hello."}]


def compile_yaml(path: Path, text: str, env: Mapping[str, str]) -> tuple[Plan, dict[str, Any]]:
    path.write_text(text, encoding="utf-8")
    result = compile_file(path, dict(env), text=text)
    if result.plan is None:
        rendered = "\n".join(d.render() for d in result.errors)
        raise AssertionError(f"the test config does not compile:\n{rendered}")
    return result.plan, result.public


@dataclass
class Gateway:
    """A ModelMux serving on 127.0.0.1 in a background thread, and the clients opened on it."""

    url: str
    plan: Plan
    services: Services
    source: Path
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _stop: asyncio.Event
    _failure: list[BaseException]
    _closers: list[Callable[[], None]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        """The official OpenAI SDK pointed at this gateway, without retries. Every response it gets is
        checked against OpenAI's schemas on the way (see `ConformingTransport`)."""
        options: dict[str, Any] = {"timeout": 30.0, **kwargs}
        transport = ConformingTransport(httpx2.HTTPTransport(), self.violations)
        http = httpx2.Client(transport=transport, trust_env=False, timeout=30.0)
        sdk = openai.OpenAI(base_url=self.v1, api_key="x", max_retries=0, http_client=http, **options)
        self._closers.append(sdk.close)
        return sdk

    def async_client(self, **kwargs: Any) -> openai.AsyncOpenAI:
        """The async SDK; use it as `async with gateway.async_client() as sdk:` so it is closed."""
        options: dict[str, Any] = {"timeout": 30.0, **kwargs}
        transport = AsyncConformingTransport(httpx2.AsyncHTTPTransport(), self.violations)
        http = httpx2.AsyncClient(transport=transport, trust_env=False, timeout=30.0)
        return openai.AsyncOpenAI(base_url=self.v1, api_key="x", max_retries=0, http_client=http, **options)

    def http(self) -> httpx.Client:
        """A plain HTTP client, for what the SDK hides (raw bodies, SSE bytes, bad JSON); its `/v1`
        responses are checked against OpenAI's schemas too."""
        transport = RawConformingTransport(httpx.HTTPTransport(), self.violations)
        client = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False, transport=transport)
        self._closers.append(client.close)
        return client

    def stop(self) -> None:
        for close in self._closers:
            close()
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)
        if self._thread.is_alive():
            raise AssertionError("the gateway did not stop within 15s")
        if self._failure:
            raise AssertionError(f"the gateway's server failed: {self._failure[0]!r}") from self._failure[0]


def _listener() -> tuple[int, int]:
    """A bound TCP socket on an ephemeral loopback port: (port, file descriptor handed to Hypercorn)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)  # connections wait in the backlog until Hypercorn accepts: no start-up race
    port = int(listener.getsockname()[1])
    return port, listener.detach()


def launch(plan: Plan, public: dict[str, Any], source: Path, services: Services | None = None) -> Gateway:
    """Serve `plan` with Hypercorn in a thread; returns once the app is serving. `services` lets a test
    bring its own (a Telemetry with an in-memory span exporter, say)."""
    port, fd = _listener()
    config = Config()
    config.bind = [f"fd://{fd}"]
    config.graceful_timeout = 2.0
    config.accesslog = None
    config.errorlog = None
    app = create_app(plan, source=str(source), public=public, services=services)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()
    failure: list[BaseException] = []

    @app.before_serving
    async def started() -> None:
        ready.set()

    async def main() -> None:
        try:
            await serve(app, config, shutdown_trigger=stop.wait)
        except BaseException as exc:
            failure.append(exc)
            ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"modelmux-e2e-{port}", daemon=True)
    thread.start()
    if not ready.wait(15) or failure:
        raise AssertionError(f"the gateway did not start: {failure}")
    services: Services = app.config["MODELMUX_SERVICES"]
    return Gateway(f"http://127.0.0.1:{port}", plan, services, source, loop, thread, stop, failure)


GatewayStarter = Callable[..., Gateway]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[GatewayStarter]:
    """Serve a YAML config; every gateway started is stopped when the test ends."""
    started: list[Gateway] = []

    def start(text: str, env: Mapping[str, str] | None = None) -> Gateway:
        path = tmp_path / f"{len(started)}-{CONFIG_NAME}"
        plan, public = compile_yaml(path, text, {"TEST_API_KEY": TEST_API_KEY, **(env or {})})
        gateway = launch(plan, public, path)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()
    violations = [line for gateway in started for line in gateway.violations]
    assert not violations, "responses that break OpenAI's schemas:\n" + "\n".join(violations)


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


GatewayFor = Callable[..., Gateway]


@pytest.fixture
def gateway_for(start_gateway: GatewayStarter) -> GatewayFor:
    """Serve a config whose `${UPSTREAM_URL}` is the fake upstream's URL."""

    def start(upstream: FakeServer, text: str, env: Mapping[str, str] | None = None) -> Gateway:
        return start_gateway(text, {"UPSTREAM_URL": upstream.url, **(env or {})})

    return start


# Checks shared by the test modules ------------------------------------------------------------------


def assert_modelmux_headers(
    headers: Mapping[str, str], *, provider: str | None = None, attempts: int | None = None
) -> None:
    """Every response carries the four ModelMux headers; optionally check their values."""
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in MODELMUX_HEADERS if name not in lowered]
    assert not missing, f"response lacks {missing}: {dict(lowered)}"
    assert lowered["x-request-id"], "X-Request-Id is empty"
    if provider is not None:
        assert lowered["x-modelmux-provider"] == provider
    if attempts is not None:
        assert lowered["x-modelmux-attempts"] == str(attempts)


def assert_error_response(response: Any, status: int, *, code: str | None = None) -> dict[str, Any]:
    """An error in OpenAI's shape with the given status; returns its `error` object.

    `response` is an httpx response, or the one an SDK exception carries (`exc.response`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert_valid_error(body)
    assert_modelmux_headers(response.headers)
    if code is not None:
        assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def received(upstream: FakeServer, path: str, index: int = 0) -> RecordedRequest:
    """The request the fake upstream got on `path` (the `index`th)."""
    found = upstream.requests_to(path)
    assert len(found) > index, f"{len(found)} requests reached {path}: {[r.path for r in upstream.requests]}"
    return found[index]


# Raw SSE, for what the SDK does not show (event names, [DONE], the exact JSON of every chunk) -----


@dataclass
class RawStream:
    status: int
    headers: httpx.Headers
    events: list[tuple[str, str]]

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """The JSON of every data event but errors and [DONE], each checked against OpenAI's schema."""
        out = []
        for event, data in self.events:
            if event == "message" and data != "[DONE]":
                chunk = orjson.loads(data)
                assert_valid_chunk(chunk)
                out.append(chunk)
        return out

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1] == ("message", "[DONE]")

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [orjson.loads(data) for event, data in self.events if event == "error"]

    def text(self) -> str:
        return "".join(choice["delta"].get("content") or "" for chunk in self.chunks for choice in chunk["choices"])


def parse_sse(raw: bytes) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    for block in raw.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            field_name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field_name == "event":
                name = value
            elif field_name == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def stream_raw(gateway: Gateway, body: dict[str, Any], headers: dict[str, str] | None = None) -> RawStream:
    """POST a streamed chat request and read the whole SSE body."""
    with gateway.http().stream(
        "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=headers
    ) as response:
        raw = response.read()
    assert response.headers["content-type"].startswith("text/event-stream"), raw[:300]
    return RawStream(response.status_code, response.headers, parse_sse(raw))


def assert_one_stream_identity(chunks: list[dict[str, Any]], model: str) -> None:
    """One id and one created for the whole stream, the asked model, and the role on the first chunk."""
    assert chunks, "the stream carried no chunk"
    assert len({c["id"] for c in chunks}) == 1, {c["id"] for c in chunks}
    assert len({c["created"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {model}
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert all("role" not in choice["delta"] for c in chunks[1:] for choice in c["choices"])


# An upstream that reports when its client goes away ------------------------------------------------


class DisconnectWatcher:
    """A one-connection upstream: answers a stream's head and `first` bytes, then waits for the peer
    (ModelMux) to close the connection and records when it did."""

    def __init__(self, first: bytes) -> None:
        self._first = first
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.request_seen = threading.Event()
        self.closed = threading.Event()
        self.closed_at: float | None = None
        self._thread = threading.Thread(target=self._serve, name="disconnect-watcher", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DisconnectWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            conn, _ = self._server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            try:
                self._answer(conn)
                while conn.recv(65536):
                    pass
            except OSError:
                pass
            self.closed_at = time.monotonic()
            self.closed.set()

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        self.request_seen.set()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            + b"%x\r\n%b\r\n" % (len(self._first), self._first)
        )


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Every response a test client gets from /v1 is checked against OpenAI's schemas -----------------------


def _schema_for(path: str, status: int) -> str | None:
    if status >= 400:
        return "ErrorResponse"
    if path.endswith("/chat/completions"):
        return "CreateChatCompletionResponse"
    if path.endswith("/embeddings"):
        return "CreateEmbeddingResponse"
    if path == "/v1/models":
        return "ListModelsResponse"
    if path.startswith("/v1/models/"):
        return "Model"
    return None


def _decoded_embeddings(document: Any) -> Any:
    """Base64 embeddings (what the SDK asks for by default) as the float arrays the schema describes."""
    for item in document.get("data") or () if isinstance(document, dict) else ():
        if isinstance(item, dict) and isinstance(item.get("embedding"), str):
            raw = base64.b64decode(item["embedding"])
            item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return document


def conformance_problems(path: str, status: int, content_type: str, body: bytes, complete: bool) -> list[str]:
    """What is wrong with one `/v1` response by OpenAI's schemas (an empty list when nothing is)."""
    if not path.startswith("/v1/") or (not body and not complete):
        return []
    where = f"{status} {path}"
    if content_type.startswith("text/event-stream"):
        text = body.decode("utf-8", "replace")
        if not complete:
            text = text[: text.rfind("\n\n") + 2]
        problems: list[str] = []
        for event, data in parse_sse(text.encode()):
            if data != "[DONE]":
                schema = "ErrorResponse" if event == "error" else "CreateChatCompletionStreamResponse"
                problems += [f"{where} {event} event: {p}" for p in conformance_errors(orjson.loads(data), schema)]
        return problems
    schema = _schema_for(path, status)
    if not complete or schema is None:
        return []
    if not content_type.startswith("application/json"):
        return [f"{where}: content-type {content_type!r}, not JSON"]
    document = _decoded_embeddings(orjson.loads(body)) if schema == "CreateEmbeddingResponse" else orjson.loads(body)
    return [f"{where}: {problem}" for problem in conformance_errors(document, schema)]


class _Recorder:
    def __init__(self, request: Any, response: Any, sink: list[str]) -> None:
        self.path = request.url.path
        self.status = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.sink = sink
        self.body = bytearray()
        self.complete = False
        self.checked = False

    def check(self) -> None:
        if not self.checked:
            self.checked = True
            found = conformance_problems(self.path, self.status, self.content_type, bytes(self.body), self.complete)
            self.sink.extend(found)


class _CheckedStream(httpx2.SyncByteStream, httpx.SyncByteStream):
    """The body of a response as it streams to the client, checked once it is closed (either library)."""

    def __init__(self, inner: Any, recorder: _Recorder) -> None:
        self.inner, self.recorder = inner, recorder

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.inner:
            self.recorder.body += piece
            yield piece
        self.recorder.complete = True

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.recorder.check()


class ConformingTransport(httpx2.BaseTransport):
    """The SDK's transport, recording every `/v1` response that breaks OpenAI's schemas in `sink`."""

    def __init__(self, inner: httpx2.HTTPTransport, sink: list[str]) -> None:
        self.inner, self.sink = inner, sink

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        stream = _CheckedStream(response.stream, _Recorder(request, response, self.sink))
        return httpx2.Response(
            response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    def close(self) -> None:
        self.inner.close()


class _AsyncCheckedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, recorder: _Recorder) -> None:
        self.inner, self.recorder = inner, recorder

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self.inner:
            self.recorder.body += piece
            yield piece
        self.recorder.complete = True

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.recorder.check()


class AsyncConformingTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncHTTPTransport, sink: list[str]) -> None:
        self.inner, self.sink = inner, sink

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        stream = _AsyncCheckedStream(response.stream, _Recorder(request, response, self.sink))
        return httpx2.Response(
            response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class RawConformingTransport(httpx.BaseTransport):
    """The same check for the plain httpx client of `Gateway.http()`."""

    def __init__(self, inner: httpx.HTTPTransport, sink: list[str]) -> None:
        self.inner, self.sink = inner, sink

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        stream = _CheckedStream(response.stream, _Recorder(request, response, self.sink))
        return httpx.Response(
            response.status_code, headers=response.headers, stream=stream, extensions=response.extensions
        )

    def close(self) -> None:
        self.inner.close()


# --- `modelmux serve` as a subprocess -------------------------------------------------------------

MODELMUX = Path(sys.executable).with_name("modelmux")
STARTUP_BOUND = 30.0
STOP_BOUND = 20.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


ServeCli = Callable[..., Served]


def wait_until_serving(served: Served) -> None:
    deadline = time.monotonic() + STARTUP_BOUND
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                raise AssertionError(f"modelmux serve exited early:\n{served.stderr()}")
            try:
                if client.get(served.url + "/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"modelmux serve did not answer within {STARTUP_BOUND}s:\n{served.stderr()}")


@pytest.fixture
def serve_cli(tmp_path: Path) -> Iterator[ServeCli]:
    """Start `modelmux serve --port N [args]` in an empty directory; kill it if a test left it running."""
    started: list[Served] = []

    def start(*args: str) -> Served:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("MODELMUX_CONFIG", "MODELMUX_SERVE_CONFIG")}
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(MODELMUX), "serve", "--port", str(port), *args],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        served = Served(process, f"http://127.0.0.1:{port}", log)
        started.append(served)
        wait_until_serving(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(timeout=10)


def stop(served: Served) -> int:
    served.process.send_signal(signal.SIGTERM)
    try:
        return served.process.wait(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"SIGTERM did not stop modelmux serve:\n{served.stderr()}") from None
