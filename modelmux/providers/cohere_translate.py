"""OpenAI requests <-> Cohere v2 Chat and Embed bodies: pure functions of dicts.

Chat requests keep OpenAI's message shape, which Cohere v2 shares (`system`, `user`, `assistant` with
`tool_calls`, `tool` with `tool_call_id`; `image_url` parts; function tools with `parameters`). What
moves: `developer` messages become `system`; an assistant's text next to its tool calls becomes the
`tool_plan`; `top_p` becomes `p` (clamped to Cohere's 0.01..0.99); `stop` becomes `stop_sequences`;
`frequency_penalty` and `presence_penalty` are clamped to Cohere's 0..1; a `strict` function makes
`strict_tools: true`; `response_format` becomes `{"type": "json_object", "json_schema": ...}`.
`tool_choice` maps `required` to `REQUIRED` and `none` to `NONE`; a named function (which Cohere
cannot force) offers only that tool, `REQUIRED`.

Ignored (no Cohere equivalent): message `name`, `logit_bias`, `logprobs`, `top_logprobs`, `user`,
`metadata`, `store`, `service_tier`, `parallel_tool_calls`, `reasoning_effort`. Rejected (400): `n`
other than 1, audio and file parts, non-function tools.

Responses: text parts join into `content` (the `tool_plan` fills it when the model only calls tools);
`thinking` parts become `reasoning_content`. Usage counts Cohere's billed units (what the account pays
for), falling back to its raw token counts. A `finish_reason` of ERROR or TIMEOUT is an error (500,
504), not a completion. Citations are not forwarded.

Embeddings: `texts`, `input_type` (the request's `input_type` extra field, default `search_document`),
float embeddings, `dimensions` as `output_dimension`. Vectors come back as float arrays whatever
`encoding_format` asks (the parsing step does not see the request).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from modelmux.errors import RequestError
from modelmux.providers.base import CanonicalError, JSONObject, UpstreamStreamError
from modelmux.providers.openai import protocol_error

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
# Finish reasons that mean the generation failed: the answer is an error with this status.
FAILED_FINISH = {"ERROR": 500, "TIMEOUT": 504}
DEFAULT_INPUT_TYPE = "search_document"


def invalid(message: str, param: str | None = None) -> RequestError:
    return RequestError(400, message, type="invalid_request_error", param=param)


def _clamp(value: Any, low: float, high: float) -> float:
    return min(max(float(value), low), high)


# Chat requests ---------------------------------------------------------------------------------------


def to_cohere_request(body: Mapping[str, Any], *, model: str, stream: bool) -> JSONObject:
    if body.get("n") not in (None, 1):
        raise invalid("n must be 1: Cohere models return one choice", "n")
    request: JSONObject = {"model": model, "messages": _messages(body.get("messages") or [])}
    tools, choice, strict = _tools(body)
    if tools:
        request["tools"] = tools
        if strict:
            request["strict_tools"] = True
    if choice is not None:
        request["tool_choice"] = choice
    request.update(_sampling(body))
    response_format = _response_format(body.get("response_format"))
    if response_format is not None:
        request["response_format"] = response_format
    if stream:
        request["stream"] = True
    return request


def _sampling(body: Mapping[str, Any]) -> JSONObject:
    out: JSONObject = {}
    limit = body.get("max_completion_tokens")
    limit = body.get("max_tokens") if limit is None else limit
    if limit is not None:
        out["max_tokens"] = int(limit)
    if body.get("temperature") is not None:
        out["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        out["p"] = _clamp(body["top_p"], 0.01, 0.99)
    for key in ("frequency_penalty", "presence_penalty"):
        if body.get(key) is not None:
            out[key] = _clamp(body[key], 0.0, 1.0)
    if body.get("seed") is not None:
        out["seed"] = body["seed"]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif stop:
        out["stop_sequences"] = list(stop)
    return out


def _response_format(value: Any) -> JSONObject | None:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "json_schema": schema} if schema else {"type": "json_object"}
    return {"type": "text"} if kind == "text" else None


def _messages(messages: list[Mapping[str, Any]]) -> list[JSONObject]:
    out: list[JSONObject] = []
    for i, message in enumerate(messages):
        role, param = message.get("role"), f"messages[{i}]"
        content = message.get("content")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": _text(content, f"{param}.content")})
        elif role == "user":
            out.append({"role": "user", "content": _user_content(content, f"{param}.content")})
        elif role == "assistant":
            out.append(_assistant(message, param))
        elif role == "tool":
            text = _text(content, f"{param}.content")
            out.append({"role": "tool", "tool_call_id": message.get("tool_call_id"), "content": text})
        else:
            raise invalid(f"messages with role {role!r} are not supported by Cohere", f"{param}.role")
    return out


def _text(content: Any, param: str) -> str:
    """The text of a string or of text/refusal parts, joined."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(content):
        if part.get("type") not in ("text", "refusal"):
            raise invalid(f"content parts of type {part.get('type')!r} are not allowed here", f"{param}[{j}]")
        texts.append(str(part.get("text") or part.get("refusal") or ""))
    return "".join(texts)


