"""OpenAI requests <-> Bedrock Converse and InvokeModel (embeddings) bodies: pure functions of dicts.

Chat (Converse): `system` and `developer` messages become the top-level `system` blocks; `tool`
messages become `toolResult` blocks in a user turn, and consecutive turns of one role are merged
(Converse requires user and assistant turns to alternate). Images must be inline (base64 `data:`
URLs): Bedrock does not fetch image URLs, so an http(s) URL is a 400. `response_format` becomes a
system instruction (Converse has no model-independent JSON mode). `tool_choice: "none"` has no Converse
equivalent: the tools are left out, unless the conversation already holds tool calls or results (then
Converse requires `toolConfig`, and the model may still call a tool). `tool_choice: "auto"` is left
implicit, as some Bedrock models reject an explicit `toolChoice`.

Ignored (no Converse equivalent): message `name`, `frequency_penalty`, `presence_penalty`, `seed`,
`logit_bias`, `logprobs`, `top_logprobs`, `user`, `metadata`, `store`, `service_tier`,
`parallel_tool_calls`, `reasoning_effort`, tool `strict`. Rejected (400): `n` other than 1, audio and
file parts, non-function tools.

Embeddings (InvokeModel): `amazon.titan-embed-*` takes one `inputText` per call, so a request with
several inputs is a 400 (the adapter interface sends one upstream request per attempt);
`cohere.embed-*` takes up to 96 `texts` and an `input_type` (the request's `input_type` extra field,
default `search_document`) and reports no token count in its body. Vectors come back as float arrays
whatever `encoding_format` asks (the parsing step does not see the request).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from modelmux.errors import RequestError
from modelmux.providers.base import JSONObject
from modelmux.providers.openai import protocol_error
from modelmux.providers.tool_arguments import parse_arguments

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}
IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
JSON_SCHEMA_INSTRUCTION = "Respond with one JSON value, and nothing else, conforming to this JSON schema: "
DEFAULT_INPUT_TYPE = "search_document"
NOT_TEXTS = "input must be a string or a non-empty list of strings (token arrays are not supported)"
_DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)$", re.DOTALL)


def invalid(message: str, param: str | None = None) -> RequestError:
    """A client request Bedrock cannot be sent: a 400 naming the offending parameter."""
    return RequestError(400, message, type="invalid_request_error", param=param)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# Chat requests ---------------------------------------------------------------------------------------


def to_converse_request(body: Mapping[str, Any], *, default_max_tokens: int) -> JSONObject:
    """The Converse body (model in the URL, not here) for an OpenAI chat request."""
    if body.get("n") not in (None, 1):
        raise invalid("n must be 1: Bedrock models return one choice", "n")
    system, messages = _messages(body.get("messages") or [])
    instruction = _format_instruction(body.get("response_format"))
    if instruction:
        system.append({"text": instruction})
    request: JSONObject = {"messages": messages}
    if system:
        request["system"] = system
    request["inferenceConfig"] = _inference(body, default_max_tokens)
    tool_config = _tool_config(body, messages)
    if tool_config is not None:
        request["toolConfig"] = tool_config
    return request


def _inference(body: Mapping[str, Any], default_max_tokens: int) -> JSONObject:
    limit = body.get("max_completion_tokens")
    limit = body.get("max_tokens") if limit is None else limit
    config: JSONObject = {"maxTokens": int(default_max_tokens if limit is None else limit)}
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif stop:
        config["stopSequences"] = list(stop)
    return config


def _format_instruction(response_format: Any) -> str | None:
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "json_object":
        return JSON_OBJECT_INSTRUCTION
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        return JSON_SCHEMA_INSTRUCTION + _dumps(schema)
    return None


def _messages(messages: list[Mapping[str, Any]]) -> tuple[list[JSONObject], list[JSONObject]]:
    system: list[JSONObject] = []
    turns: list[JSONObject] = []
    for i, message in enumerate(messages):
        role, param = message.get("role"), f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.get("content"), f"{param}.content"))
            continue
        if role == "user":
            turn_role, blocks = "user", _user_blocks(message.get("content"), f"{param}.content")
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant_blocks(message, param)
        elif role == "tool":
            turn_role, blocks = "user", [_tool_result(message, param)]
        else:
            raise invalid(f"messages with role {role!r} are not supported by Bedrock", f"{param}.role")
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    for turn in turns:  # tool results open their turn, other blocks keep their order
        turn["content"].sort(key=lambda block: "toolResult" not in block)
    return system, turns


def _texts(content: Any, param: str) -> list[str]:
    """The non-empty texts of a string or of text/refusal parts (Converse rejects blank text blocks)."""
    if content is None or isinstance(content, str):
        return [content] if content else []
    texts = []
    for j, part in enumerate(content):
        if part.get("type") not in ("text", "refusal"):
            raise invalid(f"content parts of type {part.get('type')!r} are not allowed here", f"{param}[{j}]")
        text = part.get("text") or part.get("refusal")
        if text:
            texts.append(str(text))
    return texts


def _user_blocks(content: Any, param: str) -> list[JSONObject]:
    if content is None or isinstance(content, str):
        return [{"text": text} for text in _texts(content, param)]
    blocks: list[JSONObject] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{param}[{j}].image_url"))
        else:
            raise invalid(f"content parts of type {kind!r} are not supported by Bedrock", f"{param}[{j}]")
    return blocks


def _image(image: Any, param: str) -> JSONObject:
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or not url:
        raise invalid("image_url needs a url", param)
    if url.startswith(("http://", "https://")):
        raise invalid(
            "Bedrock does not fetch images from URLs: send the image inline as a base64 data: URL "
            "(data:image/png;base64,...)",
            param,
        )
    match = _DATA_URL.match(url)
    if match is None:
        raise invalid("expected a base64 data: URL (data:image/png;base64,...)", param)
    image_format = IMAGE_FORMATS.get(match["media"].lower())
    if image_format is None:
        raise invalid(f"Bedrock accepts png, jpeg, gif and webp images, not {match['media']}", param)
    return {"image": {"format": image_format, "source": {"bytes": match["data"].strip()}}}


def _assistant_blocks(message: Mapping[str, Any], param: str) -> list[JSONObject]:
    blocks: list[JSONObject] = [{"text": text} for text in _texts(message.get("content"), f"{param}.content")]
    for j, call in enumerate(message.get("tool_calls") or []):
        where = f"{param}.tool_calls[{j}]"
        if call.get("type", "function") != "function":
            raise invalid("only function tool calls are supported", f"{where}.type")
        function = call.get("function") or {}
        tool_input = _arguments(function.get("arguments"), f"{where}.function.arguments")
        use = {"toolUseId": call.get("id"), "name": function.get("name"), "input": tool_input}
        blocks.append({"toolUse": use})
    return blocks


def _arguments(arguments: Any, param: str) -> Any:
    return parse_arguments(arguments, param, invalid)


def _tool_result(message: Mapping[str, Any], param: str) -> JSONObject:
    text = "".join(_texts(message.get("content"), f"{param}.content"))
    return {"toolResult": {"toolUseId": message.get("tool_call_id"), "content": [{"text": text}]}}


def _tool_config(body: Mapping[str, Any], messages: list[JSONObject]) -> JSONObject | None:
    tools = [_tool_spec(tool, f"tools[{k}]") for k, tool in enumerate(body.get("tools") or [])]
    if not tools:
        return None
    choice = body.get("tool_choice")
    if choice == "none":
        used = any("toolUse" in b or "toolResult" in b for turn in messages for b in turn["content"])
        return {"tools": tools} if used else None
    config: JSONObject = {"tools": tools}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, Mapping) and choice.get("type") == "function":
        config["toolChoice"] = {"tool": {"name": (choice.get("function") or {}).get("name")}}
    elif choice not in (None, "auto"):
        raise invalid(f"tool_choice {choice!r} is not supported by Bedrock", "tool_choice")
    return config


def _tool_spec(tool: Mapping[str, Any], param: str) -> JSONObject:
    if tool.get("type") != "function":
        raise invalid(f"tools of type {tool.get('type')!r} are not supported by Bedrock", f"{param}.type")
    function = tool.get("function") or {}
    spec: JSONObject = {"name": function.get("name")}
    if function.get("description"):
        spec["description"] = function["description"]
    spec["inputSchema"] = {"json": function.get("parameters") or {"type": "object", "properties": {}}}
    return {"toolSpec": spec}


# Chat responses --------------------------------------------------------------------------------------


def finish_reason(stop_reason: Any, *, tool_calls: bool) -> str:
    reason = STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    return "stop" if reason == "tool_calls" and not tool_calls else reason


def openai_usage(usage: Mapping[str, Any]) -> JSONObject:
    """OpenAI usage from Converse's: prompt tokens include cache reads and writes, as OpenAI counts them."""
    cached = int(usage.get("cacheReadInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + cached + int(usage.get("cacheWriteInputTokens") or 0)
    completion = int(usage.get("outputTokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def load_json(payload: bytes, what: str) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        snippet = payload[:200].decode("utf-8", "replace")
        raise protocol_error(f"malformed upstream {what}: {snippet}") from None


def to_chat_completion(payload: bytes, public_model: str) -> JSONObject:
    """The `chat.completion` for a Converse response; a 502 `UpstreamStreamError` if it is not one."""
    data = load_json(payload, "response")
    try:
        message = data["output"]["message"]
        texts, thoughts, calls = _content(message.get("content") or [])
        usage = openai_usage(data.get("usage") or {})
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise protocol_error(f"malformed upstream response: {str(data)[:200]}") from exc
    out: JSONObject = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    out["refusal"] = None
    if calls:
        out["tool_calls"] = calls
    if thoughts:
        out["reasoning_content"] = "".join(thoughts)
    reason = finish_reason(data.get("stopReason"), tool_calls=bool(calls))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": public_model,
        "choices": [{"index": 0, "message": out, "logprobs": None, "finish_reason": reason}],
        "usage": usage,
    }


def _content(blocks: list[Mapping[str, Any]]) -> tuple[list[str], list[str], list[JSONObject]]:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSONObject] = []
    for block in blocks:
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            function = {"name": use["name"], "arguments": _dumps(use.get("input") or {})}
            calls.append({"id": use["toolUseId"], "type": "function", "function": function})
        elif "reasoningContent" in block:
            thoughts.append(str((block["reasoningContent"].get("reasoningText") or {}).get("text") or ""))
    return texts, thoughts, calls


# Embeddings ------------------------------------------------------------------------------------------


def embedding_family(model: str) -> str | None:
    """`titan` or `cohere` for the embedding models served through InvokeModel (ids, profiles, ARNs)."""
    if "amazon.titan-embed" in model:
        return "titan"
    if "cohere.embed" in model:
        return "cohere"
    return None


def embedding_inputs(body: Mapping[str, Any]) -> list[str]:
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise invalid(NOT_TEXTS, "input")


def to_embedding_request(body: Mapping[str, Any], model: str) -> JSONObject:
    inputs = embedding_inputs(body)
    dimensions = body.get("dimensions")
    if embedding_family(model) == "titan":
        if len(inputs) != 1:
            raise invalid(
                f"{model} embeds one input per request: send one string, or batch with a cohere.embed model",
                "input",
            )
        request: JSONObject = {"inputText": inputs[0]}
        if dimensions is not None and "titan-embed-text-v2" in model:
            request["dimensions"] = dimensions
        return request
    input_type = body.get("input_type")
    request = {
        "texts": inputs,
        "input_type": input_type if isinstance(input_type, str) and input_type else DEFAULT_INPUT_TYPE,
        "embedding_types": ["float"],
    }
    if dimensions is not None:
        request["output_dimension"] = dimensions
    return request


def to_embeddings(payload: bytes, model: str, public_model: str) -> JSONObject:
    """OpenAI's embeddings list from a Titan or Cohere InvokeModel response."""
    data = load_json(payload, "embeddings response")
    try:
        if embedding_family(model) == "titan":
            vectors = [data["embedding"]]
            tokens = int(data.get("inputTextTokenCount") or 0)
        else:
            embeddings = data["embeddings"]
            vectors = embeddings["float"] if isinstance(embeddings, Mapping) else embeddings
            tokens = 0  # Cohere on Bedrock reports no token count in the body
        items = [{"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)]
    except (KeyError, TypeError) as exc:
        raise protocol_error(f"malformed upstream embeddings response: {str(data)[:200]}") from exc
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": items, "model": public_model, "usage": usage}
