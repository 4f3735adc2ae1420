"""The Anthropic Messages API adapter: POST {base_url}/v1/messages with an `x-api-key`.

`AnthropicMessagesAdapter` holds what every upstream speaking Anthropic's Messages format shares (the
response, stream and error translation); `AnthropicAdapter` adds the direct API's URL and headers and
`VertexAIAdapter` (in `vertex_ai`) adds Vertex AI's.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import orjson

from modelmux.providers.anthropic_request import DEFAULT_MAX_TOKENS, to_anthropic_request
from modelmux.providers.anthropic_response import (
    AnthropicStreamDecoder,
    parse_anthropic_error,
    to_chat_completion,
)
from modelmux.providers.base import (
    CanonicalError,
    JSONObject,
    ProviderAdapter,
    StreamDecoder,
    UpstreamTarget,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"


class AnthropicMessagesAdapter(ProviderAdapter):
    """Translation shared by the upstreams that speak Anthropic's Messages format."""

    def anthropic_body(self, body: JSONObject, *, model: str | None, stream: bool) -> JSONObject:
        default_max_tokens = int(self.provider.options.get("default_max_tokens") or DEFAULT_MAX_TOKENS)
        return to_anthropic_request(body, model=model, default_max_tokens=default_max_tokens, stream=stream)

    def extra_headers(self) -> dict[str, str]:
        return {name: secret.reveal() for name, secret in self.provider.headers}

    def parse_chat(self, payload: bytes, target: UpstreamTarget) -> JSONObject:
        return to_chat_completion(payload, target.public_model)

    def stream_decoder(self, target: UpstreamTarget) -> StreamDecoder:
        return AnthropicStreamDecoder()

    def parse_error(self, status: int, headers: Mapping[str, str], payload: bytes) -> CanonicalError:
        return parse_anthropic_error(status, headers, payload)


class AnthropicAdapter(AnthropicMessagesAdapter):
    """Anthropic's own API."""

    def messages_url(self) -> str:
        return f"{(self.provider.base_url or DEFAULT_BASE_URL).rstrip('/')}/v1/messages"

    async def build_chat(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> httpx.Request:
        payload = self.anthropic_body(body, model=target.upstream_model, stream=stream)
        headers = {
            "anthropic-version": str(self.provider.options.get("anthropic_version") or DEFAULT_ANTHROPIC_VERSION),
            "content-type": "application/json",
        }
        if self.provider.api_key is not None:
            headers["x-api-key"] = self.provider.api_key.reveal()
        headers.update(self.extra_headers())
        return httpx.Request("POST", self.messages_url(), headers=headers, content=orjson.dumps(payload))
