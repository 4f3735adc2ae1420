"""A relayed OpenAI stream folded back into the chat.completion it amounts to, so a streamed miss can
be stored. It reads the bytes the client is sent and changes none of them; an error event, a missing
`[DONE]` or more than `limit` bytes means there is nothing to store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class _Call:
    id: str | None = None
    type: str = "function"
    name: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Choice:
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    calls: dict[int, _Call] = field(default_factory=dict)
    finish_reason: str | None = None


class StreamAccumulator:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.done = False
        self.failed = False
        self.usage: dict[str, Any] | None = None
        self._size = 0
        self._buffer = b""
        self._head: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}

    def feed(self, piece: bytes) -> None:
        if self.failed:
            return
        self._size += len(piece)
        if self._size > self.limit:
            self.failed = True
            self._buffer, self._choices = b"", {}
            return
        self._buffer += piece
        while b"\n\n" in self._buffer:
            event, self._buffer = self._buffer.split(b"\n\n", 1)
            self._event(event)

    def _event(self, event: bytes) -> None:
        data = b""
        for line in event.split(b"\n"):
            if line.startswith(b"event:") and line[6:].strip() != b"message":
                self.failed = True
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        if not data or self.failed:
            return
        if data == b"[DONE]":
            self.done = True
            return
        try:
            self._chunk(orjson.loads(data))
        except (orjson.JSONDecodeError, TypeError, AttributeError, KeyError):
            self.failed = True

    def _chunk(self, chunk: dict[str, Any]) -> None:
        if not self._head:
            self._head = {k: chunk[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier")
                          if chunk.get(k) is not None}  # fmt: skip
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            state = self._choices.setdefault(int(choice.get("index", 0)), _Choice())
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                state.content.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                state.refusal.append(delta["refusal"])
            for call in delta.get("tool_calls") or ():
                self._call(state, call)
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]

    @staticmethod
    def _call(state: _Choice, call: dict[str, Any]) -> None:
        found = state.calls.setdefault(int(call.get("index", len(state.calls))), _Call())
        found.id = call.get("id") or found.id
        found.type = call.get("type") or found.type
        function = call.get("function") or {}
        if isinstance(function.get("name"), str):
            found.name.append(function["name"])
        if isinstance(function.get("arguments"), str):
            found.arguments.append(function["arguments"])

    def completion(self, usage: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The chat.completion the stream amounts to; None unless it ended with `[DONE]` and no error."""
        if not self.done or self.failed or not self._choices or "id" not in self._head:
            return None
        completion: dict[str, Any] = {"object": "chat.completion", **self._head}
        completion["choices"] = [self._choice(index, state) for index, state in sorted(self._choices.items())]
        if (self.usage or usage) is not None:
            completion["usage"] = self.usage or usage
        return completion

    @staticmethod
    def _choice(index: int, state: _Choice) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(state.content) if state.content or not state.calls else None,
            "refusal": "".join(state.refusal) if state.refusal else None,
        }
        if state.calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": call.type,
                    "function": {"name": "".join(call.name), "arguments": "".join(call.arguments)},
                }
                for _, call in sorted(state.calls.items())
            ]
        return {"index": index, "message": message, "logprobs": None, "finish_reason": state.finish_reason}