def _user_content(content: Any, param: str) -> str | list[JSONObject]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[JSONObject] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, Mapping) else {"url": image}
            if not isinstance(image.get("url"), str) or not image["url"]:
                raise invalid("image_url needs a url", f"{param}[{j}].image_url")
            url: JSONObject = {"url": image["url"]}
            if image.get("detail"):
                url["detail"] = image["detail"]
            parts.append({"type": "image_url", "image_url": url})
        else:
            raise invalid(f"content parts of type {kind!r} are not supported by Cohere", f"{param}[{j}]")
    return parts


def _assistant(message: Mapping[str, Any], param: str) -> JSONObject:
    text = _text(message.get("content"), f"{param}.content")
    calls = []
    for j, call in enumerate(message.get("tool_calls") or []):
        if call.get("type", "function") != "function":
            raise invalid("only function tool calls are supported", f"{param}.tool_calls[{j}].type")
        function = call.get("function") or {}
        arguments = function.get("arguments")
        function_out = {"name": function.get("name"), "arguments": arguments or "{}"}
        calls.append({"id": call.get("id"), "type": "function", "function": function_out})
    out: JSONObject = {"role": "assistant"}
    if calls:
        if text:
            out["tool_plan"] = text
        out["tool_calls"] = calls
    else:
        out["content"] = text
    return out


def _tools(body: Mapping[str, Any]) -> tuple[list[JSONObject], str | None, bool]:
    """Cohere's tools, its `tool_choice`, and whether any offered tool is `strict`."""
    tools: list[JSONObject] = []
    strict: set[str] = set()
    for k, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function":
            message = f"tools of type {tool.get('type')!r} are not supported by Cohere"
            raise invalid(message, f"tools[{k}].type")
        function = tool.get("function") or {}
        out: JSONObject = {"name": function.get("name")}
        if function.get("description"):
            out["description"] = function["description"]
        out["parameters"] = function.get("parameters") or {"type": "object", "properties": {}}
        if function.get("strict") is True:
            strict.add(str(out["name"]))
        tools.append({"type": "function", "function": out})
    choice = body.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") == "function" and tools:
        name = (choice.get("function") or {}).get("name")
        tools = [tool for tool in tools if tool["function"]["name"] == name]
        if not tools:
            raise invalid(f"tool_choice names {name!r}, which is not among the tools", "tool_choice")
        choice = "required"
    is_strict = any(tool["function"]["name"] in strict for tool in tools)
    if not tools or choice in (None, "auto"):
        return tools, None, is_strict
    if choice in ("required", "none"):
        return tools, str(choice).upper(), is_strict
    raise invalid(f"tool_choice {choice!r} is not supported by Cohere", "tool_choice")


# Chat responses --------------------------------------------------------------------------------------


def finish_reason(value: Any, *, tool_calls: bool) -> str:
    """OpenAI's finish reason; ERROR and TIMEOUT raise, as the generation failed."""
    if value in FAILED_FINISH:
        message = f"Cohere stopped the generation with finish_reason {value}"
        raise UpstreamStreamError(CanonicalError(FAILED_FINISH[value], message, "server_error"))
    reason = FINISH_REASONS.get(value, "stop") if isinstance(value, str) else "stop"
    return "stop" if reason == "tool_calls" and not tool_calls else reason


