"""OpenAI's chat completions and embeddings: the wire format every other adapter here builds on.

The request body is the client's, with `model` replaced by the upstream name; the response is the
upstream's, with `model` replaced by the public name. Errors keep OpenAI's fields as sent, and any
body an upstream or a proxy in front of it may answer with (JSON in another shape, an HTML page, an
empty body) becomes a `CanonicalError` with a readable message.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
import orjson

from modelmux.plan.models import ProviderPlan
from modelmux.providers.base import (
    CanonicalError,
    JSONObject,
    ProviderAdapter,
    StreamDecoder,
    UpstreamStreamError,
    UpstreamTarget,
)
from modelmux.providers.sse import SSEDecoder, SSEEvent

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHUNK_FIELDS = ("choices", "usage", "system_fingerprint", "service_tier")
_SNIPPET = 200
_DEFAULT_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "requests": 429,
    "tokens": 429,
    "insufficient_quota": 429,
    "overloaded_error": 503,
}


class UpstreamProtocolError(UpstreamStreamError):
    """The upstream answered 2xx with something that is not the promised shape (not JSON, an error...)."""


def default_error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _DEFAULT_TYPES.get(status, "invalid_request_error" if status >= 400 else "api_error")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively, whatever kind of mapping holds them."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, found in headers.items():
        if key.lower() == wanted:
            return found
    return None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    millis = _finite(header(headers, "retry-after-ms"))
    if millis is not None:
        return max(millis / 1000.0, 0.0)
    raw = header(headers, "retry-after")
    if raw is None:
        return None
    seconds = _finite(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _finite(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def error_from_object(status: int, error: Mapping[str, Any], retry_after: float | None) -> CanonicalError:
    """A `CanonicalError` from an OpenAI `error` object, every field kept as sent when it is usable."""
    message = _text(error.get("message")) or _text(error.get("detail")) or f"upstream returned HTTP {status}"
    kind = error.get("type")
    return CanonicalError(
        status=status,
        message=message,
        type=kind if isinstance(kind, str) and kind else default_error_type(status),
        code=_text(error.get("code")),
        param=_text(error.get("param")),
        retry_after=retry_after,
    )


def error_from_response(status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
    """Any error body (OpenAI's shape, vLLM's flat shape, `{"detail": ...}`, HTML, nothing) as an error."""
    retry_after = retry_after_seconds(headers)
    if not payload.strip():
        message = f"upstream returned HTTP {status} with an empty body"
        return CanonicalError(status, message, default_error_type(status), retry_after=retry_after)
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        message = _non_json_message(status, payload)
        return CanonicalError(status, message, default_error_type(status), retry_after=retry_after)
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = data[0]
    if isinstance(data, Mapping):
        inner = data.get("error")
        if isinstance(inner, Mapping):
            return error_from_object(status, inner, retry_after)
        if isinstance(inner, str):
            return error_from_object(status, {**data, "message": inner}, retry_after)
        if any(key in data for key in ("message", "detail")):
            return error_from_object(status, data, retry_after)
    message = f"upstream returned HTTP {status}: {_snippet(payload.decode('utf-8', 'replace'))}"
    return CanonicalError(status, message, default_error_type(status), retry_after=retry_after)


def _non_json_message(status: int, payload: bytes) -> str:
    text = payload.decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title and title.group(1).strip():
        text = title.group(1)
    else:
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
        text = re.sub(r"<[^>]*>", " ", text)
    return f"upstream returned HTTP {status} with a non-JSON body: {_snippet(text)}"


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def stream_error(data: Mapping[str, Any]) -> UpstreamStreamError:
    """The exception for an error event inside a stream (`{"error": {...}}` or a flat error object)."""
    inner = data.get("error")
    error = inner if isinstance(inner, Mapping) else data
    if isinstance(inner, str):
        error = {**data, "message": inner}
    kind = error.get("type")
    code = error.get("code")
    if isinstance(code, int) and 400 <= code <= 599:
        status = code
    else:
        status = _STATUS_OF_TYPE.get(kind, 500) if isinstance(kind, str) else 500
    return UpstreamStreamError(error_from_object(status, error, None))


def protocol_error(message: str, status: int = 502) -> UpstreamProtocolError:
    return UpstreamProtocolError(CanonicalError(status, message, "api_error"))


def load_object(payload: bytes, what: str = "response") -> JSONObject:
    """A JSON object from an upstream 2xx body; an error object in it raises, as does anything else."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise protocol_error(f"upstream {what} is not JSON: {_snippet(payload.decode('utf-8', 'replace'))}") from None
    if not isinstance(data, dict):
        raise protocol_error(f"upstream {what} is not a JSON object")
    if data.get("error") is not None and "choices" not in data and "data" not in data:
        raise stream_error(data)
    return data


def fast_passthrough_body(raw: bytes, upstream_model: str) -> bytes:
    """A raw JSON request body with only its `model` replaced; everything else is re-emitted unchanged."""
    body = orjson.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("a request body must be a JSON object")
    body["model"] = upstream_model
    return orjson.dumps(body)


