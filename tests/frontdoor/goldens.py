"""Golden transcripts of the Anthropic front door (fixtures/transcripts/frontdoor/).

- `request_*.json`: an Anthropic request; `expected_openai_request` the canonical request it becomes.
- `request_errors.json`: invalid requests and the 400 each one gets.
- `response_*.json`: an OpenAI completion; `expected_message` the Anthropic message it becomes.
- `stream_*.sse`: the OpenAI SSE the relay emits; `stream_*.json` the Anthropic events it becomes.
- `errors.json`, `stream_errors.json`: errors and their Anthropic bodies.

Set MODELMUX_UPDATE_GOLDENS=1 to rewrite the expected parts from what the code does now (then review
the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts" / "frontdoor"
UPDATE = os.environ.get("MODELMUX_UPDATE_GOLDENS") == "1"


def names(pattern: str) -> list[str]:
    return sorted(path.name for path in ROOT.glob(pattern))


def load(name: str) -> Any:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


def save(name: str, data: Any) -> None:
    (ROOT / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def expect(name: str, key: str, actual: Any) -> Any:
    """The golden `key` of a transcript (rewritten from `actual` under MODELMUX_UPDATE_GOLDENS=1)."""
    case = load(name)
    if UPDATE:
        case[key] = actual
        save(name, case)
    return case[key]
