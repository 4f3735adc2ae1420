"""API keys: how they are made, stored (as sha256 digests) and looked up in constant time.

A plan's keys become one dict of digests, built once per plan. A presented key is hashed once and
looked up; the stored digest is then compared with `hmac.compare_digest`, so neither the lookup nor
the comparison depends on how much of a secret a guess got right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KEY_PREFIX = "mm-"
KNOWN_PREFIXES = ("mm-", "sk-")


@dataclass(frozen=True, slots=True)
class RateLimit:
    rpm: int | None = None
    tpm: int | None = None
    concurrent: int | None = None

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> RateLimit | None:
        if not section:
            return None
        limit = cls(section.get("rpm"), section.get("tpm"), section.get("concurrent"))
        return limit if (limit.rpm or limit.tpm or limit.concurrent) else None


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One `auth.api_keys` entry, without its secret."""

    name: str
    digest: str
    role: str | None = None
    user: str | None = None
    org: str | None = None
    team: str | None = None
    models: tuple[str, ...] | None = None
    rate_limit: RateLimit | None = None

    def __repr__(self) -> str:
        return f"KeyEntry(name={self.name!r})"


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh API key: `mm-` and 32 random bytes, URL-safe base64."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def mask(secret: str) -> str:
    """What an error may show of a presented credential: a known prefix and two characters, or four,
    then `****` and the last four; only `****` for short values."""
    if len(secret) < 20:
        return "****"
    head = secret[:5] if secret.startswith(KNOWN_PREFIXES) else secret[:4]
    return f"{head}****{secret[-4:]}"


def entry_from_section(section: Mapping[str, Any]) -> KeyEntry:
    plain = section.get("key")
    digest = sha256_hex(plain) if plain is not None else str(section["key_sha256"])
    models = section.get("models")
    return KeyEntry(
        name=str(section["name"]),
        digest=digest,
        role=section.get("role"),
        user=section.get("user"),
        org=section.get("org"),
        team=section.get("team"),
        models=tuple(models) if models is not None else None,
        rate_limit=RateLimit.from_section(section.get("rate_limit")),
    )


class KeyTable:
    """The keys of one plan, by digest."""

    def __init__(self, entries: Iterable[KeyEntry]) -> None:
        self._by_digest: dict[str, KeyEntry] = {}
        self.by_name: dict[str, KeyEntry] = {}
        for entry in entries:
            self._by_digest.setdefault(entry.digest, entry)
            self.by_name.setdefault(entry.name, entry)

    def __len__(self) -> int:
        return len(self._by_digest)

    def find(self, presented: str) -> KeyEntry | None:
        digest = sha256_hex(presented)
        entry = self._by_digest.get(digest)
        if entry is None or not hmac.compare_digest(entry.digest, digest):
            return None
        return entry
