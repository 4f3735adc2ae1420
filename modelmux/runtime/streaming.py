"""Relays one upstream stream to the client as OpenAI SSE.

The first chunks were already read by the executor (so it could still fall back before the first byte
reached the client). The events decoded from one upstream read go out in one write. Every chunk gets
one `id`, `created` and `model` for the whole stream; the usage chunk is passed on only when the client
asked for it; a mid-stream upstream error becomes an SSE error event and the end of the stream, never a
silent `[DONE]`; a client that disconnects cancels the upstream request at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from modelmux.providers.base import JSONObject, StreamDecoder, UpstreamStreamError
from modelmux.runtime.upstream import UpstreamResponse, UpstreamTransportError

DONE = b"data: [DONE]\n\n"


@dataclass
class StreamStamp:
    """The fields every chunk of one stream shares, and what the client asked for."""

    id: str
    created: int
    model: str
    include_usage: bool
    role_sent: bool = False

    def apply(self, chunk: JSONObject) -> JSONObject | None:
        """The chunk as the client sees it, or None when it must be dropped (an unasked usage chunk)."""
        choices = chunk.get("choices") or []
        usage = chunk.get("usage")
        if not choices and not self.include_usage:
            return None
        stamped: JSONObject = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }
        for key, value in chunk.items():
            if key not in stamped and key != "usage":
                stamped[key] = value
        stamped["choices"] = choices
        if not self.role_sent and choices:
            delta = choices[0].setdefault("delta", {})
            delta.setdefault("role", "assistant")
            self.role_sent = True
        if self.include_usage:
            stamped["usage"] = usage
        return stamped


def encode_chunk(chunk: JSONObject) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def encode_error(status: int, message: str, kind: str, code: str | None) -> bytes:
    body: dict[str, Any] = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


@dataclass
class StreamEnd:
    """How a relayed stream ended, for the breaker, latency stats and logs."""

    ok: bool
    cancelled: bool = False
    usage: JSONObject | None = None
    error_kind: str | None = None


async def relay(
    first: list[JSONObject],
    upstream: AsyncIterator[bytes],
    decoder: StreamDecoder,
    response: UpstreamResponse,
    stamp: StreamStamp,
    on_end: Callable[[StreamEnd], None],
) -> AsyncIterator[bytes]:
    usage: JSONObject | None = None
    ended = False

    def emit(chunks: list[JSONObject]) -> bytes:
        """The events decoded from one upstream read, as one write: no extra latency, far fewer sends."""
        nonlocal usage
        out = []
        for chunk in chunks:
            if chunk.get("usage"):
                usage = chunk["usage"]
            stamped = stamp.apply(chunk)
            if stamped is not None:
                out.append(encode_chunk(stamped))
        return b"".join(out)

    try:
        if piece := emit(first):
            yield piece
        async for data in upstream:
            if piece := emit(decoder.feed(data)):
                yield piece
        yield emit(decoder.finish()) + DONE
        ended = True
        on_end(StreamEnd(True, usage=usage))
    except UpstreamStreamError as exc:
        ended = True
        on_end(StreamEnd(False, usage=usage, error_kind="stream_error"))
        error = exc.error
        yield encode_error(error.status, error.message, error.type, error.code)
    except UpstreamTransportError as exc:
        ended = True
        on_end(StreamEnd(False, usage=usage, error_kind="stream_error"))
        message = f"the upstream connection failed mid-stream ({type(exc).__name__})"
        yield encode_error(502, message, "api_error", "upstream_stream_error")
    except (asyncio.CancelledError, GeneratorExit):
        ended = True
        on_end(StreamEnd(False, cancelled=True, usage=usage))
        raise
    finally:
        if not ended:
            on_end(StreamEnd(False, cancelled=True, usage=usage))
        await response.aclose()


def new_stream_id(random_hex: str) -> str:
    return f"chatcmpl-{random_hex}"


def now_seconds() -> int:
    return int(time.time())
