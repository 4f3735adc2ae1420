"""`modelmux serve` as a user runs it: a subprocess with no config serves the bundled demo to the
OpenAI SDK, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import openai
import pytest

from tests.e2e.conftest import USER_HI, ConformingTransport, assert_modelmux_headers, free_port

MODELMUX = Path(sys.executable).with_name("modelmux")
STARTUP_BOUND = 30.0
STOP_BOUND = 20.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


ServeCli = Callable[..., Served]


def wait_until_serving(served: Served) -> None:
    deadline = time.monotonic() + STARTUP_BOUND
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                raise AssertionError(f"modelmux serve exited early:\n{served.stderr()}")
            try:
                if client.get(served.url + "/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"modelmux serve did not answer within {STARTUP_BOUND}s:\n{served.stderr()}")


@pytest.fixture
def serve_cli(tmp_path: Path) -> Iterator[ServeCli]:
    """Start `modelmux serve --port N [args]` in an empty directory; kill it if a test left it running."""
    started: list[Served] = []

    def start(*args: str) -> Served:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("MODELMUX_CONFIG", "MODELMUX_SERVE_CONFIG")}
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [str(MODELMUX), "serve", "--port", str(port), *args],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        served = Served(process, f"http://127.0.0.1:{port}", log)
        started.append(served)
        wait_until_serving(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(timeout=10)


def stop(served: Served) -> int:
    served.process.send_signal(signal.SIGTERM)
    try:
        return served.process.wait(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"SIGTERM did not stop modelmux serve:\n{served.stderr()}") from None


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
