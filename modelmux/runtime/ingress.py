"""Ingress checks for client requests: size, JSON, nesting depth and the OpenAI request shape.

Every failure is a `RequestError` that the app turns into OpenAI's error shape with status 400
(413 for a body over the limit), naming the offending `param` the way OpenAI does (`messages.[0].role`).
"""

from __future__ import annotations

from typing import Any

import orjson

from modelmux.errors import RequestError

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


def body_too_large(limit: int) -> RequestError:
    return RequestError(413, f"the request body is larger than {limit} bytes", code="request_too_large")


def body_too_slow(seconds: float | None) -> RequestError:
    return RequestError(408, f"the request body did not arrive within {seconds}s", code="request_timeout")


def headers_too_large(limit: int) -> RequestError:
    return RequestError(
        431, f"the request headers are larger than {limit} bytes", code="request_header_fields_too_large"
    )


def parse_json_body(raw: bytes, *, max_depth: int) -> dict[str, Any]:
    if not raw.strip():
        raise RequestError(400, "the request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"the request body is not valid JSON: {exc.msg} (at byte {exc.pos})") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    bound = raw.count(b"{") + raw.count(b"[")  # no deeper than the brackets it has: most bodies skip the walk
    if bound > max_depth and _depth(body, max_depth) > max_depth:
        raise RequestError(400, f"the request body is nested deeper than {max_depth} levels")
    return body


def _depth(value: Any, limit: int, level: int = 1) -> int:
    if level > limit:
        return level
    if isinstance(value, dict):
        return max((_depth(v, limit, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, limit, level + 1) for v in value), default=level)
    return level


def check_chat_request(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(
            400,
            "'messages' must be a non-empty array of messages",
            param="messages",
            code="missing_required_parameter" if messages is None else "invalid_type",
        )
    for index, message in enumerate(messages):
        _check_message(message, index)
    _check_common(body)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise RequestError(400, "'stream' must be a boolean", param="stream", code="invalid_type")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise RequestError(400, "'stream_options' must be an object", param="stream_options", code="invalid_type")
        if not body.get("stream"):
            raise RequestError(
                400,
                "the 'stream_options' parameter is only allowed when 'stream' is enabled",
                param="stream_options",
            )
    _check_tools(body)


def _check_message(message: Any, index: int) -> None:
    where = f"messages.[{index}]"
    if not isinstance(message, dict):
        raise RequestError(400, f"'{where}' must be an object", param=where, code="invalid_type")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:  # a list or object here is not hashable
        raise RequestError(
            400,
            f"invalid value {role!r} for '{where}.role'; expected one of: {', '.join(sorted(ROLES))}",
            param=f"{where}.role",
            code="invalid_value",
        )
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        raise RequestError(400, f"'{where}.content' must be a string or an array", param=f"{where}.content")
    if content is None and role in ("user", "system", "developer", "tool"):
        raise RequestError(
            400,
            f"'{where}.content' is required for role {role!r}",
            param=f"{where}.content",
            code="missing_required_parameter",
        )
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise RequestError(
            400,
            f"'{where}.tool_call_id' is required for tool messages",
            param=f"{where}.tool_call_id",
            code="missing_required_parameter",
        )
    if isinstance(content, list):
        for part_index, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                param = f"{where}.content.[{part_index}]"
                raise RequestError(400, f"'{param}' must be an object with a 'type'", param=param)


def _check_common(body: dict[str, Any]) -> None:
    for name, (low, high) in NUMBER_RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(400, f"'{name}' must be a number", param=name, code="invalid_type")
        if not low <= value <= high:
            raise RequestError(
                400,
                f"{value} is out of range for '{name}': expected {low:g} to {high:g}",
                param=name,
                code="invalid_value",
            )
    for name in ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise RequestError(400, f"'{name}' must be an integer", param=name, code="invalid_type")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if isinstance(value, int) and value < 1:
            raise RequestError(
                400, f"{value} is less than the minimum of 1 for '{name}'", param=name, code="invalid_value"
            )


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise RequestError(400, "'tools' must be an array", param="tools", code="invalid_type")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise RequestError(400, f"'tools.[{index}]' must be an object", param=f"tools.[{index}]")
        if tool.get("type", "function") == "function":
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                param = f"tools.[{index}].function.name"
                raise RequestError(400, f"'{param}' is required", param=param, code="missing_required_parameter")


def check_embeddings_request(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    value = body.get("input")
    valid = isinstance(value, str) or (
        isinstance(value, list) and value and all(isinstance(v, (str | int, list)) for v in value)
    )
    if not valid:
        raise RequestError(
            400,
            "'input' must be a string, an array of strings or an array of token arrays",
            param="input",
            code="invalid_type" if value is not None else "missing_required_parameter",
        )
