"""What the cache policy decides per request: rules, Cache-Control, tenants, rewritten models."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from modelmux.cache.decision import cache_control
from modelmux.runtime.middleware.base import Identity, RequestContext
from modelmux.runtime.middleware.cache import ResponseCache
from modelmux.runtime.outcome import Outcome
from tests.cache.support import Upstream, cache_for, context, json_outcome, plan_for
from tests.fakes import openai_like as oa

CACHING = """
caching:
  enabled: true
  ttl: 300s
"""


async def ask(cache: ResponseCache, ctx: RequestContext, upstream: Upstream) -> tuple[str, str, Outcome]:
    outcome = await cache(ctx, upstream)
    return outcome.headers["X-ModelMux-Cache"], ctx.annotations["cache"], outcome


async def test_with_no_rules_only_deterministic_requests_are_cached(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CACHING)
    cache, upstream = cache_for(plan), Upstream()
    for body in ({"temperature": 0}, {"seed": 42, "temperature": 0.7}):
        first = await ask(cache, context(plan, body), upstream)
        second = await ask(cache, context(plan, body), upstream)
        assert (first[:2], second[:2]) == (("MISS", "miss"), ("HIT", "hit"))
    header, note, _ = await ask(cache, context(plan, {"temperature": 0.7}), upstream)
    assert (header, note) == ("BYPASS", "bypass")
    assert upstream.calls == 3


async def test_skip_if_bypasses_and_cache_if_alone_decides(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        """
caching:
  rules:
    - cache_if: metadata.cacheable == true
    - skip_if: stream == true
""",
    )
    cache, upstream = cache_for(plan), Upstream()
    assert (await ask(cache, context(plan, {"temperature": 0}), upstream))[0] == "BYPASS"
    body = {"temperature": 0.9, "metadata": {"cacheable": True}}
    assert (await ask(cache, context(plan, body), upstream))[0] == "MISS"
    assert (await ask(cache, context(plan, body), upstream))[0] == "HIT"
    streamed = await ask(cache, context(plan, {**body, "stream": True}), upstream)
    assert streamed[0] == "BYPASS"
    assert upstream.calls == 3


async def test_no_cache_refreshes_the_entry_and_no_store_leaves_it_alone(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CACHING)
    cache, upstream = cache_for(plan), Upstream()
    body = {"temperature": 0}
    assert (await ask(cache, context(plan, body), upstream))[0] == "MISS"
    refreshed = await ask(cache, context(plan, body, headers={"cache-control": "no-cache"}), upstream)
    assert refreshed[:2] == ("MISS", "miss")
    untouched = await ask(cache, context(plan, body, headers={"cache-control": "no-store"}), upstream)
    assert untouched[:2] == ("BYPASS", "bypass")
    header, _, outcome = await ask(cache, context(plan, body), upstream)
    assert header == "HIT" and upstream.calls == 3
    assert orjson.loads(outcome.body or b"")["choices"][0]["message"]["content"] == "answer 2"


async def test_two_tenants_never_share_an_entry(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CACHING)
    cache, upstream = cache_for(plan), Upstream()
    body = {"temperature": 0}
    alice, bob = Identity(key_name="alice", org="acme"), Identity(key_name="bob", org="acme")
    assert (await ask(cache, context(plan, body, identity=alice), upstream))[0] == "MISS"
    assert (await ask(cache, context(plan, body, identity=bob), upstream))[0] == "MISS"
    assert (await ask(cache, context(plan, body, identity=alice), upstream))[0] == "HIT"
    other_org = Identity(key_name="alice", org="globex")
    assert (await ask(cache, context(plan, body, identity=other_org), upstream))[0] == "MISS"


async def test_a_routing_rewrite_keys_on_the_rewritten_model(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        CACHING
        + """
routing:
  rules:
    - if: model == "gpt-4o" and metadata.cheap == true
      model: gpt-4o-mini
""",
    )
    cache, upstream = cache_for(plan), Upstream()
    cheap = {"temperature": 0, "metadata": {"cheap": True}}
    assert (await ask(cache, context(plan, cheap), upstream))[0] == "MISS"
    header, _, outcome = await ask(cache, context(plan, {"temperature": 0, "model": "gpt-4o-mini"}), upstream)
    assert header == "HIT"
    assert orjson.loads(outcome.body or b"")["model"] == "gpt-4o-mini"
    assert (await ask(cache, context(plan, {"temperature": 0}), upstream))[0] == "MISS"


async def test_only_complete_200_answers_are_stored(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CACHING)
    answers = iter(
        [
            json_outcome(oa.chat_completion(finish_reason="content_filter")),
            json_outcome(oa.error_body("overloaded", "server_error"), status=503),
            json_outcome(oa.chat_completion("fine")),
            json_outcome(oa.chat_completion("unused")),
        ]
    )
    cache, upstream = cache_for(plan), Upstream(lambda ctx: next(answers))
    headers = [(await ask(cache, context(plan, {"temperature": 0}), upstream))[0] for _ in range(4)]
    assert headers == ["MISS", "MISS", "MISS", "HIT"]


async def test_an_entry_over_max_entry_size_is_not_stored(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CACHING + "  max_entry_size: 1KB\n")
    big = json_outcome(oa.chat_completion("x" * 2000))
    cache, upstream = cache_for(plan), Upstream(lambda ctx: big)
    assert [(await ask(cache, context(plan, {"temperature": 0}), upstream))[0] for _ in range(2)] == ["MISS", "MISS"]


async def test_log_probabilities_are_not_cached(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CACHING)
    cache, upstream = cache_for(plan), Upstream()
    assert (await ask(cache, context(plan, {"temperature": 0, "logprobs": True}), upstream))[0] == "BYPASS"


async def test_embeddings_pass_through_untouched(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, CACHING)
    cache, upstream = cache_for(plan), Upstream()
    ctx = context(plan, {"temperature": 0})
    ctx.endpoint = "embeddings"
    outcome = await cache(ctx, upstream)
    assert "X-ModelMux-Cache" not in outcome.headers and "cache" not in ctx.annotations


@pytest.mark.parametrize(
    ("header", "directives"),
    [
        (None, set()),
        ("no-cache", {"no-cache"}),
        ("No-Store, max-age=0", {"no-store", "max-age"}),
        (" no-cache ,, private", {"no-cache", "private"}),
    ],
)
def test_cache_control_directives(header: str | None, directives: set[str]) -> None:
    assert cache_control(header) == directives
