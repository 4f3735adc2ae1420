"""Bedrock: golden transcripts (signed requests, responses, errors, embeddings) checked against
botocore's service model and OpenAI's schemas; a fake Bedrock over HTTP that verifies the SigV4
signature of what arrived; credentials. ConverseStream decoding is in `test_eventstream`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.auth  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
import httpx
import orjson
import pytest
from botocore.credentials import RefreshableCredentials  # type: ignore[import-untyped]
from botocore.validate import ParamValidator  # type: ignore[import-untyped]

from modelmux.errors import RequestError
from modelmux.plan.models import ProviderPlan, Secret, frozen_mapping
from modelmux.providers.base import (
    AdapterError,
    CanonicalError,
    UnsupportedOperation,
    UpstreamTarget,
)
from modelmux.providers.bedrock import (
    AwsCredentialsError,
    AwsCredentialSource,
    BedrockAdapter,
)
from modelmux.providers.bedrock_translate import to_converse_request
from modelmux.providers.registry import adapter_for
from tests.conformance import (
    assert_valid_chat_completion,
    assert_valid_embeddings,
    assert_valid_error,
)
from tests.fakes import FakeServer, RecordedRequest, Reply
from tests.fakes import bedrock_like as fake
from tests.providers import transcripts

KIND = "bedrock"
ROOT = transcripts.ROOT / KIND
STAMP = {"id": "chatcmpl-modelmux", "object": "chat.completion.chunk", "created": 1, "model": "claude"}
CREDENTIALS = {"access_key_id": fake.ACCESS_KEY, "secret_access_key": fake.SECRET_KEY}
MODEL = fake.service_model()


def plan(spec: dict[str, Any]) -> ProviderPlan:
    headers = tuple((name, Secret(f"${{{name}}}", value)) for name, value in spec.get("headers", {}).items())
    return ProviderPlan(
        name=spec.get("name", "bedrock"),
        type=KIND,
        base_url=spec.get("base_url", ""),
        region=spec.get("region"),
        headers=headers,
        wildcard=True,
        options=frozen_mapping(spec.get("options", {"credentials": CREDENTIALS})),
    )


def adapter(base_url: str = "", **spec: Any) -> BedrockAdapter:
    return BedrockAdapter(plan({"base_url": base_url, "region": fake.REGION, **spec}))


def target(a: BedrockAdapter, upstream: str = fake.MODEL, public: str = "claude") -> UpstreamTarget:
    return UpstreamTarget(a.provider, public, upstream)


def _user(content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def _assistant_call(arguments: str) -> dict[str, Any]:
    call = {"id": "t", "type": "function", "function": {"name": "f", "arguments": arguments}}
    return {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}]}


def freeze_clock(monkeypatch: pytest.MonkeyPatch, iso: str) -> None:
    """botocore's signer reads the time through `botocore.auth.get_current_datetime`."""
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).replace(tzinfo=None)
    assert hasattr(botocore.auth, "get_current_datetime")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: moment)


def recorded(request: httpx.Request) -> RecordedRequest:
    headers = tuple((name, value) for name, value in request.headers.items())
    return RecordedRequest(request.method, request.url.raw_path.decode(), "", headers, request.content)


def save(name: str, case: dict[str, Any]) -> None:
    (ROOT / name).write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


def test_the_registry_serves_bedrock_with_this_adapter() -> None:
    assert type(adapter_for(adapter().provider)) is BedrockAdapter


