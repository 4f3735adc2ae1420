"""Which policies a plan turns on, in the order they run (outermost first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmux.plan.models import Plan
from modelmux.runtime.middleware.audit import audit_policy
from modelmux.runtime.middleware.auth import auth_policy
from modelmux.runtime.middleware.base import Middleware
from modelmux.runtime.middleware.budget import budget_policy
from modelmux.runtime.middleware.cache import cache_policy
from modelmux.runtime.middleware.observe import observe_for
from modelmux.runtime.middleware.pii import pii_policy
from modelmux.runtime.middleware.tenant_limits import tenant_limits_policy

if TYPE_CHECKING:
    from modelmux.runtime.services import Services


def middleware_for(plan: Plan, services: Services) -> list[Middleware]:
    """The plan's policies, outermost first. Each factory returns None when the plan does not use it."""
    layers: list[Middleware | None] = [
        observe_for(plan, services),
        audit_policy(plan, services),
        auth_policy(plan, services),
        tenant_limits_policy(plan, services),
        budget_policy(plan, services),
        pii_policy(plan, services),
        cache_policy(plan, services),  # last: right before the executor
    ]
    return [layer for layer in layers if layer is not None]
