"""The audit policy: one hash-chained entry per `/v1` request, refused ones included, written when the
response is complete (at the end of a stream). Who (key name, user, org, team, role; never a
credential), what (endpoint, model), when (UTC), the route, provider, status, tokens, cost when known,
the request id; the bodies only with `include_bodies: true`, redacted by the PII detector."""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Handler, Middleware, RequestContext
from modelmux.runtime.outcome import Outcome
from modelmux.security.audit import Entry, utc_now
from modelmux.security.audit_rewrite import purge_older_than
from modelmux.security.audit_writer import AuditWriter, writer_for
from modelmux.security.pii import ENTITIES
from modelmux.security.redaction import Redactor, rewrite_completion, rewrite_request

if TYPE_CHECKING:
    from modelmux.runtime.services import Services

ALL_KINDS = frozenset(ENTITIES)


class AuditPolicy:
    def __init__(self, writer: AuditWriter, include_bodies: bool) -> None:
        self.writer = writer
        self.include_bodies = include_bodies

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome:
        body = ctx.body
        try:
            outcome = await call_next(ctx)
        except RequestError as error:
            self.writer.submit(self._entry(ctx, body, None, error.status, error.code))
            raise
        except Exception:
            self.writer.submit(self._entry(ctx, body, None, 500, "internal_error"))
            raise
        outcome.finalizers.append(lambda done: self.writer.submit(self._entry(ctx, body, done, done.status, None)))
        return outcome

    def _entry(
        self, ctx: RequestContext, body: dict[str, Any], outcome: Outcome | None, status: int, code: str | None
    ) -> Entry:
        who = ctx.identity
        model = body.get("model")
        entry: Entry = {
            "kind": "request",
            "time": utc_now(),
            "request_id": ctx.request_id,
            "key": who.key_name,
            "user": who.user,
            "org": who.org,
            "team": who.team,
            "role": who.role,
            "client": ctx.client,
            "endpoint": ctx.endpoint,
            "model": model[:200] if isinstance(model, str) else None,
            "stream": body.get("stream") is True,
            "status": status,
            "error": code,
            "pii": ctx.annotations.get("pii"),
            "cost_usd": _number(ctx.annotations.get("cost_usd")),
        }
        if outcome is not None:
            entry.update(_outcome_fields(outcome))
        if self.include_bodies:
            redactor = Redactor(ALL_KINDS)
            entry["request_body"] = rewrite_request(body, redactor)
            entry["response_body"] = _response_body(outcome, redactor)
        return entry


def _outcome_fields(outcome: Outcome) -> dict[str, Any]:
    usage = outcome.usage if isinstance(outcome.usage, dict) else {}
    tokens = {
        k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if isinstance(usage.get(k), int)
    }
    result = "cancelled" if outcome.cancelled else "stream_error" if outcome.stream_error else "ok"
    return {
        "route": outcome.route or None,
        "provider": outcome.provider,
        "upstream_model": outcome.upstream_model,
        "tokens": tokens or None,
        "result": result,
        "attempts": len(outcome.attempts),
    }


def _response_body(outcome: Outcome | None, redactor: Redactor) -> Any:
    if outcome is None or outcome.body is None:
        return None
    try:
        document = orjson.loads(outcome.body)
    except orjson.JSONDecodeError:
        return None
    return rewrite_completion(document, redactor) if isinstance(document, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return float(value)
    return None


def audit_path(plan: Plan, section: Mapping[str, Any]) -> Path:
    """`audit.path`, relative to the folder of the config file that names it."""
    path = Path(str(section.get("path") or "audit.jsonl"))
    if path.is_absolute() or not plan.files:
        return path
    return Path(os.path.dirname(os.path.abspath(plan.files[0]))) / path


def audit_policy(plan: Plan, services: Services) -> Middleware | None:
    section = plan.sections.get("audit")
    if section is None:
        return None
    retention = section.get("retention")
    writer = writer_for(audit_path(plan, section), float(retention) if retention else None, purge_older_than)
    return AuditPolicy(writer, bool(section.get("include_bodies", False)))
