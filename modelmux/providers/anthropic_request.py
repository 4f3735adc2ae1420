"""OpenAI chat request -> Anthropic Messages request (a pure function of the request dict).

What moves where:
- `system` and `developer` messages, wherever they appear, become the top-level `system` (in order).
- `tool` messages become `tool_result` blocks in a user turn; consecutive turns of one role are merged
  (Anthropic requires user and assistant turns to alternate).
- `response_format: json_schema` becomes a tool named `json_schema__<schema name>` whose input schema is
  the client's schema. With no client tools it is forced (`tool_choice: {"type": "tool"}`), so the model
  answers by calling it; the response side turns that tool's input back into message text. With client
  tools present the client's `tool_choice` is kept and the model may call either.
  `response_format: json_object` becomes a system instruction.

Ignored, as Anthropic has no equivalent: the `name` of a message, `frequency_penalty`,
`presence_penalty`, `logit_bias`, `logprobs`, `top_logprobs`, `seed`, `store`, OpenAI `metadata`,
`service_tier`, `prediction`, `reasoning_effort`, `stream_options` (the executor's) and tool `strict`.
Rejected with a 400: `n` other than 1, audio input, uploaded file ids, `allowed_tools`, custom tools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modelmux.errors import RequestError
from modelmux.providers.base import CanonicalError, JSONObject
from modelmux.providers.tool_arguments import parse_arguments

DEFAULT_MAX_TOKENS = 4096
RESPONSE_TOOL_PREFIX = "json_schema__"
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
_TOOL_NAME_LIMIT = 64
_DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)$", re.DOTALL)


class TranslationError(RequestError):
    """The request cannot be expressed in Anthropic's format: a 400 naming the offending parameter."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(400, message, type="invalid_request_error", param=param)

    @property
    def error(self) -> CanonicalError:
        return CanonicalError(status=self.status, message=self.message, type=self.type, param=self.param)


def to_anthropic_request(
    body: Mapping[str, Any], *, model: str | None, default_max_tokens: int = DEFAULT_MAX_TOKENS, stream: bool
) -> JSONObject:
    """The Anthropic Messages request for an OpenAI chat request; `model=None` leaves it out (Vertex)."""
    if body.get("n") not in (None, 1):
        raise TranslationError("n must be 1: Anthropic models return one choice", param="n")
    system, messages = _translate_messages(body.get("messages") or [])
    request: JSONObject = {}
    if model is not None:
        request["model"] = model
    request["max_tokens"] = _max_tokens(body, default_max_tokens)
    request["messages"] = messages
    tools, tool_choice = _tools(body)
    if _response_format_type(body) == "json_object":
        system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})
    if system:
        request["system"] = _collapse_system(system)
    if tools:
        request["tools"] = tools
    if tool_choice is not None:
        request["tool_choice"] = tool_choice
    request.update(_sampling(body))
    if stream:
        request["stream"] = True
    return request


def _max_tokens(body: Mapping[str, Any], default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is not None:
            return int(value)
    return default


def _sampling(body: Mapping[str, Any]) -> JSONObject:
    out: JSONObject = {}
    temperature = body.get("temperature")
    if temperature is not None:
        out["temperature"] = min(max(float(temperature), 0.0), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif stop:
        out["stop_sequences"] = list(stop)
    user = body.get("user") or body.get("safety_identifier")
    if user:
        out["metadata"] = {"user_id": str(user)}
    return out


def _collapse_system(blocks: list[JSONObject]) -> str | list[JSONObject]:
    if len(blocks) == 1 and set(blocks[0]) == {"type", "text"}:
        return str(blocks[0]["text"])
    return blocks


# Messages -------------------------------------------------------------------------------------------


def _translate_messages(messages: list[Mapping[str, Any]]) -> tuple[list[JSONObject], list[JSONObject]]:
    system: list[JSONObject] = []
    turns: list[JSONObject] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(_text_blocks(content, f"messages[{i}].content"))
            continue
        if role == "user":
            turn_role, blocks = "user", _user_blocks(content, f"messages[{i}].content")
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant_blocks(message, i)
        elif role == "tool":
            turn_role, blocks = "user", [_tool_result(message, i)]
        else:
            raise TranslationError(f"messages with role {role!r} are not supported", f"messages[{i}].role")
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    return system, [{"role": turn["role"], "content": _collapse(turn["content"])} for turn in turns]


def _collapse(blocks: list[JSONObject]) -> str | list[JSONObject]:
    """A turn made of one plain text block is sent as a string, as most clients write it.

    Tool results go first in their turn (Anthropic requires it), other blocks keep their order.
    """
    results = [block for block in blocks if block["type"] == "tool_result"]
    if results:
        blocks = results + [block for block in blocks if block["type"] != "tool_result"]
    if not blocks:
        return ""
    if len(blocks) == 1 and set(blocks[0]) == {"type", "text"}:
        return str(blocks[0]["text"])
    return blocks


def _text_block(part: Mapping[str, Any]) -> JSONObject:
    block: JSONObject = {"type": "text", "text": part.get("text") or part.get("refusal") or ""}
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _text_blocks(content: Any, param: str) -> list[JSONObject]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for j, part in enumerate(content):
        if part.get("type") not in ("text", "refusal"):
            raise TranslationError(f"content parts of type {part.get('type')!r} are not allowed here", f"{param}[{j}]")
        if part.get("text") or part.get("refusal"):
            blocks.append(_text_block(part))
    return blocks


def _user_blocks(content: Any, param: str) -> list[JSONObject]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, param)
    blocks: list[JSONObject] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append(_text_block(part))
        elif kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), f"{param}[{j}].image_url"))
        elif kind == "file":
            blocks.append(_document_block(part.get("file") or {}, f"{param}[{j}].file"))
        else:
            raise TranslationError(f"content parts of type {kind!r} are not supported by Anthropic", f"{param}[{j}]")
    return blocks