class OpenAIStreamDecoder(StreamDecoder):
    """OpenAI SSE to chunk dicts. `[DONE]` ends the stream; an error event raises `UpstreamStreamError`.

    Subclasses adjust each upstream chunk with `convert` (it returns the chunks to emit: none drops it,
    several add some) and the end of the stream with `on_done` and `close`.
    """

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self.done = False
        self.started: set[int] = set()
        self.finished: set[int] = set()

    def feed(self, data: bytes) -> list[JSONObject]:
        self.raise_pending()
        return self.decode_items(self._sse.feed(data), self._event)

    def finish(self) -> list[JSONObject]:
        self.raise_pending()
        chunks = self.decode_items(self._sse.finish(), self._event)
        if self._pending is not None:
            return chunks
        return chunks + self.close()

    def _event(self, event: SSEEvent) -> list[JSONObject]:
        text = event.data.strip()
        if self.done or not text:
            return []
        if text == "[DONE]":
            self.done = True
            return self.on_done()
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise protocol_error(f"upstream sent a stream event that is not JSON: {_snippet(text)}") from None
        if not isinstance(data, dict):
            raise protocol_error(f"upstream sent a stream event that is not an object: {_snippet(text)}")
        if event.event == "error" or data.get("error") is not None or data.get("object") == "error":
            raise stream_error(data)
        return self.convert(data)

    def convert(self, data: JSONObject) -> list[JSONObject]:
        chunk = {key: data[key] for key in CHUNK_FIELDS if key in data}
        for key in ("system_fingerprint", "service_tier"):
            if chunk.get(key, "") is None:
                del chunk[key]
        chunk.setdefault("choices", [])
        self.track(chunk)
        return [chunk]

    def track(self, chunk: JSONObject) -> None:
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict):
                index = choice.get("index", 0)
                if not isinstance(index, int):
                    continue
                self.started.add(index)
                if choice.get("finish_reason") is not None:
                    self.finished.add(index)

    def on_done(self) -> list[JSONObject]:
        return []

    def close(self) -> list[JSONObject]:
        if not self.done and (not self.started or self.started - self.finished):
            raise protocol_error("upstream stream ended before [DONE] and before every choice finished")
        return []


MAX_PARSED_URLS = 256


class OpenAIAdapter(ProviderAdapter):
    """OpenAI's API itself: Bearer auth, `{base_url}/chat/completions` and `{base_url}/embeddings`."""

    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    decoder_class: ClassVar[type[OpenAIStreamDecoder]] = OpenAIStreamDecoder

    def __init__(self, provider: ProviderPlan) -> None:
        super().__init__(provider)
        self._headers_by_stream: dict[bool, dict[str, str]] = {}  # a plan's secrets do not change under it
        self._parsed_urls: dict[str, httpx.URL] = {}

    def base_url(self) -> str:
        return (self.provider.base_url or self.default_base_url).rstrip("/")

    def auth_headers(self) -> dict[str, str]:
        key = self.provider.api_key
        return {"authorization": f"Bearer {key.reveal()}"} if key is not None else {}

    def headers(self, *, stream: bool = False) -> dict[str, str]:
        """The request headers, built once per adapter and stream mode."""
        found = self._headers_by_stream.get(stream)
        if found is None:
            found = self._headers_by_stream[stream] = self._build_headers(stream)
        return dict(found)

    def _build_headers(self, stream: bool) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
        }
        headers.update(self.auth_headers())
        for option, name in (("organization", "openai-organization"), ("project", "openai-project")):
            value = self.provider.options.get(option)
            if isinstance(value, str) and value:
                headers[name] = value
        headers.update((name.lower(), secret.reveal()) for name, secret in self.provider.headers)
        return headers

    def request(self, url: str, body: JSONObject, *, stream: bool = False, **kwargs: Any) -> httpx.Request:
        timeout = httpx.Timeout(self.provider.timeout, connect=self.provider.connect_timeout)
        parsed = self._parsed_urls
        target = parsed.get(url)
        if target is None:  # parsing is half the cost of building a request; bounded, since a wildcard
            target = httpx.URL(url)  # provider's URLs (Azure deployments) can follow the client's model names
            if len(parsed) < MAX_PARSED_URLS:
                parsed[url] = target
        return httpx.Request(
            "POST",
            target,
            headers=self.headers(stream=stream),
            content=orjson.dumps(body),
            extensions={"timeout": timeout.as_dict()},
            **kwargs,
        )

    def chat_body(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> JSONObject:
        out = dict(body)
        out["model"] = target.upstream_model
        if stream:
            out["stream"] = True
        else:
            out.pop("stream", None)
            out.pop("stream_options", None)
        return out

    async def build_chat(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> httpx.Request:
        payload = self.chat_body(body, target, stream=stream)
        return self.request(f"{self.base_url()}/chat/completions", payload, stream=stream)

    def parse_chat(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        data = load_object(payload)
        data["model"] = target.public_model
        return data

    def stream_decoder(self, target: UpstreamTarget) -> StreamDecoder:
        return self.decoder_class()

    def parse_error(self, status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
        return error_from_response(status, headers, payload)

    async def build_embeddings(self, body: JSONObject, target: UpstreamTarget) -> httpx.Request:
        return self.request(f"{self.base_url()}/embeddings", {**body, "model": target.upstream_model})

    def parse_embeddings(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        data = load_object(payload, "embeddings response")
        data["model"] = target.public_model
        return data
