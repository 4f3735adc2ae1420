"""The Cohere v2 API adapter: POST {base_url}/v2/chat and /v2/embed with a Bearer key.

Requests and whole responses are translated by `cohere_translate`. Streams are SSE whose events carry
their `type`: `message-start`, `content-start`/`-delta`/`-end` (text or thinking),
`tool-plan-delta`, `tool-call-start`/`-delta`/`-end`, `citation-start`/`-end` and `message-end`
(finish reason and usage). They become OpenAI chunks: the role first, text as `content`, the tool
plan as `content`, thinking as `reasoning_content`, each tool call under its own index (0, 1, ...),
then the finish reason and a usage chunk. A `message-end` with finish reason ERROR or TIMEOUT, an
error event, or a stream cut before `message-end` raises `UpstreamStreamError`.

Errors are `{"id": ..., "message": ...}` bodies; Cohere's 498 (invalid token) is answered as 401.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from modelmux.providers.base import (
    CanonicalError,
    JSONObject,
    ProviderAdapter,
    StreamDecoder,
    UpstreamStreamError,
    UpstreamTarget,
)
from modelmux.providers.cohere_translate import (
    finish_reason,
    openai_usage,
    to_chat_completion,
    to_cohere_request,
    to_embed_request,
    to_embeddings,
)
from modelmux.providers.openai import default_error_type, error_from_response, protocol_error
from modelmux.providers.sse import SSEDecoder, SSEEvent

DEFAULT_BASE_URL = "https://api.cohere.com"
STATUS_ALIASES = {498: 401}  # Cohere's "invalid token"
ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


class CohereAdapter(ProviderAdapter):
    """Cohere's v2 Chat and Embed APIs."""

    def base_url(self) -> str:
        return (self.provider.base_url or DEFAULT_BASE_URL).rstrip("/")

    def request(self, path: str, body: JSONObject, *, stream: bool = False) -> httpx.Request:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        if self.provider.api_key is not None:
            headers["authorization"] = f"Bearer {self.provider.api_key.reveal()}"
        headers.update((name.lower(), secret.reveal()) for name, secret in self.provider.headers)
        timeout = httpx.Timeout(self.provider.timeout, connect=self.provider.connect_timeout)
        return httpx.Request(
            "POST",
            f"{self.base_url()}{path}",
            headers=headers,
            content=orjson.dumps(body),
            extensions={"timeout": timeout.as_dict()},
        )

    async def build_chat(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> httpx.Request:
        payload = to_cohere_request(body, model=target.upstream_model, stream=stream)
        return self.request("/v2/chat", payload, stream=stream)

    def parse_chat(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        return to_chat_completion(payload, target.public_model)

    def stream_decoder(self, target: UpstreamTarget) -> StreamDecoder:
        return CohereStreamDecoder()

    def parse_error(self, status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
        return parse_cohere_error(status, headers, payload)

    async def build_embeddings(self, body: JSONObject, target: UpstreamTarget) -> httpx.Request:
        return self.request("/v2/embed", to_embed_request(body, model=target.upstream_model))

    def parse_embeddings(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        return to_embeddings(payload, target.public_model)


def parse_cohere_error(status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
    """A Cohere error response (or a proxy's) with a faithful status and OpenAI's type names."""
    error = error_from_response(status, headers, payload)
    mapped = STATUS_ALIASES.get(status, status)
    return dataclasses.replace(
        error, status=mapped, type=default_error_type(mapped), code=ERROR_CODES.get(mapped, error.code)
    )


# Streams --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tool:
    index: int
    has_arguments: bool = False


def _chunk(delta: JSONObject, finish: str | None = None) -> JSONObject:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def _message(data: Mapping[str, Any]) -> Mapping[str, Any]:
    delta = data.get("delta") or {}
    return delta.get("message") or {}


class CohereStreamDecoder(StreamDecoder):
    """Cohere v2 chat SSE bytes -> OpenAI chunk dicts."""

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._tools: dict[int, _Tool] = {}
        self._done = False

    def feed(self, data: bytes) -> list[JSONObject]:
        self.raise_pending()
        return self._handle(self._sse.feed(data))

    def finish(self) -> list[JSONObject]:
        self.raise_pending()
        chunks = self._handle(self._sse.finish())
        self.raise_pending()
        if not self._done:
            error = CanonicalError(502, "the upstream stream ended before message-end", "server_error")
            raise UpstreamStreamError(error)
        return chunks

    def _handle(self, events: list[SSEEvent]) -> list[JSONObject]:
        return self.decode_items(events, self._event_of, lambda: self._done)

    def _event_of(self, event: SSEEvent) -> list[JSONObject]:
        text = event.data.strip()
        if not text or text == "[DONE]":
            return []
        try:
            data = orjson.loads(text)
            if not isinstance(data, dict):
                raise TypeError("event data is not an object")
            untyped_message = "type" not in data and "message" in data
            if event.event == "error" or data.get("type") == "error" or untyped_message:
                message = str(data.get("message") or "Cohere reported an error in the stream")
                raise UpstreamStreamError(CanonicalError(500, message, "server_error"))
            return self._event(str(data.get("type") or event.event), data)
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            raise protocol_error(f"malformed upstream stream event {event.event!r}: {text[:200]}") from exc

    def _event(self, kind: str, data: JSONObject) -> list[JSONObject]:
        message = _message(data)
        match kind:
            case "message-start":
                return [_chunk({"role": "assistant", "content": "", "refusal": None})]
            case "content-start" | "content-delta":
                return self._content(message.get("content") or {})
            case "tool-plan-delta":
                plan = message.get("tool_plan")
                return [_chunk({"content": str(plan)})] if plan else []
            case "tool-call-start":
                return self._call_start(int(data.get("index") or 0), message.get("tool_calls") or {})
            case "tool-call-delta":
                function = (message.get("tool_calls") or {}).get("function") or {}
                return self._arguments(int(data.get("index") or 0), function.get("arguments"))
            case "tool-call-end":
                return self._call_end(int(data.get("index") or 0))
            case "message-end":
                return self._end(data.get("delta") or {})
        return []  # citation-start, citation-end, debug, and event types added after this was written

    def _content(self, content: Mapping[str, Any]) -> list[JSONObject]:
        if content.get("text"):
            return [_chunk({"content": str(content["text"])})]
        if content.get("thinking"):
            return [_chunk({"reasoning_content": str(content["thinking"])})]
        return []

    def _call_start(self, index: int, call: Any) -> list[JSONObject]:
        if isinstance(call, list):  # tolerate the list form some versions send
            call = call[0] if call else {}
        tool = self._tools[index] = _Tool(len(self._tools))
        function = call.get("function") or {}
        start = {
            "index": tool.index,
            "id": call.get("id"),
            "type": "function",
            "function": {"name": function.get("name"), "arguments": ""},
        }
        return [_chunk({"tool_calls": [start]}), *self._arguments(index, function.get("arguments"))]

    def _call_end(self, index: int) -> list[JSONObject]:
        tool = self._tools.get(index)
        if tool is None or tool.has_arguments:
            return []
        return self._arguments(index, "{}")  # a call with no arguments still has a JSON object

    def _arguments(self, index: int, fragment: Any) -> list[JSONObject]:
        tool = self._tools.get(index)
        if tool is None or not fragment:
            return []
        tool.has_arguments = True
        call = {"index": tool.index, "function": {"arguments": str(fragment)}}
        return [_chunk({"tool_calls": [call]})]

    def _end(self, delta: Mapping[str, Any]) -> list[JSONObject]:
        reason = finish_reason(delta.get("finish_reason"), tool_calls=bool(self._tools))
        self._done = True
        return [_chunk({}, reason), {"choices": [], "usage": openai_usage(delta.get("usage"))}]
