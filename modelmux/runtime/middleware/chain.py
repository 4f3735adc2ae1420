"""Composes the middleware a plan asks for around the final handler, once per plan."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from modelmux.runtime.middleware.base import Handler, Middleware, RequestContext
from modelmux.runtime.outcome import Outcome


def build_chain(middleware: Sequence[Middleware], final: Handler) -> Handler:
    """`middleware[0]` runs first; each calls the next; the last calls `final`."""
    handler = final
    for layer in reversed(middleware):
        handler = partial(_step, layer, handler)
    return handler


async def _step(layer: Middleware, call_next: Handler, ctx: RequestContext) -> Outcome:
    return await layer(ctx, call_next)
