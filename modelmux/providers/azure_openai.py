"""Azure OpenAI: OpenAI's wire format behind per-deployment URLs, an `api-key` header and `api-version`.

Two URL forms exist. The deployment form, `{endpoint}/openai/deployments/{deployment}/chat/completions
?api-version=...`, names the deployment in the path and takes no `model` in the body. The v1 form,
`{endpoint}/openai/v1/chat/completions`, is OpenAI's API with the deployment as `model`; it is used when
`base_url` already ends in `/openai/v1` or `api_version` is `v1`, `latest` or `preview`.

Streams may open with a chunk that has no choices and only `prompt_filter_results`, and with content
filtering in asynchronous mode they carry annotation-only choices (no `delta`); neither reaches clients.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

import httpx

from modelmux.providers.base import JSONObject, UpstreamTarget
from modelmux.providers.openai import OpenAIAdapter, OpenAIStreamDecoder

DEFAULT_API_VERSION = "2024-10-21"
V1_VERSIONS = frozenset({"v1", "latest", "preview"})


class AzureStreamDecoder(OpenAIStreamDecoder):
    def convert(self, data: JSONObject) -> list[JSONObject]:
        choices: list[JSONObject] = []
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            if "delta" not in choice:
                if choice.get("finish_reason") is None:
                    continue
                choice = {**choice, "delta": {}}
            choices.append(choice)
        if not choices and data.get("usage") is None:
            return []
        return super().convert({**data, "choices": choices})


class AzureOpenAIAdapter(OpenAIAdapter):
    default_base_url: ClassVar[str] = ""
    decoder_class: ClassVar[type[OpenAIStreamDecoder]] = AzureStreamDecoder

    def api_version(self) -> str:
        version = self.provider.options.get("api_version")
        return version if isinstance(version, str) and version else DEFAULT_API_VERSION

    def uses_v1(self) -> bool:
        return self.base_url().endswith("/openai/v1") or self.api_version() in V1_VERSIONS

    def endpoint(self) -> str:
        """The resource root, whichever of the forms `base_url` was written in."""
        root = self.base_url()
        for suffix in ("/openai/v1", "/openai"):
            if root.endswith(suffix):
                return root[: -len(suffix)]
        return root

    def deployment(self, target: UpstreamTarget) -> str:
        configured = self.provider.options.get("deployment")
        return configured if isinstance(configured, str) and configured else target.upstream_model

    def auth_headers(self) -> dict[str, str]:
        key = self.provider.api_key
        return {"api-key": key.reveal()} if key is not None else {}

    def _build(self, operation: str, body: JSONObject, target: UpstreamTarget, stream: bool) -> httpx.Request:
        deployment = self.deployment(target)
        version = self.api_version()
        if self.uses_v1():
            params = {"api-version": version} if version in ("latest", "preview") else {}
            url = f"{self.endpoint()}/openai/v1/{operation}"
            return self.request(url, {**body, "model": deployment}, stream=stream, params=params)
        url = f"{self.endpoint()}/openai/deployments/{quote(deployment, safe='')}/{operation}"
        payload = {key: value for key, value in body.items() if key != "model"}
        return self.request(url, payload, stream=stream, params={"api-version": version})

    async def build_chat(self, body: JSONObject, target: UpstreamTarget, *, stream: bool) -> httpx.Request:
        return self._build("chat/completions", self.chat_body(body, target, stream=stream), target, stream)

    async def build_embeddings(self, body: JSONObject, target: UpstreamTarget) -> httpx.Request:
        return self._build("embeddings", body, target, False)
