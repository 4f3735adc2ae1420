"""Realistic OpenAI and Azure OpenAI responses, stream chunks, errors and headers for fake upstreams."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

MODEL = "gpt-4o-2024-08-06"
FINGERPRINT = "fp_7568d46099"
CREATED = 1727389200
_ALNUM = string.ascii_letters + string.digits


def completion_id() -> str:
    return "chatcmpl-" + "".join(secrets.choice(_ALNUM) for _ in range(29))


def request_id() -> str:
    return "req_" + secrets.token_hex(16)


def call_id() -> str:
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def usage(prompt: int = 19, completion: int = 10, *, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def tool_call(name: str, arguments: str | dict[str, Any], id: str | None = None) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    return {"id": id or call_id(), "type": "function", "function": {"name": name, "arguments": args}}


def chat_completion(
    content: str | None = "Hello! How can I help you today?",
    *,
    model: str = MODEL,
    tool_calls: Sequence[dict[str, Any]] = (),
    finish_reason: str | None = None,
    usage_: dict[str, Any] | None = None,
    id: str | None = None,
    created: int = CREATED,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    reason = finish_reason or ("tool_calls" if tool_calls else "stop")
    return {
        "id": id or completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reason}],
        "usage": usage_ or usage(),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def chunk(
    delta: dict[str, Any] | None,
    *,
    finish_reason: str | None = None,
    index: int = 0,
    id: str = "chatcmpl-AKTY0example",
    model: str = MODEL,
    created: int = CREATED,
    **extra: Any,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; `delta=None` gives a chunk with no choices (the usage chunk)."""
    base: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    choices = (
        [] if delta is None else [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    )
    return {**base, "choices": choices, **extra}


def text_chunks(
    pieces: Iterable[str] = ("Hello", "!", " How", " can", " I", " help", "?"),
    *,
    include_usage: bool = False,
    usage_: dict[str, Any] | None = None,
    finish_reason: str = "stop",
) -> list[dict[str, Any]]:
    """What OpenAI streams for a text answer: role chunk, content chunks, finish chunk, usage chunk."""
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, **extra)]
    chunks += [chunk({"content": piece}, **extra) for piece in pieces]
    chunks.append(chunk({}, finish_reason=finish_reason, **extra))
    if include_usage:
        chunks.append(chunk(None, usage=usage_ or usage()))
    return chunks


def tool_call_chunks(
    calls: Sequence[tuple[str, str, Sequence[str]]], *, include_usage: bool = False
) -> list[dict[str, Any]]:
    """Parallel tool calls as OpenAI streams them: each `(id, name, argument pieces)` at its own index."""
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    chunks = [chunk({"role": "assistant", "content": None}, **extra)]
    for index, (id_, name, pieces) in enumerate(calls):
        first = {"index": index, "id": id_, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [first]}, **extra))
        for piece in pieces:
            chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, **extra))
    chunks.append(chunk({}, finish_reason="tool_calls", **extra))
    if include_usage:
        chunks.append(chunk(None, usage=usage(82, 41)))
    return chunks


def sse_body(events: Iterable[dict[str, Any] | str], *, done: bool = True) -> bytes:
    """`data: {json}` events, then `data: [DONE]` (a str event is sent as it is)."""
    out = bytearray()
    for event in events:
        data = event if isinstance(event, str) else orjson.dumps(event).decode()
        out += f"data: {data}\n\n".encode()
    if done:
        out += b"data: [DONE]\n\n"
    return bytes(out)


def split_pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def response_headers(**extra: str) -> dict[str, str]:
    """Headers OpenAI sends with a completion."""
    return {
        "x-request-id": request_id(),
        "openai-organization": "user-abc123",
        "openai-processing-ms": "412",
        "openai-version": "2020-10-01",
        "x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms",
        **extra,
    }


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def rate_limit_error(
    retry_after: str | None = "20", retry_after_ms: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A 429 body and its headers."""
    body = error_body(
        "Rate limit reached for gpt-4o in organization org-abc123 on tokens per min (TPM): Limit 30000, "
        "Used 29876, Requested 512. Please try again in 776ms.",
        "tokens",
        None,
        "rate_limit_exceeded",
    )
    headers = {"x-request-id": request_id(), "x-ratelimit-remaining-tokens": "0"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    return body, headers


def embeddings(
    vectors: Sequence[Sequence[float]], *, model: str = "text-embedding-3-small", tokens: int = 8
) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": list(vector)} for i, vector in enumerate(vectors)]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models_list(ids: Sequence[str], owned_by: str = "system") -> dict[str, Any]:
    data = [{"id": id_, "object": "model", "created": 1715367049, "owned_by": owned_by} for id_ in ids]
    return {"object": "list", "data": data}


SAFE = {"filtered": False, "severity": "safe"}


def content_filter_results() -> dict[str, Any]:
    return {"hate": SAFE, "self_harm": SAFE, "sexual": SAFE, "violence": SAFE}


def prompt_filter_results() -> list[dict[str, Any]]:
    results = {**content_filter_results(), "jailbreak": {"filtered": False, "detected": False}}
    return [{"prompt_index": 0, "content_filter_results": results}]


def azure_prompt_filter_chunk() -> dict[str, Any]:
    """The chunk Azure opens a stream with: no choices, only the prompt's filter results."""
    return {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": prompt_filter_results(),
    }


def azure_chunks(
    pieces: Iterable[str] = ("Hello", "!", " How", " can", " I", " help", "?"),
) -> list[dict[str, Any]]:
    """An Azure stream: the prompt filter chunk, then OpenAI chunks with `content_filter_results`."""
    chunks: list[dict[str, Any]] = [azure_prompt_filter_chunk()]
    for item in text_chunks(pieces):
        item.pop("service_tier")
        for choice in item["choices"]:
            if choice["delta"].get("content"):
                choice["content_filter_results"] = content_filter_results()
        chunks.append(item)
    return chunks


def azure_completion(content: str = "Hello! How can I help you today?") -> dict[str, Any]:
    body = chat_completion(content, model="gpt-4o-2024-08-06")
    body.pop("service_tier")
    body["choices"][0]["content_filter_results"] = content_filter_results()
    body["prompt_filter_results"] = prompt_filter_results()
    return body


def azure_content_filter_error() -> dict[str, Any]:
    """Azure's 400 when the prompt trips the content filter."""
    result = {**content_filter_results(), "violence": {"filtered": True, "severity": "medium"}}
    return {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy. Please modify your prompt and retry. To learn more about our content "
            "filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": result},
        }
    }
