"""Cache keys: sha256 of the canonical JSON (sorted keys) of what decides the answer, and the tenant.

Every request field counts except those that cannot change the answer (`stream`, `stream_options`,
`user`, `metadata`, `store`, `service_tier`, `prompt_cache_key`, `safety_identifier`); `model` is the
name routing resolves to (a rule's rewrite, else the public name). Nulls count as absent, `1.0` as
`1`, a `stop` string as a one-item list. The tenant (API key name and org) is part of the key, so two
tenants never share an entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

KEY_VERSION = 1
IGNORED = frozenset(
    {
        "model",
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "safety_identifier",
    }
)


def cache_key(body: Mapping[str, Any], model: str, key_name: str | None, org: str | None) -> str:
    """The hex digest naming a request's entry."""
    request = {name: canonical(value) for name, value in body.items() if name not in IGNORED and value is not None}
    if isinstance(request.get("stop"), str):
        request["stop"] = [request["stop"]]
    document = {"v": KEY_VERSION, "model": model, "tenant": [key_name, org], "request": request}
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def canonical(value: Any) -> Any:
    """Numbers JSON cannot tell apart become one (`0.0` is `0`); containers are walked."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value
