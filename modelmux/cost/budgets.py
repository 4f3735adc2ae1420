"""Which budgets apply to a request: the gateway's, its key's, its org's, team's and user's.

Budgets come from `analytics.cost_tracking.budgets` (the whole gateway), `auth.api_keys[].budget`
(one key) and `analytics.cost_tracking.tenant_budgets.{org,team,user}.NAME` (ModelMux's extension).
Each money amount under a budget (`daily`, `weekly`, `monthly`) is one `BudgetRule`: a limit over a
UTC calendar period, with its alert thresholds and what to do when a request would exceed it.
`BudgetBook` indexes the rules of one plan; it is built once per plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Identity

BUDGET_PERIODS = ("daily", "weekly", "monthly")
SCOPE_COLUMNS: Mapping[str, str | None] = {
    "gateway": None,
    "key": "key_name",
    "org": "org",
    "team": "team",
    "user": "user_name",
}


@dataclass(frozen=True, slots=True)
class BudgetRule:
    scope: str  # "gateway", "key", "org", "team" or "user"
    subject: str | None  # the key, org, team or user name; None for the gateway
    period: str  # "daily", "weekly" or "monthly"
    limit: Decimal
    alerts_at: tuple[float, ...]  # fractions of the limit, ascending
    on_exceed: str  # "block", "alert" or "downgrade"
    downgrade_to: str | None = None

    @property
    def label(self) -> str:
        return "gateway" if self.subject is None else f"{self.scope}:{self.subject}"

    @property
    def column(self) -> str | None:
        """The ledger column that identifies this budget's rows (None: every row)."""
        return SCOPE_COLUMNS[self.scope]


def _thresholds(value: Any) -> tuple[float, ...]:
    if value is None:
        return ()
    values = value if isinstance(value, tuple | list) else (value,)
    return tuple(sorted({float(v) for v in values if float(v) > 0}))


def rules_of(budget: Mapping[str, Any] | None, scope: str, subject: str | None) -> tuple[BudgetRule, ...]:
    """The rules one `budget:` mapping declares (one per period it sets)."""
    if not budget:
        return ()
    return tuple(
        BudgetRule(
            scope,
            subject,
            period,
            Decimal(budget[period]),
            _thresholds(budget.get("alerts_at")),
            str(budget.get("on_exceed") or "block"),
            budget.get("downgrade_to"),
        )
        for period in BUDGET_PERIODS
        if budget.get(period) is not None
    )


class BudgetBook:
    """Every budget of one plan, looked up by the caller's identity."""

    def __init__(self, plan: Plan) -> None:
        analytics = plan.sections.get("analytics") or {}
        tracking = analytics.get("cost_tracking") or {}
        self.gateway = rules_of(tracking.get("budgets"), "gateway", None)
        self.scoped: dict[tuple[str, str], tuple[BudgetRule, ...]] = {}
        tenants = tracking.get("tenant_budgets") or {}
        for scope in ("org", "team", "user"):
            for name, budget in (tenants.get(scope) or {}).items():
                self.scoped[(scope, name)] = rules_of(budget, scope, name)
        auth = plan.sections.get("auth") or {}
        for entry in auth.get("api_keys") or ():
            if entry.get("budget"):
                self.scoped[("key", entry["name"])] = rules_of(entry["budget"], "key", entry["name"])

    @property
    def empty(self) -> bool:
        return not self.gateway and not any(self.scoped.values())

    def rules(self, identity: Identity) -> tuple[BudgetRule, ...]:
        """The rules that apply to a caller: the gateway's, then its key's, org's, team's and user's."""
        found = list(self.gateway)
        for scope, name in (
            ("key", identity.key_name),
            ("org", identity.org),
            ("team", identity.team),
            ("user", identity.user),
        ):
            if name is not None:
                found.extend(self.scoped.get((scope, name), ()))
        return tuple(found)

    def all_rules(self) -> tuple[BudgetRule, ...]:
        return self.gateway + tuple(rule for rules in self.scoped.values() for rule in rules)
