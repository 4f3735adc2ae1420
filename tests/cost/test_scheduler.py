"""Scheduled usage reports: the period that just ended, sent once however many workers share the ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from modelmux.cost.ledger import Ledger
from modelmux.cost.scheduler import ReportScheduler
from modelmux.cost.writer import LedgerWriter
from modelmux.plan.models import Plan
from tests.cost.conftest import read_ledger_csv
from tests.cost.smtp import SmtpServer
from tests.e2e.conftest import compile_yaml
from tests.fakes import FakeServer

CONFIG = """
providers:
  - {{name: openai, type: openai, api_key: sk-test, models: [gpt-4o]}}
analytics:
  cost_tracking: {{storage: "{storage}"}}
  usage_reports:
    schedule: {schedule}
    destinations: [webhook, email]
    webhook: {{url: "{hook}", headers: {{X-Token: abc}}}}
    email: {{smtp_url: "{smtp}", to: [ops@example.com]}}
"""


def plan_for(tmp_path: Path, storage: str, schedule: str, hook: str, smtp: str) -> Plan:
    text = CONFIG.format(storage=storage, schedule=schedule, hook=hook, smtp=smtp)
    plan, _ = compile_yaml(tmp_path / "modelmux.yaml", text, {})
    return plan


async def test_the_weekly_report_covers_last_week_and_goes_out_once(
    ledger: Ledger, storage: str, tmp_path: Path, webhook: FakeServer, smtp: SmtpServer
) -> None:
    ledger.insert(read_ledger_csv("report"))
    plan = plan_for(tmp_path, storage, "weekly", webhook.url_for("/hook"), smtp.url)
    writer = LedgerWriter(ledger)
    now = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)  # a Wednesday: last week is March 3-10
    workers = [ReportScheduler(lambda: plan, lambda _: writer, clock=lambda: now) for _ in range(4)]
    sent = await asyncio.gather(*(worker.run_once(now) for worker in workers))
    assert sorted(sent) == [False, False, False, True]
    (request,) = webhook.requests_to("/hook")
    assert request.header("x-token") == "abc"
    report = request.json()
    assert (report["type"], report["schedule"]) == ("usage_report", "weekly")
    assert (report["since"], report["until"]) == ("2025-03-03T00:00:00+00:00", "2025-03-10T00:00:00+00:00")
    assert report["total"]["requests"] == 1 and report["total"]["cost_usd"] == 0.0213  # only r3 (March 5th)
    assert report["by_key"] == [
        {
            "group": "bob-key",
            "requests": 1,
            "prompt_tokens": 3000,
            "completion_tokens": 1000,
            "cached_tokens": 1000,
            "cost_usd": 0.0213,
        }
    ]
    assert [row["group"] for row in report["by_model"]] == ["claude-3-5-sonnet"]
    (mail,) = smtp.wait_for(1)
    subject = str(mail.message()["Subject"]).strip()
    assert subject == "ModelMux weekly usage report from 2025-03-03 00:00 UTC: $0.021300, 1 requests"
    assert not await workers[0].run_once(now)  # the same period again: already claimed
    await writer.aclose()


async def test_no_destinations_no_report(ledger: Ledger, storage: str, tmp_path: Path) -> None:
    text = "providers:\n  - {name: openai, type: openai, api_key: sk-test, models: [gpt-4o]}\n"
    text += f'analytics:\n  cost_tracking: {{storage: "{storage}"}}\n  usage_reports: {{schedule: daily}}\n'
    plan, _ = compile_yaml(tmp_path / "modelmux.yaml", text, {})
    writer = LedgerWriter(ledger)
    assert not await ReportScheduler(lambda: plan, lambda _: writer).run_once(datetime(2025, 3, 12, tzinfo=UTC))
    assert ledger.claim("usage_report:daily", datetime(2025, 3, 11, tzinfo=UTC))  # nothing was claimed
    await writer.aclose()


async def test_the_scheduler_stops_when_asked(
    ledger: Ledger, storage: str, tmp_path: Path, webhook: FakeServer, smtp: SmtpServer
) -> None:
    plan = plan_for(tmp_path, storage, "hourly", webhook.url_for("/hook"), smtp.url)
    writer = LedgerWriter(ledger)
    stop = asyncio.Event()
    task = asyncio.create_task(ReportScheduler(lambda: plan, lambda _: writer).run(stop))
    await asyncio.to_thread(webhook.wait_for_requests, 1)
    stop.set()
    await asyncio.wait_for(task, 10)
    await writer.aclose()
