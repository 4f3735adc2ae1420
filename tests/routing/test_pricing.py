from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

import pytest

from modelmux.plan.models import ModelRoute, Price, ProviderPlan
from modelmux.routing import builtin_prices, estimate_cost, lookup_price, price_for


def test_table_is_dated_and_in_usd_per_million() -> None:
    table = builtin_prices()
    assert table.as_of == "2026-11-01"
    assert table.currency == "USD"
    assert table.unit == "per 1M tokens"
    assert table.models["gpt-4o"] == Price(Decimal("2.50"), Decimal("10.00"), Decimal("1.25"))
    assert builtin_prices() is table  # loaded once


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),  # Vertex
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("publishers/anthropic/models/claude-3-haiku@20240307", "claude-3-haiku"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),  # Bedrock
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct"),
        ("us.meta.llama3-2-90b-instruct-v1:0", "meta.llama3-2-90b-instruct"),
        ("amazon.titan-text-express-v1", "amazon.titan-text-express"),
        ("cohere.command-r-plus-v1:0", "command-r-plus"),
        ("command-r-08-2024", "command-r"),
        ("embed-v4.0", "embed-v4"),
        ("cohere.embed-v4:0", "embed-v4"),
        ("GPT-4O", "gpt-4o"),
    ],
)
def test_lookup_by_exact_name_or_longest_prefix(model: str, expected: str | None) -> None:
    table = builtin_prices()
    assert lookup_price(model) == (table.models[expected] if expected else None)


def test_prefix_must_end_at_a_separator() -> None:
    assert lookup_price("gpt-4.5-preview") is None  # not gpt-4
    assert lookup_price("gpt-4ox") is None
    assert lookup_price("totally-unknown") is None


def test_every_required_model_is_priced() -> None:
    required = [
        "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-4-turbo",
        "gpt-4", "gpt-3.5-turbo", "text-embedding-3-small", "text-embedding-3-large", "claude-3-opus",
        "claude-3-sonnet", "claude-3-haiku", "claude-3-5-sonnet", "claude-3-5-haiku", "claude-3-7-sonnet",
        "claude-sonnet-4", "claude-opus-4", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1",
        "command-r", "command-r-plus", "command-a", "embed-v4",
    ]  # fmt: skip
    missing = [m for m in required if m not in builtin_prices().models]
    assert missing == []
    for price in builtin_prices().models.values():
        assert price.input >= 0 and price.output >= 0


def test_provider_pricing_overrides_the_table() -> None:
    own = Price(Decimal("1"), Decimal("2"))
    provider = ProviderPlan(
        name="p",
        type="openai",
        base_url="https://example.invalid",
        models=(ModelRoute("fast", "gpt-4o"),),
        pricing=MappingProxyType({"fast": own}),
    )
    assert price_for(provider, "gpt-4o") == own  # by public name
    plain = ProviderPlan(name="q", type="openai", base_url="https://example.invalid")
    assert price_for(plain, "gpt-4o") == builtin_prices().models["gpt-4o"]
    by_upstream = ProviderPlan(name="r", type="openai", base_url="x", pricing=MappingProxyType({"gpt-4o": own}))
    assert price_for(by_upstream, "gpt-4o") == own


def test_estimate_cost() -> None:
    price = Price(Decimal("2.50"), Decimal("10.00"), Decimal("1.25"))
    assert estimate_cost(price, 1_000_000, 0) == Decimal("2.50")
    assert estimate_cost(price, 1000, 500) == Decimal("0.0075")
    # 400 of the 1000 prompt tokens were cached: 600 * 2.5 + 400 * 1.25 + 500 * 10 per million
    assert estimate_cost(price, 1000, 500, cached_tokens=400) == Decimal("0.007")
    no_cache_price = Price(Decimal("3"), Decimal("15"))
    assert estimate_cost(no_cache_price, 1000, 0, cached_tokens=1000) == Decimal("0.003")
    assert estimate_cost(None, 1000, 1000) == Decimal(0)
    assert estimate_cost(price, 10, 0, cached_tokens=50) == estimate_cost(price, 0, 0, cached_tokens=0) + Decimal(
        "0.0000125"
    )
