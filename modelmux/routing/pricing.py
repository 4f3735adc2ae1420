"""Model prices: a provider's own `pricing:` first, else the built-in table (prices.json).

The table is a data file shipped in the package, dated by its `as_of` field, loaded once on first use;
its `aliases` name other exact spellings of a model (`embed-v4.0` for `embed-v4`). Lookup of a model
name tries, in order: the exact name, then the longest known name that is a prefix ending at a `-`,
`@` or `:` (`gpt-4o-2024-08-06` -> `gpt-4o`, Vertex `claude-3-5-sonnet@20240620` ->
`claude-3-5-sonnet`), then the same after dropping a path (`publishers/anthropic/models/...`), a
Bedrock cross-region profile prefix (`us.`, `eu.`, `apac.`, `global.`...) and a Bedrock vendor prefix
(`anthropic.`, `cohere.`), so `us.anthropic.claude-sonnet-4-20250514-v1:0` costs what
`claude-sonnet-4` costs. Prices are `Decimal` dollars per million tokens.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from types import MappingProxyType

from modelmux.plan.models import Price, ProviderPlan

_PER_TOKENS = Decimal(1_000_000)
_BOUNDARY = frozenset("-@:")
_PROFILE = re.compile(r"^(?:us|eu|apac|global|us-gov|ca|jp|au)\.")
_VENDOR = re.compile(r"^(?:anthropic|cohere)\.")


@dataclass(frozen=True, slots=True, eq=False)
class PriceTable:
    as_of: str
    currency: str
    unit: str
    models: Mapping[str, Price]
    prefixes: tuple[str, ...] = ()  # the model names, longest first (filled by `make_table`)

    def lookup(self, model: str) -> Price | None:
        return _lookup(self, model)


def builtin_prices() -> PriceTable:
    """The shipped price table (loaded once)."""
    return _load()


@functools.cache
def _load() -> PriceTable:
    text = resources.files("modelmux.routing").joinpath("prices.json").read_text(encoding="utf-8")
    data = json.loads(text)
    models = {name: _price(entry) for name, entry in data["models"].items()}
    models.update({alias: models[target] for alias, target in data.get("aliases", {}).items()})
    return make_table(str(data["as_of"]), str(data["currency"]), str(data["unit"]), models)


def make_table(as_of: str, currency: str, unit: str, models: Mapping[str, Price]) -> PriceTable:
    names = tuple(sorted(models, key=lambda name: (-len(name), name)))
    return PriceTable(as_of, currency, unit, MappingProxyType(dict(models)), names)


def _price(entry: Mapping[str, str]) -> Price:
    cached = entry.get("cached_input")
    return Price(
        input=Decimal(entry["input"]),
        output=Decimal(entry.get("output", "0")),
        cached_input=Decimal(cached) if cached is not None else None,
    )


def _names(model: str) -> list[str]:
    """The spellings to try for a model name, most specific first."""
    name = model.strip().lower()
    names = [name]
    base = name.rsplit("/", 1)[-1]
    for candidate in (base, _PROFILE.sub("", base)):
        if candidate not in names:
            names.append(candidate)
    vendorless = _VENDOR.sub("", names[-1])
    if vendorless not in names:
        names.append(vendorless)
    return names


@functools.lru_cache(maxsize=2048)
def _lookup(table: PriceTable, model: str) -> Price | None:
    known = table.prefixes or tuple(sorted(table.models, key=len, reverse=True))
    for name in _names(model):
        exact = table.models.get(name)
        if exact is not None:
            return exact
        for key in known:
            if len(name) > len(key) and name.startswith(key) and name[len(key)] in _BOUNDARY:
                return table.models[key]
    return None


def lookup_price(model: str) -> Price | None:
    """The built-in price of a model name, or None when the table does not know it."""
    return builtin_prices().lookup(model)


def price_for(provider: ProviderPlan, upstream_model: str) -> Price | None:
    """The provider's `pricing:` for the model (by upstream or public name), else the built-in table."""
    own = provider.pricing.get(upstream_model)
    if own is not None:
        return own
    for route in provider.models:
        if route.upstream == upstream_model and route.public in provider.pricing:
            return provider.pricing[route.public]
    return lookup_price(upstream_model)


def estimate_cost(price: Price | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal:
    """Dollars for a request; cached prompt tokens at the cached price when there is one. 0 when unknown."""
    if price is None:
        return Decimal(0)
    prompt = max(prompt_tokens, 0)
    cached = min(max(cached_tokens, 0), prompt)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    total = (prompt - cached) * price.input + cached * cached_rate + max(completion_tokens, 0) * price.output
    return total / _PER_TOKENS
