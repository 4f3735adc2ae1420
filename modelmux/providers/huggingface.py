"""Hugging Face: the Inference Providers router, and self-hosted Text Generation Inference (TGI).

Both speak OpenAI's Chat Completions API, so this is the OpenAI-compatible adapter with a default URL
and the quirks of these servers made good.

Router (the default base_url, https://router.huggingface.co/v1; `Authorization: Bearer <HF token>`).
Model ids are Hub repo ids, optionally with a routing suffix the router interprets: `:fastest` and
`:cheapest` pick a provider by throughput or price, `:together`, `:groq`, `:hf-inference`... pin one
provider; with no suffix the router follows the account's provider preferences. ModelMux passes the id
through untouched, suffix included, so a route such as `llama: meta-llama/Llama-3.3-70B-Instruct:groq`
pins the provider in the config.

TGI (base_url http://host:8080/v1): one model per server, and `model` is ignored (TGI's own examples
send `"model": "tgi"`, so map a public name to `tgi`). Made good here: `tool_calls` in stream deltas sent
as an object instead of a list, with an empty `id` and a null `name` on every delta after the first;
tool-call `arguments` sent as a JSON object instead of a string, and a stray `description` beside them;
`role` repeated in every delta; tool calls that end with `stop`/`eos_token` (made `tool_calls`); usage
details sent as null (dropped); plus what `openai_compatible` fills (ids, `created`, finish reasons such
as `eos_token`, usage totals, streams ending without a finish reason). `max_completion_tokens` is sent as
`max_tokens`, which TGI and several router providers read instead.

Embeddings: through the router, the hf-inference feature-extraction pipeline
(POST https://router.huggingface.co/hf-inference/models/{model}/pipeline/feature-extraction with
`{"inputs": ...}`; the routing suffix is dropped, `dimensions` is not sent, and no token usage comes
back); elsewhere `{base_url}/embeddings` (Text Embeddings Inference speaks OpenAI's embeddings API).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx
import orjson

from modelmux.plan.models import ProviderPlan
from modelmux.providers.base import JSONObject, UpstreamTarget
from modelmux.providers.openai import OpenAIAdapter, OpenAIStreamDecoder, load_object, protocol_error
from modelmux.providers.openai_compatible import CompatibleStreamDecoder, OpenAICompatibleAdapter

ROUTER_URL = "https://router.huggingface.co/v1"
ROUTER_HOST = "router.huggingface.co"
FEATURE_EXTRACTION = "https://router.huggingface.co/hf-inference/models/{model}/pipeline/feature-extraction"


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value if value is not None else {}).decode()


def _function(function: Any, *, stream: bool) -> JSONObject:
    out = dict(function) if isinstance(function, Mapping) else {}
    out.pop("description", None)
    if stream:  # deltas: absent or null fields carry nothing
        for key in ("name", "arguments"):
            if out.get(key) is None:
                out.pop(key, None)
        if "arguments" in out:
            out["arguments"] = _arguments(out["arguments"])
    else:
        out["arguments"] = _arguments(out.get("arguments"))
    return out


def fix_message_tool_calls(message: JSONObject) -> None:
    """TGI's whole-response tool calls: arguments as a string, no `description`."""
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            if isinstance(call, dict):
                call["function"] = _function(call.get("function"), stream=False)


def drop_null_details(usage: Any) -> None:
    """`prompt_tokens_details: null` (and the like), which OpenAI's schema does not allow, are dropped."""
    if isinstance(usage, dict):
        for key in ("prompt_tokens_details", "completion_tokens_details"):
            if key in usage and not isinstance(usage[key], dict):
                del usage[key]


