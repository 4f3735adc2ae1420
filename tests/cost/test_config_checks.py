"""What the compiler says about budgets: amounts, `downgrade_to`, tenant budgets and alert destinations."""

from __future__ import annotations

from pathlib import Path

from modelmux.compiler.compile import compile_file

PROVIDERS = """
providers:
  - {name: openai, type: openai, api_key: sk-test, models: [gpt-4o, gpt-4o-mini]}
"""


def diagnostics(tmp_path: Path, text: str) -> list[tuple[str, str, str]]:
    path = tmp_path / "modelmux.yaml"
    path.write_text(PROVIDERS + text, encoding="utf-8")
    result = compile_file(path, {}, text=PROVIDERS + text)
    return [(d.severity.value, d.code or "", d.message) for d in result.diagnostics]


def test_the_roadmap_snippet_and_the_extensions_compile_cleanly(tmp_path: Path) -> None:
    text = """
auth:
  api_keys:
    - {name: alice, key: sk-alice-0123456789, budget: {weekly: $50, alerts_at: [50%, 90%], on_exceed: downgrade}}
analytics:
  cost_tracking:
    enabled: true
    budgets: {monthly: $1000, alerts_at: 80%, on_exceed: downgrade, downgrade_to: gpt-4o-mini}
    tenant_budgets:
      org: {acme: {monthly: $500, on_exceed: alert}}
      team: {search: {daily: $20}}
      user: {bob: {daily: $5}}
    alerts: {destinations: [webhook], webhook: {url: "https://hooks.example.com/x"}}
    default_completion_tokens: 4096
"""
    assert diagnostics(tmp_path, text) == []


def test_a_downgrade_target_nobody_serves_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    text = """
analytics:
  cost_tracking:
    tenant_budgets:
      team: {search: {daily: $20, on_exceed: downgrade, downgrade_to: gpt-4o-mimi}}
"""
    found = diagnostics(tmp_path, text)
    assert found == [("error", "unknown-model", "no provider serves model 'gpt-4o-mimi'")]


def test_budget_warnings(tmp_path: Path) -> None:
    text = """
analytics:
  cost_tracking:
    budgets: {alerts_at: 80%, downgrade_to: gpt-4o-mini}
    alerts: {destinations: [email]}
"""
    assert sorted(diagnostics(tmp_path, text)) == [
        ("warning", "budget", "`downgrade_to` is used only with `on_exceed: downgrade` (this budget has 'block')"),
        ("warning", "budget", "this budget sets no amount, so it limits nothing"),
        ("warning", "destination", "budget alerts go to 'email' but `email:` is not configured, so none are sent"),
    ]


def test_unknown_keys_in_a_tenant_budget_are_errors(tmp_path: Path) -> None:
    text = """
analytics:
  cost_tracking:
    tenant_budgets:
      department: {x: {daily: $1}}
"""
    (found,) = diagnostics(tmp_path, text)
    assert found[0] == "error" and "department" in found[2]
