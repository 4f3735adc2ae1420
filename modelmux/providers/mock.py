"""The built-in `mock` provider: an OpenAI-speaking upstream inside the process, with no network.

`MockTransport` is an httpx transport that answers `POST .../chat/completions` (JSON, or SSE word by
word), `POST .../embeddings` and `GET .../models` from the provider's options: `response`, `latency`
(seconds before answering), `failure_rate` (0..1) and `failure_status`, `embedding_dimensions`. The
executor mounts it for `mock://` URLs; `MockAdapter` is the OpenAI adapter pointed at them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import random
import re
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson

from modelmux.plan.models import ProviderPlan
from modelmux.providers.base import JSONObject
from modelmux.providers.openai import OpenAIAdapter, default_error_type
from modelmux.providers.sse import encode_event

DEFAULT_RESPONSE = "Hello from ModelMux mock provider."
DEFAULT_DIMENSIONS = 8
FINGERPRINT = "fp_modelmux_mock"
_WORDS = re.compile(r"\s*\S+|\s+$")


def count_words(text: str) -> int:
    return len(text.split())


def _prompt_words(messages: Any) -> int:
    total = 0
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += count_words(content)
        elif isinstance(content, list):
            total += sum(count_words(part.get("text") or "") for part in content if isinstance(part, dict))
    return total


def mock_embedding(text: str, dimensions: int) -> list[float]:
    """A unit vector derived from a hash of `text`: the same input always gives the same vector."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend(int.from_bytes(digest[i : i + 4], "big") / 2**31 - 1.0 for i in range(0, 32, 4))
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [round(value / norm, 8) for value in values]


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, int) for item in value):
        return [orjson.dumps(value).decode()]
    if isinstance(value, list):
        return [item if isinstance(item, str) else orjson.dumps(item).decode() for item in value]
    return []


class _Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


class MockTransport(httpx.AsyncBaseTransport):
    """Answers OpenAI-format requests for one mock provider. `rng` decides failures (inject one in tests)."""

    def __init__(
        self,
        provider: ProviderPlan,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        options = provider.options
        self.provider = provider
        self.response = str(options.get("response", DEFAULT_RESPONSE))
        self.latency = float(options.get("latency", 0.0))
        self.failure_rate = float(options.get("failure_rate", 0.0))
        self.failure_status = int(options.get("failure_status", 503))
        self.dimensions = int(options.get("embedding_dimensions", DEFAULT_DIMENSIONS))
        self.rng = rng or random.Random()
        self.clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw = await request.aread()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.failure_rate > 0 and self.rng.random() < self.failure_rate:
            message = f"mock provider {self.provider.name!r} failed on purpose (failure_rate {self.failure_rate})"
            headers = {"retry-after": "1"} if self.failure_status == 429 else {}
            return self._error(self.failure_status, message, headers=headers)
        path = request.url.path.rstrip("/")
        if request.method == "GET" and path.endswith("/models"):
            return self._json(self._models())
        if request.method != "POST" or not path.endswith(("/chat/completions", "/embeddings")):
            return self._error(404, f"mock provider has no route {request.method} {request.url.path}")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return self._error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return self._error(400, "The request body must be a JSON object.")
        if path.endswith("/embeddings"):
            return self._embeddings(body)
        return self._chat(body)

    def _json(self, data: JSONObject, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
        head = {"content-type": "application/json", "x-request-id": f"req_mock_{uuid.uuid4().hex}"}
        return httpx.Response(status, headers={**head, **(headers or {})}, content=orjson.dumps(data))

    def _error(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        error = {"message": message, "type": default_error_type(status), "param": None, "code": None}
        return self._json({"error": error}, status, headers)

    def _models(self) -> JSONObject:
        names = dict.fromkeys(route.upstream for route in self.provider.models)
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "modelmux-mock"} for name in names]
        return {"object": "list", "data": data}

    def _answer(self, body: JSONObject) -> tuple[list[str], str]:
        pieces = _WORDS.findall(self.response)
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(pieces):
            return pieces[:limit], "length"
        return pieces, "stop"

    def _chat(self, body: JSONObject) -> httpx.Response:
        pieces, reason = self._answer(body)
        model = str(body.get("model") or "mock")
        prompt = _prompt_words(body.get("messages"))
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(pieces),
            "total_tokens": prompt + len(pieces),
        }
        head = {"id": f"chatcmpl-mock{uuid.uuid4().hex[:24]}", "created": int(self.clock()), "model": model}
        if body.get("stream"):
            options = body.get("stream_options")
            with_usage = isinstance(options, dict) and options.get("include_usage") is True
            return self._stream(head, pieces, reason, usage if with_usage else None)
        message: JSONObject = {
            "role": "assistant",
            "content": "".join(pieces),
            "refusal": None,
            "annotations": [],
        }
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
        completion = {
            **head,
            "object": "chat.completion",
            "choices": [choice],
            "usage": usage,
            "system_fingerprint": FINGERPRINT,
        }
        return self._json(completion)

    def _stream(self, head: JSONObject, pieces: list[str], reason: str, usage: JSONObject | None) -> httpx.Response:
        base = {**head, "object": "chat.completion.chunk", "system_fingerprint": FINGERPRINT}
        if usage is not None:
            base["usage"] = None

        def chunk(delta: JSONObject, finish: str | None = None) -> JSONObject:
            return {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }

        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks.extend(chunk({"content": piece}) for piece in pieces)
        chunks.append(chunk({}, reason))
        if usage is not None:
            chunks.append({**base, "choices": [], "usage": usage})
        events = [encode_event(orjson.dumps(item)) for item in chunks]
        events.append(encode_event("[DONE]"))
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "x-request-id": f"req_mock_{uuid.uuid4().hex}",
        }
        return httpx.Response(200, headers=headers, stream=_Pieces(events))

    def _embeddings(self, body: JSONObject) -> httpx.Response:
        inputs = _inputs(body.get("input"))
        if not inputs:
            return self._error(400, "'input' must be a string or a non-empty array.")
        requested = body.get("dimensions")
        dimensions = requested if isinstance(requested, int) and requested > 0 else self.dimensions
        as_base64 = body.get("encoding_format") == "base64"
        data: list[JSONObject] = []
        for index, text in enumerate(inputs):
            vector: Any = mock_embedding(text, dimensions)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(count_words(text) for text in inputs)
        model = str(body.get("model") or "mock")
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return self._json({"object": "list", "data": data, "model": model, "usage": usage})


class MockAdapter(OpenAIAdapter):
    """The OpenAI adapter aimed at `mock://{provider name}`, without credentials."""

    def base_url(self) -> str:
        url = self.provider.base_url
        return url.rstrip("/") if url.startswith("mock://") else f"mock://{self.provider.name}"

    def auth_headers(self) -> dict[str, str]:
        return {}


def mock_transport_for(provider: ProviderPlan, *, rng: random.Random | None = None) -> httpx.AsyncBaseTransport:
    """The transport the executor mounts in the httpx client of a `mock` provider."""
    return MockTransport(provider, rng=rng)
