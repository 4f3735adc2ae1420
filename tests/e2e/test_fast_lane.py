"""The raw ASGI lane that serves `POST /v1/chat/completions` and `/v1/embeddings` answers exactly as
the Quart routes did: same statuses, bodies and headers, request ids, errors in OpenAI's shape, and a
slow body refused with 408. `MODELMUX_FAST_LANE=0` serves the same requests through Quart, so the two
paths are compared side by side."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import Outcome
from tests.e2e.conftest import USER_HI, Gateway, GatewayStarter, assert_error_response

CONFIG = """
version: 1
server:
  max_body_size: 2KB
  request_timeout: 1s
providers:
  - name: mocky
    type: mock
    models: ["gpt-4o", "text-embedding-3-small"]
    response: "Hello from the lane."
"""
CHAT = "/v1/chat/completions"
VOLATILE = {"date", "x-request-id", "x-modelmux-overhead-ms", "content-length"}


@pytest.fixture
def lane_gateway(start_gateway: GatewayStarter) -> Gateway:
    return start_gateway(CONFIG)


def test_the_hot_endpoints_are_served_by_the_lane(lane_gateway: Gateway) -> None:
    response = lane_gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": USER_HI})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the lane."
    assert response.headers["x-modelmux-provider"] == "mocky"


def test_a_sane_request_id_is_kept_and_a_bad_one_replaced(lane_gateway: Gateway) -> None:
    client = lane_gateway.http()
    kept = client.post(CHAT, json={"model": "gpt-4o", "messages": USER_HI}, headers={"x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    refused = client.post(CHAT, json={"model": "nope", "messages": USER_HI}, headers={"x-request-id": "bad id!"})
    assert refused.status_code == 404
    assert refused.headers["x-request-id"].startswith("req_") and len(refused.headers["x-request-id"]) == 36
    assert refused.headers["x-modelmux-provider"] == "" and refused.headers["x-modelmux-attempts"] == "0"


def test_errors_carry_the_routing_headers_and_openai_shape(lane_gateway: Gateway) -> None:
    response = lane_gateway.http().post(CHAT, content=b"{not json", headers={"content-type": "application/json"})
    assert_error_response(response, 400)
    assert response.headers["x-modelmux-cost-usd"] == "0.000000"


def test_a_body_that_stops_arriving_gets_408(lane_gateway: Gateway) -> None:
    host, port = lane_gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"model":'
        )
        started = time.monotonic()
        reply = b""
        while not reply.endswith(b"}}") and (piece := sock.recv(65536)):  # headers and body may come apart
            reply += piece
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"request_timeout" in reply
    assert time.monotonic() - started < 5


def test_an_unexpected_failure_is_a_500_without_a_traceback(
    lane_gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: RequestContext) -> Outcome:
        raise ValueError("secret internals")

    monkeypatch.setattr(lane_gateway.services, "pipeline", lambda plan: broken)
    response = lane_gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": USER_HI})
    error = assert_error_response(response, 500)
    assert error["type"] == "api_error"
    assert response.headers["x-request-id"] in error["message"]
    assert "secret internals" not in response.text and "Traceback" not in response.text


@pytest.fixture
def both_paths(start_gateway: GatewayStarter, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Gateway, Gateway]]:
    lane = start_gateway(CONFIG)
    monkeypatch.setenv("MODELMUX_FAST_LANE", "0")
    framework = start_gateway(CONFIG)
    yield lane, framework


REQUESTS: list[tuple[str, dict[str, Any] | bytes]] = [
    (CHAT, {"model": "gpt-4o", "messages": USER_HI}),
    (CHAT, {"model": "gpt-4o", "messages": USER_HI, "stream": True}),
    (CHAT, {"model": "missing", "messages": USER_HI}),
    (CHAT, {"model": "gpt-4o", "messages": []}),
    (CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 4000}]}),
    (CHAT, b""),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}),
    ("/v1/embeddings", {"model": "text-embedding-3-small"}),
]


@pytest.mark.parametrize(("path", "body"), REQUESTS)
def test_the_lane_answers_like_the_quart_routes(
    both_paths: tuple[Gateway, Gateway], path: str, body: dict[str, Any] | bytes
) -> None:
    lane, framework = both_paths
    answers = [_send(gateway.http(), path, body) for gateway in (lane, framework)]
    assert answers[0] == answers[1]


def _send(client: httpx.Client, path: str, body: dict[str, Any] | bytes) -> tuple[int, dict[str, str], Any]:
    headers = {"content-type": "application/json"}
    response = (
        client.post(path, content=body, headers=headers)
        if isinstance(body, bytes)
        else client.post(path, json=body, headers=headers)
    )
    kept = {name: value for name, value in response.headers.items() if name not in VOLATILE}
    if response.headers["content-type"].startswith("text/event-stream"):
        return response.status_code, kept, [_stable(line) for line in response.text.splitlines() if line]
    return response.status_code, kept, _stable(response.text)


def _stable(text: str) -> Any:
    """A JSON body or SSE line without the fields that differ on every response (id, created)."""
    data = text.removeprefix("data: ")
    if data == "[DONE]":
        return data
    payload = json.loads(data)
    for volatile in ("id", "created"):
        payload.pop(volatile, None)
    return payload


def test_other_methods_and_routes_still_reach_quart(lane_gateway: Gateway) -> None:
    assert lane_gateway.http().get(CHAT).status_code == 405  # other methods still reach Quart
    assert lane_gateway.http().get("/v1/models").json()["data"][0]["id"] == "gpt-4o"
