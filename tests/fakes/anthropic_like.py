"""Realistic Anthropic Messages responses, SSE events and errors (also what Vertex AI's Claude sends)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

MODEL = "claude-3-5-sonnet-20241022"
_ALNUM = string.ascii_letters + string.digits
Event = tuple[str, dict[str, Any]]


def message_id() -> str:
    return "msg_01" + "".join(secrets.choice(_ALNUM) for _ in range(22))


def tool_use_id() -> str:
    return "toolu_01" + "".join(secrets.choice(_ALNUM) for _ in range(22))


def request_id() -> str:
    return "req_01" + "".join(secrets.choice(_ALNUM) for _ in range(22))


def usage(
    input_tokens: int = 25, output_tokens: int = 12, *, cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
    }


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or tool_use_id(), "name": name, "input": input}


def message(
    text: str | None = "Hello! How can I help you today?",
    *,
    model: str = MODEL,
    tool_uses: Sequence[dict[str, Any]] = (),
    thinking: str | None = None,
    stop_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if thinking is not None:
        content.append({"type": "thinking", "thinking": thinking, "signature": "EqQBCgIYAhIM" + secrets.token_hex(8)})
    if text is not None:
        content.append({"type": "text", "text": text})
    content.extend(tool_uses)
    return {
        "id": id or message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "stop_sequence": None,
        "usage": usage_ or usage(),
    }


def stream_events(
    text_pieces: Iterable[str] = ("Hello", "! How can I", " help you today?"),
    *,
    model: str = MODEL,
    tool_uses: Sequence[tuple[str, str, Sequence[str]]] = (),
    stop_reason: str | None = None,
    input_tokens: int = 25,
    output_tokens: int = 12,
) -> list[Event]:
    """message_start, a text block (when there are pieces), tool_use blocks `(id, name, json pieces)`,
    message_delta with the stop reason and output usage, message_stop."""
    start = message(None, model=model, usage_=usage(input_tokens, 1))
    start.update(stop_reason=None)
    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    pieces = list(text_pieces)
    index = 0
    if pieces:
        events.append(_block_start(index, {"type": "text", "text": ""}))
        events.append(("ping", {"type": "ping"}))
        events += [_delta(index, {"type": "text_delta", "text": piece}) for piece in pieces]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for id_, name, json_pieces in tool_uses:
        events.append(_block_start(index, {"type": "tool_use", "id": id_, "name": name, "input": {}}))
        events += [_delta(index, {"type": "input_json_delta", "partial_json": piece}) for piece in json_pieces]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    reason = stop_reason or ("tool_use" if tool_uses else "end_turn")
    delta = {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None}}
    events.append(("message_delta", {**delta, "usage": {"output_tokens": output_tokens}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _block_start(index: int, block: dict[str, Any]) -> Event:
    return ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def sse_body(events: Iterable[Event]) -> bytes:
    """`event: NAME` / `data: {json}` pairs, as Anthropic sends them (no [DONE])."""
    return b"".join(f"event: {name}\ndata: {orjson.dumps(data).decode()}\n\n".encode() for name, data in events)


def error_body(type: str = "overloaded_error", message: str = "Overloaded") -> dict[str, Any]:
    return {"type": "error", "error": {"type": type, "message": message}}


def error_event(type: str = "overloaded_error", message: str = "Overloaded") -> Event:
    """The `error` event Anthropic sends inside a stream that already began."""
    return ("error", error_body(type, message))


ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", 'messages: roles must alternate between "user" and "assistant"'),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: claude-3-opus-20990101"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def error_for(status: int) -> dict[str, Any]:
    type_, message_ = ERRORS[status]
    return error_body(type_, message_)


def response_headers(**extra: str) -> dict[str, str]:
    return {
        "request-id": request_id(),
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-requests-reset": "2024-10-22T12:00:01Z",
        **extra,
    }
