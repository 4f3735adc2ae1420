"""PlanHolder: owns the current plan; a reload swaps it in one assignment.

A request reads `holder.plan` once at its start and uses that plan to its end, so a reload never
changes a request half way. A failed compile leaves the running plan in place and is remembered in
`last_error` for `/admin/plan` and `modelmux reload`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from modelmux.plan.models import Plan


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    ok: bool
    fingerprint: str | None
    generation: int
    diagnostics: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)


class PlanHolder:
    def __init__(self, plan: Plan | None = None, source: str | None = None) -> None:
        self._plan = plan
        self.generation = 1 if plan is not None else 0
        self.source = source
        self.last_reload: ReloadOutcome | None = None

    @property
    def plan(self) -> Plan | None:
        return self._plan

    def swap(self, plan: Plan) -> int:
        """Make `plan` current; returns the new generation. One assignment: atomic for readers."""
        self.generation += 1
        self._plan = plan
        self.last_reload = ReloadOutcome(True, plan.fingerprint, self.generation)
        return self.generation

    def record_unchanged(self) -> None:
        fingerprint = self._plan.fingerprint if self._plan else None
        self.last_reload = ReloadOutcome(True, fingerprint, self.generation)

    def record_failure(self, diagnostics: tuple[str, ...]) -> None:
        fingerprint = self._plan.fingerprint if self._plan else None
        self.last_reload = ReloadOutcome(False, fingerprint, self.generation, diagnostics)
