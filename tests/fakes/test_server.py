from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import google.auth.transport
import httpx
import pytest
from google.oauth2 import service_account

from tests.conformance import assert_valid_error
from tests.fakes import FakeServer, Reply, anthropic_like, google_token
from tests.fakes import openai_like as fake


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


async def read_pieces(response: httpx.Response) -> list[bytes]:
    return [data async for data in response.aiter_raw()]


def test_json_reply_and_request_record(server: FakeServer) -> None:
    server.script(
        "POST",
        "/v1/chat/completions",
        Reply.json({"ok": True}, status=201, headers={"x-request-id": "req_1"}),
    )
    with httpx.Client(base_url=server.url) as client:
        response = client.post(
            "/v1/chat/completions?api-version=2024-10-21&x=", json={"model": "m"}, headers={"api-key": "k"}
        )
    assert (response.status_code, response.json(), response.headers["x-request-id"]) == (
        201,
        {"ok": True},
        "req_1",
    )
    (request,) = server.requests
    assert (request.method, request.path, request.query) == (
        "POST",
        "/v1/chat/completions",
        "api-version=2024-10-21&x=",
    )
    assert request.params == {"api-version": "2024-10-21", "x": ""}
    assert request.header("API-KEY") == "k" and request.header("missing") is None
    assert request.json() == {"model": "m"}


def test_replies_come_in_order_and_the_last_one_repeats(server: FakeServer) -> None:
    server.script("GET", "/a", Reply.text("one"), Reply.text("two"))
    server.script("GET", "/a", Reply.text("three"))
    with httpx.Client(base_url=server.url) as client:
        bodies = [client.get("/a").text for _ in range(5)]
    assert bodies == ["one", "two", "three", "three", "three"]
    assert len(server.requests_to("/a")) == 5


def test_unscripted_route_is_an_openai_style_404(server: FakeServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = client.delete("/nowhere")
    assert response.status_code == 404
    assert_valid_error(response.json())


def test_keep_alive_reuses_one_connection(server: FakeServer) -> None:
    server.script("GET", "/a", Reply.text("x"))
    server.script("GET", "/sse", Reply.sse([b"data: 1\n\n"]))
    with httpx.Client(base_url=server.url) as client:
        for path in ("/a", "/sse", "/a"):
            client.get(path)
    assert {request.connection for request in server.requests} == {1}


def test_connection_close_header_is_honoured(server: FakeServer) -> None:
    server.script("GET", "/a", Reply.text("x"))
    with httpx.Client(base_url=server.url, headers={"connection": "close"}) as client:
        responses = [client.get("/a") for _ in range(2)]
    assert all(response.headers["connection"] == "close" for response in responses)
    assert [request.connection for request in server.requests] == [1, 2]


async def test_stream_pieces_arrive_separately_and_utf8_survives_the_split(server: FakeServer) -> None:
    event = "data: καλημέρα\n\n".encode()
    server.script("POST", "/s", Reply.sse([event[:9], 0.05, event[9:]]))
    async with httpx.AsyncClient() as client, client.stream("POST", server.url_for("/s")) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        pieces = await read_pieces(response)
    assert len(pieces) == 2
    assert b"".join(pieces).decode() == "data: καλημέρα\n\n"


async def test_delay_before_headers_trips_a_read_timeout(server: FakeServer) -> None:
    server.script("GET", "/slow", Reply.json({}, delay=0.3))
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url_for("/slow"), timeout=0.05)
        started = time.perf_counter()
        assert (await client.get(server.url_for("/slow"))).status_code == 200
        assert time.perf_counter() - started >= 0.3


async def test_hang_records_the_request_and_never_answers(server: FakeServer) -> None:
    server.script("POST", "/hang", Reply.hang())
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(server.url_for("/hang"), content=b"body", timeout=0.2)
    assert server.wait_for_requests(1)[0].body == b"body"


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply.close(), httpx.RemoteProtocolError),
        (Reply.reset(), httpx.TransportError),
        (Reply.sse([b"data: 1\n\n"], end="close"), httpx.RemoteProtocolError),
        (Reply.sse([b"data: 1\n\n", 0.02], end="reset"), httpx.ReadError),
        (
            Reply.stream([b"abc"], content_type="application/json", content_length=10, end="close"),
            httpx.RemoteProtocolError,
        ),
    ],
)
async def test_chaos_replies_break_the_connection(server: FakeServer, reply: Reply, error: type[Exception]) -> None:
    server.script("GET", "/chaos", reply)
    async with httpx.AsyncClient() as client:
        with pytest.raises(error):
            await client.get(server.url_for("/chaos"))


async def test_hang_mid_body_times_out_after_the_first_piece(server: FakeServer) -> None:
    server.script("GET", "/stall", Reply.sse([b"data: first\n\n"], end="hang"))
    received: list[bytes] = []
    async with (
        httpx.AsyncClient(timeout=0.2) as client,
        client.stream("GET", server.url_for("/stall")) as response,
    ):
        with pytest.raises(httpx.ReadTimeout):
            async for data in response.aiter_raw():
                received.append(data)
    assert received == [b"data: first\n\n"]


async def test_chunked_request_bodies_are_read(server: FakeServer) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b"1}"

    server.script("POST", "/up", Reply.json({}))
    async with httpx.AsyncClient() as client:
        await client.post(server.url_for("/up"), content=body())
    assert server.requests[0].header("transfer-encoding") == "chunked"
    assert server.requests[0].json() == {"a": 1}


async def test_many_concurrent_requests(server: FakeServer) -> None:
    server.script("POST", "/v1/chat/completions", Reply.sse([fake.sse_body(fake.text_chunks())]))
    async with httpx.AsyncClient() as client:
        responses = await asyncio.gather(*(client.post(server.url_for("/v1/chat/completions")) for _ in range(40)))
    assert {response.text for response in responses} == {fake.sse_body(fake.text_chunks()).decode()}
    assert len(server.requests) == 40


def test_stop_is_prompt_with_hanging_connections() -> None:
    server = FakeServer().start()
    server.script("GET", "/hang", Reply.hang())

    def call() -> None:
        with httpx.Client(timeout=5) as client, pytest.raises(httpx.TransportError):
            client.get(server.url_for("/hang"))

    worker = threading.Thread(target=call)
    worker.start()
    server.wait_for_requests(1)
    started = time.perf_counter()
    server.stop()
    worker.join(timeout=5)
    assert time.perf_counter() - started < 2
    assert not worker.is_alive()


def test_reset_forgets_scripts_and_requests(server: FakeServer) -> None:
    server.script("GET", "/a", Reply.text("x"))
    with httpx.Client(base_url=server.url) as client:
        client.get("/a")
        server.reset()
        assert server.requests == []
        assert client.get("/a").status_code == 404


def test_wait_for_requests_times_out(server: FakeServer) -> None:
    with pytest.raises(TimeoutError):
        server.wait_for_requests(1, timeout=0.05)


async def test_async_context_manager() -> None:
    async with FakeServer() as server:
        server.script("GET", "/a", Reply.text("hi"))
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url_for("/a"))).text == "hi"


def test_anthropic_builders_make_a_coherent_stream() -> None:
    events = anthropic_like.stream_events(tool_uses=[("toolu_1", "get_weather", ['{"city":', ' "Paris"}'])])
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    body = anthropic_like.sse_body(events)
    assert body.startswith(b"event: message_start\ndata: {") and body.endswith(b'data: {"type":"message_stop"}\n\n')
    assert anthropic_like.error_for(529) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


class _HttpxAuthRequest(google.auth.transport.Request):
    """google-auth's transport interface on a synchronous httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __call__(
        self,
        url: Any,
        method: Any = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **_: Any,
    ) -> Any:
        response = self.client.request(method, url, content=body, headers=headers)

        class _Response(google.auth.transport.Response):
            status = response.status_code
            headers = response.headers
            data = response.content

        return _Response()


def test_google_token_exchange_round_trip(server: FakeServer, tmp_path: Path) -> None:
    server.script("POST", google_token.TOKEN_PATH, Reply.json(google_token.token_response("ya29.t")))
    key_file = google_token.write_service_account(tmp_path / "sa.json", server.url_for(google_token.TOKEN_PATH))
    credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(key_file), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    with httpx.Client() as client:
        credentials.refresh(_HttpxAuthRequest(client))
    assert credentials.token == "ya29.t"
    sent = google_token.parse_token_request(server.requests[0].body)
    assert sent.grant_type == google_token.JWT_BEARER_GRANT
    assert sent.header["alg"] == "RS256"
    assert sent.claims["iss"] == google_token.CLIENT_EMAIL
    assert sent.claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert sent.claims["exp"] - sent.claims["iat"] == 3600
