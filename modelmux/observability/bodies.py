"""Request and response bodies in the log (`observability.logging.debug_bodies: true`), redacted.

Every string of a body is scrubbed (credentials, emails, phone and card numbers), values under
sensitive keys are dropped, and the exact secrets ModelMux knows (the plan's provider keys, header
secrets, admin token, configured client keys, and the caller's own credential) are replaced wherever
they appear. A streamed answer is captured as it passes (up to `LIMIT` bytes) and logged as the text
it carried. Lines go to `modelmux.bodies` at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import orjson

from modelmux.observability.logging import BODIES
from modelmux.observability.redaction import Redactor, credentials_in
from modelmux.plan.models import Plan, Secret
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import Outcome

LIMIT = 16_384


def plan_secrets(plan: Plan) -> Iterator[str]:
    """Every secret value the plan holds: provider keys and header secrets, credentials, the admin token,
    the cache URL, and the client keys of `auth.api_keys`."""
    for provider in plan.providers:
        if provider.api_key is not None:
            yield provider.api_key.reveal()
        yield from (secret.reveal() for _, secret in provider.headers)
        credentials = provider.options.get("credentials")
        if isinstance(credentials, Mapping):
            yield from (v.reveal() if isinstance(v, Secret) else str(v) for v in credentials.values() if v)
    for secret in (plan.server.admin_token, plan.caching.url if plan.caching else None):
        if secret is not None:
            yield secret.reveal()
    auth = plan.sections.get("auth")
    for entry in (auth or {}).get("api_keys") or ():
        key = entry.get("key") if isinstance(entry, Mapping) else None
        if key:
            yield key.reveal() if isinstance(key, Secret) else str(key)


class BodyLogger:
    """Built once per plan when `debug_bodies` is on."""

    def __init__(self, plan: Plan) -> None:
        self.redactor = Redactor(plan_secrets(plan))

    def enabled(self) -> bool:
        return BODIES.isEnabledFor(logging.DEBUG)

    def _for(self, ctx: RequestContext) -> Redactor:
        return self.redactor.with_secrets(credentials_in(ctx.headers))

    def request(self, ctx: RequestContext) -> None:
        body = self._for(ctx).json(ctx.body)
        BODIES.debug("request body", extra={"fields": {"request_id": ctx.request_id, **_sized(body)}})

    def response(self, ctx: RequestContext, outcome: Outcome, captured: bytearray | None) -> None:
        redactor = self._for(ctx)
        fields: dict[str, Any] = {"request_id": ctx.request_id, "status": outcome.status}
        if captured is not None:
            fields["content"] = redactor.text(stream_text(bytes(captured)))
            fields["truncated"] = len(captured) >= LIMIT
        else:
            try:
                document: Any = orjson.loads(outcome.body or b"null")
            except orjson.JSONDecodeError:
                document = (outcome.body or b"").decode("utf-8", "replace")
            fields.update(_sized(redactor.json(document)))
        BODIES.debug("response body", extra={"fields": fields})

    async def tee(self, stream: AsyncIterator[bytes], captured: bytearray) -> AsyncIterator[bytes]:
        """Pass a stream through, keeping its first `LIMIT` bytes; closing it closes the stream."""
        try:
            async for piece in stream:
                if len(captured) < LIMIT:
                    captured += piece[: LIMIT - len(captured)]
                yield piece
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()


def _sized(document: Any) -> dict[str, Any]:
    text = orjson.dumps(document)
    if len(text) <= LIMIT:
        return {"body": document}
    return {"body_truncated": text[:LIMIT].decode("utf-8", "ignore"), "body_bytes": len(text)}


def stream_text(raw: bytes) -> str:
    """The text an SSE stream of chat chunks carried (its deltas joined), else the raw events."""
    parts: list[str] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:") or line.endswith("[DONE]"):
            continue
        try:
            chunk = orjson.loads(line[5:].strip())
        except orjson.JSONDecodeError:
            return raw.decode("utf-8", "replace")
        for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                parts.append(content)
        if isinstance(chunk, dict) and "error" in chunk:
            parts.append(f"[error: {orjson.dumps(chunk['error']).decode()}]")
    return "".join(parts)