# Requests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", transcripts.names(KIND, "request_*.json"))
async def test_request_matches_transcript(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = transcripts.load(KIND, name)
    freeze_clock(monkeypatch, case["now"])
    a = BedrockAdapter(plan(case["provider"]))
    t = UpstreamTarget(a.provider, case["target"]["public_model"], case["target"]["upstream_model"])
    if name.startswith("request_embeddings"):
        request = await a.build_embeddings(case["body"], t)
    else:
        request = await a.build_chat(case["body"], t, stream=case["stream"])
    headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
    actual = {
        "method": "POST",
        "url": str(request.url),
        "headers": headers,
        "json": orjson.loads(request.content),
    }
    if transcripts.UPDATE:
        save(name, {**case, "expected": actual})
        case = transcripts.load(KIND, name)
    assert actual == case["expected"]
    origin = f"{request.url.scheme}://{request.url.host}"
    region = case["provider"]["region"]
    token = case["provider"]["options"]["credentials"].get("session_token")
    fake.verify_sigv4(recorded(request), origin=origin, region=region, token=token)


CHAT_REQUESTS = [n for n in transcripts.names(KIND, "request_*.json") if "embeddings" not in n]


@pytest.mark.parametrize("name", CHAT_REQUESTS)
def test_converse_bodies_conform_to_botocores_service_model(name: str) -> None:
    case = transcripts.load(KIND, name)
    operation = "ConverseStream" if case["stream"] else "Converse"
    params = {"modelId": case["target"]["upstream_model"], **case["expected"]["json"]}
    report = ParamValidator().validate(params, MODEL.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()
    assert case["expected"]["url"].endswith(f"/{operation.lower().replace('stream', '-stream')}")


async def test_url_and_signing_scope_match_botocores_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze_clock(monkeypatch, "2024-10-22T12:00:00Z")
    client = botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id=fake.ACCESS_KEY,
        aws_secret_access_key=fake.SECRET_KEY,
    )
    captured: list[Any] = []

    def before_send(request: Any, **_: Any) -> Any:
        captured.append(request)
        raise RuntimeError("captured")

    client.meta.events.register("before-send", before_send)
    with pytest.raises(RuntimeError):
        client.converse(modelId=fake.MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    a = adapter("https://bedrock-runtime.us-east-1.amazonaws.com")
    ours = await a.build_chat({"messages": [{"role": "user", "content": "hi"}]}, target(a), stream=False)
    theirs = captured[0]
    assert str(ours.url) == theirs.url
    scope = theirs.headers["Authorization"].decode().split(", ")[0]
    assert ours.headers["authorization"].split(", ")[0] == scope
    assert ours.headers["x-amz-date"] == theirs.headers["X-Amz-Date"].decode()


# Responses and errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", transcripts.names(KIND, "response_*.json"))
def test_response_matches_transcript(name: str) -> None:
    case = transcripts.load(KIND, name)
    a = adapter()
    t = target(a, case["target"]["upstream_model"], case["target"]["public_model"])
    payload = orjson.dumps(case["upstream"])
    embeddings = name.startswith("response_embeddings")
    actual = a.parse_embeddings(payload, t) if embeddings else a.parse_chat(payload, t)
    masked = json.loads(json.dumps(actual))
    if not embeddings:
        assert masked["id"].startswith("chatcmpl-") and masked["created"] > 1_700_000_000
        masked["id"] = masked["created"] = "<generated>"
        assert not fake.shape_errors(case["upstream"], MODEL.operation_model("Converse").output_shape)
    if transcripts.UPDATE:
        save(name, {**case, "expected": masked})
        case = transcripts.load(KIND, name)
    assert masked == case["expected"]
    (assert_valid_embeddings if embeddings else assert_valid_chat_completion)(actual)


def test_errors_match_transcript() -> None:
    for name, actual, expected in transcripts.replay_errors(KIND):
        assert actual == expected, name
        assert_valid_error(CanonicalError(**actual).body())


# Over HTTP, against a fake Bedrock that checks signatures ----------------------------------------------


async def test_signed_chat_round_trip_through_a_fake_bedrock(server: FakeServer) -> None:
    reply = fake.converse_response("Γειά!", usage_=fake.usage(9, 4))
    server.script("POST", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", Reply.json(reply))
    a = adapter(server.url, options={"credentials": {**CREDENTIALS, "session_token": "SESSION"}})
    body = {"model": "claude", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 20}
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat(body, target(a), stream=False))
    [sent] = server.requests
    fields = fake.verify_sigv4(sent, origin=server.url, token="SESSION")
    assert fields["signed"] == "accept;content-type;host;x-amz-date;x-amz-security-token"
    with pytest.raises(AssertionError, match="signature mismatch"):
        tampered = dataclasses.replace(sent, body=sent.body + b" ")
        fake.verify_sigv4(tampered, origin=server.url, token="SESSION")
    parsed = a.parse_chat(response.content, target(a))
    assert_valid_chat_completion(parsed)
    assert parsed["choices"][0]["message"]["content"] == "Γειά!"
    assert parsed["usage"]["total_tokens"] == 13


async def test_throttled_before_the_stream_through_a_fake_bedrock(server: FakeServer) -> None:
    headers = fake.error_headers("ThrottlingException", **{"retry-after": "2"})
    body = fake.error_body("Too many requests, please wait before trying again.")
    server.script("POST", "/model/amazon.nova-pro-v1%3A0/converse-stream", Reply.json(body, 429, headers))
    a = adapter(server.url)
    request = await a.build_chat(
        {"messages": [{"role": "user", "content": "x"}]}, target(a, "amazon.nova-pro-v1:0"), stream=True
    )
    async with httpx.AsyncClient() as client:
        response = await client.send(request)
    error = a.parse_error(response.status_code, response.headers, response.content)
    assert (error.status, error.code, error.retry_after) == (429, "ThrottlingException", 2.0)


async def test_titan_embeddings_through_a_fake_bedrock(server: FakeServer) -> None:
    reply = Reply.json({"embedding": [0.25, -0.5], "inputTextTokenCount": 3})
    server.script("POST", "/model/amazon.titan-embed-text-v1/invoke", reply)
    a = adapter(server.url)
    t = target(a, "amazon.titan-embed-text-v1", "titan")
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_embeddings({"input": ["hello"], "dimensions": 8}, t))
    [sent] = server.requests
    fake.verify_sigv4(sent, origin=server.url)
    assert sent.json() == {"inputText": "hello"}  # dimensions are a v2 option only
    parsed = a.parse_embeddings(response.content, t)
    assert_valid_embeddings(parsed)
    assert parsed["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


# Credentials ----------------------------------------------------------------------------------------

HELLO = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment where botocore's chain finds only what a test puts there (no metadata calls)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


async def test_default_chain_is_resolved_once_and_off_the_event_loop(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-from-env")
    threads: list[int] = []
    original = botocore.session.Session.get_credentials

    def spy(self: Any) -> Any:
        threads.append(threading.get_ident())
        return original(self)

    monkeypatch.setattr(botocore.session.Session, "get_credentials", spy)
    a = adapter(options={})
    first = await a.build_chat(HELLO, target(a), stream=False)
    await a.build_chat(HELLO, target(a), stream=False)
    assert len(threads) == 1 and threads[0] != threading.get_ident()
    assert "Credential=AKIDFROMENV/" in first.headers["authorization"]
    assert first.headers["x-amz-security-token"] == "token-from-env"


async def test_a_named_profile_is_used(aws_env: Path) -> None:
    profile = "[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n"
    (aws_env / "credentials").write_text(profile)
    a = adapter(options={"credentials": {"profile": "dev"}})
    request = await a.build_chat(HELLO, target(a), stream=False)
    assert "Credential=AKIDPROFILE/" in request.headers["authorization"]


@pytest.mark.parametrize(
    ("spec", "message"), [({}, "no AWS credentials found"), ({"profile": "nope"}, "could not load")]
)
async def test_missing_credentials_are_a_503(aws_env: Path, spec: dict[str, Any], message: str) -> None:
    a = adapter(options={"credentials": spec})
    with pytest.raises(AwsCredentialsError) as caught:
        await a.build_chat(HELLO, target(a), stream=False)
    assert (caught.value.error.status, caught.value.error.type) == (503, "server_error")
    assert message in caught.value.error.message


async def test_refreshable_credentials_are_refreshed_by_botocore_off_the_event_loop() -> None:
    now = dt.datetime.now(dt.UTC)
    refreshes: list[int] = []

    def refresh() -> dict[str, str]:
        refreshes.append(threading.get_ident())
        expiry = (now + dt.timedelta(hours=1)).isoformat()
        return {"access_key": "AKIDNEW", "secret_key": "s2", "token": "t2", "expiry_time": expiry}

    old = {"access_key": "AKIDOLD", "secret_key": "s", "token": "t", "expiry_time": now.isoformat()}
    expired = RefreshableCredentials.create_from_metadata(old, refresh_using=refresh, method="test")
    a = BedrockAdapter(adapter().provider, credentials=AwsCredentialSource(credentials=expired))
    first = await a.build_chat(HELLO, target(a), stream=False)
    second = await a.build_chat(HELLO, target(a), stream=False)
    assert len(refreshes) == 1 and refreshes[0] != threading.get_ident()
    for request in (first, second):
        assert "Credential=AKIDNEW/" in request.headers["authorization"]
        assert request.headers["x-amz-security-token"] == "t2"


async def test_the_region_comes_from_the_endpoint_when_not_set_and_is_required() -> None:
    a = BedrockAdapter(plan({"base_url": "https://bedrock-runtime.eu-west-3.amazonaws.com", "region": None}))
    request = await a.build_chat(HELLO, target(a), stream=False)
    assert "/eu-west-3/bedrock/aws4_request" in request.headers["authorization"]
    nowhere = BedrockAdapter(plan({"base_url": "http://127.0.0.1:9", "region": None}))
    with pytest.raises(AdapterError) as caught:
        await nowhere.build_chat(HELLO, target(nowhere), stream=False)
    assert caught.value.error.status == 500


# Translation edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"n": 2, "messages": []}, "n", "n must be 1"),
        (
            _user([{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]),
            "image_url",
            "data: URL",
        ),
        (
            _user([{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]),
            "image_url",
            "bmp",
        ),
        (_user([{"type": "input_audio", "input_audio": {}}]), "messages[0].content[0]", "not supported"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role", "not supported"),
        ({"messages": [], "tools": [{"type": "custom"}]}, "tools[0].type", "not supported"),
        (
            {"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": 3},
            "tool_choice",
            "",
        ),
        (_assistant_call("{not json"), "arguments", "not valid JSON"),
        (_assistant_call("[1]"), "arguments", "JSON object"),
    ],
)
def test_untranslatable_requests_are_400s(body: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        to_converse_request(body, default_max_tokens=10)
    assert caught.value.status == 400 and param in str(caught.value.param) and message in caught.value.message


async def test_embeddings_limits() -> None:
    a = adapter()
    with pytest.raises(RequestError, match="one input per request"):
        await a.build_embeddings({"input": ["a", "b"]}, target(a, "amazon.titan-embed-text-v2:0"))
    with pytest.raises(RequestError, match="token arrays"):
        await a.build_embeddings({"input": [1, 2]}, target(a, "cohere.embed-english-v3"))
    with pytest.raises(UnsupportedOperation):
        await a.build_embeddings({"input": "a"}, target(a))
