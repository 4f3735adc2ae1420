"""Public keys for JWT verification: a static PEM key, or a JWKS document fetched and cached.

The JWKS is fetched on first use, refetched when a token names an unknown `kid` (at most once per
`refresh_interval`, 30s) and when the cached copy is older than `max_age`. Concurrent requests share one
fetch. A failed fetch keeps the keys already known and is not retried for a while; only when no key is
known does a request fail, with 503 `jwks_unavailable`. The document and the number of keys are bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from modelmux.errors import RequestError

log = logging.getLogger("modelmux.auth")

MAX_DOCUMENT_BYTES = 512 * 1024
MAX_KEYS = 64


@dataclass(frozen=True, slots=True)
class VerificationKey:
    key: Any  # a cryptography public key
    algorithm: str | None  # the JWK's `alg`, when it names one


class StaticKeys:
    """One public key from PEM text; a token's `kid` is not needed."""

    def __init__(self, pem: str) -> None:
        self._key = VerificationKey(load_pem_public_key(pem.encode()), None)

    async def key_for(self, kid: str | None) -> VerificationKey | None:
        return self._key


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        refresh_interval: float = 30.0,
        retry_interval: float = 5.0,
        max_age: float = 3600.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.refresh_interval = refresh_interval
        self.retry_interval = retry_interval
        self.max_age = max_age
        self.timeout = timeout
        self.fetches = 0
        self._clock = clock
        self._transport = transport
        self._keys: dict[str | None, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._kid_refresh_at: float | None = None
        self._inflight: asyncio.Future[None] | None = None

    async def key_for(self, kid: str | None) -> VerificationKey | None:
        """The key for `kid` (None: the only key), refetching when it is unknown or the copy is stale."""
        found = self._pick(kid)
        if found is not None and not self._stale():
            return found
        if self._may_fetch(unknown_kid=found is None):
            await self._refresh()
            found = self._pick(kid)
        if found is None and not self._keys:
            raise RequestError(
                503,
                "the JWT signing keys could not be fetched; try again shortly",
                type="api_error",
                code="jwks_unavailable",
                headers={"Retry-After": str(max(1, round(self.retry_interval)))},
            )
        return found

    def _pick(self, kid: str | None) -> VerificationKey | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is not None and self._clock() - self._fetched_at > self.max_age

    def _may_fetch(self, *, unknown_kid: bool) -> bool:
        """A fetch in flight is joined; failures back off; with keys known, an unknown `kid` refetches
        at most once per `refresh_interval` (so random kids cannot make ModelMux hammer the JWKS)."""
        now = self._clock()
        if self._inflight is not None:
            return True
        backoff = self.retry_interval if not self._keys else self.refresh_interval
        if self._failed_at is not None and now - self._failed_at < backoff:
            return False
        if not self._keys or not unknown_kid:
            return True
        if self._kid_refresh_at is not None and now - self._kid_refresh_at < self.refresh_interval:
            return False
        self._kid_refresh_at = now
        return True

    async def _refresh(self) -> None:
        loop = asyncio.get_running_loop()
        if self._inflight is not None and self._inflight.get_loop() is loop:
            await asyncio.shield(self._inflight)
            return
        future: asyncio.Future[None] = loop.create_future()
        self._inflight = future
        try:
            keys = await self._fetch()
            if keys:
                self._keys, self._fetched_at, self._failed_at = keys, self._clock(), None
            else:
                self._failed_at = self._clock()
        finally:
            self._inflight = None
            future.set_result(None)

    async def _fetch(self) -> dict[str | None, VerificationKey]:
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport, trust_env=False) as client:
                response = await client.get(self.url, headers={"accept": "application/json"})
                response.raise_for_status()
                if len(response.content) > MAX_DOCUMENT_BYTES:
                    raise ValueError(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
                document = orjson.loads(response.content)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("fetching the JWKS failed (%s); keeping %d known keys", type(exc).__name__, len(self._keys))
            return {}
        return parse_jwks(document)


def parse_jwks(document: Any) -> dict[str | None, VerificationKey]:
    """The usable signing keys of a JWKS document, by `kid` (at most MAX_KEYS; symmetric keys skipped)."""
    keys: dict[str | None, VerificationKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        if len(keys) >= MAX_KEYS:
            break
        if not isinstance(entry, dict) or entry.get("kty") == "oct" or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = PyJWK(entry)
        except (PyJWTError, ValueError, TypeError, KeyError):
            continue
        kid = entry.get("kid")
        algorithm = entry.get("alg")
        keys[kid if isinstance(kid, str) else None] = VerificationKey(
            jwk.key, algorithm if isinstance(algorithm, str) else None
        )
    return keys
