"""A plan's fingerprint: the same config, in any key order, in any process, gives the same one."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def fingerprint(canonical: Any) -> str:
    """sha256 of the canonical JSON (sorted keys) of the checked config, first 16 hex digits."""
    data = orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()[:16]
