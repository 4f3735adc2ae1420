"""`modelmux serve --workers 2`: a scrape of either worker counts the requests of both."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import USER_HI, ServeCli, serve_cli, stop
from tests.observability.conftest import parse_metrics, total, value

__all__ = ["serve_cli"]

CONFIG = """
version: 1
providers:
  - name: mock
    type: mock
    models: ["gpt-4o-mini"]
    response: "hello from a worker"
observability:
  logging: {format: json, level: info}
"""
MAX_REQUESTS = 200
BATCH = 5


def fresh(method: str, url: str, **kwargs: object) -> httpx.Response:
    """One request on a new connection (the kernel hands each new connection to either worker)."""
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        return client.request(method, url, **kwargs)  # type: ignore[arg-type]


def served_by_worker(url: str, seen: dict[int, int]) -> None:
    """Ask /admin/providers on a few new connections: how many requests each worker answered."""
    for _ in range(10):
        body = fresh("GET", url + "/admin/providers").json()
        seen[body["worker"]] = int(body["providers"][0]["outcomes"].get("success", 0))


def test_two_workers_sum_their_counts(serve_cli: ServeCli, tmp_path: Path) -> None:
    config = tmp_path / "workers.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    served = serve_cli(str(config), "--workers", "2")
    sent = 0
    seen: dict[int, int] = {}
    while sent < MAX_REQUESTS and len([w for w, n in seen.items() if n > 0]) < 2:
        for _ in range(BATCH):
            answer = fresh(
                "POST", served.url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER_HI}
            )
            assert answer.status_code == 200, answer.text
            sent += 1
        served_by_worker(served.url, seen)
    busy = {worker: count for worker, count in seen.items() if count > 0}
    assert len(busy) == 2, f"after {sent} requests only {busy} answered; the kernel never used the other worker"
    for _ in range(6):
        samples = parse_metrics(fresh("GET", served.url + "/metrics").text)
        labels = {"route": "default", "provider": "mock", "model": "gpt-4o-mini", "status": "200"}
        assert value(samples, "modelmux_requests_total", **labels) == sent
        assert total(samples, "modelmux_request_duration_seconds_count") == sent
        assert value(samples, "modelmux_circuit_state", provider="mock") == 0
        plans = [labels for (name, labels), v in samples.items() if name == "modelmux_plan_info" and v == 1]
        assert len(plans) == 1 and dict(plans[0])["generation"] == "1"
    assert stop(served) == 0, served.stderr()
    access = [line for line in served.stderr().splitlines() if '"logger":"modelmux.access"' in line]
    assert len(access) == sent, "every worker writes JSON access lines"
