"""The other top-level sections: server, caching, auth, pii, audit, analytics, regions, pipelines,
experiments, observability and plugins. Their runtimes may come later; the compiler checks them now."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelmux.config.types import Duration, Money, Name, Percent, Section, Size


class Cors(Section):
    allow_origins: list[str] = Field(default_factory=list)
    allow_headers: list[str] = Field(default_factory=lambda: ["authorization", "content-type"])
    allow_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "OPTIONS"])
    max_age: Duration = 600.0


class Server(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    max_body_size: Size = 16 * 1000 * 1000
    max_json_depth: int = Field(default=64, ge=2, le=1000)
    max_header_size: Size = 16 * 1024
    request_timeout: Duration = 600.0
    graceful_timeout: Duration = 30.0
    cors: Cors | None = None
    admin_token: str | None = None
    watch: bool = True


class CacheRule(Section):
    cache_if: str | None = None
    skip_if: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CacheRule:
        if (self.cache_if is None) == (self.skip_if is None):
            raise ValueError("a caching rule has exactly one of `cache_if` or `skip_if`")
        return self


class Caching(Section):
    enabled: bool = True
    backend: Literal["memory", "redis"] = "memory"
    url: str | None = None
    ttl: Duration = 300.0
    max_entries: int = Field(default=10_000, ge=1)
    max_entry_size: Size = 1_000_000
    key_prefix: str = "modelmux:"
    rules: list[CacheRule] = Field(default_factory=list)


class Budget(Section):
    daily: Money | None = None
    weekly: Money | None = None
    monthly: Money | None = None
    alerts_at: Percent | list[Percent] | None = None
    on_exceed: Literal["block", "alert", "downgrade"] = "block"
    downgrade_to: str | None = None  # with on_exceed: downgrade; else the cheapest model of the same line


class ApiKey(Section):
    name: Name
    key: str | None = None
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    role: str | None = None
    user: str | None = None
    org: str | None = None
    team: str | None = None
    models: list[str] | None = None
    rate_limit: RateLimitTenant | None = None
    budget: Budget | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKey:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError(f"api key {self.name!r} needs exactly one of `key` or `key_sha256`")
        return self


class RateLimitTenant(Section):
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    concurrent: int | None = Field(default=None, gt=0)


class JwtClaims(Section):
    user: str = "sub"
    org: str | None = None
    team: str | None = None
    roles: str | None = None


class Jwt(Section):
    jwks_url: str | None = None
    public_key: str | None = None
    issuer: str | None = None
    audience: str | list[str] | None = None
    algorithms: list[Literal["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]] = [
        "RS256",
        "ES256",
        "EdDSA",
    ]
    leeway: Duration = 30.0
    claims: JwtClaims = Field(default_factory=JwtClaims)

    @model_validator(mode="after")
    def _key_source(self) -> Jwt:
        if (self.jwks_url is None) == (self.public_key is None):
            raise ValueError("jwt needs exactly one of `jwks_url` or `public_key`")
        if self.public_key is not None and "${" not in self.public_key:
            _check_public_key(self.public_key)
        if self.jwks_url is not None and not self.jwks_url.startswith(("https://", "http://", "${")):
            raise ValueError("`jwks_url` is an https:// URL")
        return self


def _check_public_key(pem: str) -> None:
    """A PEM public key (RSA, EC or Ed25519); never a private key or an HMAC secret."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key  # ~0.1s: only when used

    try:
        load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise ValueError("`public_key` is not a PEM public key (-----BEGIN PUBLIC KEY----- ...)") from None


class Role(Section):
    models: list[str] = Field(default_factory=lambda: ["*"])
    endpoints: list[Literal["chat", "embeddings", "models"]] = ["chat", "embeddings", "models"]
    admin: bool = False


class Auth(Section):
    api_keys: list[ApiKey] = Field(default_factory=list)
    jwt: Jwt | None = None
    roles: dict[str, Role] = Field(default_factory=dict)
    default_rate_limit: RateLimitTenant | None = None
    user_rate_limit: RateLimitTenant | None = None
    org_rate_limit: RateLimitTenant | None = None


PiiEntity = Literal["email", "phone", "credit_card", "ssn", "iban", "ip_address", "api_key"]


class Pii(Section):
    mode: Literal["redact", "block", "log"] = "redact"
    entities: list[PiiEntity] = ["email", "phone", "credit_card", "ssn", "iban", "ip_address", "api_key"]
    apply_to: list[Literal["request", "response"]] = ["request"]


class Audit(Section):
    path: str = "audit.jsonl"
    include_bodies: bool = False
    retention: Duration | None = None


class CostTracking(Section):
    enabled: bool = True
    storage: str = "sqlite:///usage.db"
    budgets: Budget | None = None
    tenant_budgets: TenantBudgets | None = None
    alerts: AlertRouting | None = None
    default_completion_tokens: int = Field(default=1024, ge=1)

    @model_validator(mode="after")
    def _storage_scheme(self) -> CostTracking:
        if not self.storage.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ValueError("`storage` is sqlite:///PATH or postgresql://...")
        return self


class EmailDestination(Section):
    smtp_url: str
    to: list[str]
    sender: str = "modelmux@localhost"


class WebhookDestination(Section):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class TenantBudgets(Section):
    """Budgets per org, team and user name (`auth.api_keys[].budget` holds the per-key ones)."""

    org: dict[str, Budget] = Field(default_factory=dict)
    team: dict[str, Budget] = Field(default_factory=dict)
    user: dict[str, Budget] = Field(default_factory=dict)


class AlertRouting(Section):
    """Where budget alerts go; without it, to the destinations of `usage_reports`."""

    destinations: list[Literal["email", "webhook"]] = Field(default_factory=list)
    email: EmailDestination | None = None
    webhook: WebhookDestination | None = None


class UsageReports(Section):
    schedule: Literal["hourly", "daily", "weekly", "monthly"] = "daily"
    destinations: list[Literal["email", "webhook"]] = Field(default_factory=list)
    email: EmailDestination | None = None
    webhook: WebhookDestination | None = None


class Analytics(Section):
    cost_tracking: CostTracking | None = None
    usage_reports: UsageReports | None = None


class Region(Section):
    providers: list[str]
    aliases: list[str] = Field(default_factory=list)
    nearest: list[str] = Field(default_factory=list)


class PipelineStep(Section):
    provider: str
    task: str
    model: str | None = None
    prompt: str | None = None


class Pipeline(Section):
    name: Name
    steps: list[PipelineStep] = Field(min_length=1)


class Variant(Section):
    name: Name
    provider: str | None = None
    model: str | None = None
    weight: float = Field(default=1.0, gt=0.0)


class Experiment(Section):
    name: Name
    condition: str | None = Field(default=None, alias="if")
    variants: list[Variant] = Field(min_length=2)


class Tracing(Section):
    enabled: bool = True
    otlp_endpoint: str | None = None
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    service_name: str = "modelmux"


class Logging(Section):
    format: Literal["json", "text"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    debug_bodies: bool = False


class Metrics(Section):
    enabled: bool = True


class Observability(Section):
    metrics: Metrics = Field(default_factory=Metrics)
    tracing: Tracing | None = None
    logging: Logging = Field(default_factory=Logging)


class Plugin(Section):
    name: Name
    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_]*)?$")
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)


ApiKey.model_rebuild()
CostTracking.model_rebuild()
