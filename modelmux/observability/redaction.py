"""Redaction of secrets and personal data before anything reaches a log line.

`scrub(text)` replaces what looks like a credential (bearer and basic credentials, provider API keys,
AWS access key ids, `api_key=...` pairs) and personal data (emails, card numbers that pass the Luhn
check, phone numbers, US social security numbers) with `[REDACTED:<kind>]`. A `Redactor` also knows
exact secret values (the plan's provider keys, the caller's own bearer token) and replaces them
wherever they appear. `redact_json` walks a JSON document: values under a sensitive key (`api_key`,
`authorization`, `password`...) are dropped whole, every other string is scrubbed.

The patterns are compiled once at import; nothing here is on a request's path unless body logging
(`observability.logging.debug_bodies`) is on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from modelmux.security.pii import luhn

MIN_SECRET_LENGTH = 8
_KEY = re.compile(
    r"(?:sk|pk|rk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}"  # OpenAI, Anthropic, Stripe-like keys
    r"|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}"  # AWS access key ids
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API keys
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"  # JWTs
)
_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{6,}")
_PAIR = re.compile(
    r"(?i)\b(api[_-]?key|apikey|secret|password|passwd|access[_-]?token|auth[_-]?token|x-api-key)"
    r"(\"?\s*[:=]\s*\"?)[^\s\"',;&]{4,}"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<!\d)(?<!\d\.)\d(?:[ \-]?\d){12,18}(?!\d|\.\d)")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_PHONE = re.compile(r"(?<!\w)(?<!\d\.)\+?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{2,4}\)?){2,5}(?!\w|\.\d)")
_SENSITIVE_KEYS = re.compile(
    r"(?i)^(authorization|proxy-authorization|api[_-]?key|x-api-key|apikey|password|passwd|secret|client[_-]?secret|"
    r"token|access[_-]?token|refresh[_-]?token|id[_-]?token|session[_-]?token|private[_-]?key|"
    r"secret[_-]?access[_-]?key|credentials?|cookie|set-cookie)$"
)


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[REDACTED:card]" if 13 <= len(digits) <= 19 and luhn(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    digits = sum(char.isdigit() for char in match.group(0))
    return "[REDACTED:phone]" if 9 <= digits <= 15 else match.group(0)


def scrub(text: str) -> str:
    """`text` with credentials and personal data replaced by `[REDACTED:<kind>]` markers."""
    text = _SCHEME.sub(lambda m: f"{m.group(1)} [REDACTED:token]", text)
    text = _PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED:secret]", text)
    text = _KEY.sub("[REDACTED:api_key]", text)
    text = _EMAIL.sub("[REDACTED:email]", text)
    text = _CARD.sub(_card, text)
    text = _SSN.sub("[REDACTED:ssn]", text)
    return _PHONE.sub(_phone, text)


class Redactor:
    """`scrub` plus exact secret values (built once per plan; the caller's token added per request)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self.secrets = tuple(sorted(known, key=len, reverse=True))

    def with_secrets(self, extra: Iterable[str]) -> Redactor:
        return Redactor((*self.secrets, *extra))

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED:secret]")
        return scrub(text)

    def json(self, value: Any) -> Any:
        """A copy of a JSON document with sensitive keys dropped and every string scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                key: "[REDACTED]" if isinstance(key, str) and _SENSITIVE_KEYS.match(key) else self.json(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.json(item) for item in value]
        return value


def credentials_in(headers: dict[str, str] | Any) -> list[str]:
    """The credential values a caller sent (`Authorization` token, `api-key`), to redact them exactly."""
    found = []
    authorization = headers.get("authorization") or ""
    _, _, token = authorization.partition(" ")
    for value in (token.strip(), authorization.strip(), headers.get("api-key"), headers.get("x-api-key")):
        if value:
            found.append(str(value))
    return found
