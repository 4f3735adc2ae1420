"""Hot reload under load: `serve --workers 2 --watch`, the config rewritten valid, invalid, valid.

Zero requests may fail; after each valid change every worker serves the new plan fingerprint; after
the invalid one every worker keeps the plan it had. Also `modelmux reload` and SIGHUP.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from modelmux.compiler.compile import compile_file
from tests.e2e.conftest import ServeCli, Served, stop

MODELMUX = Path(sys.executable).with_name("modelmux")
CONFIG = """
providers:
  - name: fast
    type: mock
    models: ["gpt-4o-mini"]
    response: "{answer}"
routing:
  fallback: {{enabled: true, max_retries: 1}}
"""
BROKEN = CONFIG.replace("type: mock", "type: mokc")
CONVERGE_BOUND = 15.0


def fingerprint(text: str) -> str:
    result = compile_file("config.yaml", {}, text=text)
    assert result.plan is not None
    return result.plan.fingerprint


def write(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    temporary.replace(path)  # the atomic rename editors and ConfigMap updates do


def worker_fingerprints(url: str, samples: int = 24) -> dict[int, str]:
    """Each worker's plan, sampled over fresh connections (the kernel spreads them across workers)."""
    seen: dict[int, str] = {}
    for _ in range(samples):
        with httpx.Client(trust_env=False, timeout=5.0) as client:
            health = client.get(url + "/health").json()
        seen[health["worker"]] = health["fingerprint"]
    return seen


def wait_for_fingerprint(url: str, expected: str, workers: int) -> None:
    deadline = time.monotonic() + CONVERGE_BOUND
    seen: dict[int, str] = {}
    while time.monotonic() < deadline:
        seen = worker_fingerprints(url)
        if len(seen) >= workers and set(seen.values()) == {expected}:
            return
        time.sleep(0.2)
    raise AssertionError(f"workers did not converge on {expected}: {seen}")


class Load:
    """Steady concurrent chat traffic in a background thread, counting every failure."""

    def __init__(self, url: str, concurrency: int = 8) -> None:
        self.url = url
        self.concurrency = concurrency
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    async def _run(self) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
            await asyncio.gather(*(self._loop(client) for _ in range(self.concurrency)))

    async def _loop(self, client: httpx.AsyncClient) -> None:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        while not self._stop.is_set():
            try:
                response = await client.post(self.url + "/v1/chat/completions", json=body)
            except httpx.HTTPError as exc:
                self.failures.append(f"transport: {exc!r}")
                continue
            if response.status_code == 200:
                self.ok += 1
            else:
                self.failures.append(f"{response.status_code}: {response.text[:200]}")


def test_two_workers_reload_under_load_without_losing_a_request(serve_cli: ServeCli, tmp_path: Path) -> None:
    config = tmp_path / "modelmux.yaml"
    first, second, third = (CONFIG.format(answer=a) for a in ("one", "two", "three"))
    write(config, first)
    served = serve_cli(str(config), "--workers", "2", "--watch")
    wait_for_fingerprint(served.url, fingerprint(first), 2)
    with Load(served.url) as load:
        time.sleep(0.5)
        write(config, second)
        wait_for_fingerprint(served.url, fingerprint(second), 2)
        write(config, BROKEN.format(answer="broken"))
        time.sleep(2.0)
        assert set(worker_fingerprints(served.url).values()) == {fingerprint(second)}
        write(config, third)
        wait_for_fingerprint(served.url, fingerprint(third), 2)
        time.sleep(0.5)
    assert load.failures == []
    assert load.ok > 50
    with httpx.Client(trust_env=False) as client:
        plan = client.get(served.url + "/admin/plan").json()
    assert plan["plan"]["fingerprint"] == fingerprint(third)
    assert stop(served) == 0, served.stderr()


def test_reload_command_reports_the_change_and_refuses_a_broken_config(serve_cli: ServeCli, tmp_path: Path) -> None:
    config = tmp_path / "modelmux.yaml"
    write(config, CONFIG.format(answer="before"))
    served = serve_cli(str(config), "--no-watch")
    write(config, CONFIG.format(answer="after"))
    result = subprocess.run([str(MODELMUX), "reload", "--url", served.url], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert fingerprint(CONFIG.format(answer="after")) in result.stdout
    assert "1 changed in providers" in result.stdout
    write(config, BROKEN.format(answer="broken"))
    result = subprocess.run([str(MODELMUX), "reload", "--url", served.url], capture_output=True, text=True)
    assert result.returncode == 1
    assert "unknown provider type 'mokc'" in result.stderr
    assert f"keeps plan {fingerprint(CONFIG.format(answer='after'))}" in result.stderr
    with httpx.Client(trust_env=False) as client:
        answer = client.post(
            served.url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        ).json()
    assert answer["choices"][0]["message"]["content"] == "after"
    stop(served)


def test_reload_command_exits_2_when_no_server_answers() -> None:
    result = subprocess.run(
        [str(MODELMUX), "reload", "--url", "http://127.0.0.1:9", "--timeout", "2"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "cannot reach" in result.stderr


def test_sighup_reloads_a_single_process(serve_cli: ServeCli, tmp_path: Path) -> None:
    config = tmp_path / "modelmux.yaml"
    write(config, CONFIG.format(answer="before"))
    served: Served = serve_cli(str(config), "--no-watch")
    write(config, CONFIG.format(answer="after"))
    served.process.send_signal(signal.SIGHUP)
    wait_for_fingerprint(served.url, fingerprint(CONFIG.format(answer="after")), 1)
    stop(served)
