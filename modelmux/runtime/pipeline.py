"""The request pipeline of one plan: the policies the plan asks for, around the executor.

Built once per plan (cached by fingerprint in `Services`), never per request. The order is fixed:
observability outermost (it sees every outcome, errors included), then authentication, tenant limits,
budgets, PII, the response cache, and the executor last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelmux.runtime.middleware.base import Handler, Middleware, RequestContext
from modelmux.runtime.middleware.chain import build_chain
from modelmux.runtime.outcome import Outcome

if TYPE_CHECKING:
    from modelmux.runtime.services import Services


def build_pipeline(services: Services, middleware: list[Middleware]) -> Handler:
    executor = services.run

    async def execute(ctx: RequestContext) -> Outcome:
        await ctx.load_body()
        facts = ctx.facts()
        if ctx.endpoint == "embeddings":
            return await executor.embeddings(ctx.plan, ctx.body, facts, ctx.attempts)
        return await executor.chat(ctx.plan, upstream_body(ctx.body), facts, ctx.attempts)

    return build_chain(middleware, execute)


def upstream_body(body: dict[str, Any]) -> dict[str, Any]:
    """ModelMux reads `metadata` for routing; it reaches the upstream only with `store: true`."""
    if "metadata" in body and not body.get("store"):
        return {k: v for k, v in body.items() if k != "metadata"}
    return body
