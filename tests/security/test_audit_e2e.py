"""The audit policy in a running gateway: one chained entry per request, refused ones included, naming
who (never the key), what, the route and provider, status and tokens; bodies only when asked, redacted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from modelmux.security.audit import verify
from modelmux.security.audit_writer import flush_writers
from tests.e2e.conftest import Gateway, GatewayFor, stream_raw
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.security.conftest import ALICE_KEY, AUTH, BOB_KEY, CHAT, KEYS_ENV, PROVIDERS, bearer, chat


def audit_entries(gateway: Gateway) -> list[dict[str, Any]]:
    assert flush_writers()
    path = gateway.source.parent / "audit.jsonl"
    assert verify(path).ok
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_request_is_audited_without_its_key(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion("hi")))
    gateway = gateway_for(upstream, PROVIDERS + AUTH + "audit:\n  path: audit.jsonl\n", KEYS_ENV)
    client = gateway.http()
    ok = chat(client)
    assert ok.status_code == 200
    assert chat(client, key="mm-wrong-key-0123456789abcdefghij").status_code == 401
    assert chat(client, key=BOB_KEY, model="gpt-4o").status_code == 403
    entries = audit_entries(gateway)
    assert [e["status"] for e in entries] == [200, 401, 403]
    first = entries[0]
    assert first["key"] == "alice" and first["user"] == "alice" and first["org"] == "acme"
    assert first["endpoint"] == "chat" and first["model"] == "gpt-4o" and first["provider"] == "up"
    assert first["route"] and first["tokens"] == {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
    assert first["request_id"] == ok.headers["x-request-id"] and first["time"].endswith("Z")
    assert entries[1]["key"] is None and entries[1]["error"] == "invalid_api_key"
    assert entries[2]["key"] == "bob" and entries[2]["error"] == "model_not_allowed"
    assert "request_body" not in first
    text = (gateway.source.parent / "audit.jsonl").read_text()
    assert ALICE_KEY not in text and BOB_KEY not in text and "wrong-key" not in text


def test_bodies_are_kept_only_when_asked_and_redacted(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion("Mail sent to jane@example.com.")))
    config = PROVIDERS + "audit:\n  path: audit.jsonl\n  include_bodies: true\n"
    gateway = gateway_for(upstream, config)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Mail jane@example.com, SSN 123-45-6789"}]}
    assert gateway.http().post(CHAT, json=body).status_code == 200
    [logged] = audit_entries(gateway)
    assert logged["request_body"]["messages"][0]["content"] == "Mail [EMAIL_1], SSN [SSN_1]"
    assert logged["response_body"]["choices"][0]["message"]["content"] == "Mail sent to [EMAIL_1]."
    text = (gateway.source.parent / "audit.jsonl").read_text()
    assert "jane@example.com" not in text and "123-45-6789" not in text


def test_a_stream_is_audited_when_it_ends(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.sse([oa.sse_body(oa.text_chunks(["a", "b"], include_usage=True))]))
    gateway = gateway_for(upstream, PROVIDERS + AUTH + "audit:\n  path: audit.jsonl\n", KEYS_ENV)
    stream = stream_raw(gateway, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}, bearer(ALICE_KEY))
    assert stream.done
    [logged] = audit_entries(gateway)
    assert logged["stream"] is True and logged["result"] == "ok" and logged["tokens"]["total_tokens"] == 29


def test_the_audit_path_is_relative_to_the_config(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion()))
    gateway = gateway_for(upstream, PROVIDERS + "audit:\n  path: logs/audit.jsonl\n")
    assert gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert flush_writers()
    assert verify(Path(gateway.source.parent / "logs" / "audit.jsonl")).entries == 1
