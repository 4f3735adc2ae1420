"""Authentication and authorization of `/v1` requests: 401 without a valid credential, 403 for a model
or endpoint the caller's role does not allow; the caller's identity goes to `ctx.identity`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Handler, Middleware, RequestContext
from modelmux.runtime.outcome import Outcome
from modelmux.security.authenticator import Authenticator, authenticator_for

if TYPE_CHECKING:
    from modelmux.runtime.services import Services


class Authenticate:
    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome:
        caller = await self.authenticator.identify(ctx.headers)
        ctx.identity = caller.identity  # set first, so that a refusal is audited with who asked
        ctx.refresh_facts()
        model = ctx.body.get("model")
        caller.authorize(ctx.endpoint, model if isinstance(model, str) else None)
        return await call_next(ctx)


def auth_policy(plan: Plan, services: Services) -> Middleware | None:
    authenticator = authenticator_for(plan)
    return Authenticate(authenticator) if authenticator is not None else None
