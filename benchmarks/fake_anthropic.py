"""A fast fake Anthropic Messages upstream for the translated (OpenAI -> Anthropic) benchmark.

Run: .venv/bin/python -m benchmarks.fake_anthropic --port 9102
"""

from __future__ import annotations

import json

from benchmarks.fake_upstream import Upstream, response, run

MESSAGE = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hello from the benchmark upstream."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 7},
    }
).encode()


def events(chunks: int) -> bytes:
    def event(name: str, data: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    start = {"type": "message_start", "message": {**json.loads(MESSAGE), "content": [], "stop_reason": None}}
    parts = [event("message_start", start)]
    parts.append(
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    )
    for i in range(chunks):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"w{i} "}}
        parts.append(event("content_block_delta", delta))
    parts.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    parts.append(
        event(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": chunks}},
        )
    )
    parts.append(event("message_stop", {"type": "message_stop"}))
    return b"".join(parts)


class Anthropic(Upstream):
    json_reply = response("200 OK", b"application/json", MESSAGE)


def main() -> None:
    run(Anthropic, events, 9102)


if __name__ == "__main__":
    main()
