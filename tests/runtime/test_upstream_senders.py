"""The aiohttp and httpx senders behave the same: bodies, streams, and the three transport errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from modelmux.runtime.upstream import UpstreamConnectError, UpstreamTimeout, UpstreamTransportError
from modelmux.runtime.upstream.aiohttp_sender import AiohttpSender
from modelmux.runtime.upstream.httpx_sender import HttpxSender
from tests.fakes import FakeServer, Reply

PATH = "/v1/chat/completions"


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def senders(timeout: float = 5.0) -> list[AiohttpSender | HttpxSender]:
    return [
        AiohttpSender(timeout=timeout, connect_timeout=2.0, max_connections=4),
        HttpxSender(httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=2.0))),
    ]


def request(url: str) -> httpx.Request:
    return httpx.Request("POST", url, content=b'{"x": 1}', headers={"content-type": "application/json", "x-a": "b"})


async def test_json_body_status_and_headers(upstream: FakeServer) -> None:
    upstream.script("POST", PATH, Reply.json({"ok": True}, status=201, headers={"x-upstream": "yes"}))
    for sender in senders():
        try:
            response = await sender.send(request(upstream.url_for(PATH)))
            assert response.status_code == 201
            assert response.headers["X-Upstream"] == "yes"  # case-insensitive
            assert b'"ok"' in await response.aread()
        finally:
            await sender.aclose()
    sent = upstream.requests_to(PATH)
    assert [r.header("x-a") for r in sent] == ["b", "b"]
    assert all(r.body == b'{"x": 1}' for r in sent)


async def test_streamed_body_arrives_in_pieces(upstream: FakeServer) -> None:
    upstream.script("POST", PATH, Reply.sse([b"data: 1\n\n", 0.05, b"data: 2\n\n"]))
    for sender in senders():
        try:
            response = await sender.send(request(upstream.url_for(PATH)), stream=True)
            received = b"".join([piece async for piece in response.aiter_bytes()])
            await response.aclose()
            assert received == b"data: 1\n\ndata: 2\n\n"
        finally:
            await sender.aclose()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused_connection_is_a_connect_error() -> None:
    for sender in senders():
        try:
            with pytest.raises(UpstreamConnectError):
                await sender.send(request(f"http://127.0.0.1:{closed_port()}{PATH}"))
        finally:
            await sender.aclose()


async def test_slow_answer_is_a_timeout(upstream: FakeServer) -> None:
    upstream.script("POST", PATH, Reply.json({"ok": True}, delay=2.0))
    for sender in senders(timeout=0.2):
        try:
            with pytest.raises(UpstreamTimeout):
                await sender.send(request(upstream.url_for(PATH)))
        finally:
            await sender.aclose()


async def test_reset_mid_stream_is_a_transport_error(upstream: FakeServer) -> None:
    upstream.script("POST", PATH, Reply.sse([b"data: 1\n\n", 0.05], end="reset"))
    for sender in senders():
        try:
            response = await sender.send(request(upstream.url_for(PATH)), stream=True)
            with pytest.raises(UpstreamTransportError):
                async for _ in response.aiter_bytes():
                    pass
            await response.aclose()
        finally:
            await sender.aclose()


async def test_upstream_cookies_are_never_sent_back(upstream: FakeServer) -> None:
    """A gateway's requests carry many tenants: a cookie one answer set must not ride on the next."""
    cookie = {"set-cookie": "__cf_bm=tenant-a-session; Path=/; HttpOnly"}
    for sender in senders():
        upstream.script("POST", PATH, Reply.json({"ok": 1}, headers=cookie), Reply.json({"ok": 2}))
        try:
            for _ in range(2):
                url = upstream.url_for(PATH).replace("127.0.0.1", "localhost")  # jars keep no IP cookies
                await (await sender.send(request(url))).aread()
        finally:
            await sender.aclose()
    assert [r.header("cookie") for r in upstream.requests_to(PATH)] == [None, None, None, None]
