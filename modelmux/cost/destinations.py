"""Where budget alerts and usage reports go: a webhook (JSON POST) or email (SMTP).

- Webhook: `POST url` with the JSON payload and the configured headers; a timeout per attempt, and
  retries with exponential backoff on connection errors, timeouts, 408, 429 and 5xx.
- Email: `smtplib` in a worker thread (it blocks); `smtp_url` is `smtp://host:port` (plain, STARTTLS
  when credentials are given and the server offers it) or `smtps://host:port` (TLS from the start);
  `user:password@` in the URL logs in. Retried like the webhook.

A send never raises into its caller: it returns whether it was delivered and logs why not. Neither
the webhook URL (it often holds a token) nor headers nor SMTP credentials reach a log line.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx
import orjson

log = logging.getLogger("modelmux.cost")
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Destination(Protocol):
    kind: str

    async def send(self, subject: str, text: str, payload: Mapping[str, Any]) -> bool: ...


@dataclass
class Webhook:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    attempts: int = 4
    backoff: float = 0.5
    kind: str = "webhook"

    def _where(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"

    async def send(self, subject: str, text: str, payload: Mapping[str, Any]) -> bool:
        headers = {"content-type": "application/json", "user-agent": "modelmux", **self.headers}
        body = orjson.dumps(payload)
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
            for attempt in range(self.attempts):
                problem = await self._post(client, body, headers)
                if problem is None:
                    return True
                if problem == "final" or attempt == self.attempts - 1:
                    break
                await asyncio.sleep(self.backoff * (2**attempt))
        log.error("webhook %s did not accept %r", self._where(), subject)
        return False

    async def _post(self, client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> str | None:
        """None when delivered; "retry" or "final" otherwise."""
        try:
            response = await client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            log.warning("webhook %s: %s", self._where(), type(exc).__name__)
            return "retry"
        if response.status_code < 300:
            return None
        log.warning("webhook %s answered %d", self._where(), response.status_code)
        return "retry" if response.status_code in RETRIED_STATUSES else "final"


@dataclass
class Email:
    smtp_url: str
    to: tuple[str, ...]
    sender: str = "modelmux@localhost"
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 0.5
    kind: str = "email"

    async def send(self, subject: str, text: str, payload: Mapping[str, Any]) -> bool:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message.set_content(text)
        for attempt in range(self.attempts):
            try:
                await asyncio.to_thread(self._deliver, message)
                return True
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("email via %s failed: %s", self._where(), type(exc).__name__)
            if attempt < self.attempts - 1:
                await asyncio.sleep(self.backoff * (2**attempt))
        log.error("email %r could not be sent via %s", subject, self._where())
        return False

    def _where(self) -> str:
        parts = urlsplit(self.smtp_url)
        return f"{parts.hostname}:{parts.port or ''}"

    def _deliver(self, message: EmailMessage) -> None:
        parts = urlsplit(self.smtp_url)
        secure = parts.scheme == "smtps"
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (465 if secure else 25)
        client = smtplib.SMTP_SSL if secure else smtplib.SMTP
        with client(host, port, timeout=self.timeout) as smtp:
            if parts.username:
                smtp.ehlo()
                if not secure and smtp.has_extn("starttls"):
                    smtp.starttls()
                    smtp.ehlo()
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)


def destinations_from(settings: Mapping[str, Any] | None) -> list[Destination]:
    """The destinations a `{destinations: [...], email: {...}, webhook: {...}}` mapping names and configures."""
    if not settings:
        return []
    found: list[Destination] = []
    for kind in settings.get("destinations") or ():
        config = settings.get(kind)
        if not config:
            continue
        if kind == "webhook":
            found.append(Webhook(str(config["url"]), dict(config.get("headers") or {})))
        elif kind == "email":
            to = tuple(str(address) for address in config.get("to") or ())
            found.append(Email(str(config["smtp_url"]), to, str(config.get("sender") or "modelmux@localhost")))
    return found


async def deliver(destinations: list[Destination], subject: str, text: str, payload: Mapping[str, Any]) -> int:
    """Send to every destination at once; how many accepted."""
    results = await asyncio.gather(*(d.send(subject, text, payload) for d in destinations))
    return sum(1 for ok in results if ok)
