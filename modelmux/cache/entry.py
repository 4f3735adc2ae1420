"""A stored answer: the chat.completion and who produced it, as compact JSON.

Only complete answers are stored: a 200 whose every choice finished with `stop`, `length` or
`tool_calls`. A hit is answered with a fresh `id` and `created` and the model name the client asked for.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

ENTRY_FORMAT = 1
STORABLE_FINISH = frozenset({"stop", "length", "tool_calls"})


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    completion: dict[str, Any]
    provider: str | None = None
    provider_type: str | None = None
    upstream_model: str | None = None
    route: str = ""

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "format": ENTRY_FORMAT,
                "completion": self.completion,
                "provider": self.provider,
                "provider_type": self.provider_type,
                "upstream_model": self.upstream_model,
                "route": self.route,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | None) -> CachedAnswer | None:
        """None for an absent, foreign or damaged entry (it is then a miss)."""
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT or not storable(data.get("completion")):
            return None
        return cls(
            data["completion"],
            _text(data.get("provider")),
            _text(data.get("provider_type")),
            _text(data.get("upstream_model")),
            _text(data.get("route")) or "",
        )

    def fresh(self, model: str) -> dict[str, Any]:
        """The completion as a new response: its own id and time, the asked model name."""
        return {
            **self.completion,
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "created": int(time.time()),
            "model": model,
        }


def storable(completion: Any) -> bool:
    """A complete chat.completion: choices, each finished with stop, length or tool_calls."""
    if not isinstance(completion, dict) or completion.get("object") != "chat.completion":
        return False
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(isinstance(c, dict) and c.get("finish_reason") in STORABLE_FINISH for c in choices)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
