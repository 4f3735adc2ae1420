"""OpenAI tool-call arguments (a JSON string) as the object providers that take structured input want."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson


def parse_arguments(arguments: Any, param: str, invalid: Callable[[str, str], Exception]) -> dict[str, Any]:
    """The arguments as a dict; empty or absent arguments are `{}`. `invalid(message, param)` builds the
    provider's 400 error for arguments that are not a JSON object."""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"tool call arguments are not valid JSON: {exc}", param) from exc
    if not isinstance(value, dict):
        raise invalid("tool call arguments must be a JSON object", param)
    return value
