"""Costs through the running gateway against fake upstreams: the header, the annotation and the ledger
row match the price table to the micro-dollar, for JSON, streams, Anthropic and embeddings, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from tests.cost.conftest import Gateways, settle
from tests.cost.gateway_support import CHAT, config, ledger_rows
from tests.e2e.conftest import USER_HI, assert_error_response, stream_raw
from tests.fakes import FakeServer, Reply
from tests.fakes import anthropic_like as an
from tests.fakes import openai_like as oa


def test_a_json_completion_costs_what_the_table_says_with_cached_tokens(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    usage = oa.usage(1000, 500, cached=200)
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(usage_=usage)))
    gateway = gateways.start(config(), {"UPSTREAM_URL": upstream.url, "LEDGER_URL": storage})
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    # gpt-4o: 800 x $2.50 + 200 x $1.25 (cached) + 500 x $10 per million = $0.00725
    assert raw.headers["x-modelmux-cost-usd"] == "0.007250"
    assert raw.headers["x-modelmux-cost-basis"] == "usage"
    settle(gateway)
    (row,) = ledger_rows(storage, tmp_path)
    assert row["cost"] == Decimal("0.00725")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) == (1000, 500, 200)
    assert (row["model"], row["upstream_model"], row["provider"]) == ("gpt-4o", "gpt-4o-2024-08-06", "openai-main")
    assert (row["status"], row["stream"], row["endpoint"]) == (200, False, "chat")
    assert row["request_id"] == raw.headers["x-request-id"]
    assert row["latency_ms"] > 0


def test_a_stream_sends_the_prompt_estimate_and_records_the_exact_cost(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    chunks = oa.text_chunks(include_usage=True, usage_=oa.usage(1234, 321, cached=1000))
    upstream.script("POST", CHAT, Reply.sse([oa.sse_body(chunks)]))
    gateway = gateways.start(config(), {"UPSTREAM_URL": upstream.url, "LEDGER_URL": storage})
    stream = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert stream.done and all("usage" not in c or c["usage"] is None for c in stream.chunks)
    # the header leaves before usage exists: the prompt side, estimated ("Say hello." is 7 tokens), at $2.50
    assert stream.headers["x-modelmux-cost-usd"] == "0.000018"
    assert stream.headers["x-modelmux-cost-basis"] == "estimate"
    assert upstream.requests_to(CHAT)[0].json()["stream_options"] == {"include_usage": True}
    settle(gateway)
    (row,) = ledger_rows(storage, tmp_path)
    # 234 x $2.50 + 1000 x $1.25 + 321 x $10 per million = $0.005045
    assert row["cost"] == Decimal("0.005045")
    assert (row["status"], row["stream"]) == (200, True)


def test_an_anthropic_stream_with_cache_reads(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    events = an.stream_events(("Bon", "jour"), input_tokens=400, output_tokens=60)
    events[0][1]["message"]["usage"]["cache_read_input_tokens"] = 2000
    upstream.script("POST", "/v1/messages", Reply.sse([an.sse_body(events)]))
    gateway = gateways.start(config(), {"UPSTREAM_URL": upstream.url, "LEDGER_URL": storage})
    stream = stream_raw(gateway, {"model": "claude-sonnet", "messages": USER_HI, "max_tokens": 100})
    assert stream.done
    settle(gateway)
    (row,) = ledger_rows(storage, tmp_path)
    # claude-3-5-sonnet: 400 x $3 + 2000 x $0.30 (cache read) + 60 x $15 per million = $0.0027
    assert (row["prompt_tokens"], row["cached_tokens"], row["completion_tokens"]) == (2400, 2000, 60)
    assert row["cost"] == Decimal("0.0027")
    assert row["provider"] == "claude"


def test_embeddings_cost_their_input_tokens(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    upstream.script("POST", "/v1/embeddings", Reply.json(oa.embeddings([[0.1, 0.2]], tokens=12345)))
    gateway = gateways.start(config(), {"UPSTREAM_URL": upstream.url, "LEDGER_URL": storage})
    raw = gateway.client().embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="hello", encoding_format="float"
    )
    assert raw.headers["x-modelmux-cost-usd"] == "0.000247"  # 12345 x $0.02 per million = $0.0002469
    settle(gateway)
    (row,) = ledger_rows(storage, tmp_path)
    assert row["cost"] == Decimal("0.0002469") and row["endpoint"] == "embeddings"


def test_a_failed_request_costs_nothing_and_is_still_recorded(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.error_body("bad request", param="messages"), status=400))
    gateway = gateways.start(config(), {"UPSTREAM_URL": upstream.url, "LEDGER_URL": storage})
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.response.headers["x-modelmux-cost-usd"] == "0.000000"
    unknown = gateway.http().post(CHAT, json={"model": "nope", "messages": USER_HI})
    assert_error_response(unknown, 404, code="model_not_found")
    assert unknown.headers["x-modelmux-cost-usd"] == "0.000000"
    settle(gateway)
    rows = ledger_rows(storage, tmp_path)
    assert [(r["status"], r["cost"], r["model"]) for r in rows] == [(400, 0, "gpt-4o"), (404, 0, "nope")]


def test_every_response_carries_the_cost_header_even_without_cost_tracking(
    gateways: Gateways, upstream: FakeServer
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(usage_=oa.usage(100, 10))))
    text = config().split("analytics:")[0]
    gateway = gateways.start(text, {"UPSTREAM_URL": upstream.url})
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    assert raw.headers["x-modelmux-cost-usd"] == "0.000350"  # 100 x $2.50 + 10 x $10 per million
    bad = gateway.http().post(CHAT, content=b"{not json")
    assert bad.status_code == 400 and bad.headers["x-modelmux-cost-usd"] == "0.000000"
    assert json.loads(bad.text)["error"]
    assert not list(Path(gateway.source).parent.glob("*.db"))
