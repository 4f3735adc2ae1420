"""Realistic Cohere v2 traffic: chat responses, chat SSE streams, embed responses and error bodies."""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

MODEL = "command-a-03-2025"
EMBED_MODEL = "embed-v4.0"
_ALNUM = string.ascii_lowercase + string.digits
ToolStream = tuple[str, str, Sequence[str]]


def tool_call_id(name: str) -> str:
    """Cohere's tool call ids: the function name and a random suffix."""
    return f"{name}_{''.join(secrets.choice(_ALNUM) for _ in range(12))}"


def usage(input_tokens: int = 12, output_tokens: int = 9, *, raw_input: int | None = None) -> dict[str, Any]:
    """`billed_units` (what is paid for) and `tokens` (what the model saw, preamble included)."""
    return {
        "billed_units": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "tokens": {"input_tokens": raw_input or input_tokens + 496, "output_tokens": output_tokens},
    }


def tool_call(name: str, arguments: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    function = {"name": name, "arguments": orjson.dumps(arguments).decode()}
    return {"id": id or tool_call_id(name), "type": "function", "function": function}


def chat_response(
    text: str | None = "Hello! How can I help you today?",
    *,
    tool_calls: Sequence[dict[str, Any]] = (),
    tool_plan: str | None = None,
    finish_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if tool_plan is not None:
        message["tool_plan"] = tool_plan
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    if text is not None:
        message["content"] = [{"type": "text", "text": text}]
    return {
        "id": id or str(uuid.uuid4()),
        "finish_reason": finish_reason or ("TOOL_CALL" if tool_calls else "COMPLETE"),
        "message": message,
        "usage": usage_ or usage(),
    }


def stream_events(
    text_pieces: Iterable[str] = ("Hello", "! How can I", " help you today?"),
    *,
    tool_plan: Iterable[str] = (),
    tool_calls: Sequence[ToolStream] = (),
    finish_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
    id: str | None = None,
) -> list[dict[str, Any]]:
    """message-start, tool-plan deltas, tool calls `(id, name, argument pieces)`, a text block,
    message-end with the finish reason and usage."""
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    events: list[dict[str, Any]] = [
        {"id": id or str(uuid.uuid4()), "type": "message-start", "delta": {"message": start}}
    ]
    events += [{"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}} for p in tool_plan]
    for index, (call_id, name, pieces) in enumerate(tool_calls):
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        events.append({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": call}}})
        for piece in pieces:
            delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
            events.append({"type": "tool-call-delta", "index": index, "delta": delta})
        events.append({"type": "tool-call-end", "index": index})
    pieces = list(text_pieces)
    if pieces:
        content = {"type": "text", "text": ""}
        events.append({"type": "content-start", "index": 0, "delta": {"message": {"content": content}}})
        for piece in pieces:
            text = {"message": {"content": {"text": piece}}}
            events.append({"type": "content-delta", "index": 0, "delta": text})
        events.append({"type": "content-end", "index": 0})
    reason = finish_reason or ("TOOL_CALL" if tool_calls else "COMPLETE")
    end = {"finish_reason": reason, "usage": usage_ or usage()}
    events.append({"type": "message-end", "delta": end})
    return events


def sse_body(events: Iterable[dict[str, Any]], *, done: bool = False) -> bytes:
    """`event: TYPE` / `data: {json}` pairs, as Cohere sends them."""
    body = b"".join(f"event: {e['type']}\ndata: {orjson.dumps(e).decode()}\n\n".encode() for e in events)
    return body + (b"data: [DONE]\n\n" if done else b"")


def embed_response(
    vectors: Sequence[Sequence[float]], texts: Sequence[str], *, input_tokens: int = 6
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "embeddings": {"float": [list(v) for v in vectors]},
        "texts": list(texts),
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": input_tokens}},
        "response_type": "embeddings_by_type",
    }


def error_body(message: str) -> dict[str, str]:
    return {"id": str(uuid.uuid4()), "message": message}
