"""Fixtures for the Anthropic front door: the e2e gateway fixtures, and the official `anthropic` SDK
pointed at a gateway, with every `/v1/messages` response checked on the way (see `anthropic_checks`).

Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import orjson
import pytest

from tests.e2e.conftest import Gateway, gateway_for, start_gateway, upstream
from tests.frontdoor.anthropic_checks import (
    count_problems,
    error_problems,
    events_of,
    message_problems,
    sequence_problems,
)

__all__ = ["gateway_for", "start_gateway", "upstream"]


def response_problems(path: str, status: int, headers: Any, body: bytes) -> list[str]:
    """What is wrong with one `/v1/messages*` response by Anthropic's API (empty when nothing is)."""
    where = f"{status} {path}"
    problems = [] if headers.get("request-id") else [f"{where}: no request-id header"]
    content_type = headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        problems += sequence_problems(events_of(body))
    elif not content_type.startswith("application/json"):
        problems.append(f"{where}: content-type {content_type!r}")
    elif status >= 400:
        problems += error_problems(orjson.loads(body))
    elif path.endswith("/count_tokens"):
        problems += count_problems(orjson.loads(body))
    else:
        problems += message_problems(orjson.loads(body))
    return [f"{where}: {problem}" for problem in problems]


class _Checked(httpx2.SyncByteStream):
    def __init__(self, inner: Any, path: str, response: httpx2.Response, sink: list[str]) -> None:
        self.inner, self.path, self.response, self.sink = inner, path, response, sink
        self.body = bytearray()
        self.complete = False

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.inner:
            self.body += piece
            yield piece
        self.complete = True

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            if self.complete:
                status, headers = self.response.status_code, self.response.headers
                self.sink.extend(response_problems(self.path, status, headers, bytes(self.body)))


class CheckingTransport(httpx2.BaseTransport):
    """The SDK's transport, recording in `sink` every `/v1/messages` response Anthropic would not send."""

    def __init__(self, sink: list[str]) -> None:
        self.inner, self.sink = httpx2.HTTPTransport(), sink

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        path = request.url.path
        if not path.startswith("/v1/messages"):
            return response
        checked = _Checked(response.stream, path, response, self.sink)
        return httpx2.Response(
            response.status_code, headers=response.headers, stream=checked, extensions=response.extensions
        )

    def close(self) -> None:
        self.inner.close()


ClientFor = Callable[..., anthropic.Anthropic]


@pytest.fixture
def anthropic_client() -> Iterator[ClientFor]:
    """`anthropic_client(gateway)`: the official SDK on a gateway, no retries, strict response validation."""
    problems: list[str] = []
    opened: list[anthropic.Anthropic] = []

    def make(gateway: Gateway, **options: Any) -> anthropic.Anthropic:
        http = httpx2.Client(transport=CheckingTransport(problems), trust_env=False, timeout=30.0)
        client = anthropic.Anthropic(
            base_url=gateway.url,
            api_key=options.pop("api_key", "x"),
            max_retries=0,
            http_client=http,
            _strict_response_validation=True,
            **options,
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()
    assert not problems, "responses Anthropic's API would not send:\n" + "\n".join(problems)


def raw_post(gateway: Gateway, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    """A plain POST (for what the SDK hides: raw SSE bytes, bodies it would refuse to send)."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    with httpx.Client(base_url=gateway.url, timeout=30.0, trust_env=False) as client:
        response = client.post(path, content=content, headers=headers, **kwargs)
    problems = response_problems(path, response.status_code, response.headers, response.content)
    assert not problems, "\n".join(problems)
    return response
