"""Provider entries of the config, one model per `type:` (a discriminated union)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modelmux.config.types import Duration, Money, Name, Section


class RateLimit(Section):
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class ModelPrice(Section):
    input: Money
    output: Money
    cached_input: Money | None = None


class CircuitBreaker(Section):
    failures: int = Field(default=5, ge=1)
    window: Duration = 60.0
    cooldown: Duration = 30.0


class HealthCheck(Section):
    enabled: bool = True
    interval: Duration = 30.0
    timeout: Duration = 5.0
    model: str | None = None


class ProviderBase(Section):
    name: Name
    api_key: str | None = None
    base_url: str | None = None
    models: list[str] | dict[str, str] = Field(default_factory=lambda: ["*"])
    region: str | None = None
    weight: float = Field(default=1.0, ge=0.0)
    timeout: Duration = 600.0
    connect_timeout: Duration = 10.0
    rate_limit: RateLimit | None = None
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)
    circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker)
    headers: dict[str, str] = Field(default_factory=dict)
    health_check: HealthCheck | None = None
    http2: bool = False
    max_connections: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _check_base_url(self) -> ProviderBase:
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://", "mock://")):
            raise ValueError(f"base_url {self.base_url!r} must start with http:// or https://")
        return self


class _NeedsKey(ProviderBase):
    @model_validator(mode="after")
    def _check_key(self) -> _NeedsKey:
        if not self.api_key:
            raise ValueError(f"provider {self.name!r} needs `api_key` (for example api_key: ${{API_KEY}})")
        return self


class OpenAIProvider(_NeedsKey):
    type: Literal["openai"]
    organization: str | None = None
    project: str | None = None


class AzureOpenAIProvider(_NeedsKey):
    type: Literal["azure_openai"]
    api_version: str = "2024-10-21"
    deployment: str | None = None

    @model_validator(mode="after")
    def _check_endpoint(self) -> AzureOpenAIProvider:
        if not self.base_url:
            raise ValueError("azure_openai needs `base_url`, the resource endpoint (https://NAME.openai.azure.com)")
        return self


class AnthropicProvider(_NeedsKey):
    type: Literal["anthropic"]
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = Field(default=4096, ge=1)


class VertexAIProvider(ProviderBase):
    type: Literal["vertex_ai"]
    project: str
    location: str = "us-east5"
    credentials: str | None = None
    token_url: str | None = None
    default_max_tokens: int = Field(default=4096, ge=1)


class CohereProvider(_NeedsKey):
    type: Literal["cohere"]


class BedrockCredentials(Section):
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


class BedrockProvider(ProviderBase):
    type: Literal["bedrock"]
    credentials: BedrockCredentials | None = None
    default_max_tokens: int = Field(default=4096, ge=1)

    @model_validator(mode="after")
    def _check_region(self) -> BedrockProvider:
        if not self.region:
            raise ValueError("bedrock needs `region` (for example region: us-east-1)")
        return self


class HuggingFaceProvider(_NeedsKey):
    type: Literal["huggingface"]


class OpenAICompatibleProvider(ProviderBase):
    type: Literal["openai_compatible"]

    @model_validator(mode="after")
    def _check_url(self) -> OpenAICompatibleProvider:
        if not self.base_url:
            raise ValueError("openai_compatible needs `base_url` (for example http://localhost:8000/v1)")
        return self


class MockProvider(ProviderBase):
    type: Literal["mock"]
    response: str = "Hello from ModelMux mock provider."
    latency: Duration = 0.0
    failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    failure_status: int = Field(default=503, ge=400, le=599)
    embedding_dimensions: int = Field(default=8, ge=1, le=8192)


ProviderConfig = Annotated[
    OpenAIProvider
    | AzureOpenAIProvider
    | AnthropicProvider
    | VertexAIProvider
    | CohereProvider
    | BedrockProvider
    | HuggingFaceProvider
    | OpenAICompatibleProvider
    | MockProvider,
    Field(discriminator="type"),
]

PROVIDER_TYPES = (
    "openai",
    "azure_openai",
    "anthropic",
    "vertex_ai",
    "cohere",
    "bedrock",
    "huggingface",
    "openai_compatible",
    "mock",
)

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "cohere": "https://api.cohere.com",
    "huggingface": "https://router.huggingface.co/v1",
}
