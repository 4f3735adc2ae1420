"""A fast fake OpenAI-compatible upstream for benchmarks: raw asyncio HTTP/1.1 with keep-alive.

POST /v1/chat/completions answers a fixed chat.completion (JSON) in well under a millisecond, or,
when the body asks for `"stream": true`, an SSE stream of `--chunks` content chunks. It parses only
what it needs (request line, Content-Length), so it is never the bottleneck of a gateway benchmark.

Run: .venv/bin/python -m benchmarks.fake_upstream --port 9100 [--chunks 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the benchmark upstream.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
    }
).encode()


def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def stream_body(chunks: int) -> bytes:
    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": f"w{i} "}) for i in range(chunks)]
    parts.append(chunk({}, "stop"))
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": chunks, "total_tokens": 9 + chunks},
    }
    parts.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def response(status: str, content_type: bytes, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n".encode()
    return head + b"Content-Type: " + content_type + b"\r\n\r\n" + body


class Upstream(asyncio.Protocol):
    json_reply = response("200 OK", b"application/json", COMPLETION)
    stream_reply = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[end + 4 : total]
            self.buffer = self.buffer[total:]
            streamed = b'"stream":true' in body.replace(b" ", b"")
            self.transport.write(self.stream_reply if streamed else self.json_reply)


async def serve(host: str, port: int, protocol: type[Upstream]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, host, port, backlog=2048, reuse_address=True)
    async with server:
        await server.serve_forever()


def run(protocol: type[Upstream], stream: Callable[[int], bytes], default_port: int) -> None:
    """The command line of a fake upstream: `--host`, `--port`, `--chunks` (per streamed response)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    protocol.stream_reply = response("200 OK", b"text/event-stream", stream(args.chunks))
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port, protocol))
    except ImportError:
        asyncio.run(serve(args.host, args.port, protocol))


def main() -> None:
    run(Upstream, stream_body, 9100)


if __name__ == "__main__":
    main()
