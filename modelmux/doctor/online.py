"""`doctor --online`: one bounded request per provider to check its endpoint and credentials."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx

from modelmux.doctor.checks import FAIL, OK, WARN, Check
from modelmux.plan.models import Plan, ProviderPlan


def probe_request(provider: ProviderPlan) -> httpx.Request | None:
    """A cheap authenticated GET that proves the endpoint and key work, or None (no such probe)."""
    key = provider.api_key.reveal() if provider.api_key else None
    headers = {name: secret.reveal() for name, secret in provider.headers}
    base = provider.base_url
    kind = provider.type
    if kind in ("openai", "openai_compatible", "huggingface"):
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.Request("GET", f"{base}/models", headers=headers)
    if kind == "azure_openai":
        version = str(provider.options.get("api_version", "2024-10-21"))
        headers["api-key"] = key or ""
        return httpx.Request("GET", f"{base}/openai/models", params={"api-version": version}, headers=headers)
    if kind == "anthropic":
        headers.update({"x-api-key": key or "", "anthropic-version": str(provider.options.get("anthropic_version"))})
        return httpx.Request("GET", f"{base}/v1/models", headers=headers)
    if kind == "cohere":
        headers["Authorization"] = f"Bearer {key}"
        return httpx.Request("GET", f"{base}/v1/models", headers=headers)
    return None


async def probe(provider: ProviderPlan, timeout: float) -> Check:
    name = f"online {provider.name}"
    if provider.type == "mock":
        return Check(name, OK, "built-in mock provider (no network)")
    if provider.type == "vertex_ai":
        return await _vertex_token(provider, name)
    if provider.type == "bedrock":
        return await _bedrock(provider, name, timeout)
    request = probe_request(provider)
    if request is None:
        return Check(name, WARN, f"no online probe for type {provider.type!r}; credentials checked offline only")
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        try:
            response = await client.send(request)
        except httpx.HTTPError as exc:
            return Check(name, FAIL, f"{request.url.host}: {type(exc).__name__}", "check base_url and the network")
    if response.status_code < 300:
        return Check(name, OK, f"{request.url.host} answered {response.status_code}")
    if response.status_code in (401, 403):
        return Check(name, FAIL, f"credentials rejected ({response.status_code})", "check the provider's api_key")
    return Check(name, WARN, f"{request.url.host} answered {response.status_code}")


async def _vertex_token(provider: ProviderPlan, name: str) -> Check:
    from modelmux.providers.google_credentials import CredentialsError, GoogleTokenSource

    source = GoogleTokenSource.from_options(provider.options)
    try:
        await source.token()
    except CredentialsError as exc:
        return Check(name, FAIL, f"no Google access token: {exc}", "check `credentials` or run gcloud auth")
    finally:
        await source.aclose()
    return Check(name, OK, "obtained a Google access token")


def bedrock_control_plane(base_url: str, region: str) -> str:
    """Bedrock's control plane (where ListFoundationModels lives) for a runtime endpoint."""
    if not base_url or "bedrock-runtime" in base_url:
        return f"https://bedrock.{region}.amazonaws.com"
    return base_url.rstrip("/")  # a private or test endpoint that serves both


async def _bedrock(provider: ProviderPlan, name: str, timeout: float) -> Check:
    """A signed ListFoundationModels: proves the credential chain, the signature and the region."""
    from modelmux.providers.base import AdapterError
    from modelmux.providers.bedrock import BedrockAdapter, sign

    adapter = BedrockAdapter(provider)
    try:
        region = adapter.region()
        credentials = await adapter.credentials.frozen()
    except AdapterError as exc:
        return Check(
            name, FAIL, f"no AWS credentials: {exc.error.message}", "set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET"
        )
    url = f"{bedrock_control_plane(provider.base_url, region)}/foundation-models?byOutputModality=TEXT"
    headers = sign(url, b"", {"accept": "application/json"}, credentials, region, method="GET")
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        try:
            response = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            return Check(name, FAIL, f"{httpx.URL(url).host}: {type(exc).__name__}", "check region and the network")
    if response.status_code < 300:
        return Check(name, OK, f"ListFoundationModels in {region} answered {response.status_code}")
    if response.status_code in (401, 403):
        return Check(name, FAIL, f"AWS rejected the credentials ({response.status_code})", "check the IAM policy")
    return Check(name, WARN, f"ListFoundationModels answered {response.status_code}")


def run_probes(plan: Plan, timeout: float) -> Iterator[Check]:
    async def gather() -> list[Check]:
        return await asyncio.gather(*(probe(p, timeout) for p in plan.providers))

    yield from asyncio.run(gather())
