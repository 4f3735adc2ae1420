"""Checks that what ModelMux answers on `/v1/messages` is what Anthropic's API answers.

Every body and event is validated against the official `anthropic` SDK's pydantic types (strictly:
pydantic validation, not the SDK's lenient construction), and a stream's events against the order
Anthropic sends them in.
"""

from __future__ import annotations

from typing import Any

import orjson
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from pydantic import TypeAdapter, ValidationError

from tests.e2e.conftest import parse_sse

STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
# The error types Anthropic's API documents (the SDK's ErrorType, plus request_too_large for 413).
ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "timeout_error",
        "api_error",
        "overloaded_error",
    }
)
BLOCK_DELTAS = {"text": "text_delta", "tool_use": "input_json_delta"}

Event = tuple[str, dict[str, Any]]


def _validation(model: Any, data: Any) -> list[str]:
    try:
        model(data)
    except ValidationError as exc:
        return [f"{e['loc']}: {e['msg']}" for e in exc.errors()]
    return []


def message_problems(data: Any) -> list[str]:
    return _validation(Message.model_validate, data)


def count_problems(data: Any) -> list[str]:
    return _validation(MessageTokensCount.model_validate, data)


def error_problems(data: Any) -> list[str]:
    """An error body: `{"type": "error", "error": {"type", "message"}, "request_id"}`."""
    if not isinstance(data, dict) or data.get("type") != "error":
        return [f"not an Anthropic error body: {data!r}"]
    error = data.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return [f"error without a message: {data!r}"]
    if error.get("type") not in ERROR_TYPES:
        return [f"unknown error type {error.get('type')!r}"]
    return []


def events_of(raw: bytes) -> list[Event]:
    """Every SSE event of a body as (event name, JSON data)."""
    return [(name, _json(data)) for name, data in parse_sse(raw)]


def _json(data: str) -> dict[str, Any]:
    try:
        found = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {"not_json": data}
    return found if isinstance(found, dict) else {"not_an_object": found}


def event_problems(name: str, data: dict[str, Any]) -> list[str]:
    if data.get("type") != name:
        return [f"event {name!r} carries data of type {data.get('type')!r}"]
    if name == "ping":
        return [] if data == {"type": "ping"} else [f"ping with data {data!r}"]
    if name == "error":
        return error_problems(data)
    return [f"{name}: {problem}" for problem in _validation(STREAM_EVENT.validate_python, data)]


def sequence_problems(events: list[Event]) -> list[str]:
    """message_start first; blocks opened in index order, each delta of the right kind for an open
    block, each closed once; message_delta then message_stop last (or an error event last)."""
    problems = [p for name, data in events for p in event_problems(name, data)]
    names = [name for name, _ in events if name != "ping"]
    if not names or names[0] != "message_start":
        return [*problems, f"the stream does not open with message_start: {names[:3]}"]
    if names[-1] == "error":
        names = names[:-1]
    elif names[-2:] != ["message_delta", "message_stop"]:
        problems.append(f"the stream does not end with message_delta, message_stop: {names[-3:]}")
    opened: dict[int, str] = {}
    closed: set[int] = set()
    for name, data in events:
        index = data.get("index")
        if name == "content_block_start":
            if index != len(opened):
                problems.append(f"block {index} opened out of order")
            opened[index] = (data.get("content_block") or {}).get("type", "")
        elif name == "content_block_delta":
            if index not in opened or index in closed:
                problems.append(f"delta for block {index}, which is not open")
            elif BLOCK_DELTAS.get(opened[index]) != (kind := (data.get("delta") or {}).get("type")):
                problems.append(f"{kind} for a {opened[index]} block")
        elif name == "content_block_stop":
            if index not in opened or index in closed:
                problems.append(f"stop for block {index}, which is not open")
            closed.add(index)
    if names and names[-1] == "message_stop" and set(opened) != closed:
        problems.append(f"blocks never closed: {set(opened) - closed}")
    return problems


def assert_valid_stream(events: list[Event]) -> None:
    problems = sequence_problems(events)
    assert not problems, "\n".join(problems)


def assert_valid_message(data: Any) -> None:
    problems = message_problems(data)
    assert not problems, "\n".join(problems)
