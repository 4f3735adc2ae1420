"""Anthropic Messages responses, streams and errors -> OpenAI shapes.

- A message becomes a `chat.completion`: text blocks joined into `content`, `tool_use` blocks into
  `tool_calls`, `thinking` blocks into `reasoning_content` (never into `content`). The input of the
  `response_format` tool (see `anthropic_request`) becomes the message text.
- A stream becomes chunk dicts with `choices` (and a final `usage` chunk with no choices); the executor
  stamps `id`, `created`, `model` and `object`, and drops the usage chunk unless the client asked for it.
- An error body (Anthropic's, or Google's on Vertex, or not JSON at all) becomes a `CanonicalError` with
  the upstream's status and OpenAI's type names.

`system_fingerprint` is left out of completions: OpenAI's schema types it as a (deprecated) string, so
null would not conform, and Anthropic has no equivalent to put there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from modelmux.providers.anthropic_request import RESPONSE_TOOL_PREFIX
from modelmux.providers.base import CanonicalError, JSONObject, StreamDecoder, UpstreamStreamError
from modelmux.providers.sse import SSEDecoder, SSEEvent

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
REFUSAL_MESSAGE = "The model declined to answer this request."
_MESSAGE_LIMIT = 2000


def finish_reason(stop_reason: str | None, *, tool_calls: bool) -> str:
    reason = FINISH_REASONS.get(stop_reason or "end_turn", "stop")
    return "stop" if reason == "tool_calls" and not tool_calls else reason


def openai_usage(usage: Mapping[str, Any]) -> JSONObject:
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cached + int(usage.get("cache_creation_input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def is_response_tool(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(RESPONSE_TOOL_PREFIX)


# Whole messages -------------------------------------------------------------------------------------


def malformed(what: str) -> UpstreamStreamError:
    """A 2xx upstream body that is not what Anthropic's API promises: a 502 for the client."""
    return UpstreamStreamError(CanonicalError(502, f"malformed upstream {what}", "server_error"))


def to_chat_completion(payload: bytes, public_model: str, *, created: int | None = None) -> JSONObject:
    """The `chat.completion` for an Anthropic message body; `UpstreamStreamError` (502) if it is not one."""
    try:
        message = orjson.loads(payload)
        return _completion(message, public_model, int(time.time()) if created is None else created)
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise malformed("response: " + payload[:200].decode("utf-8", errors="replace")) from exc


def _completion(message: JSONObject, public_model: str, created: int) -> JSONObject:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSONObject] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thoughts.append(block.get("thinking") or "")
        elif kind == "tool_use" and is_response_tool(block.get("name")):
            texts.append(_compact(block.get("input") or {}))
        elif kind == "tool_use":
            function = {"name": block.get("name"), "arguments": _compact(block.get("input") or {})}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    stop_reason = message.get("stop_reason")
    out: JSONObject = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    out["refusal"] = None
    if stop_reason == "refusal":
        out["refusal"], out["content"] = out["content"] or REFUSAL_MESSAGE, None
    if calls:
        out["tool_calls"] = calls
    if thoughts:
        out["reasoning_content"] = "".join(thoughts)
    choice = {"index": 0, "message": out, "logprobs": None}
    choice["finish_reason"] = finish_reason(stop_reason, tool_calls=bool(calls))
    return {
        "id": f"chatcmpl-{message.get('id', '')}",
        "object": "chat.completion",
        "created": created,
        "model": public_model,
        "choices": [choice],
        "usage": openai_usage(message.get("usage") or {}),
    }


# Streams --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    kind: str  # "text", "tool", "answer" (the response_format tool), "thinking" or "other"
    tool_index: int = -1
    has_arguments: bool = False


def _chunk(delta: JSONObject, finish: str | None = None) -> JSONObject:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


