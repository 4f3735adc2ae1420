"""Anthropic Messages request -> OpenAI chat request (the inverse of `providers/anthropic_request`).

What moves where:
- `system` (a string or text blocks) becomes one leading `system` message, blocks joined by a blank line.
- A user turn's `tool_result` blocks become `tool` messages (in order, before the rest of the turn);
  their text is the tool message's content, prefixed with `Error: ` when `is_error` is true; images in a
  tool result open the user message that follows. The turn's other blocks become one `user` message.
- `text` blocks become text parts (one text block: a plain string), `image` blocks `image_url` parts
  (base64 sources as data URLs, url sources as they are), `document` blocks with a base64 source `file`
  parts with the data URL (a `text` source becomes a text part).
- An assistant turn's `text` blocks become its content, its `tool_use` blocks `tool_calls` with the
  input as JSON arguments; `thinking` and `redacted_thinking` blocks are dropped.
- `tools` become function tools (`input_schema` -> `parameters`); `tool_choice` auto/any/tool/none
  becomes auto/required/a named function/none, `disable_parallel_tool_use` `parallel_tool_calls: false`.
- `max_tokens`, `temperature`, `top_p` and `stream` keep their names; `stop_sequences` becomes `stop`,
  `metadata.user_id` becomes `user`; a stream asks for `stream_options.include_usage`.
- `output_config.format` (a JSON schema) becomes `response_format: json_schema` named `output`.

Dropped, as the canonical request has no equivalent: `top_k`, `thinking`, `output_config.effort`, `cache_control` marks,
`citations`, `service_tier`, `container`, `mcp_servers` and any field added to the API after this was
written. Refused with a 400: Anthropic-defined tools (`bash_...`, `web_search_...`), `file` image and
`url` document sources, server-tool result blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from modelmux.errors import RequestError
from modelmux.runtime.facts import estimate_tokens, prompt_text

JSONObject = dict[str, Any]
ROLES = ("user", "assistant")
TOOL_ERROR_PREFIX = "Error: "
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def invalid(param: str, message: str) -> RequestError:
    """A 400 worded the way Anthropic words its validation errors (`messages.0.content: ...`)."""
    return RequestError(400, f"{param}: {message}", type="invalid_request_error", param=param)


def to_openai_request(body: Mapping[str, Any]) -> JSONObject:
    """The OpenAI chat request for an Anthropic Messages request; a 400 `RequestError` when invalid."""
    chat: JSONObject = {"model": _model(body)}
    chat["messages"] = to_openai_messages(body)
    chat["max_tokens"] = _max_tokens(body.get("max_tokens"))
    chat.update(_sampling(body))
    tools = [_tool(tool, f"tools.{k}") for k, tool in enumerate(_list(body, "tools"))]
    if tools:
        chat["tools"] = tools
        chat.update(_tool_choice(body.get("tool_choice")))
    chat.update(_output_format(body.get("output_config")))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream", "Input should be a valid boolean")
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def to_openai_messages(body: Mapping[str, Any]) -> list[JSONObject]:
    """`system` and `messages` of an Anthropic request as OpenAI chat messages."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise invalid("messages", "Field required" if messages is None else "Input should be a valid list")
    if not messages:
        raise invalid("messages", "at least one message is required")
    out = _system(body.get("system"))
    for i, message in enumerate(messages):
        out.extend(_message(message, f"messages.{i}"))
    return out


def estimate_input_tokens(chat: Mapping[str, Any]) -> int:
    """The gateway's prompt estimate for a translated request, plus its tool definitions' JSON."""
    messages = chat.get("messages")
    tools = chat.get("tools")
    tool_chars = len(orjson.dumps(tools)) if tools else 0
    return estimate_tokens(prompt_text(messages), messages) + (tool_chars + 3) // 4


def _model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "Field required" if model is None else "Input should be a non-empty string")
    return model


