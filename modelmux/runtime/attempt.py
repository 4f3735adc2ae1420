"""One upstream attempt: send the translated request, classify what came back.

A successful non-streamed attempt returns the OpenAI-shaped body; a successful streamed attempt
returns the upstream response with its first decoded chunks already read, so the executor may still
fall back before anything reached the client. Every failure is an `AttemptFailure`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from modelmux.errors import RequestError
from modelmux.providers.base import (
    AdapterError,
    CanonicalError,
    JSONObject,
    ProviderAdapter,
    StreamDecoder,
    UnsupportedOperation,
    UpstreamStreamError,
    UpstreamTarget,
)
from modelmux.runtime.outcome import AttemptFailure
from modelmux.runtime.upstream import Sender, UpstreamConnectError, UpstreamResponse, UpstreamTimeout
from modelmux.runtime.upstream import UpstreamTransportError as TransportError


@dataclass
class OpenStream:
    response: UpstreamResponse
    upstream: AsyncIterator[bytes]
    decoder: StreamDecoder
    first: list[JSONObject]


def failure_from(error: CanonicalError, kind: str = "status") -> AttemptFailure:
    request_error = RequestError(error.status, error.message, type=error.type, code=error.code, param=error.param)
    return AttemptFailure(request_error, kind, error.status, error.retry_after)


def transport_failure(exc: Exception, provider: str, timeout: float) -> AttemptFailure:
    if isinstance(exc, UpstreamTimeout):
        error = RequestError(
            504,
            f"the upstream provider {provider!r} did not answer within {timeout:g}s",
            type="api_error",
            code="upstream_timeout",
        )
        return AttemptFailure(error, "timeout", 504)
    reason = str(exc) or type(exc).__name__
    if not isinstance(exc, UpstreamConnectError):
        reason = f"connection lost: {reason}"
    error = RequestError(
        502,
        f"could not reach the upstream provider {provider!r} ({reason})",
        type="api_error",
        code="upstream_unreachable",
    )
    return AttemptFailure(error, "connect_error", 502)


@asynccontextmanager
async def time_limit(seconds: float | None, provider: str) -> AsyncIterator[None]:
    """Bound one attempt by the fallback policy's `attempt_timeout` and what is left of its `deadline`."""
    if seconds is None:
        yield
        return
    try:
        async with asyncio.timeout(max(seconds, 0.0)):
            yield
    except TimeoutError:
        error = RequestError(
            504,
            f"the upstream provider {provider!r} did not answer within {seconds:.3g}s "
            "(routing.fallback attempt_timeout / deadline)",
            type="api_error",
            code="upstream_timeout",
        )
        raise AttemptFailure(error, "timeout", 504) from None


async def send_json(
    client: Sender,
    build: Callable[[], Awaitable[httpx.Request]],
    parse: Callable[[bytes], JSONObject],
    adapter: ProviderAdapter,
    target: UpstreamTarget,
    timeout: float,
) -> JSONObject:
    request = await _build(build)
    try:
        response = await client.send(request)
        payload = await response.aread()
    except TransportError as exc:
        raise transport_failure(exc, target.provider.name, timeout) from exc
    if response.status_code >= 400:
        raise failure_from(adapter.parse_error(response.status_code, response.headers, payload))
    try:
        return parse(payload)
    except UpstreamStreamError as exc:
        raise failure_from(exc.error) from exc
    except (ValueError, KeyError, TypeError) as exc:
        error = RequestError(
            502,
            f"the upstream provider {target.provider.name!r} sent a response ModelMux cannot read ({exc})",
            type="api_error",
            code="bad_upstream_response",
        )
        raise AttemptFailure(error, "status", 502) from exc


async def open_stream(
    client: Sender,
    adapter: ProviderAdapter,
    body: JSONObject,
    target: UpstreamTarget,
    timeout: float,
) -> OpenStream:
    request = await _build(lambda: adapter.build_chat(body, target, stream=True))
    try:
        response = await client.send(request, stream=True)
    except TransportError as exc:
        raise transport_failure(exc, target.provider.name, timeout) from exc
    try:
        if response.status_code >= 400:
            payload = await response.aread()
            error = adapter.parse_error(response.status_code, response.headers, payload)
            raise failure_from(error)
        decoder = adapter.stream_decoder(target)
        upstream = response.aiter_bytes()
        first: list[JSONObject] = []
        async for data in upstream:
            first = decoder.feed(data)
            if first:
                break
        else:
            first = decoder.finish()
        return OpenStream(response, upstream, decoder, first)
    except UpstreamStreamError as exc:
        await response.aclose()
        raise failure_from(exc.error) from exc
    except TransportError as exc:
        await response.aclose()
        raise transport_failure(exc, target.provider.name, timeout) from exc
    except BaseException:
        await response.aclose()
        raise


async def _build(build: Callable[[], Awaitable[httpx.Request]]) -> httpx.Request:
    try:
        return await build()
    except UnsupportedOperation as exc:
        raise AttemptFailure(RequestError(400, str(exc), code="unsupported_operation"), "translation", 400) from exc
    except RequestError as exc:
        raise AttemptFailure(exc, "translation", exc.status) from exc
    except AdapterError as exc:
        kind = "translation" if exc.error.status < 500 else "connect_error"
        raise failure_from(exc.error, kind) from exc
