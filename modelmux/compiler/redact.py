"""The checked config as JSON with every secret shown as its `${VAR}` template or `***`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelmux.config.loader import PathKey

SECRET_KEYS = frozenset(
    {
        "api_key",
        "admin_token",
        "key",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "public_key",
        "smtp_url",
        "password",
        "token",
    }
)
SECRET_PARENTS = frozenset({"headers"})
URL_KEYS = frozenset({"url", "storage", "jwks_url", "otlp_endpoint", "base_url", "smtp_url"})


def redacted(data: Any, templates: Mapping[PathKey, str], path: PathKey = ()) -> Any:
    """A copy of checked config data that is safe to print, log or serve on /admin/plan."""
    if path in templates:
        return templates[path]
    if isinstance(data, dict):
        return {k: redacted(v, templates, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [redacted(v, templates, (*path, i)) for i, v in enumerate(data)]
    if data is None or not path:
        return data
    last = path[-1]
    parent = path[-2] if len(path) > 1 else None
    if last in SECRET_KEYS or parent in SECRET_PARENTS:
        return "***"
    if last in URL_KEYS and isinstance(data, str) and "@" in data:
        return _strip_userinfo(data)
    return data


def _strip_userinfo(url: str) -> str:
    scheme, _, rest = url.partition("://")
    _, _, host = rest.rpartition("@")
    return f"{scheme}://***@{host}"
