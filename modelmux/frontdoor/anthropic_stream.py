"""OpenAI chat chunk SSE -> Anthropic Messages SSE, incrementally (bytes in as they come, events out).

The sequence is Anthropic's: `message_start` (the message skeleton; `usage.input_tokens` is the
gateway's prompt estimate, as the real count only arrives at the end), `ping`, then content blocks,
each `content_block_start`, its deltas (`text_delta`, or `input_json_delta` for a tool call's
arguments) and `content_block_stop`, then `message_delta` (stop reason and the final usage, with the
upstream's real `input_tokens` when it reported usage) and `message_stop`.

Blocks are opened in the order their content arrives: the text (usually first), then one `tool_use`
block per OpenAI tool call index. A block is closed when the next one opens. A tool call's block opens
once its name is known; argument pieces that came before are sent as its first delta. An argument piece
for a call whose block is already closed (upstreams that interleave parallel calls) is still sent, as a
delta of that call's block.

An OpenAI `event: error` (an upstream failure mid-stream) becomes Anthropic's `event: error` and ends
the stream, as Anthropic's does. `[DONE]`, or the end of the bytes, closes the message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from modelmux.frontdoor.anthropic_response import (
    anthropic_usage,
    message_text,
    new_tool_use_id,
    stop_reason,
    stream_error_body,
)
from modelmux.providers.sse import SSEDecoder, SSEEvent

JSONObject = dict[str, Any]
PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def encode(data: JSONObject) -> bytes:
    """One Anthropic SSE event: its `type` is also its event name."""
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@dataclass
class _Tool:
    id: str = ""
    name: str = ""
    pending: str = ""
    block: int | None = None


class AnthropicStreamTranslator:
    """Feed it the OpenAI SSE bytes of one stream; it returns the Anthropic SSE bytes to send."""

    def __init__(self, message_id: str, model: str, input_tokens: int, *, request_id: str | None = None) -> None:
        self.message_id = message_id
        self.model = model
        self.input_tokens = input_tokens
        self.request_id = request_id
        self.ended = False
        self._sse = SSEDecoder()
        self._blocks = 0
        self._open: int | None = None  # the index of the open block
        self._text_block: int | None = None  # the open block, when it is a text block
        self._tools: dict[int, _Tool] = {}
        self._finish: Any = None
        self._usage: Any = None

    def start(self) -> list[bytes]:
        message: JSONObject = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            },
        }
        return [encode({"type": "message_start", "message": message}), PING]

    def feed(self, data: bytes) -> list[bytes]:
        return self._events(self._sse.feed(data))

    def finish(self) -> list[bytes]:
        """The end of the upstream bytes: close the message if neither [DONE] nor an error did."""
        out = self._events(self._sse.finish())
        if not self.ended:
            out += self._close()
        return out

    def _events(self, events: list[SSEEvent]) -> list[bytes]:
        out: list[bytes] = []
        for event in events:
            if self.ended:
                break
            if event.event == "error":
                self.ended = True
                out.append(encode(stream_error_body(_json(event.data), request_id=self.request_id)))
            elif event.data.strip() == "[DONE]":
                out += self._close()
            else:
                chunk = _json(event.data)
                if isinstance(chunk, Mapping):
                    out += self._chunk(chunk)
        return out

    def _chunk(self, chunk: Mapping[str, Any]) -> list[bytes]:
        if isinstance(chunk.get("usage"), Mapping):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], Mapping) else {}
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            return []
        out: list[bytes] = []
        text = message_text(delta.get("content")) or (delta.get("refusal") or "")
        if isinstance(text, str) and text:
            out += self._text(text)
        for call in delta.get("tool_calls") or []:
            if isinstance(call, Mapping):
                out += self._tool_call(call)
        return out

    def _text(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._text_block is None:
            out += self._open_block({"type": "text", "text": ""})
            self._text_block = self._open
        out.append(self._delta(self._open, {"type": "text_delta", "text": text}))
        return out

    def _tool_call(self, call: Mapping[str, Any]) -> list[bytes]:
        index = call.get("index")
        tool = self._tools.setdefault(index if isinstance(index, int) else 0, _Tool())
        function = call.get("function")
        if not isinstance(function, Mapping):
            function = {}
        if tool.block is None:
            tool.id = _text_of(call.get("id")) or tool.id
            tool.name = _text_of(function.get("name")) or tool.name
        arguments = _text_of(function.get("arguments"))
        if tool.block is not None:
            return [self._delta(tool.block, _json_delta(arguments))] if arguments else []
        tool.pending += arguments
        return self._start_tool(tool) if tool.name else []

    def _start_tool(self, tool: _Tool) -> list[bytes]:
        block = {"type": "tool_use", "id": tool.id or new_tool_use_id(), "name": tool.name, "input": {}}
        out = self._open_block(block)
        tool.block = self._open
        if tool.pending:
            out.append(self._delta(tool.block, _json_delta(tool.pending)))
            tool.pending = ""
        return out

    def _open_block(self, block: JSONObject) -> list[bytes]:
        out = self._close_block()
        self._open = self._blocks
        self._blocks += 1
        out.append(encode({"type": "content_block_start", "index": self._open, "content_block": block}))
        return out

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open, self._text_block = self._open, None, None
        return [encode({"type": "content_block_stop", "index": index})]

    def _delta(self, index: int | None, delta: JSONObject) -> bytes:
        return encode({"type": "content_block_delta", "index": index, "delta": delta})

    def _close(self) -> list[bytes]:
        self.ended = True
        out: list[bytes] = []
        for tool in self._tools.values():
            if tool.block is None:  # a call whose name never came: still a tool_use block
                out += self._start_tool(tool)
        out += self._close_block()
        delta = {"stop_reason": stop_reason(self._finish, tool_use=bool(self._tools)), "stop_sequence": None}
        out.append(encode({"type": "message_delta", "delta": delta, "usage": self._final_usage()}))
        out.append(encode({"type": "message_stop"}))
        return out

    def _final_usage(self) -> JSONObject:
        if self._usage is None:
            return {"output_tokens": 0}
        usage = anthropic_usage(self._usage)
        return {
            "input_tokens": usage["input_tokens"],
            "cache_read_input_tokens": usage["cache_read_input_tokens"],
            "output_tokens": usage["output_tokens"],
        }


def _json(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_delta(partial: str) -> JSONObject:
    return {"type": "input_json_delta", "partial_json": partial}


async def anthropic_events(stream: AsyncIterator[bytes], translator: AnthropicStreamTranslator) -> AsyncIterator[bytes]:
    """The Anthropic SSE body for an OpenAI SSE stream. The upstream stream is read to its end (so the
    relay records how it ended) and closed when the client goes away."""
    try:
        yield b"".join(translator.start())
        async for data in stream:
            out = translator.feed(data)
            if out:
                yield b"".join(out)
        tail = translator.finish()
        if tail:
            yield b"".join(tail)
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def message_events(message: Mapping[str, Any]) -> list[bytes]:
    """The event sequence of a whole Anthropic `message` (a stream answered from a JSON outcome)."""
    usage = message["usage"]
    skeleton = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    skeleton["usage"] = {**usage, "output_tokens": 0}
    out = [encode({"type": "message_start", "message": skeleton}), PING]
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            start = {**block, "input": {}}
            delta = _json_delta(orjson.dumps(block["input"]).decode())
        else:
            start, delta = {**block, "text": ""}, {"type": "text_delta", "text": block["text"]}
        out.append(encode({"type": "content_block_start", "index": index, "content_block": start}))
        out.append(encode({"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(encode({"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    out.append(encode({"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}}))
    out.append(encode({"type": "message_stop"}))
    return out