class HuggingFaceStreamDecoder(CompatibleStreamDecoder):
    """TGI stream deltas put right before the OpenAI-compatible filling."""

    def __init__(self) -> None:
        super().__init__()
        self._calls: set[tuple[int, int]] = set()
        self._role_seen: set[int] = set()

    def convert(self, data: JSONObject) -> list[JSONObject]:
        for position, choice in enumerate(data.get("choices") or ()):
            if isinstance(choice, dict) and isinstance(choice.get("delta"), dict):
                index = choice.get("index")
                self._fix_delta(index if isinstance(index, int) else position, choice["delta"])
        chunks = super().convert(data)
        for chunk in chunks:
            drop_null_details(chunk.get("usage"))
            for choice in chunk["choices"]:
                if choice.get("finish_reason") == "stop" and choice.get("index") in self.calling:
                    choice["finish_reason"] = "tool_calls"  # TGI ends tool calls with eos_token
        return chunks

    def _fix_delta(self, choice: int, delta: JSONObject) -> None:
        if delta.get("role") is not None:
            if choice in self._role_seen:
                del delta["role"]
            self._role_seen.add(choice)
        calls = delta.get("tool_calls")
        if isinstance(calls, dict):
            calls = [calls]
        if not isinstance(calls, list):
            return
        fixed = []
        for position, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            call = dict(call)
            index = call["index"] if isinstance(call.get("index"), int) else position
            call["index"] = index
            call["function"] = _function(call.get("function"), stream=True)
            if (choice, index) in self._calls:
                call.pop("id", None)
                call.pop("type", None)
            else:
                self._calls.add((choice, index))
                call["id"] = call.get("id") or f"call_{uuid.uuid4().hex[:24]}"
                call["type"] = "function"
            fixed.append(call)
        delta["tool_calls"] = fixed


class HuggingFaceAdapter(OpenAICompatibleAdapter):
    """The Inference Providers router (default) or a TGI / TEI server at `base_url`."""

    default_base_url: ClassVar[str] = ROUTER_URL
    decoder_class: ClassVar[type[OpenAIStreamDecoder]] = HuggingFaceStreamDecoder

    def __init__(self, provider: ProviderPlan) -> None:
        OpenAIAdapter.__init__(self, provider)  # base_url is optional here: the router is the default

    def is_router(self) -> bool:
        return urlsplit(self.base_url()).hostname == ROUTER_HOST

    def chat_body(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> JSONObject:
        out = super().chat_body(body, target, stream=stream)
        limit = out.pop("max_completion_tokens", None)
        if limit is not None and out.get("max_tokens") is None:
            out["max_tokens"] = limit
        return out

    def parse_chat(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        data = super().parse_chat(payload, target)
        drop_null_details(data.get("usage"))
        for choice in data.get("choices") or ():
            fix_message_tool_calls(choice["message"])
            if choice["message"].get("tool_calls") and choice.get("finish_reason") == "stop":
                choice["finish_reason"] = "tool_calls"
        return data

    async def build_embeddings(self, body: JSONObject, target: UpstreamTarget) -> httpx.Request:
        if not self.is_router():
            return await super().build_embeddings(body, target)
        model = target.upstream_model.split(":", 1)[0]
        url = FEATURE_EXTRACTION.format(model=quote(model, safe="/"))
        return self.request(url, {"inputs": body.get("input")})

    def parse_embeddings(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        if not self.is_router():
            return super().parse_embeddings(payload, target)
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            load_object(payload, "embeddings response")  # an error object raises
        if isinstance(data, list) and data and all(isinstance(x, int | float) for x in data):
            data = [data]  # one input, one vector
        if not (isinstance(data, list) and all(_is_vector(vector) for vector in data)):
            raise protocol_error(
                "the feature-extraction pipeline did not return one vector per input "
                "(is this a sentence-embedding model?)"
            )
        items = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(data)]
        usage = {"prompt_tokens": 0, "total_tokens": 0}
        return {"object": "list", "data": items, "model": target.public_model, "usage": usage}


def _is_vector(value: Any) -> bool:
    numbers = isinstance(value, list) and all(isinstance(x, int | float) for x in value)
    return numbers and not any(isinstance(x, bool) for x in value)
