"""OpenAI chat completion -> Anthropic `message`, and errors in Anthropic's shape.

- The message's `id` is a new `msg_...`, `model` the name the client asked for. The completion's text
  (or its refusal) becomes one `text` block, each tool call a `tool_use` block (after the text) whose
  `input` is the call's arguments parsed as JSON (`{}` when they are empty, not JSON or not an object).
- `stop_reason` comes from `finish_reason`: stop -> end_turn, length -> max_tokens, tool_calls ->
  tool_use (also whenever tool calls are present), content_filter (or a refusal) -> refusal. OpenAI
  does not say which stop sequence matched, so `stop_sequence` is always null and a stop sequence
  reads as end_turn.
- `usage`: `input_tokens` is the prompt minus its cached part, `cache_read_input_tokens` the cached part,
  `output_tokens` the completion; `cache_creation_input_tokens` is 0 (OpenAI does not report it).
- Errors: `{"type": "error", "error": {"type", "message"}, "request_id"}`, the type from the status.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

JSONObject = dict[str, Any]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
ERROR_TYPES = {
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ANTHROPIC_TYPES = frozenset(
    {*ERROR_TYPES.values(), "invalid_request_error", "api_error", "overloaded_error", "timeout_error"}
)
OPENAI_TYPES = {
    "tokens": "rate_limit_error",
    "requests": "rate_limit_error",
    "insufficient_quota": "billing_error",
}


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def new_tool_use_id() -> str:
    return f"toolu_{uuid.uuid4().hex}"


def stop_reason(finish_reason: Any, *, tool_use: bool) -> str:
    if tool_use and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    reason = STOP_REASONS.get(str(finish_reason), "end_turn")
    return "end_turn" if reason == "tool_use" else reason


def anthropic_usage(usage: Any) -> JSONObject:
    """Anthropic's usage for an OpenAI usage object (all zeros when there is none)."""
    found: Mapping[str, Any] = usage if isinstance(usage, Mapping) else {}
    details = found.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    return {
        "input_tokens": max(_count(found.get("prompt_tokens")) - cached, 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": _count(found.get("completion_tokens")),
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def tool_input(arguments: Any) -> JSONObject:
    """A tool call's arguments as the object Anthropic's `input` must be."""
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def to_anthropic_message(completion: Mapping[str, Any], model: str, message_id: str) -> JSONObject:
    """The Anthropic `message` for an OpenAI `chat.completion` (its first choice)."""
    choices = completion.get("choices")
    choice: Mapping[str, Any] = choices[0] if isinstance(choices, list) and choices else {}
    message: Mapping[str, Any] = choice.get("message") or {}
    text = message_text(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else ""
    content: list[JSONObject] = []
    if text or refusal:
        content.append({"type": "text", "text": text or refusal})
    calls = [call for call in message.get("tool_calls") or [] if isinstance(call, Mapping)]
    content.extend(_tool_use(call) for call in calls)
    reason = "refusal" if refusal and not text else stop_reason(choice.get("finish_reason"), tool_use=bool(calls))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def message_text(content: Any) -> str:
    """An OpenAI message's content (a string or text parts) as one string."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _tool_use(call: Mapping[str, Any]) -> JSONObject:
    function: Mapping[str, Any] = call.get("function") or {}
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_tool_use_id()
    return {
        "type": "tool_use",
        "id": call_id,
        "name": str(function.get("name") or ""),
        "input": tool_input(function.get("arguments")),
    }


# Errors ---------------------------------------------------------------------------------------------


def anthropic_error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error_body(
    status: int, message: str, *, request_id: str | None = None, kind: str | None = None
) -> JSONObject:
    body: JSONObject = {"type": "error", "error": {"type": kind or anthropic_error_type(status), "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


def stream_error_type(error: Mapping[str, Any]) -> str:
    """The Anthropic type for the `error` of an OpenAI stream's error event (which carries no status)."""
    kind, code = error.get("type"), error.get("code")
    if code == "invalid_api_key":
        return "authentication_error"
    if kind in ANTHROPIC_TYPES:
        return str(kind)
    return OPENAI_TYPES.get(str(kind), "api_error")


def stream_error_body(payload: Any, *, request_id: str | None = None) -> JSONObject:
    """The Anthropic `error` event for an OpenAI stream's `event: error` payload."""
    error = payload.get("error") if isinstance(payload, Mapping) else None
    found: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
    message = found.get("message") if isinstance(found.get("message"), str) else "upstream stream error"
    return anthropic_error_body(500, str(message), request_id=request_id, kind=stream_error_type(found))
