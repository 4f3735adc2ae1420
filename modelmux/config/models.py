"""The whole config as pydantic models. `Config` is what the compiler checks and lowers into a plan."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelmux.config.providers import ProviderConfig
from modelmux.config.routing import Routing
from modelmux.config.sections import (
    Analytics,
    Audit,
    Auth,
    Caching,
    Experiment,
    Observability,
    Pii,
    Pipeline,
    Plugin,
    Region,
    Server,
)
from modelmux.config.types import Duration, Section

TOP_LEVEL_KEYS = (
    "version",
    "include",
    "server",
    "providers",
    "routing",
    "caching",
    "auth",
    "analytics",
    "regions",
    "pipelines",
    "experiments",
    "pii",
    "audit",
    "observability",
    "plugins",
    "redis",
)


class Redis(Section):
    """The Redis that replicas share: rate-limit and budget state, breaker state, the response cache."""

    url: str = "redis://127.0.0.1:6379/0"
    pool_size: int = Field(default=50, ge=1, le=10_000)
    connect_timeout: Duration = 1.0
    timeout: Duration = 0.5
    tls: bool = False
    key_prefix: str = "modelmux:"
    sync_interval: Duration = 0.25


class Config(Section):
    version: Literal[1] = 1
    include: list[str] | str | None = None
    server: Server = Field(default_factory=Server)
    providers: list[ProviderConfig] = Field(min_length=1)
    routing: Routing = Field(default_factory=Routing)
    caching: Caching | None = None
    auth: Auth | None = None
    analytics: Analytics | None = None
    regions: dict[str, Region] = Field(default_factory=dict)
    pipelines: list[Pipeline] = Field(default_factory=list)
    experiments: list[Experiment] = Field(default_factory=list)
    pii: Pii | None = None
    audit: Audit | None = None
    observability: Observability = Field(default_factory=Observability)
    plugins: list[Plugin] = Field(default_factory=list)
    redis: Redis | None = None