def _max_tokens(value: Any) -> int:
    if value is None:
        raise invalid("max_tokens", "Field required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("max_tokens", "Input should be a valid integer")
    if value < 1:
        raise invalid("max_tokens", "Input should be greater than or equal to 1")
    return value


def _list(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(name, "Input should be a valid list")
    return value


def _sampling(body: Mapping[str, Any]) -> JSONObject:
    out: JSONObject = {}
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(name, "Input should be a valid number")
        if not 0.0 <= value <= 1.0:
            raise invalid(name, "Input should be between 0 and 1")
        out[name] = value
    stops = _list(body, "stop_sequences")
    if not all(isinstance(stop, str) for stop in stops):
        raise invalid("stop_sequences", "Input should be a list of strings")
    if stops:
        out["stop"] = stops
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise invalid("metadata", "Input should be a valid dictionary")
    user = (metadata or {}).get("user_id")
    if isinstance(user, str) and user:
        out["user"] = user
    return out


def _output_format(config: Any) -> JSONObject:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise invalid("output_config", "Input should be a valid dictionary")
    found = config.get("format")
    if found is None:
        return {}
    if (
        not isinstance(found, Mapping)
        or found.get("type") != "json_schema"
        or not isinstance(found.get("schema"), Mapping)
    ):
        raise invalid("output_config.format", "Input should be a format of type 'json_schema' with a 'schema'")
    return {
        "response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": dict(found["schema"])}}
    }


# System and messages --------------------------------------------------------------------------------


def _system(system: Any) -> list[JSONObject]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise invalid("system", "Input should be a valid string or a list of text blocks")
    texts = []
    for j, block in enumerate(system):
        if not isinstance(block, Mapping) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid(f"system.{j}", "Input should be a text block")
        if block["text"]:
            texts.append(block["text"])
    return [{"role": "system", "content": "\n\n".join(texts)}] if texts else []


def _message(message: Any, param: str) -> list[JSONObject]:
    if not isinstance(message, Mapping):
        raise invalid(param, "Input should be a valid dictionary")
    role = message.get("role")
    if role not in ROLES:
        raise invalid(f"{param}.role", "Input should be 'user' or 'assistant'")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise invalid(f"{param}.content", "Field required" if content is None else "Input should be a valid list")
    blocks = _blocks(content, f"{param}.content")
    return _user_turn(blocks) if role == "user" else [_assistant_turn(blocks)]


