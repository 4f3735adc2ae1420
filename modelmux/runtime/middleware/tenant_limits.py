"""Tenant rate limits: requests per minute, tokens per minute and concurrent requests, per credential
(an API key, or a JWT's subject), per user and per org, kept in the state store so that with Redis they
hold across replicas.

Tokens are reserved before the request (the prompt estimate plus `max_tokens`, or 256) and settled with
the real usage when the response completes; concurrency slots are released when a JSON response is
ready, when a stream ends, and on errors. Over a limit: 429 `rate_limit_exceeded` with `Retry-After`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Handler, Identity, Middleware, RequestContext
from modelmux.runtime.outcome import Outcome
from modelmux.runtime.stores import StateStore
from modelmux.security.keys import RateLimit
from modelmux.security.tasks import spawn

if TYPE_CHECKING:
    from modelmux.runtime.services import Services

PREFIX = "modelmux:tenant:"
DEFAULT_COMPLETION_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Scope:
    name: str  # "key:NAME", "user:ID", "org:ID"
    limit: RateLimit


@dataclass
class Lease:
    """What one request holds: tokens taken from buckets and concurrency slots."""

    store: StateStore
    estimate: int
    taken: list[tuple[str, float, float]] = field(default_factory=list)  # (bucket, capacity, amount)
    tpm_buckets: list[tuple[str, float]] = field(default_factory=list)  # (bucket, capacity)
    slots: list[str] = field(default_factory=list)
    settled: bool = False

    async def take(self, bucket: str, per_minute: int, amount: float) -> float:
        wait = await self.store.take_tokens(bucket, per_minute, per_minute / 60.0, amount)
        if wait <= 0:
            self.taken.append((bucket, per_minute, amount))
        return wait

    async def settle(self, used: int | None) -> None:
        """Release the slots; give back unused tokens (all of them when the request never ran)."""
        if self.settled:
            return
        self.settled = True
        for slot in self.slots:
            await self.store.release_slot(slot)
        if used is None:
            return
        for bucket, capacity in self.tpm_buckets:
            if used < self.estimate:
                await self.store.return_tokens(bucket, capacity, self.estimate - used)
            elif used > self.estimate:
                await self.store.take_tokens(bucket, capacity, capacity / 60.0, used - self.estimate)

    async def undo(self) -> None:
        """Give back everything taken: the request was refused."""
        for bucket, capacity, amount in self.taken:
            await self.store.return_tokens(bucket, capacity, amount)
        self.tpm_buckets.clear()
        await self.settle(None)


class TenantLimits:
    def __init__(self, store: StateStore, section: Mapping[str, Any], slot_ttl: float) -> None:
        self.store = store
        self.slot_ttl = slot_ttl
        self.by_key = {
            str(entry["name"]): RateLimit.from_section(entry.get("rate_limit"))
            for entry in section.get("api_keys") or ()
        }
        self.default = RateLimit.from_section(section.get("default_rate_limit"))
        self.per_user = RateLimit.from_section(section.get("user_rate_limit"))
        self.per_org = RateLimit.from_section(section.get("org_rate_limit"))

    def scopes(self, identity: Identity) -> list[Scope]:
        found: list[Scope] = []
        if identity.key_name is not None:
            limit = self.by_key.get(identity.key_name) or self.default
            if limit is not None:
                found.append(Scope(f"key:{identity.key_name}", limit))
        elif identity.user is not None and self.default is not None:
            found.append(Scope(f"jwt:{identity.user}", self.default))
        if identity.user is not None and self.per_user is not None:
            found.append(Scope(f"user:{identity.user}", self.per_user))
        if identity.org is not None and self.per_org is not None:
            found.append(Scope(f"org:{identity.org}", self.per_org))
        return found

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome:
        scopes = self.scopes(ctx.identity)
        if not scopes:
            return await call_next(ctx)
        lease = Lease(self.store, estimated_tokens(ctx))
        await self._acquire(lease, scopes)
        try:
            outcome = await call_next(ctx)
        except RequestError:
            spawn(lease.settle(0), "releasing tenant limits")  # refused or failed: no tokens were used
            raise
        except BaseException:
            spawn(lease.settle(None), "releasing tenant limits")
            raise
        outcome.finalizers.append(lambda done: spawn(lease.settle(used_tokens(done)), "settling tenant limits"))
        return outcome

    async def _acquire(self, lease: Lease, scopes: list[Scope]) -> None:
        for scope in scopes:
            if scope.limit.rpm:
                await self._check(lease, await lease.take(PREFIX + scope.name + ":rpm", scope.limit.rpm, 1), scope)
        for scope in scopes:
            if scope.limit.tpm:
                bucket = PREFIX + scope.name + ":tpm"
                await self._check(lease, await lease.take(bucket, scope.limit.tpm, lease.estimate), scope)
                lease.tpm_buckets.append((bucket, scope.limit.tpm))
        for scope in scopes:
            if scope.limit.concurrent:
                slot = PREFIX + scope.name + ":concurrent"
                if not await self.store.acquire_slot(slot, scope.limit.concurrent, self.slot_ttl):
                    await self._check(lease, 1.0, scope, "concurrent requests")
                lease.slots.append(slot)

    async def _check(self, lease: Lease, wait: float, scope: Scope, what: str | None = None) -> None:
        if wait <= 0:
            return
        await lease.undo()
        kind = scope.name.split(":", 1)[0]
        seconds = max(1, math.ceil(min(wait, 3600.0)))
        limit = what or "requests or tokens per minute"
        raise RequestError(
            429,
            f"Rate limit reached for this {_SCOPE_WORDS.get(kind, kind)} ({limit}). Try again in {seconds}s.",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(seconds)},
        )


_SCOPE_WORDS = {"key": "API key", "jwt": "token subject", "user": "user", "org": "organization"}


def estimated_tokens(ctx: RequestContext) -> int:
    if ctx.endpoint == "embeddings":
        return _input_tokens(ctx.body.get("input"))
    facts = ctx.facts()
    return facts.prompt_tokens + (facts.max_tokens or DEFAULT_COMPLETION_TOKENS)


def _input_tokens(value: Any) -> int:
    if isinstance(value, str):
        return (len(value) + 3) // 4
    if isinstance(value, list):
        return sum(len(v) if isinstance(v, list) else _input_tokens(v) for v in value)
    return 0


def used_tokens(outcome: Outcome) -> int | None:
    usage = outcome.usage
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def tenant_limits_policy(plan: Plan, services: Services) -> Middleware | None:
    section = plan.sections.get("auth")
    if section is None:
        return None
    limits = TenantLimits(services.store, section, plan.server.request_timeout + 60.0)
    has_any = limits.default or limits.per_user or limits.per_org or any(limits.by_key.values())
    return limits if has_any else None
