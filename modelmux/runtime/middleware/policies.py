"""Which policies a plan turns on, in the order they run (outermost first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Middleware

if TYPE_CHECKING:
    from modelmux.runtime.services import Services


def middleware_for(plan: Plan, services: Services) -> list[Middleware]:
    """The plan's policies, outermost first. Each factory returns None when the plan does not use it."""
    layers: list[Middleware | None] = []
    return [layer for layer in layers if layer is not None]
