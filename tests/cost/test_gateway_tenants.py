"""Per-key budgets (`auth.api_keys[].budget`) and org, team and user budgets
(`analytics.cost_tracking.tenant_budgets`), through the gateway with API-key authentication."""

from __future__ import annotations

from pathlib import Path

from tests.cost.conftest import Gateways, settle
from tests.cost.gateway_support import CHAT, ledger_rows
from tests.e2e.conftest import USER_HI, Gateway, assert_error_response
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

CONFIG = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models: {gpt-4o: gpt-4o-2024-08-06}
auth:
  api_keys:
    - {name: alice, key: sk-alice-0123456789, user: alice, org: acme, team: search, budget: {daily: $0.002}}
    - {name: bob, key: sk-bob-0123456789, user: bob, org: acme, team: ads}
    - {name: dave, key: sk-dave-0123456789, user: dave, org: acme}
    - {name: carol, key: sk-carol-0123456789, user: carol, org: globex}
analytics:
  cost_tracking:
    storage: ${LEDGER_URL}
    tenant_budgets:
      org: {acme: {daily: $0.003}}
      team: {ads: {daily: $0.001}}
      user: {carol: {daily: $0.0015}}
"""
# Each request costs $0.00075 (100 x $2.50 + 50 x $10 per million) and reserves $0.00061 first.


def call(gateway: Gateway, who: str) -> tuple[int, str | None]:
    response = gateway.http().post(
        CHAT,
        json={"model": "gpt-4o", "messages": USER_HI, "max_tokens": 50},
        headers={"authorization": f"Bearer sk-{who}-0123456789"},
    )
    if response.status_code == 200:
        return 200, None
    return response.status_code, assert_error_response(response, 429, code="budget_exceeded")["message"]


def test_key_org_team_and_user_budgets(gateways: Gateways, upstream: FakeServer, storage: str, tmp_path: Path) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(usage_=oa.usage(100, 50))))
    gateway = gateways.start(CONFIG, {"UPSTREAM_URL": upstream.url, "LEDGER_URL": storage})
    assert call(gateway, "alice")[0] == 200
    assert call(gateway, "alice")[0] == 200
    status, message = call(gateway, "alice")  # $0.0015 + $0.00061 passes the key's $0.002
    assert status == 429 and "key:alice" in str(message)
    assert call(gateway, "bob")[0] == 200
    status, message = call(gateway, "bob")  # team ads: $0.00075 + $0.00061 passes $0.001
    assert status == 429 and "team:ads" in str(message)
    assert call(gateway, "dave")[0] == 200  # org acme: $0.00225 + $0.00061 fits $0.003
    status, message = call(gateway, "dave")  # org acme: $0.003 spent
    assert status == 429 and "org:acme" in str(message)
    assert call(gateway, "carol")[0] == 200
    assert call(gateway, "carol")[0] == 200
    status, message = call(gateway, "carol")
    assert status == 429 and "user:carol" in str(message)
    settle(gateway)
    rows = ledger_rows(storage, tmp_path)
    assert [(r["key_name"], r["user_name"], r["org"], r["team"], r["status"]) for r in rows] == [
        ("alice", "alice", "acme", "search", 200),
        ("alice", "alice", "acme", "search", 200),
        ("alice", "alice", "acme", "search", 429),
        ("bob", "bob", "acme", "ads", 200),
        ("bob", "bob", "acme", "ads", 429),
        ("dave", "dave", "acme", None, 200),
        ("dave", "dave", "acme", None, 429),
        ("carol", "carol", "globex", None, 200),
        ("carol", "carol", "globex", None, 200),
        ("carol", "carol", "globex", None, 429),
    ]
    assert len(upstream.requests_to(CHAT)) == 6
