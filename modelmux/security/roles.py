"""Roles: which models (globs) and endpoints an identity may use, and whether it may use `/admin`.

An identity without a role takes the role named `default` when the config has one; otherwise it may
use every model and endpoint and is not an admin. A key's own `models` narrows its role further.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

ALL_ENDPOINTS = ("chat", "embeddings", "models")
DEFAULT_ROLE = "default"


@dataclass(frozen=True, slots=True)
class RoleGrant:
    models: tuple[str, ...] = ("*",)
    endpoints: tuple[str, ...] = ALL_ENDPOINTS
    admin: bool = False


OPEN = RoleGrant()


class RoleTable:
    def __init__(self, roles: Mapping[str, Mapping[str, Any]]) -> None:
        self._roles = {
            name: RoleGrant(
                models=tuple(section.get("models") or ()),
                endpoints=tuple(section.get("endpoints") or ALL_ENDPOINTS),
                admin=bool(section.get("admin", False)),
            )
            for name, section in roles.items()
        }

    def __contains__(self, name: object) -> bool:
        return name in self._roles

    def grant(self, names: Iterable[str]) -> tuple[str | None, RoleGrant]:
        """The first known role of `names` and what the known ones grant together (their union)."""
        known = [name for name in names if name in self._roles]
        if not known:
            fallback = self._roles.get(DEFAULT_ROLE)
            return (DEFAULT_ROLE, fallback) if fallback is not None else (None, OPEN)
        grants = [self._roles[name] for name in known]
        models = tuple(dict.fromkeys(m for g in grants for m in g.models))
        endpoints = tuple(dict.fromkeys(e for g in grants for e in g.endpoints))
        return known[0], RoleGrant(models, endpoints, any(g.admin for g in grants))


def model_allowed(model: str, *patterns: tuple[str, ...] | None) -> bool:
    """True when every given pattern list (None: no restriction) has a glob matching `model`."""
    return all(p is None or any(fnmatchcase(model, glob) for glob in p) for p in patterns)


def endpoint_name(endpoint: str) -> str:
    """The role vocabulary for a pipeline endpoint: embeddings, models, or chat (any chat-like API)."""
    return endpoint if endpoint in ALL_ENDPOINTS else "chat"
