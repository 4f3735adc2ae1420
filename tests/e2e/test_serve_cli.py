"""`modelmux serve` as a user runs it: a subprocess with no config serves the bundled demo to the
OpenAI SDK, and SIGTERM stops it cleanly."""

from __future__ import annotations

import httpx
import httpx2
import openai
import pytest

from tests.e2e.conftest import USER_HI, ConformingTransport, ServeCli, assert_modelmux_headers, stop


def ask_demo(url: str) -> None:
    """Chat, stream and list models with the OpenAI SDK; every response checked against OpenAI's schemas."""
    violations: list[str] = []
    transport = ConformingTransport(httpx2.HTTPTransport(), violations)
    http = httpx2.Client(transport=transport, trust_env=False)
    with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=10.0, http_client=http) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_HI)
        completion = raw.parse()
        assert completion.model == "gpt-4o-mini"
        assert (completion.choices[0].message.content or "").startswith("Hello from ModelMux!")
        assert_modelmux_headers(raw.headers, attempts=1)
        with sdk.chat.completions.create(model="claude-sonnet", messages=USER_HI, stream=True) as stream:
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
        assert text == "Hello from ModelMux! This answer comes from the careful mock provider."
        assert {model.id for model in sdk.models.list()} >= {"gpt-4o-mini", "gpt-4o", "claude-sonnet"}
    assert not violations, violations


def test_serve_without_config_serves_the_demo_and_stops_on_sigterm(serve_cli: ServeCli) -> None:
    served = serve_cli()
    ask_demo(served.url)
    assert "bundled offline demo" in served.stderr()
    assert stop(served) == 0, served.stderr()
    with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as client:
        client.get(served.url + "/health")


def test_serve_with_two_workers_answers(serve_cli: ServeCli) -> None:
    served = serve_cli("--workers", "2")
    assert "2 worker(s)" in served.stderr()
    for _ in range(4):
        ask_demo(served.url)
    assert stop(served) == 0, served.stderr()
    with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as client:
        client.get(served.url + "/health")
