"""Builds the RequestFacts that routing rules read, once per request, from the body and headers."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson

from modelmux.dsl import RequestFacts
from modelmux.errors import RequestError
from modelmux.units import UnitError, parse_duration

META_PREFIX = "x-modelmux-meta-"
LATENCY_HEADER = "x-modelmux-latency-budget"
REGION_HEADER = "x-modelmux-region"


def build_facts(
    body: Mapping[str, Any], headers: Mapping[str, str], *, identity: Mapping[str, str | None] | None = None
) -> RequestFacts:
    """`headers` must have lower-case names. `identity` carries user/org/team/role from auth."""
    who = identity or {}
    prompt = prompt_text(body.get("messages"))
    temperature = body.get("temperature")
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    tools = body.get("tools")
    return RequestFacts(
        model=str(body.get("model", "")),
        stream=bool(body.get("stream", False)),
        deterministic=temperature == 0 or body.get("seed") is not None,
        temperature=float(temperature) if isinstance(temperature, int | float) else None,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        tools=len(tools) if isinstance(tools, list) else 0,
        user=who.get("user") or (body.get("user") if isinstance(body.get("user"), str) else None),
        org=who.get("org"),
        team=who.get("team"),
        role=who.get("role"),
        region=headers.get(REGION_HEADER) or who.get("region"),
        latency=_latency(headers.get(LATENCY_HEADER)),
        prompt_tokens=estimate_tokens(prompt, body.get("messages")),
        prompt=prompt,
        headers=MappingProxyType(dict(headers)),
        metadata=MappingProxyType(_metadata(body, headers)),
    )


def prompt_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(parts)


def estimate_tokens(prompt: str, messages: Any) -> int:
    """About four characters a token, plus a few tokens of framing per message."""
    count = len(messages) if isinstance(messages, list) else 0
    return (len(prompt) + 3) // 4 + 4 * count


def _latency(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except UnitError as exc:
        raise RequestError(
            400, f"invalid X-ModelMux-Latency-Budget header: {exc}", param="X-ModelMux-Latency-Budget"
        ) from None


def _metadata(body: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, object]:
    found: dict[str, object] = {}
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        found.update({str(k): v for k, v in metadata.items()})
    for name, value in headers.items():
        if name.startswith(META_PREFIX):
            found[name[len(META_PREFIX) :].replace("-", "_")] = _scalar(value)
    return found


def _scalar(text: str) -> object:
    """Header values are text; `true`, `3` and `0.5` mean what they look like."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str) else text