class AnthropicStreamDecoder(StreamDecoder):
    """Anthropic Messages SSE bytes -> OpenAI chunk dicts (also serves Claude on Vertex)."""

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._usage: dict[str, Any] = {}
        self._finish_sent = False
        self._done = False

    def feed(self, data: bytes) -> list[JSONObject]:
        self.raise_pending()
        return self._handle(self._sse.feed(data))

    def finish(self) -> list[JSONObject]:
        self.raise_pending()
        chunks = self._handle(self._sse.finish())
        self.raise_pending()
        if not self._done:
            if not self._finish_sent:
                error = CanonicalError(502, "the upstream stream ended before message_stop", "server_error")
                raise UpstreamStreamError(error)
            chunks.append(self._usage_chunk())
        return chunks

    def _handle(self, events: list[SSEEvent]) -> list[JSONObject]:
        return self.decode_items(events, self._event_of, lambda: self._done)

    def _event_of(self, event: SSEEvent) -> list[JSONObject]:
        try:
            data = orjson.loads(event.data)
            return self._event(data.get("type") or event.event, data) if isinstance(data, dict) else []
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            raise malformed(f"stream event {event.event!r}: {event.data[:200]}") from exc

    def _event(self, kind: str, data: JSONObject) -> list[JSONObject]:
        match kind:
            case "message_start":
                self._usage.update((data.get("message") or {}).get("usage") or {})
                return [_chunk({"role": "assistant", "content": "", "refusal": None})]
            case "content_block_start":
                return self._block_start(int(data.get("index", 0)), data.get("content_block") or {})
            case "content_block_delta":
                block = self._blocks.get(int(data.get("index", 0)), _Block("other"))
                return self._block_delta(block, data.get("delta") or {})
            case "content_block_stop":
                return self._block_stop(self._blocks.get(int(data.get("index", 0)), _Block("other")))
            case "message_delta":
                self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
                stop_reason = (data.get("delta") or {}).get("stop_reason")
                return self._finish(stop_reason) if stop_reason else []
            case "message_stop":
                chunks = [] if self._finish_sent else self._finish(None)
                return [*chunks, self._usage_chunk()]
            case "error":
                raise UpstreamStreamError(stream_error(data))
        return []  # ping, and event types added after this was written

    def _block_start(self, index: int, content: JSONObject) -> list[JSONObject]:
        kind = content.get("type")
        if kind == "tool_use" and is_response_tool(content.get("name")):
            self._blocks[index] = _Block("answer")
            return []
        if kind == "tool_use":
            block = self._blocks[index] = _Block("tool", tool_index=self._tools)
            self._tools += 1
            function = {"name": content.get("name"), "arguments": ""}
            call = {
                "index": block.tool_index,
                "id": content.get("id"),
                "type": "function",
                "function": function,
            }
            chunks = [_chunk({"tool_calls": [call]})]
            if content.get("input"):
                chunks += self._block_delta(
                    block, {"type": "input_json_delta", "partial_json": _compact(content["input"])}
                )
            return chunks
        if kind in ("text", "thinking"):
            self._blocks[index] = _Block(kind)
            return self._block_delta(self._blocks[index], {"type": f"{kind}_delta", kind: content.get(kind)})
        self._blocks[index] = _Block("other")
        return []

    def _block_delta(self, block: _Block, delta: JSONObject) -> list[JSONObject]:
        kind = delta.get("type")
        if kind == "text_delta" and block.kind == "text" and delta.get("text"):
            return [_chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and block.kind == "thinking" and delta.get("thinking"):
            return [_chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and delta.get("partial_json"):
            if block.kind == "answer":
                return [_chunk({"content": delta["partial_json"]})]
            if block.kind == "tool":
                block.has_arguments = True
                return [self._arguments(block, delta["partial_json"])]
        return []  # signature_delta, citations_delta, and deltas of blocks we do not forward

    def _block_stop(self, block: _Block) -> list[JSONObject]:
        if block.kind == "tool" and not block.has_arguments:
            block.has_arguments = True
            return [self._arguments(block, "{}")]  # a call with no input still has JSON arguments
        return []

    def _arguments(self, block: _Block, fragment: str) -> JSONObject:
        return _chunk({"tool_calls": [{"index": block.tool_index, "function": {"arguments": fragment}}]})

    def _finish(self, stop_reason: str | None) -> list[JSONObject]:
        if self._finish_sent:
            return []
        self._finish_sent = True
        return [_chunk({}, finish_reason(stop_reason, tool_calls=self._tools > 0))]

    def _usage_chunk(self) -> JSONObject:
        self._done = True
        return {"choices": [], "usage": openai_usage(self._usage)}


# Errors ---------------------------------------------------------------------------------------------


def openai_error_type(status: int, message: str) -> tuple[str, str | None]:
    """OpenAI's `type` and `code` for an upstream status, as OpenAI itself answers them."""
    if status == 401:
        return "invalid_request_error", "invalid_api_key"
    if status == 402:
        return "insufficient_quota", "insufficient_quota"
    if status == 429:
        return ("tokens" if "token" in message.lower() else "requests"), "rate_limit_exceeded"
    if status >= 500:
        return "server_error", None
    return "invalid_request_error", None


def stream_error(data: Mapping[str, Any]) -> CanonicalError:
    """The error carried by an `error` event in a stream (the status it would have had unstreamed)."""
    error = data.get("error")
    if not isinstance(error, Mapping):
        error = {}
    status = ERROR_STATUS.get(str(error.get("type")), 500)
    message = str(error.get("message") or error.get("type") or "upstream stream error")
    kind, code = openai_error_type(status, message)
    return CanonicalError(status, message, kind, code)


def parse_anthropic_error(status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
    """An Anthropic (or Vertex) error response -> CanonicalError with the upstream's status."""
    message = _error_message(payload) or f"upstream returned HTTP {status}"
    kind, code = openai_error_type(status, message)
    return CanonicalError(status, message, kind, code, retry_after=retry_after(headers))


def _error_message(payload: bytes) -> str:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.decode("utf-8", errors="replace").strip()[:_MESSAGE_LIMIT]
    if isinstance(body, list) and body:  # Google APIs sometimes wrap the error in a list
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error.get("status") or "")[:_MESSAGE_LIMIT]
    if isinstance(body, dict):
        return str(body.get("message") or "")[:_MESSAGE_LIMIT]
    return payload.decode("utf-8", errors="replace").strip()[:_MESSAGE_LIMIT]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    milliseconds = _seconds(_header(headers, "retry-after-ms") or "")
    if milliseconds is not None:
        return milliseconds / 1000.0
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(moment.timestamp() - (time.time() if now is None else now), 0.0)


def _seconds(value: str) -> float | None:
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None