def _image_block(image: Any, param: str) -> JSONObject:
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or not url:
        raise TranslationError("image_url needs a url", param)
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    return {"type": "image", "source": _base64_source(url, param)}


def _document_block(file: Mapping[str, Any], param: str) -> JSONObject:
    data = file.get("file_data")
    if not isinstance(data, str):
        raise TranslationError("only inline files (file_data as a base64 data URL) are supported", param)
    return {"type": "document", "source": _base64_source(data, param)}


def _base64_source(url: str, param: str) -> JSONObject:
    match = _DATA_URL.match(url)
    if match is None:
        raise TranslationError("expected an http(s) URL or a base64 data URL", param)
    return {"type": "base64", "media_type": match["media"], "data": match["data"]}


def _assistant_blocks(message: Mapping[str, Any], i: int) -> list[JSONObject]:
    blocks = _text_blocks(message.get("content"), f"messages[{i}].content")
    for j, call in enumerate(message.get("tool_calls") or []):
        param = f"messages[{i}].tool_calls[{j}]"
        if call.get("type", "function") != "function":
            raise TranslationError("only function tool calls are supported", f"{param}.type")
        function = call.get("function") or {}
        tool_input = _arguments(function.get("arguments"), f"{param}.function.arguments")
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": tool_input})
    return blocks


def _arguments(arguments: Any, param: str) -> Any:
    return parse_arguments(arguments, param, TranslationError)


def _tool_result(message: Mapping[str, Any], i: int) -> JSONObject:
    content = message.get("content")
    result: JSONObject = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
    if isinstance(content, str):
        result["content"] = content
    elif content:
        result["content"] = _user_blocks(content, f"messages[{i}].content")
    return result


# Tools ----------------------------------------------------------------------------------------------


def _response_format_type(body: Mapping[str, Any]) -> str | None:
    response_format = body.get("response_format")
    return response_format.get("type") if isinstance(response_format, Mapping) else None


def _tools(body: Mapping[str, Any]) -> tuple[list[JSONObject], JSONObject | None]:
    tools = [_tool(tool, f"tools[{k}]") for k, tool in enumerate(body.get("tools") or [])]
    choice = _tool_choice(body.get("tool_choice"))
    if _response_format_type(body) == "json_schema":
        response_tool = _response_tool(body["response_format"].get("json_schema") or {})
        if not tools and choice is None:
            choice = {"type": "tool", "name": response_tool["name"]}
        tools.append(response_tool)
    if not tools:
        return [], None
    if body.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    return tools, choice


def _tool(tool: Mapping[str, Any], param: str) -> JSONObject:
    if tool.get("type") != "function":
        raise TranslationError(f"tools of type {tool.get('type')!r} are not supported", f"{param}.type")
    function = tool.get("function") or {}
    out: JSONObject = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    out["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return out


def _tool_choice(choice: Any) -> JSONObject | None:
    if choice is None:
        return None
    simple = {"auto": "auto", "none": "none", "required": "any"}
    if isinstance(choice, str) and choice in simple:
        return {"type": simple[choice]}
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    raise TranslationError(f"tool_choice {choice!r} is not supported by Anthropic", "tool_choice")


def _response_tool(schema: Mapping[str, Any]) -> JSONObject:
    name = str(schema.get("name") or "response")
    description = "Give your final answer by calling this tool; its input is the answer."
    if schema.get("description"):
        description += f" The answer: {schema['description']}"
    return {
        "name": (RESPONSE_TOOL_PREFIX + name)[:_TOOL_NAME_LIMIT],
        "description": description,
        "input_schema": schema.get("schema") or {"type": "object", "properties": {}},
    }