def _blocks(content: list[Any], param: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(param, block) pairs, each checked to be an object with a string `type`."""
    out = []
    for j, block in enumerate(content):
        where = f"{param}.{j}"
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise invalid(where, "Input should be a content block object with a 'type'")
        out.append((where, block))
    return out


def _user_turn(blocks: list[tuple[str, Mapping[str, Any]]]) -> list[JSONObject]:
    tool_messages: list[JSONObject] = []
    parts: list[JSONObject] = []
    tool_images: list[JSONObject] = []
    for where, block in blocks:
        kind = block["type"]
        if kind == "tool_result":
            message, images = _tool_result(block, where)
            tool_messages.append(message)
            tool_images.extend(images)
        elif kind not in _DROPPED_BLOCKS:
            parts.append(_user_part(block, where))
    parts = tool_images + parts
    if not parts and tool_messages:
        return tool_messages
    return [*tool_messages, {"role": "user", "content": _collapse(parts)}]


def _collapse(parts: list[JSONObject]) -> str | list[JSONObject]:
    """One text part is sent as a plain string (as most clients write it), no part as ""."""
    if not parts:
        return ""
    if len(parts) == 1 and parts[0]["type"] == "text":
        return str(parts[0]["text"])
    return parts


def _user_part(block: Mapping[str, Any], where: str) -> JSONObject:
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": _text(block, where)}
    if kind == "image":
        return _image(block, where)
    if kind == "document":
        return _document(block, where)
    if kind == "tool_use":
        raise invalid(where, "tool_use blocks may only appear in assistant messages")
    raise invalid(f"{where}.type", f"content blocks of type {kind!r} are not supported by this gateway")


def _text(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise invalid(f"{where}.text", "Field required")
    return text


def _source(block: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise invalid(f"{where}.source", "Field required")
    return source


def _data_url(source: Mapping[str, Any], where: str) -> str:
    media, data = source.get("media_type"), source.get("data")
    if not isinstance(media, str) or not isinstance(data, str):
        raise invalid(f"{where}.source", "a base64 source needs 'media_type' and 'data'")
    return f"data:{media};base64,{data}"


def _image(block: Mapping[str, Any], where: str) -> JSONObject:
    source = _source(block, where)
    kind = source.get("type")
    if kind == "base64":
        return {"type": "image_url", "image_url": {"url": _data_url(source, where)}}
    if kind == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise invalid(f"{where}.source.type", f"image sources of type {kind!r} are not supported; use base64 or url")


def _document(block: Mapping[str, Any], where: str) -> JSONObject:
    source = _source(block, where)
    kind = source.get("type")
    if kind == "base64":
        title = block.get("title")
        filename = title if isinstance(title, str) and title else "document.pdf"
        return {"type": "file", "file": {"filename": filename, "file_data": _data_url(source, where)}}
    if kind == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    raise invalid(f"{where}.source.type", f"document sources of type {kind!r} are not supported; use base64 or text")


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[JSONObject, list[JSONObject]]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.tool_use_id", "Field required")
    content = block.get("content")
    texts: list[str] = []
    images: list[JSONObject] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, (inner_where, inner) in enumerate(_blocks(content, f"{where}.content")):
            if inner["type"] == "text":
                texts.append(_text(inner, inner_where))
            elif inner["type"] == "image":
                images.append(_image(inner, inner_where))
            else:
                raise invalid(f"{where}.content.{k}.type", "tool results may hold text and image blocks only")
    elif content is not None:
        raise invalid(f"{where}.content", "Input should be a valid string or list")
    text = "\n".join(texts)
    if block.get("is_error") is True:
        text = TOOL_ERROR_PREFIX + text if text else TOOL_ERROR_PREFIX.strip()
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _assistant_turn(blocks: list[tuple[str, Mapping[str, Any]]]) -> JSONObject:
    texts: list[JSONObject] = []
    calls: list[JSONObject] = []
    for where, block in blocks:
        kind = block["type"]
        if kind == "text":
            texts.append({"type": "text", "text": _text(block, where)})
        elif kind == "tool_use":
            calls.append(_tool_call(block, where))
        elif kind not in _DROPPED_BLOCKS:
            raise invalid(f"{where}.type", f"assistant content blocks of type {kind!r} are not supported")
    message: JSONObject = {"role": "assistant", "content": _collapse(texts) if texts else (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_call(block: Mapping[str, Any], where: str) -> JSONObject:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.id", "Field required")
    if not isinstance(name, str) or not name:
        raise invalid(f"{where}.name", "Field required")
    tool_input = block.get("input", {})
    if not isinstance(tool_input, Mapping):
        raise invalid(f"{where}.input", "Input should be a valid dictionary")
    arguments = orjson.dumps(dict(tool_input)).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# Tools ----------------------------------------------------------------------------------------------


def _tool(tool: Any, param: str) -> JSONObject:
    if not isinstance(tool, Mapping):
        raise invalid(param, "Input should be a valid dictionary")
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise invalid(f"{param}.type", f"Anthropic-defined tools ({kind!r}) are not supported by this gateway")
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{param}.name", "Field required")
    schema = tool.get("input_schema")
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, Mapping):
        raise invalid(f"{param}.input_schema", "Input should be a valid dictionary")
    function: JSONObject = {"name": name}
    if isinstance(tool.get("description"), str) and tool["description"]:
        function["description"] = tool["description"]
    function["parameters"] = dict(schema)
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> JSONObject:
    if choice is None:
        return {}
    if not isinstance(choice, Mapping):
        raise invalid("tool_choice", "Input should be a valid dictionary")
    kind = choice.get("type")
    out: JSONObject
    if kind == "auto":
        out = {"tool_choice": "auto"}
    elif kind == "any":
        out = {"tool_choice": "required"}
    elif kind == "none":
        return {"tool_choice": "none"}
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out = {"tool_choice": {"type": "function", "function": {"name": choice["name"]}}}
    else:
        raise invalid("tool_choice", "Input should be a tool choice of type 'auto', 'any', 'tool' or 'none'")
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out
