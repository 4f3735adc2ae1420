"""Whether a request may be answered from the cache and whether its answer may be stored.

In order: `Cache-Control: no-store` bypasses the cache; a request for log probabilities or audio
bypasses it (entries keep neither); a matching `skip_if` rule bypasses it; when `cache_if` rules exist,
only a request matching one of them is cached; with none, only a deterministic request (temperature
0, or a seed) is. `Cache-Control: no-cache` skips the lookup but stores the fresh answer. A rule that
fails on a request counts as not matching (logged once per rule).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelmux.dsl import RequestFacts
from modelmux.plan.models import CacheRulePlan

log = logging.getLogger("modelmux.cache")
_MAX_REPORTED = 100


@dataclass(frozen=True, slots=True)
class CacheDecision:
    lookup: bool  # answer from the cache when an entry exists
    store: bool  # keep the upstream's answer
    reason: str  # why the cache is bypassed ("" when it is not)

    @property
    def bypass(self) -> bool:
        return not self.lookup and not self.store


def cache_control(header: str | None) -> frozenset[str]:
    """The directives of a Cache-Control header, lower-case, without their arguments."""
    if not header:
        return frozenset()
    return frozenset(part.split("=", 1)[0].strip().lower() for part in header.split(",") if part.strip())


class Rules:
    """A plan's `cache_if` / `skip_if` rules, evaluated on the request's facts."""

    def __init__(self, rules: tuple[CacheRulePlan, ...]) -> None:
        self.skip = tuple(rule for rule in rules if rule.kind == "skip_if")
        self.only = tuple(rule for rule in rules if rule.kind == "cache_if")
        self._reported: set[str] = set()

    def cacheable(self, facts: RequestFacts) -> str:
        """ "" when the rules let the request be cached, else why not."""
        for rule in self.skip:
            if self._matches(rule, facts):
                return f"skip_if: {rule.text}"
        if self.only:
            return "" if any(self._matches(rule, facts) for rule in self.only) else "no cache_if rule matches"
        return "" if facts.deterministic else "not deterministic (no temperature 0, no seed)"

    def _matches(self, rule: CacheRulePlan, facts: RequestFacts) -> bool:
        try:
            return bool(rule.predicate(facts))
        except Exception as exc:  # a rule must never take a request down
            if rule.text not in self._reported and len(self._reported) < _MAX_REPORTED:
                self._reported.add(rule.text)
                log.warning("caching rule %s %r failed and counts as not matching: %s", rule.kind, rule.text, exc)
            return False


def decide(rules: Rules, body: Mapping[str, Any], headers: Mapping[str, str], facts: RequestFacts) -> CacheDecision:
    directives = cache_control(headers.get("cache-control"))
    if "no-store" in directives:
        return CacheDecision(False, False, "Cache-Control: no-store")
    if body.get("logprobs") or "audio" in (body.get("modalities") or ()):
        return CacheDecision(False, False, "log probabilities and audio are not cached")
    reason = rules.cacheable(facts)
    if reason:
        return CacheDecision(False, False, reason)
    return CacheDecision("no-cache" not in directives, True, "")
