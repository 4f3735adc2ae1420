"""The `routing` section: strategy, rules, fallback, geography."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelmux.config.types import Duration, Section

BaseStrategy = Literal[
    "round_robin",
    "weighted",
    "least_connections",
    "latency",
    "cost",
    "cost_optimized",
    "availability",
    "model_specific",
    "geographic",
]
Strategy = Literal[BaseStrategy, "hybrid", "custom"]
RetryOn = Literal[408, 409, 429, 500, 502, 503, 504, 529, "timeout", "connect_error"]
AttributeType = Literal["string", "number", "bool", "duration", "size", "money", "percentage", "list"]


class Rule(Section):
    condition: str = Field(alias="if")
    provider: str | None = None
    providers: list[str] | None = None
    model: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Rule:
        if self.provider is None and not self.providers and self.model is None:
            raise ValueError("a rule needs a target: `provider: NAME`, `providers: [A, B]` or `model: NAME`")
        if self.provider is not None and self.providers:
            raise ValueError("give either `provider` or `providers`, not both")
        return self


class Fallback(Section):
    enabled: bool = True
    max_retries: int = Field(default=2, ge=0, le=20)
    backoff: Literal["constant", "linear", "exponential"] = "exponential"
    initial_delay: Duration = 0.1
    max_delay: Duration = 5.0
    max_retry_after: Duration = 30.0
    on: list[RetryOn] = [429, 500, 502, 503, 504, 529, "timeout", "connect_error"]
    attempt_timeout: Duration | None = None
    deadline: Duration | None = None


class CustomStrategy(Section):
    script: str
    instruction_limit: int = Field(default=100_000, ge=1000)


class Routing(Section):
    strategy: Strategy = "model_specific"
    base: BaseStrategy | None = None
    rules: list[Rule] = Field(default_factory=list)
    fallback: bool | Fallback = False
    geographic: bool = False
    data_residency: Literal["enforced", "preferred", "off"] = "off"
    default_region: str | None = None
    attributes: dict[str, AttributeType] = Field(default_factory=dict)
    custom: CustomStrategy | None = None
    latency_decay: Duration = 60.0

    @model_validator(mode="after")
    def _custom_needs_script(self) -> Routing:
        if self.strategy == "custom" and self.custom is None:
            raise ValueError("strategy `custom` needs `custom: {script: route.lua}`")
        return self

    def fallback_settings(self) -> Fallback:
        if isinstance(self.fallback, Fallback):
            return self.fallback
        return Fallback(enabled=self.fallback)
