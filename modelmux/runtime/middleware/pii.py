"""The PII policy: finds personal data and secrets in request text (and, with `apply_to: [response]`,
in responses, JSON and streamed) and redacts it with typed placeholders, blocks the request (400 naming
the entity types), or logs the types and counts found. Values never reach a log line or an error.

Responses are redacted in `block` mode too: an answer cannot be refused once the upstream produced it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Handler, Middleware, RequestContext
from modelmux.runtime.outcome import Outcome
from modelmux.security.pii import ENTITIES
from modelmux.security.pii_stream import StreamRedactor
from modelmux.security.redaction import Redactor, rewrite_completion, rewrite_request

if TYPE_CHECKING:
    from modelmux.runtime.services import Services

log = logging.getLogger("modelmux.pii")


class PiiPolicy:
    def __init__(self, mode: str, kinds: frozenset[str], on_request: bool, on_response: bool) -> None:
        self.mode = mode
        self.kinds = kinds
        self.on_request = on_request
        self.on_response = on_response

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> PiiPolicy:
        apply_to = tuple(section.get("apply_to") or ("request",))
        return cls(
            str(section.get("mode", "redact")),
            frozenset(section.get("entities") or ENTITIES),
            "request" in apply_to,
            "response" in apply_to,
        )

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome:
        redactor = Redactor(self.kinds, rewrite=self.mode == "redact")
        if self.on_request:
            self._request(ctx, redactor)
        outcome = await call_next(ctx)
        if self.on_response and outcome.status < 400:
            redactor.rewrite = self.mode != "log"
            redactor.found = Counter()
            self._response(ctx, outcome, redactor)
        return outcome

    def _request(self, ctx: RequestContext, redactor: Redactor) -> None:
        body = rewrite_request(ctx.body, redactor)
        if not redactor.found:
            return
        ctx.annotations["pii"] = dict(redactor.found)
        kinds = ", ".join(sorted(redactor.found))
        if self.mode == "block":
            raise RequestError(
                400,
                f"The request contains personal data or secrets ({kinds}); this gateway's PII policy blocks it.",
                code="pii_detected",
            )
        log.info("pii in request %s: %s", ctx.request_id, redactor.summary())
        if self.mode == "redact":
            ctx.body = body
            ctx.refresh_facts()

    def _response(self, ctx: RequestContext, outcome: Outcome, redactor: Redactor) -> None:
        if outcome.stream is not None:
            outcome.stream = StreamRedactor(redactor).wrap(outcome.stream)
            return
        if not outcome.body:
            return
        try:
            document = orjson.loads(outcome.body)
        except orjson.JSONDecodeError:
            return
        if not isinstance(document, dict):
            return
        rewritten = rewrite_completion(document, redactor)
        if redactor.found:
            log.info("pii in response %s: %s", ctx.request_id, redactor.summary())
            if redactor.rewrite:
                outcome.body = orjson.dumps(rewritten)


def pii_policy(plan: Plan, services: Services) -> Middleware | None:
    section = plan.sections.get("pii")
    return PiiPolicy.from_section(section) if section is not None else None
