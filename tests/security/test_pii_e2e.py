"""The PII policy against a running gateway: what the fake upstream receives never carries the values,
`block` refuses naming only the entity types, and responses (JSON and streamed) are redacted."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.conftest import GatewayFor, assert_error_response, received, stream_raw
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.security.conftest import CHAT, PROVIDERS

SECRET_TEXT = "I am jane.roe@example.com, card 4111 1111 1111 1111, key sk-proj-abcdefghijklmnopqrstuvwxyz012345."
VALUES = ("jane.roe@example.com", "4111 1111 1111 1111", "sk-proj-abcdefghijklmnopqrstuvwxyz012345")


def pii(mode: str, apply_to: str = "[request]") -> str:
    return f"\npii:\n  mode: {mode}\n  apply_to: {apply_to}\n"


def messages(text: str = SECRET_TEXT) -> list[dict[str, object]]:
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": text}]},
        {"role": "user", "content": text},
    ]


def test_redacted_request_never_carries_the_values(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion("ok")))
    gateway = gateway_for(upstream, PROVIDERS + pii("redact"))
    response = gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": messages()})
    assert response.status_code == 200
    sent = received(upstream, CHAT)
    text = sent.body.decode()
    assert not any(value in text for value in VALUES)
    user = sent.json()["messages"][2]["content"]
    assert user == "I am [EMAIL_1], card [CREDIT_CARD_1], key [API_KEY_1]."
    assert sent.json()["messages"][1]["content"][0]["text"] == user


def test_redacted_streaming_request_never_carries_the_values(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.sse([oa.sse_body(oa.text_chunks(["ok"]))]))
    gateway = gateway_for(upstream, PROVIDERS + pii("redact"))
    stream = stream_raw(gateway, {"model": "gpt-4o", "messages": messages()})
    assert stream.status == 200 and stream.done
    assert not any(value in received(upstream, CHAT).body.decode() for value in VALUES)


def test_embeddings_input_is_redacted(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", "/v1/embeddings", Reply.json(oa.embeddings([[0.1, 0.2]])))
    gateway = gateway_for(upstream, PROVIDERS + pii("redact"))
    body = {"model": "text-embedding-3-small", "input": ["mail jane.roe@example.com"]}
    assert gateway.http().post("/v1/embeddings", json=body).status_code == 200
    assert received(upstream, "/v1/embeddings").json()["input"] == ["mail [EMAIL_1]"]


def test_block_mode_refuses_naming_the_types_not_the_values(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + pii("block"))
    response = gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": messages()})
    error = assert_error_response(response, 400, code="pii_detected")
    assert "email" in error["message"] and "credit_card" in error["message"] and "api_key" in error["message"]
    assert not any(value in response.text for value in VALUES)
    assert not upstream.requests


def test_log_mode_logs_types_and_counts_only(
    gateway_for: GatewayFor, upstream: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion("ok")))
    gateway = gateway_for(upstream, PROVIDERS + pii("log"))
    with caplog.at_level(logging.INFO, logger="modelmux.pii"):
        response = gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": messages()})
    assert response.status_code == 200
    assert "jane.roe@example.com" in received(upstream, CHAT).body.decode()  # log mode changes nothing
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "email=2" in logged and "credit_card=2" in logged
    assert not any(value in logged for value in VALUES)


def test_json_responses_are_redacted(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    answer = "Sure, I wrote to jane.roe@example.com and to boss@example.org."
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(answer)))
    gateway = gateway_for(upstream, PROVIDERS + pii("redact", "[request, response]"))
    response = gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": messages()})
    assert response.status_code == 200
    content = response.json()["choices"][0]["message"]["content"]
    assert content == "Sure, I wrote to [EMAIL_1] and to [EMAIL_2]."  # the request's placeholder again


def test_an_email_split_across_two_sse_chunks_is_redacted(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    chunks = oa.text_chunks(["Contact john.doe@exa", "mple.com", " for details."], include_usage=True)
    upstream.script("POST", CHAT, Reply.sse([oa.sse_body(chunks[:3], done=False), 0.05, oa.sse_body(chunks[3:])]))
    gateway = gateway_for(upstream, PROVIDERS + pii("redact", "[request, response]"))
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "stream_options": {"include_usage": True},
    }
    stream = stream_raw(gateway, body)
    assert stream.status == 200 and stream.done
    assert stream.text() == "Contact [EMAIL_1] for details."
    raw = "".join(data for _, data in stream.events)
    assert "john.doe" not in raw and "mple.com" not in raw
    assert stream.chunks[-1]["usage"]["total_tokens"] == 29
