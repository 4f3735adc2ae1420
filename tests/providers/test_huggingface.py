"""Hugging Face: the Inference Providers router (routing suffixes passed through) and self-hosted TGI
(its quirks made good), from golden transcripts and a fake upstream; every OpenAI object is checked
against OpenAI's schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from modelmux.plan.models import ProviderPlan, Secret
from modelmux.providers.base import CanonicalError, UpstreamStreamError, UpstreamTarget
from modelmux.providers.huggingface import ROUTER_URL, HuggingFaceAdapter, HuggingFaceStreamDecoder
from modelmux.providers.openai_compatible import OpenAICompatibleAdapter
from modelmux.providers.registry import adapter_for
from tests.conformance import (
    assert_valid_chat_completion,
    assert_valid_chunk,
    assert_valid_embeddings,
    assert_valid_error,
)
from tests.fakes import FakeServer, Reply
from tests.providers import transcripts

KIND = "huggingface"
STAMP = {"id": "chatcmpl-modelmux", "object": "chat.completion.chunk", "created": 1, "model": "llama"}


def adapter(base_url: str = "", key: str | None = "hf_testtoken") -> HuggingFaceAdapter:
    secret = None if key is None else Secret("${HF_TOKEN}", key)
    return HuggingFaceAdapter(ProviderPlan(name="hf", type=KIND, base_url=base_url, api_key=secret))


def target(a: HuggingFaceAdapter, upstream: str, public: str = "llama") -> UpstreamTarget:
    return UpstreamTarget(a.provider, public, upstream)


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    return transcripts.decode(HuggingFaceStreamDecoder(), [raw])


def sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    body = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def tool_calls_of(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            calls += choice["delta"].get("tool_calls", [])
    return calls


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


def test_the_registry_serves_huggingface_with_this_adapter() -> None:
    served = adapter_for(adapter().provider)
    assert type(served) is HuggingFaceAdapter and isinstance(served, OpenAICompatibleAdapter)
    assert served.base_url() == ROUTER_URL and served.is_router()
    assert not adapter("http://tgi.internal:8080/v1").is_router()


@pytest.mark.parametrize("name", transcripts.names(KIND, "request_*.json"))
async def test_request_matches_transcript(name: str) -> None:
    await transcripts.replay_request(KIND, name)


def replay_response(name: str) -> dict[str, Any]:
    """Parse a response transcript; ids and timestamps the adapter had to make up become <generated>."""
    case = transcripts.load(KIND, name)
    a = HuggingFaceAdapter(transcripts.plan(case["provider"]))
    t = target(a, case["target"]["upstream_model"], case["target"]["public_model"])
    payload = orjson.dumps(case["upstream"])
    embeddings = name.startswith("response_embeddings")
    actual = a.parse_embeddings(payload, t) if embeddings else a.parse_chat(payload, t)
    masked = json.loads(json.dumps(actual))
    upstream = case["upstream"] if isinstance(case["upstream"], dict) else {}
    if not embeddings and not upstream.get("id"):
        assert masked["id"].startswith("chatcmpl-")
        masked["id"] = "<generated>"
    if transcripts.UPDATE:
        path = transcripts.ROOT / KIND / name
        path.write_text(json.dumps({**case, "expected": masked}, indent=2, ensure_ascii=False) + "\n")
        case = transcripts.load(KIND, name)
    assert masked == case["expected"]
    return actual


@pytest.mark.parametrize("name", transcripts.names(KIND, "response_*.json"))
def test_response_matches_transcript_and_openai_schema(name: str) -> None:
    parsed = replay_response(name)
    if name.startswith("response_embeddings"):
        assert_valid_embeddings(parsed)
    else:
        assert_valid_chat_completion(parsed)


def test_tgi_tool_call_arguments_become_a_json_string() -> None:
    parsed = replay_response("response_tgi_tool_calls.json")
    [call] = parsed["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {
        "name": "get_current_weather",
        "arguments": '{"location":"Zürich","format":"celsius"}',
    }
    assert parsed["choices"][0]["finish_reason"] == "tool_calls"


def masked(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool-call ids the decoder made up (TGI sends empty ones) become <generated>."""
    out: list[dict[str, Any]] = json.loads(json.dumps(chunks))
    for chunk in out:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls", ()):
                if re.fullmatch(r"call_[0-9a-f]{24}", call.get("id", "")):
                    call["id"] = "<generated>"
    return out


