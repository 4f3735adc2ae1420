"""The compiled plan: the only thing the runtime reads.

Everything here is frozen: dataclasses with slots, tuples and read-only mappings. A plan is built
once by `modelmux.compiler.compile` and swapped in whole by `PlanHolder`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_mapping(data: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that came from the environment. Shown as its template, never as its value."""

    template: str
    value: str = field(repr=False)

    def reveal(self) -> str:
        return self.value

    def __str__(self) -> str:
        return self.template


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A name clients may ask for and the name the upstream knows it by."""

    public: str
    upstream: str


@dataclass(frozen=True, slots=True)
class Price:
    """Dollars per million tokens."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RateLimitPlan:
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class BreakerPlan:
    failures: int = 5
    window: float = 60.0
    cooldown: float = 30.0


@dataclass(frozen=True, slots=True)
class ProviderPlan:
    """One upstream, fully resolved.

    `options` holds the type-specific settings, already checked by the compiler:
    - azure_openai: api_version (str), deployment (str | None: when None the upstream model is the deployment)
    - anthropic, vertex_ai: anthropic_version (str), default_max_tokens (int)
    - vertex_ai: project (str), location (str), credentials (str path | None), token_url (str | None)
    - bedrock: credentials (mapping of profile / access_key_id / secret_access_key / session_token, or None),
      default_max_tokens (int); the region is `ProviderPlan.region`
    - mock: response (str), latency (float seconds), failure_rate (float 0..1), failure_status (int),
      embedding_dimensions (int)
    """

    name: str
    type: str
    base_url: str
    api_key: Secret | None = None
    models: tuple[ModelRoute, ...] = ()
    wildcard: bool = False
    region: str | None = None
    weight: float = 1.0
    timeout: float = 600.0
    connect_timeout: float = 10.0
    rate_limit: RateLimitPlan | None = None
    pricing: Mapping[str, Price] = field(default_factory=lambda: EMPTY)
    circuit_breaker: BreakerPlan = BreakerPlan()
    headers: tuple[tuple[str, Secret], ...] = ()
    options: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def __repr__(self) -> str:  # base_url may carry credentials: show only what identifies the provider
        return f"ProviderPlan(name={self.name!r}, type={self.type!r})"

    def upstream_model(self, public: str) -> str | None:
        """The upstream name for a public model name, or None when this provider does not serve it."""
        for route in self.models:
            if route.public == public:
                return route.upstream
        return public if self.wildcard else None


Predicate = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class RulePlan:
    """One routing rule, compiled: its predicate runs per request with no parsing."""

    index: int
    name: str
    text: str
    predicate: Predicate
    providers: tuple[str, ...]
    model: str | None
    model_equals: frozenset[str] | None
    location: str


@dataclass(frozen=True, slots=True)
class FallbackPlan:
    enabled: bool = False
    max_retries: int = 0
    backoff: str = "exponential"
    initial_delay: float = 0.1
    max_delay: float = 5.0
    max_retry_after: float = 30.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504, 529})
    retry_timeout: bool = True
    retry_connect_error: bool = True
    attempt_timeout: float | None = None
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    strategy: str
    base: str
    rules: tuple[RulePlan, ...]
    rules_by_model: Mapping[str, tuple[int, ...]]
    unindexed_rules: tuple[int, ...]
    fallback: FallbackPlan
    geographic: bool = False
    data_residency: str = "off"
    default_region: str | None = None
    custom_script: str | None = None
    custom_instruction_limit: int = 100_000
    latency_decay: float = 60.0

    def candidate_rules(self, model: str) -> tuple[int, ...]:
        """Indices of the rules that may match a request for `model`, in order."""
        indexed = self.rules_by_model.get(model, ())
        if not indexed:
            return self.unindexed_rules
        if not self.unindexed_rules:
            return indexed
        return tuple(sorted(set(indexed) | set(self.unindexed_rules)))


@dataclass(frozen=True, slots=True)
class CorsPlan:
    allow_origins: tuple[str, ...]
    allow_headers: tuple[str, ...]
    allow_methods: tuple[str, ...]
    max_age: float


@dataclass(frozen=True, slots=True)
class ServerPlan:
    host: str = "127.0.0.1"
    port: int = 3000
    workers: int = 1
    max_body_size: int = 16_000_000
    max_json_depth: int = 64
    max_header_size: int = 16 * 1024
    request_timeout: float = 600.0
    graceful_timeout: float = 30.0
    cors: CorsPlan | None = None
    admin_token: Secret | None = None
    watch: bool = True


@dataclass(frozen=True, slots=True)
class CacheRulePlan:
    kind: str  # "cache_if" or "skip_if"
    text: str
    predicate: Predicate


@dataclass(frozen=True, slots=True)
class CachingPlan:
    enabled: bool
    backend: str
    url: Secret | None
    ttl: float
    max_entries: int
    max_entry_size: int
    key_prefix: str
    rules: tuple[CacheRulePlan, ...]


@dataclass(frozen=True, slots=True)
class RedisPlan:
    """The shared Redis: `url` is a Secret (it may carry a password); timeouts in seconds."""

    url: Secret
    pool_size: int = 50
    connect_timeout: float = 1.0
    timeout: float = 0.5
    tls: bool = False
    key_prefix: str = "modelmux:"
    sync_interval: float = 0.25


@dataclass(frozen=True, slots=True)
class RegionPlan:
    name: str
    providers: tuple[str, ...]
    aliases: tuple[str, ...]
    nearest: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the runtime needs, compiled from one config. Immutable; swapped whole on reload.

    `sections` holds the checked, deeply frozen settings of sections whose runtime reads them directly
    (auth, pii, audit, analytics, pipelines, experiments, observability, plugins).
    """

    fingerprint: str
    files: tuple[str, ...]
    server: ServerPlan
    providers: tuple[ProviderPlan, ...]
    provider_index: Mapping[str, ProviderPlan]
    models: Mapping[str, tuple[str, ...]]
    wildcard_providers: tuple[str, ...]
    routing: RoutingPlan
    caching: CachingPlan | None
    regions: Mapping[str, RegionPlan]
    sections: Mapping[str, Any]
    secret_paths: frozenset[str] = frozenset()
    watch_files: tuple[str, ...] = ()
    redis: RedisPlan | None = None

    def __repr__(self) -> str:  # sections hold secrets: a plan is shown by its fingerprint
        names = ", ".join(p.name for p in self.providers)
        return f"Plan(fingerprint={self.fingerprint!r}, providers=[{names}])"

    def providers_for(self, model: str) -> tuple[str, ...]:
        """Names of the providers that serve a public model name, in config order."""
        named = self.models.get(model, ())
        if not self.wildcard_providers:
            return named
        return named + tuple(p for p in self.wildcard_providers if p not in named)

    def public_models(self) -> tuple[str, ...]:
        return tuple(self.models)
