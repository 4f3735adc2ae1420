"""Cheaper equivalent models, from the price table's names.

Two models are *equivalent* when they belong to the same line: the same name once its tier word
(`pro`, `mini`, `nano`, `opus`, `sonnet`, `haiku`, `lite`, `micro`, `premier`, `express`, `plus`,
`turbo`, `large`, `small`) and its size (`8b`, `70b`) are removed. So `gpt-4o` and `gpt-4o-mini` are
the line `gpt-4o`; `claude-3-opus`, `claude-3-sonnet` and `claude-3-haiku` the line `claude-3`;
`claude-opus-4` and `claude-sonnet-4` the line `claude-4`. A model alone in its line (`claude-opus-4-1`,
`gpt-4o-2024-05-13`) falls back to the line its name extends (`claude-4`, `gpt-4o`).

`alternatives` prices a model's actual token mix at each cheaper equivalent (closest tier first);
`downgrade_target` picks, among the models a plan serves and a caller may use, the cheapest
equivalent of the asked model (`on_exceed: downgrade` without `downgrade_to`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase

from modelmux.cost.pricing import PlanPrices, Tokens, cost_of
from modelmux.plan.models import Plan, Price
from modelmux.routing.pricing import _BOUNDARY, PriceTable, _names, builtin_prices

TIERS = frozenset(
    {"pro", "mini", "nano", "opus", "sonnet", "haiku", "lite", "micro", "premier", "express", "plus", "turbo"}
    | {"large", "small"}
)
SIZE = re.compile(r"^\d+(\.\d+)?b$")


def table_key(model: str, table: PriceTable | None = None) -> str | None:
    """The price-table name a model name resolves to (`gpt-4o-2024-08-06` -> `gpt-4o`)."""
    prices = table or builtin_prices()
    for name in _names(model):
        if name in prices.models:
            return name
        for key in prices.prefixes:
            if len(name) > len(key) and name.startswith(key) and name[len(key)] in _BOUNDARY:
                return key
    return None


def line_of(key: str) -> str:
    parts = [part for part in key.split("-") if part not in TIERS and not SIZE.match(part)]
    return "-".join(parts)


def members(key: str, table: PriceTable | None = None) -> list[str]:
    """The other models of `key`'s line (falling back to shorter lines when it is alone)."""
    prices = table or builtin_prices()
    line = line_of(key)
    while line:
        found = [name for name in prices.models if name != key and line_of(name) == line]
        if found:
            return _distinct(found, prices)
        if "-" not in line:
            return []
        line = line.rsplit("-", 1)[0]
    return []


def _distinct(names: list[str], table: PriceTable) -> list[str]:
    """One name per price entry (the table's aliases share one): the shortest."""
    chosen: dict[int, str] = {}
    for name in sorted(names, key=lambda n: (len(n), n)):
        chosen.setdefault(id(table.models[name]), name)
    return sorted(chosen.values())


@dataclass(frozen=True, slots=True)
class Alternative:
    model: str
    cost: Decimal
    saving: Decimal


def alternatives(model: str, tokens: Tokens, actual: Decimal, table: PriceTable | None = None) -> list[Alternative]:
    """Cheaper equivalents of `model` for the same tokens, the closest (dearest) first."""
    prices = table or builtin_prices()
    key = table_key(model, prices)
    if key is None:
        return []
    found = []
    for name in members(key, prices):
        cost = cost_of(prices.models[name], tokens)
        if cost < actual:
            found.append(Alternative(name, cost, actual - cost))
    return sorted(found, key=lambda a: (-a.cost, a.model))


def _blended(price: Price) -> Decimal:
    return price.input + price.output


def allowed(model: str, globs: tuple[str, ...] | None) -> bool:
    return globs is None or any(fnmatchcase(model, glob) for glob in globs)


def downgrade_target(plan: Plan, prices: PlanPrices, model: str, globs: tuple[str, ...] | None) -> str | None:
    """The cheapest public model of the plan in `model`'s line that the caller may use, if cheaper."""
    key = _key_of_public(plan, model)
    current = prices.bound(model)
    if key is None or current is None:
        return None
    line = set(members(key))
    best: tuple[Decimal, str] | None = None
    for name in plan.public_models():
        if name == model or not allowed(name, globs) or _key_of_public(plan, name) not in line:
            continue
        price = prices.bound(name)
        if price is None or _blended(price) >= _blended(current):
            continue
        if best is None or (_blended(price), name) < best:
            best = (_blended(price), name)
    return best[1] if best else None


def _key_of_public(plan: Plan, model: str) -> str | None:
    """The price-table name of what the first provider serving public `model` calls it."""
    for provider_name in plan.providers_for(model):
        upstream = plan.provider_index[provider_name].upstream_model(model) or model
        key = table_key(upstream) or table_key(model)
        if key is not None:
            return key
    return None
