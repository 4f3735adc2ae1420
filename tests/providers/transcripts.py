"""Golden transcripts of upstream traffic (fixtures/transcripts/<type>/) and the checks that replay them.

- `request_*.json`: a provider, a target, the client body; `expected` is the upstream request.
- `response_*.json`: an upstream body; `expected` is the OpenAI object (absent: the upstream body with
  `model` set to the public name, which is what a faithful adapter returns).
- `stream_*.sse`: raw upstream bytes; `stream_*.json` the chunks the decoder yields.
- `errors.json`: error responses (status, headers, body) with the expected `CanonicalError` fields.

Set MODELMUX_UPDATE_GOLDENS=1 to rewrite the expected parts from what the code does now (then review
the diff).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import orjson

from modelmux.plan.models import ModelRoute, ProviderPlan, Secret, frozen_mapping
from modelmux.providers.base import ProviderAdapter, StreamDecoder, UpstreamTarget
from modelmux.providers.registry import adapter_for

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts"
UPDATE = os.environ.get("MODELMUX_UPDATE_GOLDENS") == "1"


def names(kind: str, pattern: str) -> list[str]:
    return sorted(path.name for path in (ROOT / kind).glob(pattern))


def load(kind: str, name: str) -> Any:
    return json.loads((ROOT / kind / name).read_text(encoding="utf-8"))


def _save(kind: str, name: str, data: Any) -> None:
    (ROOT / kind / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def plan(spec: dict[str, Any]) -> ProviderPlan:
    """A provider plan from a transcript's `provider` object."""
    key = spec.get("api_key")
    headers = tuple((name, Secret(f"${{{name}}}", value)) for name, value in spec.get("headers", {}).items())
    models = tuple(ModelRoute(public, upstream) for public, upstream in spec.get("models", {}).items())
    return ProviderPlan(
        name=spec.get("name", spec["type"]),
        type=spec["type"],
        base_url=spec.get("base_url", ""),
        api_key=None if key is None else Secret("${API_KEY}", key),
        models=models,
        wildcard=not models,
        headers=headers,
        options=frozen_mapping(spec.get("options", {})),
    )


def default_provider(kind: str) -> ProviderPlan:
    base = {
        "openai_compatible": "http://localhost:8000/v1",
        "azure_openai": "https://contoso.openai.azure.com",
    }
    return plan({"type": kind, "base_url": base.get(kind, ""), "api_key": "test-key"})


def target_of(provider: ProviderPlan, spec: dict[str, Any]) -> UpstreamTarget:
    return UpstreamTarget(provider, spec["public_model"], spec["upstream_model"])


async def replay_request(kind: str, name: str) -> None:
    """The upstream request built for a transcript's client body equals the recorded one."""
    case = load(kind, name)
    adapter = adapter_for(plan(case["provider"]))
    target = target_of(adapter.provider, case["target"])
    if name.startswith("request_embeddings"):
        request = await adapter.build_embeddings(case["body"], target)
    else:
        request = await adapter.build_chat(case["body"], target, stream=case["stream"])
    headers = {key: value for key, value in request.headers.items() if key not in ("host", "content-length")}
    actual = {
        "method": request.method,
        "url": str(request.url),
        "headers": headers,
        "json": orjson.loads(request.content),
    }
    if UPDATE:
        _save(kind, name, {**case, "expected": actual})
    assert actual == load(kind, name)["expected"]


def replay_response(kind: str, name: str) -> dict[str, Any]:
    case = load(kind, name)
    adapter = adapter_for(default_provider(kind))
    target = target_of(adapter.provider, case["target"])
    payload = orjson.dumps(case["upstream"])
    if name.startswith("response_embeddings"):
        actual = adapter.parse_embeddings(payload, target)
    else:
        actual = adapter.parse_chat(payload, target)
    masked = _mask_generated(actual, case["upstream"])
    if UPDATE and "expected" in case:
        _save(kind, name, {**case, "expected": masked})
        case = load(kind, name)
    assert masked == case.get("expected", {**case["upstream"], "model": target.public_model})
    return actual


def _mask_generated(actual: dict[str, Any], upstream: dict[str, Any]) -> dict[str, Any]:
    """Ids and timestamps an adapter had to make up (the upstream sent none) become `<generated>`."""
    masked: dict[str, Any] = json.loads(json.dumps(actual))
    for key in ("id", "created"):
        if key not in upstream and key in masked:
            assert masked[key], key
            masked[key] = "<generated>"
    for i, choice in enumerate(masked.get("choices", ())):
        sent = (upstream.get("choices") or [{}])[i].get("message", {}).get("tool_calls", [])
        for j, call in enumerate(choice.get("message", {}).get("tool_calls", ())):
            if not sent[j].get("id"):
                assert call["id"].startswith("call_")
                call["id"] = "<generated>"
    return masked


def decode(decoder: StreamDecoder, pieces: list[bytes]) -> list[dict[str, Any]]:
    chunks = []
    for piece in pieces:
        chunks += decoder.feed(piece)
    return chunks + decoder.finish()


def assert_decodes_at_every_boundary(
    adapter: ProviderAdapter, target: UpstreamTarget, raw: bytes, expected: list[dict[str, Any]]
) -> None:
    """Whole, one byte at a time, and split in two at every byte: always the same chunks."""
    assert decode(adapter.stream_decoder(target), [raw]) == expected
    assert decode(adapter.stream_decoder(target), [raw[i : i + 1] for i in range(len(raw))]) == expected
    for cut in range(len(raw) + 1):
        assert decode(adapter.stream_decoder(target), [raw[:cut], raw[cut:]]) == expected, f"split at byte {cut}"


def stream_case(kind: str, name: str) -> tuple[ProviderAdapter, UpstreamTarget, bytes, list[dict[str, Any]]]:
    """The adapter, target, raw `.sse` bytes and expected chunks of a stream transcript."""
    adapter = adapter_for(default_provider(kind))
    target = UpstreamTarget(adapter.provider, "public-model", "upstream-model")
    raw = (ROOT / kind / name).read_bytes()
    expected_name = name.removesuffix(".sse") + ".json"
    if UPDATE:
        _save(kind, expected_name, decode(adapter.stream_decoder(target), [raw]))
    return adapter, target, raw, load(kind, expected_name)


def replay_errors(kind: str) -> list[tuple[str, Any, Any]]:
    """(name, actual, expected) for each case of `errors.json`."""
    adapter = adapter_for(default_provider(kind))
    cases = load(kind, "errors.json")
    results = []
    for case in cases:
        error = adapter.parse_error(case["status"], case["headers"], case["body"].encode())
        actual = dataclasses.asdict(error)
        if UPDATE:
            case["expected"] = actual
        results.append((case["name"], actual, case.get("expected")))
    if UPDATE:
        _save(kind, "errors.json", cases)
    return results
