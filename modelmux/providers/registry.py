"""Which adapter class serves which provider `type`.

The OpenAI family is imported eagerly (Hugging Face's router speaks OpenAI's API, so `huggingface` is
served by the OpenAI-compatible adapter). Other adapters are named by dotted path and imported on first
use, so a type whose module is missing or broken fails with `AdapterUnavailable` when a plan asks for
it, not when ModelMux starts.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from modelmux.plan.models import ProviderPlan
from modelmux.providers.azure_openai import AzureOpenAIAdapter
from modelmux.providers.base import ProviderAdapter
from modelmux.providers.huggingface import HuggingFaceAdapter
from modelmux.providers.mock import MockAdapter
from modelmux.providers.openai import OpenAIAdapter
from modelmux.providers.openai_compatible import OpenAICompatibleAdapter

ADAPTER_TYPES: Mapping[str, type[ProviderAdapter]] = MappingProxyType(
    {
        "openai": OpenAIAdapter,
        "azure_openai": AzureOpenAIAdapter,
        "openai_compatible": OpenAICompatibleAdapter,
        "huggingface": HuggingFaceAdapter,
        "mock": MockAdapter,
    }
)

LAZY_ADAPTERS: Mapping[str, str] = MappingProxyType(
    {
        "anthropic": "modelmux.providers.anthropic:AnthropicAdapter",
        "vertex_ai": "modelmux.providers.vertex_ai:VertexAIAdapter",
        "bedrock": "modelmux.providers.bedrock:BedrockAdapter",
        "cohere": "modelmux.providers.cohere:CohereAdapter",
    }
)

_loaded: dict[str, type[ProviderAdapter]] = {}


class AdapterUnavailable(LookupError):
    """No adapter serves this provider type: unknown, or its module cannot be imported."""


def known_types() -> tuple[str, ...]:
    return tuple(sorted({*ADAPTER_TYPES, *LAZY_ADAPTERS}))


def adapter_class(provider_type: str) -> type[ProviderAdapter]:
    """The adapter class for a provider type, importing it on first use."""
    found = ADAPTER_TYPES.get(provider_type) or _loaded.get(provider_type)
    if found is not None:
        return found
    target = LAZY_ADAPTERS.get(provider_type)
    if target is None:
        raise AdapterUnavailable(f"unknown provider type {provider_type!r}; known types: {', '.join(known_types())}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterUnavailable(
            f"provider type {provider_type!r} is not available: cannot import {module_name} ({exc})"
        ) from exc
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, ProviderAdapter)):
        raise AdapterUnavailable(
            f"provider type {provider_type!r} is not available: {target} is not a ProviderAdapter class"
        )
    _loaded[provider_type] = found
    return found


def adapter_for(provider: ProviderPlan) -> ProviderAdapter:
    """A fresh adapter for one provider of a plan."""
    return adapter_class(provider.type)(provider)
