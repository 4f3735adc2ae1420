"""The response cache policy (`caching:`), the last one before the executor.

Every chat response gets `X-ModelMux-Cache: HIT`, `MISS` or `BYPASS` (not cacheable) and
`ctx.annotations["cache"]` says `hit`, `miss`, `bypass` or `error` (the store did not answer: the
request is served uncached). A hit is answered without an upstream call, as JSON or, for a streamed
request, replayed as an SSE stream. A miss is stored when the upstream's answer is complete (a JSON
body, or a relayed stream accumulated as it passes). Concurrent identical misses make one upstream
call (single flight). Which requests are cached: `modelmux.cache.decision`; keys: `modelmux.cache.keys`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from modelmux.cache.accumulate import StreamAccumulator
from modelmux.cache.decision import Rules, decide
from modelmux.cache.entry import CachedAnswer, storable
from modelmux.cache.keys import cache_key
from modelmux.cache.replay import replay_chunks
from modelmux.cache.single_flight import Flight, SingleFlight
from modelmux.cache.stores import CacheBackend
from modelmux.errors import RequestError
from modelmux.plan.models import CachingPlan, Plan
from modelmux.routing import Router
from modelmux.runtime.middleware.base import Handler, Middleware, RequestContext
from modelmux.runtime.outcome import Outcome
from modelmux.runtime.stores.base import StoreUnavailable
from modelmux.runtime.streaming import DONE, encode_chunk

if TYPE_CHECKING:
    from modelmux.runtime.services import Services

HEADER = "X-ModelMux-Cache"
SSE_OVERHEAD = 4  # a stream of an entry's size is at most this many times its bytes


class ResponseCache:
    def __init__(
        self, caching: CachingPlan, backend: CacheBackend, flights: SingleFlight, router: Router, wait: float
    ) -> None:
        self.caching = caching
        self.backend = backend
        self.flights = flights
        self.router = router
        self.rules = Rules(caching.rules)
        self.wait = wait

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome:
        if ctx.endpoint != "chat":
            return await call_next(ctx)
        decision = decide(self.rules, ctx.body, ctx.headers, ctx.facts())
        if decision.bypass:
            return await self._upstream(ctx, call_next, "bypass")
        key = cache_key(ctx.body, self._model(ctx), ctx.identity.key_name, ctx.identity.org)
        result, flight = "miss", None
        if decision.lookup:
            result, answer = await self._fetch(key)
            if answer is not None:
                return self._hit(ctx, answer)
            flight = self.flights.join(key)
            if not flight.leader:
                answer = CachedAnswer.decode(await flight.wait(self.wait))
                if answer is not None:
                    return self._hit(ctx, answer)
                flight = None
        try:
            outcome = await self._upstream(ctx, call_next, result)
        except BaseException:
            if flight is not None:
                flight.land(None)
            raise
        if outcome.stream is not None:
            outcome.stream = self._recorded(ctx, key, outcome, outcome.stream, flight)
            return outcome
        entry = self._entry(outcome, _json(outcome.body) if outcome.status == 200 else None)
        if entry is not None:
            await self._put(ctx, key, entry)
        if flight is not None:
            flight.land(entry)
        return outcome

    def _model(self, ctx: RequestContext) -> str:
        """The model name routing resolves to: a matching rule's rewrite, else the public name."""
        facts = ctx.facts()
        rule = self.router.match_rule(ctx.plan.routing, facts)
        return rule.model if rule is not None and rule.model else facts.model

    async def _upstream(self, ctx: RequestContext, call_next: Handler, result: str) -> Outcome:
        ctx.annotations["cache"] = result
        value = "BYPASS" if result == "bypass" else "MISS"
        try:
            outcome = await call_next(ctx)
        except RequestError as exc:
            exc.headers = {**exc.headers, HEADER: value}
            raise
        outcome.headers[HEADER] = value
        return outcome

    async def _fetch(self, key: str) -> tuple[str, CachedAnswer | None]:
        try:
            return "miss", CachedAnswer.decode(await self.backend.fetch(key))
        except StoreUnavailable:
            return "error", None

    async def _put(self, ctx: RequestContext, key: str, entry: bytes) -> None:
        try:
            await self.backend.put(key, entry, self.caching.ttl)
        except StoreUnavailable:
            ctx.annotations["cache"] = "error"

    def _entry(self, outcome: Outcome, completion: dict[str, Any] | None) -> bytes | None:
        """The encoded entry for a complete answer that fits `max_entry_size`, else None."""
        if completion is None or not storable(completion):
            return None
        answer = CachedAnswer(
            completion, outcome.provider, outcome.provider_type, outcome.upstream_model, outcome.route
        )
        encoded = answer.encode()
        return encoded if len(encoded) <= self.caching.max_entry_size else None

    def _hit(self, ctx: RequestContext, answer: CachedAnswer) -> Outcome:
        ctx.annotations["cache"] = "hit"
        completion = answer.fresh(str(ctx.body.get("model", "")))
        headers = {
            HEADER: "HIT",
            "X-ModelMux-Provider": answer.provider or "",
            "X-ModelMux-Route": answer.route,
            "X-ModelMux-Attempts": "0",
        }
        usage = completion.get("usage")
        outcome = Outcome(
            200,
            headers=headers,
            model=completion["model"],
            provider=answer.provider,
            provider_type=answer.provider_type,
            upstream_model=answer.upstream_model,
            route=answer.route,
            usage=usage if isinstance(usage, dict) else None,
        )
        if ctx.body.get("stream"):
            include_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))
            outcome.stream = _replay(completion, include_usage, outcome)
        else:
            outcome.body = orjson.dumps(completion)
        return outcome

    async def _recorded(
        self, ctx: RequestContext, key: str, outcome: Outcome, inner: AsyncIterator[bytes], flight: Flight | None
    ) -> AsyncIterator[bytes]:
        """The relayed stream, unchanged, accumulated to store once it ends complete."""
        accumulator = StreamAccumulator(self.caching.max_entry_size * SSE_OVERHEAD)
        entry: bytes | None = None
        try:
            async for piece in inner:
                accumulator.feed(piece)
                yield piece
            if outcome.stream_error is None and not outcome.cancelled:
                entry = self._entry(outcome, accumulator.completion(outcome.usage))
            if entry is not None:
                await self._put(ctx, key, entry)
        finally:
            if flight is not None:
                flight.land(entry)
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()


async def _replay(completion: dict[str, Any], include_usage: bool, outcome: Outcome) -> AsyncIterator[bytes]:
    try:
        for chunk in replay_chunks(completion, include_usage):
            yield encode_chunk(chunk)
        yield DONE
    except GeneratorExit:
        outcome.cancelled = True
        raise
    finally:
        outcome.complete()


def _json(body: bytes | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def cache_policy(plan: Plan, services: Services) -> Middleware | None:
    """The response cache of a plan with `caching:` enabled (its store outlives the plan: `Services.caches`)."""
    caching = plan.caching
    if caching is None or not caching.enabled:
        return None
    backend = services.caches.backend(caching, services.store, plan.redis)
    return ResponseCache(caching, backend, services.caches.flights, services.run.router, plan.server.request_timeout)
