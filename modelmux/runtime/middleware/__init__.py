"""Request policies between the HTTP layer and the executor, one policy a module, one shape for all.

Each middleware is `async def __call__(ctx, call_next) -> Outcome`; `build_chain` composes the ones a
plan needs, once per plan, never per request.
"""

from modelmux.runtime.middleware.base import Handler, Identity, Middleware, RequestContext
from modelmux.runtime.middleware.chain import build_chain

__all__ = ["Handler", "Identity", "Middleware", "RequestContext", "build_chain"]
