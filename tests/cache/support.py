"""Helpers of the cache tests: compiled plans and a cache policy driven without HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from modelmux.cache.single_flight import SingleFlight
from modelmux.cache.stores import MemoryCache
from modelmux.plan.models import Plan
from modelmux.routing import Router, RuntimeState
from modelmux.runtime.middleware.base import Identity, RequestContext
from modelmux.runtime.middleware.cache import ResponseCache
from modelmux.runtime.outcome import Outcome
from tests.e2e.conftest import compile_yaml
from tests.fakes import openai_like as oa

PROVIDERS = """
version: 1
providers:
  - name: main
    type: openai
    api_key: sk-test
    base_url: http://127.0.0.1:9/v1
    models: [gpt-4o, gpt-4o-mini]
"""
HELLO = [{"role": "user", "content": "Say hello."}]


def plan_for(tmp_path: Path, extra: str) -> Plan:
    plan, _ = compile_yaml(tmp_path / "modelmux.yaml", PROVIDERS + extra, {})
    return plan


def context(
    plan: Plan,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    identity: Identity | None = None,
) -> RequestContext:
    body = {"model": "gpt-4o", "messages": HELLO, **body}
    return RequestContext("req_test", plan, "chat", body, headers or {}, None, 0.0, identity=identity or Identity())


class Upstream:
    """A stand-in for the executor: counts calls, answers a completion (or what `answer` gives)."""

    def __init__(self, answer: Callable[[RequestContext], Outcome] | None = None) -> None:
        self.calls = 0
        self.answer = answer or (lambda ctx: json_outcome(oa.chat_completion(f"answer {self.calls}")))

    async def __call__(self, ctx: RequestContext) -> Outcome:
        self.calls += 1
        return self.answer(ctx)


def json_outcome(completion: dict[str, Any], status: int = 200) -> Outcome:
    headers = {"X-ModelMux-Provider": "main", "X-ModelMux-Route": "default", "X-ModelMux-Attempts": "1"}
    return Outcome(status, orjson.dumps(completion), headers=headers, provider="main", provider_type="openai")


def cache_for(plan: Plan, backend: MemoryCache | None = None) -> ResponseCache:
    assert plan.caching is not None
    store = backend or MemoryCache(plan.caching.max_entries)
    return ResponseCache(plan.caching, store, SingleFlight(), Router(RuntimeState()), 30.0)