def openai_usage(usage: Any) -> JSONObject:
    usage = usage if isinstance(usage, Mapping) else {}
    billed = usage.get("billed_units") if isinstance(usage.get("billed_units"), Mapping) else {}
    tokens = usage.get("tokens") if isinstance(usage.get("tokens"), Mapping) else {}
    prompt = int(billed.get("input_tokens") or tokens.get("input_tokens") or 0)
    completion = int(billed.get("output_tokens") or tokens.get("output_tokens") or 0)
    out: JSONObject = {"prompt_tokens": prompt, "completion_tokens": completion}
    out["total_tokens"] = prompt + completion
    cached = usage.get("cached_tokens")
    if isinstance(cached, int):
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def load_object(payload: bytes, what: str) -> JSONObject:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        snippet = payload[:200].decode("utf-8", "replace")
        raise protocol_error(f"malformed upstream {what}: {snippet}") from None
    if not isinstance(data, dict):
        raise protocol_error(f"malformed upstream {what}: not a JSON object")
    return data


def to_chat_completion(payload: bytes, public_model: str) -> JSONObject:
    """The `chat.completion` for a Cohere v2 chat response."""
    data = load_object(payload, "response")
    try:
        message = data.get("message") or {}
        texts, thoughts = _parts(message.get("content") or [])
        calls = [_call(call) for call in message.get("tool_calls") or []]
    except (AttributeError, KeyError, TypeError) as exc:
        raise protocol_error(f"malformed upstream response: {str(data)[:200]}") from exc
    text = "".join(texts)
    if not text and calls:
        text = str(message.get("tool_plan") or "")
    out: JSONObject = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        out["tool_calls"] = calls
    if thoughts:
        out["reasoning_content"] = "".join(thoughts)
    reason = finish_reason(data.get("finish_reason"), tool_calls=bool(calls))
    return {
        "id": f"chatcmpl-{data.get('id') or ''}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": public_model,
        "choices": [{"index": 0, "message": out, "logprobs": None, "finish_reason": reason}],
        "usage": openai_usage(data.get("usage")),
    }


def _parts(content: list[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    thoughts: list[str] = []
    for part in content:
        if part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        elif part.get("type") == "thinking":
            thoughts.append(str(part.get("thinking") or ""))
    return texts, thoughts


def _call(call: Mapping[str, Any]) -> JSONObject:
    function = call["function"]
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments or {}).decode()
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }


# Embeddings ------------------------------------------------------------------------------------------


def to_embed_request(body: Mapping[str, Any], *, model: str) -> JSONObject:
    """POST /v2/embed: `texts`, `input_type` (the request's extra field, default search_document)."""
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not (isinstance(texts, list) and texts and all(isinstance(text, str) for text in texts)):
        raise invalid("input must be a string or a non-empty list of strings, not token arrays", "input")
    input_type = body.get("input_type")
    request: JSONObject = {
        "model": model,
        "texts": texts,
        "input_type": input_type if isinstance(input_type, str) and input_type else DEFAULT_INPUT_TYPE,
        "embedding_types": ["float"],
    }
    if body.get("dimensions") is not None:
        request["output_dimension"] = body["dimensions"]
    return request


def to_embeddings(payload: bytes, public_model: str) -> JSONObject:
    data = load_object(payload, "embeddings response")
    try:
        embeddings = data["embeddings"]
        vectors = embeddings["float"] if isinstance(embeddings, Mapping) else embeddings
        items = [{"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)]
    except (KeyError, TypeError) as exc:
        raise protocol_error(f"malformed upstream embeddings response: {str(data)[:200]}") from exc
    meta = data.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, Mapping) else None
    billed = billed if isinstance(billed, Mapping) else {}
    tokens = int(billed.get("input_tokens") or 0)
    return {
        "object": "list",
        "data": items,
        "model": public_model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