def stream_case(name: str) -> tuple[bytes, list[dict[str, Any]]]:
    raw = (transcripts.ROOT / KIND / name).read_bytes()
    expected_path = transcripts.ROOT / KIND / name.replace(".sse", ".json")
    if transcripts.UPDATE:
        chunks = masked(chunks_of(raw))
        expected_path.write_text(json.dumps(chunks, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return raw, transcripts.load(KIND, expected_path.name)


@pytest.mark.parametrize("name", transcripts.names(KIND, "stream_*.sse"))
def test_stream_decodes_at_every_byte_boundary(name: str) -> None:
    raw, expected = stream_case(name)
    assert any(byte >= 0x80 for byte in raw), "golden streams should hold multi-byte characters"
    assert masked(chunks_of(raw)) == expected
    decoder = adapter().stream_decoder(target(adapter(), "m"))
    assert masked(transcripts.decode(decoder, [raw[i : i + 1] for i in range(len(raw))])) == expected
    for cut in range(len(raw) + 1):
        pieces = [raw[:cut], raw[cut:]]
        assert masked(transcripts.decode(HuggingFaceStreamDecoder(), pieces)) == expected, f"split at {cut}"
    for chunk in expected:
        assert_valid_chunk({**STAMP, **chunk})
    finishes = [c["finish_reason"] for chunk in expected for c in chunk["choices"]]
    assert finishes.count(None) == len(finishes) - 1 and finishes[-1] in ("stop", "tool_calls")
    roles = [c["delta"]["role"] for chunk in expected for c in chunk["choices"] if "role" in c["delta"]]
    assert roles == ["assistant"], "the role comes once"


def test_tgi_stream_tool_calls_become_openai_deltas() -> None:
    _, expected = stream_case("stream_tgi_tool_calls.sse")
    calls = tool_calls_of(expected)
    first, *rest = calls
    assert first["index"] == 0 and first["id"] == "<generated>" and first["type"] == "function"
    assert first["function"]["name"] == "get_current_weather"
    assert all(set(call) == {"index", "function"} and set(call["function"]) == {"arguments"} for call in rest)
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert json.loads(arguments) == {"location": "Zürich", "format": "celsius"}
    assert expected[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_errors_match_transcript() -> None:
    for name, actual, expected in transcripts.replay_errors(KIND):
        assert actual == expected, name
        assert_valid_error(CanonicalError(**actual).body())


# Over HTTP ------------------------------------------------------------------------------------------


async def test_router_round_trip_keeps_the_routing_suffix(server: FakeServer) -> None:
    reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1733213355,
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    server.script("POST", "/v1/chat/completions", Reply.json(reply))
    a = adapter(server.url + "/v1")
    t = target(a, "meta-llama/Llama-3.3-70B-Instruct:cheapest")
    body = {"model": "llama", "messages": [{"role": "user", "content": "Hello"}]}
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat(body, t, stream=False))
    [sent] = server.requests
    assert sent.json()["model"] == "meta-llama/Llama-3.3-70B-Instruct:cheapest"
    assert sent.header("authorization") == "Bearer hf_testtoken"
    parsed = a.parse_chat(response.content, t)
    assert parsed["model"] == "llama" and parsed["choices"][0]["logprobs"] is None
    assert_valid_chat_completion(parsed)


async def test_tgi_stream_over_http_split_mid_character(server: FakeServer) -> None:
    raw = (transcripts.ROOT / KIND / "stream_tgi_text.sse").read_bytes()
    cut = raw.index("é".encode()) + 1
    server.script("POST", "/v1/chat/completions", Reply.stream([raw[:cut], 0.01, raw[cut:]]))
    a = adapter(server.url + "/v1", key=None)
    t = target(a, "tgi")
    body = {"model": "llama", "messages": [{"role": "user", "content": "Hallo"}], "stream": True}
    decoder, chunks = a.stream_decoder(t), []
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat(body, t, stream=True), stream=True)
        async for data in response.aiter_bytes():
            chunks += decoder.feed(data)
        await response.aclose()
    chunks += decoder.finish()
    assert server.requests[0].header("authorization") is None
    assert chunks == chunks_of(raw)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hallo, Wélt 👋"


async def test_router_embeddings_over_http(server: FakeServer) -> None:
    server.script(
        "POST",
        "/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction",
        Reply.json([0.25, -0.5]),
    )
    a = adapter()
    t = target(a, "BAAI/bge-small-en-v1.5:hf-inference", "bge")
    request = await a.build_embeddings({"input": "one text"}, t)
    assert str(request.url) == (
        "https://router.huggingface.co/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction"
    )
    request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=server.port)
    async with httpx.AsyncClient() as client:
        response = await client.send(request)
    assert server.requests[0].json() == {"inputs": "one text"}
    parsed = a.parse_embeddings(response.content, t)
    assert parsed["data"] == [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}]
    assert_valid_embeddings(parsed)


@pytest.mark.parametrize(
    "payload",
    [b"[[[0.1, 0.2], [0.3, 0.4]]]", b'{"error": "Model is loading", "estimated_time": 20.0}', b"not json"],
)
def test_router_embeddings_that_are_not_one_vector_per_input_are_errors(payload: bytes) -> None:
    a = adapter()
    with pytest.raises(UpstreamStreamError) as caught:
        a.parse_embeddings(payload, target(a, "some/model", "m"))
    assert caught.value.error.status in (500, 502, 503)


def test_tgi_quirks_in_one_stream() -> None:
    """Role repeated, a tool call delta as an object with an empty id, usage null, no [DONE]."""
    head = {"object": "chat.completion.chunk", "id": "", "created": 1, "model": "tgi", "usage": None}
    call = {"index": 0, "id": "", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    chunks = chunks_of(
        sse(
            {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": call}}]},
            {**head, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": "eos_token"}]},
            done=False,
        )
    )
    [first, last] = chunks
    [delta_call] = first["choices"][0]["delta"]["tool_calls"]
    assert delta_call["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert delta_call["id"].startswith("call_")
    assert last["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
