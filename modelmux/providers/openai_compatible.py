"""Servers that speak OpenAI's API more or less: vLLM, Ollama, llama.cpp, LM Studio, TGI, routers.

The wire format is OpenAI's, with an optional key and a required `base_url`. What these servers leave
out or spell differently is filled in so that clients see what OpenAI's schema requires: a missing
`id`, `created`, `object`, `logprobs`, `refusal` or tool-call `id`/`index`; `usage` without
`total_tokens`; finish reasons outside OpenAI's set (`eos`, `max_tokens`...); and streams whose last
chunk has no `finish_reason` or that end without `[DONE]`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

from modelmux.plan.models import ProviderPlan
from modelmux.providers.base import JSONObject, UpstreamTarget
from modelmux.providers.openai import OpenAIAdapter, OpenAIStreamDecoder

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
FINISH_ALIASES = {
    "eos": "stop",
    "eos_token": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_length": "length",
    "tool_use": "tool_calls",
}


def finish_reason(value: Any) -> str | None:
    """OpenAI's finish reason for whatever a server sent; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "stop"
    return value if value in FINISH_REASONS else FINISH_ALIASES.get(value, "stop")


def usage(value: Any) -> JSONObject | None:
    if not isinstance(value, dict):
        return None
    out = dict(value)
    for key in ("prompt_tokens", "completion_tokens"):
        if not isinstance(out.get(key), int):
            out[key] = 0
    if not isinstance(out.get("total_tokens"), int):
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    return out


def tool_calls(calls: Any, *, stream: bool) -> list[JSONObject]:
    out: list[JSONObject] = []
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        if not isinstance(call, dict):
            continue
        call = dict(call)
        if stream:
            if not isinstance(call.get("index"), int):
                call["index"] = position
        else:
            call.pop("index", None)
            if not call.get("id"):
                call["id"] = f"call_{uuid.uuid4().hex[:24]}"
            call.setdefault("type", "function")
        out.append(call)
    return out


def completion(data: JSONObject) -> JSONObject:
    """A `chat.completion` with every field OpenAI's schema requires."""
    if not isinstance(data.get("id"), str) or not data["id"]:
        data["id"] = f"chatcmpl-{uuid.uuid4().hex}"
    data["object"] = "chat.completion"
    if not isinstance(data.get("created"), int):
        data["created"] = int(time.time())
    data["choices"] = [
        _choice(choice, i) for i, choice in enumerate(data.get("choices") or ()) if isinstance(choice, dict)
    ]
    counted = usage(data.get("usage"))
    if counted is None:
        data.pop("usage", None)
    else:
        data["usage"] = counted
    for key in ("system_fingerprint", "service_tier"):
        if data.get(key, "") is None:
            del data[key]
    return data


def _choice(choice: JSONObject, position: int) -> JSONObject:
    out = dict(choice)
    if not isinstance(out.get("index"), int):
        out["index"] = position
    message = dict(out["message"]) if isinstance(out.get("message"), dict) else {}
    message["role"] = "assistant"
    message.setdefault("content", None)
    message.setdefault("refusal", None)
    if "tool_calls" in message:
        calls = tool_calls(message["tool_calls"], stream=False)
        if calls:
            message["tool_calls"] = calls
        else:
            del message["tool_calls"]
    out["message"] = message
    out.setdefault("logprobs", None)
    reason = finish_reason(out.get("finish_reason"))
    out["finish_reason"] = reason or ("tool_calls" if message.get("tool_calls") else "stop")
    return out


class CompatibleStreamDecoder(OpenAIStreamDecoder):
    """Fills chunk fields, and closes the choices a server left open when its usage chunk or the end comes."""

    def __init__(self) -> None:
        super().__init__()
        self.calling: set[int] = set()

    def convert(self, data: JSONObject) -> list[JSONObject]:
        choices = [
            self._delta(choice, i) for i, choice in enumerate(data.get("choices") or ()) if isinstance(choice, dict)
        ]
        counted = usage(data.get("usage"))
        if not choices and counted is None:
            return []
        out = [] if choices else self.close_open()
        chunk: JSONObject = {"choices": choices}
        if counted is not None:
            chunk["usage"] = counted
        for key in ("system_fingerprint", "service_tier"):
            if isinstance(data.get(key), str):
                chunk[key] = data[key]
        self.track(chunk)
        return [*out, chunk]

    def _delta(self, choice: JSONObject, position: int) -> JSONObject:
        out = dict(choice)
        if not isinstance(out.get("index"), int):
            out["index"] = position
        delta = dict(out["delta"]) if isinstance(out.get("delta"), dict) else {}
        if "tool_calls" in delta:
            delta["tool_calls"] = tool_calls(delta["tool_calls"], stream=True)
            self.calling.add(out["index"])
        out["delta"] = delta
        out["finish_reason"] = finish_reason(out.get("finish_reason"))
        return out

    def close_open(self) -> list[JSONObject]:
        open_choices = sorted(self.started - self.finished)
        if not open_choices:
            return []
        self.finished.update(open_choices)
        choices: list[JSONObject] = [
            {"index": index, "delta": {}, "finish_reason": "tool_calls" if index in self.calling else "stop"}
            for index in open_choices
        ]
        return [{"choices": choices}]

    def on_done(self) -> list[JSONObject]:
        return self.close_open()

    def close(self) -> list[JSONObject]:
        return [] if self.done else self.close_open()


class OpenAICompatibleAdapter(OpenAIAdapter):
    """An OpenAI-compatible server at `base_url`; `Authorization: Bearer` only when an `api_key` is set."""

    default_base_url: ClassVar[str] = ""
    decoder_class: ClassVar[type[OpenAIStreamDecoder]] = CompatibleStreamDecoder

    def __init__(self, provider: ProviderPlan) -> None:
        if not provider.base_url:
            raise ValueError(f"provider {provider.name!r} of type {provider.type!r} needs a base_url")
        super().__init__(provider)

    def parse_chat(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        return completion(super().parse_chat(payload, target))

    def parse_embeddings(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        data = super().parse_embeddings(payload, target)
        data["object"] = "list"
        items = [dict(item) for item in data.get("data") or () if isinstance(item, dict)]
        for position, item in enumerate(items):
            item["object"] = "embedding"
            if not isinstance(item.get("index"), int):
                item["index"] = position
        data["data"] = items
        counted = dict(data["usage"]) if isinstance(data.get("usage"), dict) else {}
        if not isinstance(counted.get("prompt_tokens"), int):
            counted["prompt_tokens"] = 0
        if not isinstance(counted.get("total_tokens"), int):
            counted["total_tokens"] = counted["prompt_tokens"]
        data["usage"] = counted
        return data
