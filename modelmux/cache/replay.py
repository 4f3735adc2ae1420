"""A cached chat.completion replayed as an OpenAI stream: per choice a role chunk, content (or refusal,
or tool call) chunks and a finish chunk; then a usage chunk when the client asked for one
(`stream_options.include_usage`); then `[DONE]`. Every chunk has the completion's id, created and model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PIECE = 64  # characters of content a chunk carries at most


def replay_chunks(completion: dict[str, Any], include_usage: bool) -> Iterator[dict[str, Any]]:
    head = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }
    for name in ("system_fingerprint", "service_tier"):
        if completion.get(name) is not None:
            head[name] = completion[name]

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {**head, "choices": choices, **({"usage": None} if include_usage else {})}

    for choice in completion["choices"]:
        index = choice.get("index", 0)
        for delta in _deltas(choice.get("message") or {}):
            yield chunk([{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}])
        yield chunk([{"index": index, "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}])
    if include_usage and isinstance(completion.get("usage"), dict):
        yield {**head, "choices": [], "usage": completion["usage"]}


def _deltas(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    content = message.get("content")
    yield {"role": "assistant", "content": "" if isinstance(content, str) else None}
    if isinstance(content, str):
        for piece in split_text(content):
            yield {"content": piece}
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        yield {"refusal": refusal}
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        yield {
            "tool_calls": [
                {
                    "index": position,
                    "id": call.get("id"),
                    "type": call.get("type", "function"),
                    "function": {"name": function.get("name"), "arguments": function.get("arguments", "")},
                }
            ]
        }


def split_text(text: str, size: int = PIECE) -> list[str]:
    """Pieces of at most `size` characters, cut after a space where one is near."""
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind(" ", size // 2, size)
        cut = size if cut < 0 else cut + 1
        pieces.append(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces
