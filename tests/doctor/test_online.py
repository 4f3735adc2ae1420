"""`doctor --online` probes: one bounded request per provider, judged by its status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmux.compiler.compile import compile_file
from modelmux.doctor.checks import FAIL, OK, WARN
from modelmux.doctor.online import run_probes
from modelmux.plan.models import Plan
from tests.fakes import FakeServer, Reply


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def plan_for(server: FakeServer) -> Plan:
    text = f"""
providers:
  - name: openai
    type: openai
    api_key: sk-probe
    base_url: {server.url_for("/v1")}
  - name: claude
    type: anthropic
    api_key: ant-probe
    base_url: {server.url_for("/anthropic")}
  - name: demo
    type: mock
"""
    result = compile_file("online.yaml", {}, text=text)
    assert result.plan is not None
    return result.plan


def test_probes_pass_when_keys_are_accepted(upstream: FakeServer) -> None:
    upstream.script("GET", "/v1/models", Reply.json({"object": "list", "data": []}))
    upstream.script("GET", "/anthropic/v1/models", Reply.json({"data": [], "has_more": False}))
    checks = {c.name: c for c in run_probes(plan_for(upstream), 2.0)}
    assert checks["online openai"].status == OK
    assert checks["online claude"].status == OK
    assert checks["online demo"].status == OK
    sent = {r.path: r for r in upstream.requests}
    assert sent["/v1/models"].header("authorization") == "Bearer sk-probe"
    assert sent["/anthropic/v1/models"].header("x-api-key") == "ant-probe"


def test_probes_fail_on_rejected_keys_and_warn_on_other_statuses(upstream: FakeServer) -> None:
    upstream.script("GET", "/v1/models", Reply.json({"error": {"message": "bad key"}}, status=401))
    upstream.script("GET", "/anthropic/v1/models", Reply.json({"error": {"message": "busy"}}, status=503))
    checks = {c.name: c for c in run_probes(plan_for(upstream), 2.0)}
    assert checks["online openai"].status == FAIL
    assert "api_key" in checks["online openai"].fix
    assert checks["online claude"].status == WARN


def test_probe_of_an_unreachable_endpoint_fails_within_the_timeout() -> None:
    text = "providers:\n  - name: local\n    type: openai_compatible\n    base_url: http://127.0.0.1:9/v1\n"
    result = compile_file("down.yaml", {}, text=text)
    assert result.plan is not None
    [check] = run_probes(result.plan, 1.0)
    assert check.status == FAIL and "base_url" in check.fix


def bedrock_plan(server: FakeServer) -> Plan:
    text = f"""
providers:
  - name: aws
    type: bedrock
    region: us-east-1
    base_url: {server.url_for("/bedrock")}
"""
    result = compile_file("bedrock.yaml", {}, text=text)
    assert result.plan is not None
    return result.plan


def test_bedrock_probe_sends_a_signed_list_foundation_models(
    upstream: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDOCTORPROBE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "doctor-secret")
    upstream.script("GET", "/bedrock/foundation-models", Reply.json({"modelSummaries": []}))
    [check] = run_probes(bedrock_plan(upstream), 2.0)
    assert check.status == OK and "us-east-1" in check.detail
    [sent] = upstream.requests_to("/bedrock/foundation-models")
    authorization = sent.header("authorization") or ""
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDDOCTORPROBE/")
    assert "/us-east-1/bedrock/aws4_request" in authorization
    assert "doctor-secret" not in authorization


def test_bedrock_probe_fails_when_aws_refuses(upstream: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDOCTORPROBE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "doctor-secret")
    upstream.script("GET", "/bedrock/foundation-models", Reply.json({"message": "denied"}, status=403))
    [check] = run_probes(bedrock_plan(upstream), 2.0)
    assert check.status == FAIL and "IAM" in check.fix
