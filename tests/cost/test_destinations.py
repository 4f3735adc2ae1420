"""Alert and report destinations: a webhook POST with retries and backoff, email over SMTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from modelmux.cost.alerts import AlertDispatcher, BudgetAlert
from modelmux.cost.budgets import BudgetRule
from modelmux.cost.destinations import Email, Webhook, deliver, destinations_from
from tests.cost.smtp import SmtpServer
from tests.fakes import FakeServer, Reply

RULE = BudgetRule("key", "alice-key", "monthly", Decimal("100"), (0.8,), "block")
ALERT = BudgetAlert(
    "threshold", RULE, datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC), Decimal("80.5"), 0.8
)


async def test_a_webhook_gets_the_json_payload_and_its_headers(webhook: FakeServer) -> None:
    hook = Webhook(webhook.url_for("/hook"), {"Authorization": "Bearer hook-token"})
    assert await hook.send(ALERT.subject(), ALERT.text(), ALERT.payload())
    (sent,) = webhook.requests_to("/hook")
    assert sent.header("authorization") == "Bearer hook-token"
    assert sent.header("content-type") == "application/json"
    assert sent.json() == {
        "type": "budget_alert",
        "event": "threshold",
        "budget": "key:alice-key",
        "scope": "key",
        "subject": "alice-key",
        "period": "monthly",
        "period_start": "2025-03-01T00:00:00+00:00",
        "period_end": "2025-04-01T00:00:00+00:00",
        "limit_usd": 100.0,
        "spent_usd": 80.5,
        "threshold": 0.8,
        "on_exceed": "block",
    }


async def test_a_webhook_is_retried_on_5xx_and_429_but_not_on_4xx() -> None:
    with FakeServer() as server:
        server.script("POST", "/retry", Reply.json({}, 503), Reply.json({}, 429), Reply.json({"ok": True}))
        server.script("POST", "/refuse", Reply.json({}, 400))
        assert await Webhook(server.url_for("/retry"), backoff=0.01).send("s", "t", {"a": 1})
        assert not await Webhook(server.url_for("/refuse"), backoff=0.01).send("s", "t", {"a": 1})
        assert len(server.requests_to("/retry")) == 3
        assert len(server.requests_to("/refuse")) == 1


async def test_a_webhook_that_never_answers_gives_up_after_its_attempts() -> None:
    with FakeServer() as server:
        server.script("POST", "/slow", Reply.hang())
        assert not await Webhook(server.url_for("/slow"), timeout=0.2, attempts=2, backoff=0.01).send("s", "t", {})
        assert len(server.requests_to("/slow")) == 2


async def test_an_email_goes_to_every_recipient(smtp: SmtpServer) -> None:
    mail = Email(smtp.url, ("ops@example.com", "finance@example.com"), "modelmux@example.com")
    assert await mail.send(ALERT.subject(), ALERT.text(), ALERT.payload())
    (received,) = smtp.wait_for(1)
    assert received.sender == "modelmux@example.com"
    assert received.recipients == ["ops@example.com", "finance@example.com"]
    message = received.message()
    assert message["Subject"] == "ModelMux budget key:alice-key (monthly) reached 80%"
    assert "spent: $80.500000" in message.get_payload()


async def test_an_email_is_retried_after_a_transient_failure(smtp: SmtpServer) -> None:
    smtp.fail_next(1)
    assert await Email(smtp.url, ("ops@example.com",), backoff=0.01).send("subject", "text", {})
    assert len(smtp.wait_for(1)) == 1


async def test_destinations_come_from_the_settings_that_list_them(smtp: SmtpServer, webhook: FakeServer) -> None:
    settings = {
        "destinations": ("email", "webhook"),
        "email": {"smtp_url": smtp.url, "to": ("ops@example.com",)},
        "webhook": {"url": webhook.url_for("/hook")},
    }
    found = destinations_from(settings)
    assert [d.kind for d in found] == ["email", "webhook"]
    assert await deliver(found, "subject", "text", {"x": 1}) == 2
    assert destinations_from({"destinations": ("webhook",)}) == []  # listed but not configured


async def test_the_dispatcher_sends_in_the_background(webhook: FakeServer) -> None:
    dispatcher = AlertDispatcher()
    dispatcher.fire(ALERT, [Webhook(webhook.url_for("/hook"))])
    await dispatcher.aclose()
    assert orjson.loads(webhook.requests_to("/hook")[0].body)["budget"] == "key:alice-key"
