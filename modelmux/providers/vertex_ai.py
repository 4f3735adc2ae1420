"""Claude on Vertex AI: Anthropic's Messages format behind Google's URL scheme and OAuth tokens.

POST {base_url}/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}:rawPredict
(`:streamRawPredict` for streams). The model is in the URL, not the body, and the body carries
`anthropic_version: "vertex-2023-10-16"` (Vertex accepts only its own `vertex-` versions, so the
provider's `anthropic_version` option is used only when it names one). Responses, streams and errors are
Anthropic's.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
import orjson

from modelmux.plan.models import ProviderPlan
from modelmux.providers.anthropic import AnthropicMessagesAdapter
from modelmux.providers.base import JSONObject, UpstreamTarget
from modelmux.providers.google_credentials import GoogleTokenSource, TokenSource

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


def default_base_url(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexAIAdapter(AnthropicMessagesAdapter):
    """Claude models served by Vertex AI; `tokens` replaces google-auth (a `StaticTokenSource` in tests)."""

    def __init__(self, provider: ProviderPlan, *, tokens: TokenSource | None = None) -> None:
        super().__init__(provider)
        options = provider.options
        self.project = str(options.get("project") or "")
        self.location = str(options.get("location") or "")
        if not self.project or not self.location:
            raise ValueError(f"provider {provider.name!r}: vertex_ai needs the project and location options")
        version = str(options.get("anthropic_version") or "")
        self.anthropic_version = version if version.startswith("vertex-") else VERTEX_ANTHROPIC_VERSION
        self.tokens: TokenSource = tokens if tokens is not None else GoogleTokenSource.from_options(options)

    def predict_url(self, model: str, *, stream: bool) -> str:
        base = (self.provider.base_url or default_base_url(self.location)).rstrip("/")
        method = "streamRawPredict" if stream else "rawPredict"
        path = (
            f"/v1/projects/{quote(self.project, safe='')}/locations/{quote(self.location, safe='')}"
            f"/publishers/anthropic/models/{quote(model, safe='@')}:{method}"
        )
        return base + path

    async def build_chat(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> httpx.Request:
        payload: JSONObject = {"anthropic_version": self.anthropic_version}
        payload.update(self.anthropic_body(body, model=None, stream=stream))
        headers = {
            "authorization": f"Bearer {await self.tokens.token()}",
            "content-type": "application/json",
        }
        headers.update(self.extra_headers())
        url = self.predict_url(target.upstream_model, stream=stream)
        return httpx.Request("POST", url, headers=headers, content=orjson.dumps(payload))

    async def aclose(self) -> None:
        await self.tokens.aclose()
