from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from modelmux.plan.models import ProviderPlan
from modelmux.providers import registry
from modelmux.providers.azure_openai import AzureOpenAIAdapter
from modelmux.providers.base import ProviderAdapter
from modelmux.providers.huggingface import HuggingFaceAdapter
from modelmux.providers.mock import MockAdapter
from modelmux.providers.openai import OpenAIAdapter
from modelmux.providers.openai_compatible import OpenAICompatibleAdapter
from modelmux.providers.registry import ADAPTER_TYPES, AdapterUnavailable, adapter_class, adapter_for


def plan(type_: str, base_url: str = "http://localhost:8000/v1") -> ProviderPlan:
    return ProviderPlan(name=f"p-{type_}", type=type_, base_url=base_url)


@pytest.fixture
def fake_module() -> Iterator[types.ModuleType]:
    """A stand-in adapter module registered under a lazy type, removed afterwards."""
    module = types.ModuleType("modelmux_test_lazy_adapter")

    class LazyAdapter(OpenAIAdapter):
        pass

    module.LazyAdapter = LazyAdapter  # type: ignore[attr-defined]
    module.NotAnAdapter = object  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]
    registry._loaded.pop("lazy-test", None)


@pytest.mark.parametrize(
    ("type_", "cls"),
    [
        ("openai", OpenAIAdapter),
        ("azure_openai", AzureOpenAIAdapter),
        ("openai_compatible", OpenAICompatibleAdapter),
        ("huggingface", HuggingFaceAdapter),
        ("mock", MockAdapter),
    ],
)
def test_openai_family_is_registered(type_: str, cls: type[ProviderAdapter]) -> None:
    adapter = adapter_for(plan(type_))
    assert type(adapter) is cls
    assert adapter.provider.type == type_
    assert ADAPTER_TYPES[type_] is cls


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        ADAPTER_TYPES["x"] = OpenAIAdapter  # type: ignore[index]


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(AdapterUnavailable, match=r"unknown provider type 'gemini'.*anthropic.*openai_compatible"):
        adapter_for(plan("gemini"))


def test_lazy_type_is_imported_on_first_use(monkeypatch: pytest.MonkeyPatch, fake_module: types.ModuleType) -> None:
    monkeypatch.setattr(registry, "LAZY_ADAPTERS", {"lazy-test": f"{fake_module.__name__}:LazyAdapter"})
    assert adapter_class("lazy-test") is fake_module.LazyAdapter
    assert isinstance(adapter_for(plan("lazy-test")), fake_module.LazyAdapter)


def test_lazy_type_whose_module_is_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "LAZY_ADAPTERS", {"later": "modelmux.providers.not_written_yet:LaterAdapter"})
    with pytest.raises(AdapterUnavailable, match=r"provider type 'later' is not available: cannot import"):
        adapter_for(plan("later"))


def test_lazy_target_that_is_not_an_adapter_is_refused(
    monkeypatch: pytest.MonkeyPatch, fake_module: types.ModuleType
) -> None:
    monkeypatch.setattr(registry, "LAZY_ADAPTERS", {"lazy-test": f"{fake_module.__name__}:NotAnAdapter"})
    with pytest.raises(AdapterUnavailable, match="is not a ProviderAdapter class"):
        adapter_class("lazy-test")


def test_every_configurable_type_is_known() -> None:
    assert set(registry.known_types()) >= {
        "openai",
        "azure_openai",
        "anthropic",
        "vertex_ai",
        "openai_compatible",
        "mock",
    }


@pytest.mark.parametrize("type_", ["anthropic", "vertex_ai"])
def test_anthropic_family_resolves_lazily(type_: str) -> None:
    try:
        cls = adapter_class(type_)
    except AdapterUnavailable as exc:
        assert "is not available" in str(exc)
    else:
        assert issubclass(cls, ProviderAdapter)
