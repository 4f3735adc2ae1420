"""Dollars for a request: usage in, cost out, from the price table (`modelmux.routing.pricing`).

- `tokens_from_usage` reads OpenAI's usage shape, which every adapter produces: `prompt_tokens`,
  `completion_tokens` and `prompt_tokens_details.cached_tokens` (billed at the `cached_input` price).
- `PlanPrices` caches the price of each (provider, upstream model) of one plan, and gives the price a
  budget reservation assumes before routing: the highest input and output prices among the providers
  that serve the asked model, so the estimate is an upper bound whichever provider answers.
- Money is `Decimal` dollars. The ledger stores whole pico-dollars (10^-12 $): every price the table
  can hold (dollars per million tokens with up to six decimals) gives a whole number of them per token,
  so sums stay exact. `usd()` renders the header value: six decimals, half up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import orjson

from modelmux.plan.models import Plan, Price
from modelmux.routing.pricing import estimate_cost, lookup_price, price_for

PICO = Decimal(10) ** 12
MICRO = Decimal("0.000001")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int = 0
    completion: int = 0
    cached: int = 0


NO_TOKENS = Tokens()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def tokens_from_usage(usage: Mapping[str, Any] | None) -> Tokens | None:
    """The billed tokens of an OpenAI-shaped usage object; None when there is none."""
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    prompt = _count(usage.get("prompt_tokens"))
    return Tokens(prompt, _count(usage.get("completion_tokens")), min(cached, prompt))


PROMPT_FIELDS = {"chat": ("messages", "tools", "functions", "response_format"), "embeddings": ("input",)}


def prompt_token_bound(body: Mapping[str, Any], endpoint: str) -> int:
    """An upper bound on a request's prompt tokens: the bytes of its JSON prompt fields, plus 3.

    Byte-level BPE tokenizers (OpenAI's, Anthropic's, Llama's) never emit more tokens than bytes, and the
    JSON around each message outweighs the few tokens of framing a chat template adds. Images or audio
    given by URL are not bounded by their bytes."""
    fields = PROMPT_FIELDS.get(endpoint, PROMPT_FIELDS["chat"])
    return sum(len(orjson.dumps(body[name])) for name in fields if body.get(name) is not None) + 3


def cost_of(price: Price | None, tokens: Tokens) -> Decimal:
    """Dollars for `tokens` at `price`; 0 when the model has no known price."""
    return estimate_cost(price, tokens.prompt, tokens.completion, tokens.cached)


def usd(amount: Decimal) -> str:
    """Six decimals, as `X-ModelMux-Cost-USD` and the reports show dollars."""
    return f"{amount.quantize(MICRO, rounding=ROUND_HALF_UP):f}"


def to_pico(amount: Decimal) -> int:
    return int((amount * PICO).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_pico(value: Any) -> Decimal:
    if value is None:
        return ZERO
    return Decimal(value) / PICO


class PlanPrices:
    """The prices of one plan's models, looked up once each. Built once per plan."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._exact: dict[tuple[str | None, str], Price | None] = {}
        self._bound: dict[str, Price | None] = {}

    def price(self, provider: str | None, upstream_model: str) -> Price | None:
        """What `provider` charges for `upstream_model` (its `pricing:` first, then the built-in table)."""
        key = (provider, upstream_model)
        if key not in self._exact:
            found = self.plan.provider_index.get(provider) if provider else None
            self._exact[key] = price_for(found, upstream_model) if found else lookup_price(upstream_model)
        return self._exact[key]

    def bound(self, model: str) -> Price | None:
        """The highest input and output prices of the providers serving public `model`."""
        if model not in self._bound:
            prices = []
            for name in self.plan.providers_for(model):
                provider = self.plan.provider_index[name]
                prices.append(self.price(name, provider.upstream_model(model) or model))
            known = [p for p in prices if p is not None]
            if not known:
                self._bound[model] = lookup_price(model)
            else:
                self._bound[model] = Price(max(p.input for p in known), max(p.output for p in known))
        return self._bound[model]

    def estimate(self, model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """The cost a request for `model` may reach: what a budget reserves before routing."""
        return cost_of(self.bound(model), Tokens(prompt_tokens, completion_tokens))

    def prompt_estimate(self, provider: str | None, upstream_model: str, prompt_tokens: int) -> Decimal:
        """The prompt side of a request once routed: what a stream's header says before usage is known."""
        return cost_of(self.price(provider, upstream_model), Tokens(prompt_tokens, 0))
