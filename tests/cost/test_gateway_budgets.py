"""Budgets through the running gateway: 50 concurrent clients, alerts once per threshold, downgrades,
and spend remembered across a restart — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from tests.cost.conftest import Gateways, settle
from tests.cost.gateway_support import CHAT, config, ledger_rows, total_cost
from tests.cost.smtp import SmtpServer
from tests.e2e.conftest import USER_HI, Gateway
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

# 400 characters: the reservation bounds its prompt by its JSON bytes (434 tokens); the upstream says 300.
LONG = [{"role": "user", "content": "x" * 400}]
COST = Decimal("0.00125")  # gpt-4o: 300 x $2.50 + 50 x $10 per million
ESTIMATE = Decimal("0.001585")  # 434 x $2.50 + 50 (max_tokens) x $10 per million


def serve(gateways: Gateways, upstream: FakeServer, storage: str, budgets: str, **env: str) -> Gateway:
    return gateways.start(config(budgets), {"UPSTREAM_URL": upstream.url, "LEDGER_URL": storage, **env})


def ask(
    gateway: Gateway, model: str = "gpt-4o", messages: list[dict[str, str]] = LONG
) -> openai.types.chat.ChatCompletion:
    return gateway.client().chat.completions.create(model=model, messages=messages, max_tokens=50)  # type: ignore[arg-type]


async def one_of_many(sdk: openai.AsyncOpenAI) -> int:
    try:
        await sdk.chat.completions.create(model="gpt-4o", messages=LONG, max_tokens=50)  # type: ignore[arg-type]
    except openai.RateLimitError as exc:
        assert exc.code == "budget_exceeded", exc.body
        assert exc.response.headers["x-should-retry"] == "false"
        return 429
    return 200


def test_fifty_concurrent_clients_overshoot_a_budget_by_at_most_one_request(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(usage_=oa.usage(300, 50)), delay=0.2))
    budget = Decimal("0.02")
    gateway = serve(gateways, upstream, storage, "    budgets: {daily: $0.02, on_exceed: block}")

    async def clients() -> list[int]:
        async with gateway.async_client() as sdk:
            return await asyncio.gather(*(one_of_many(sdk) for _ in range(50)))

    statuses = asyncio.run(clients())
    settle(gateway)
    granted = statuses.count(200)
    # reservations alone admit 12 at once (12 x $0.001585 <= $0.02); as they settle at $0.00125, at most 15
    assert 12 <= granted <= 15 and statuses.count(429) == 50 - granted
    assert len(upstream.requests_to(CHAT)) == granted
    rows = ledger_rows(storage, tmp_path)
    assert len(rows) == 50 and sorted(r["status"] for r in rows) == sorted(statuses)
    spent = total_cost(rows)
    assert spent == COST * granted
    assert spent <= budget + COST  # the promise; with max_tokens set the estimate bounds the cost: no overshoot
    assert spent <= budget


def test_alerts_fire_exactly_once_per_threshold(
    gateways: Gateways, upstream: FakeServer, storage: str, webhook: FakeServer, smtp: SmtpServer
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(usage_=oa.usage(300, 50))))
    budgets = """    budgets: {monthly: $0.01, alerts_at: [50%, 80%], on_exceed: alert}
    alerts:
      destinations: [webhook, email]
      webhook: {url: "${HOOK_URL}"}
      email: {smtp_url: "${SMTP_URL}", to: [ops@example.com]}"""
    gateway = serve(gateways, upstream, storage, budgets, HOOK_URL=webhook.url_for("/hook"), SMTP_URL=smtp.url)
    for _ in range(12):  # $0.015 in all: 50% at the 4th, 80% at the 7th, exhausted at the 8th
        ask(gateway)
    settle(gateway)
    alerts = sorted((r.json()["event"], r.json()["threshold"]) for r in webhook.requests_to("/hook"))
    assert alerts == [("exceeded", None), ("threshold", 0.5), ("threshold", 0.8)]
    spent = sorted(r.json()["spent_usd"] for r in webhook.requests_to("/hook") if r.json()["event"] == "threshold")
    assert spent == [0.005, 0.00875]
    subjects = sorted(str(m.message()["Subject"]).strip() for m in smtp.wait_for(3))
    assert subjects == [
        "ModelMux budget gateway (monthly) exceeded: on_exceed=alert",
        "ModelMux budget gateway (monthly) reached 50%",
        "ModelMux budget gateway (monthly) reached 80%",
    ]
    assert len(upstream.requests_to(CHAT)) == 12  # on_exceed: alert lets every request through


@pytest.mark.parametrize("target", ["", ", downgrade_to: gpt-4o-mini"])
def test_downgrade_routes_to_the_cheaper_model_then_blocks(
    gateways: Gateways, upstream: FakeServer, storage: str, target: str
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(usage_=oa.usage(100, 50))))
    gateway = serve(gateways, upstream, storage, f"    budgets: {{daily: $0.0001, on_exceed: downgrade{target}}}")
    for _ in range(2):  # gpt-4o would reserve $0.00061; gpt-4o-mini $0.0000366 and costs $0.000045
        raw = gateway.client().chat.completions.with_raw_response.create(
            model="gpt-4o", messages=USER_HI, max_tokens=50
        )
        assert raw.headers["x-modelmux-downgraded-from"] == "gpt-4o"
        assert raw.parse().model == "gpt-4o-mini"
        assert raw.headers["x-modelmux-cost-usd"] == "0.000045"
    assert [r.json()["model"] for r in upstream.requests_to(CHAT)] == ["gpt-4o-mini", "gpt-4o-mini"]
    with pytest.raises(openai.RateLimitError) as caught:  # $0.00009 spent: not even gpt-4o-mini fits now
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, max_tokens=50)
    assert caught.value.code == "budget_exceeded"
    assert caught.value.response.headers["x-modelmux-cost-usd"] == "0.000000"
    assert int(caught.value.response.headers["retry-after"]) > 0


def test_a_restart_remembers_the_periods_spend(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(usage_=oa.usage(100, 50))))
    budgets = "    budgets: {daily: $0.002}"
    first = serve(gateways, upstream, storage, budgets)
    ask(first, messages=USER_HI)
    ask(first, messages=USER_HI)  # $0.0015 of $0.002 spent
    gateways.stop(first)  # a graceful stop writes every queued row
    assert total_cost(ledger_rows(storage, tmp_path)) == Decimal("0.0015")
    second = serve(gateways, upstream, storage, budgets)
    with pytest.raises(openai.RateLimitError):  # $0.0015 + the $0.00061 estimate would pass $0.002
        ask(second, messages=USER_HI)
    assert len(upstream.requests_to(CHAT)) == 2


def test_a_stream_settles_its_reservation_when_it_ends(
    gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path
) -> None:
    chunks = oa.text_chunks(include_usage=True, usage_=oa.usage(100, 50))
    upstream.script("POST", CHAT, Reply.sse([oa.sse_body(chunks)]))
    gateway = serve(gateways, upstream, storage, "    budgets: {daily: $0.002}")
    for _ in range(2):
        with gateway.client().chat.completions.create(
            model="gpt-4o", messages=USER_HI, max_tokens=50, stream=True
        ) as stream:
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        settle(gateway)
    with pytest.raises(openai.RateLimitError):
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, max_tokens=50, stream=True)
    settle(gateway)
    assert [r["cost"] for r in ledger_rows(storage, tmp_path)] == [Decimal("0.00075"), Decimal("0.00075"), 0]
