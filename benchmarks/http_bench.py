"""Whole-process HTTP benchmarks of ModelMux against a direct call to the same fake upstream.

Starts the fast fake upstream (benchmarks/fake_upstream.py) and `modelmux serve` as separate
processes on loopback, drives both with wrk (Debian package `wrk`), and reports medians over repeated
runs: throughput at 32 connections, added latency at one connection (ModelMux minus direct, p50/p99),
and resident memory per worker.

Run: .venv/bin/python -m benchmarks.http_bench [--workers 2] [--runs 3] [--duration 10] [--translated]
     [--wrk-threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
POST_LUA = """
wrk.method = "POST"
wrk.body   = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello."}],"max_tokens":32}'
wrk.headers["Content-Type"] = "application/json"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextlib.contextmanager
def process(*command: str, port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_for_port(port)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def gateway_config(upstream_port: int, port: int, translated: bool) -> str:
    kind = "anthropic" if translated else "openai_compatible"
    key = "\n    api_key: bench-key" if translated else ""
    base = f"http://127.0.0.1:{upstream_port}" + ("" if translated else "/v1")
    return f"""
server:
  port: {port}
providers:
  - name: upstream
    type: {kind}
    base_url: {base}{key}
    models: ["gpt-4o-mini", "claude-sonnet"]
routing:
  strategy: hybrid
  rules:
    - if: model == "gpt-4o-mini" and stream == false
      provider: upstream
    - if: metadata.tier == "batch"
      provider: upstream
  fallback: {{enabled: true, max_retries: 1}}
"""


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(url: str, connections: int, duration: int, script: Path, threads: int = 1) -> WrkResult:
    """One wrk run. One thread drives 66,000 req/s against the fake upstream: a second only takes a core."""
    threads = max(1, min(threads, connections))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        found = re.search(pattern, out)
        if found:
            errors += sum(int(g) for g in found.groups())
    return WrkResult(rps, _latency(out, "50%"), _latency(out, "99%"), errors)


def _latency(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def rss_mb(pid: int) -> list[float]:
    """Resident memory of each worker process (the children of `pid`, or `pid` itself)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    pids = [int(p) for p in children] or [pid]
    sizes = []
    for child in pids:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{child}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
    return sizes


def median(results: list[WrkResult], field: str) -> float:
    return statistics.median(getattr(r, field) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--translated", action="store_true", help="OpenAI client -> Anthropic upstream")
    parser.add_argument("--wrk-threads", type=int, default=1, help="load generator threads (2 before 2026-12-01)")
    args = parser.parse_args()
    upstream_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(POST_LUA)
        config = Path(folder) / "bench.yaml"
        config.write_text(gateway_config(upstream_port, port, args.translated))
        upstream_cmd = [str(BIN / "python"), "-m", "benchmarks.fake_upstream", "--port", str(upstream_port)]
        if args.translated:
            upstream_cmd = [str(BIN / "python"), "-m", "benchmarks.fake_anthropic", "--port", str(upstream_port)]
        serve_cmd = [str(BIN / "modelmux"), "serve", str(config), "--workers", str(args.workers), "--no-watch"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        with process(*upstream_cmd, port=upstream_port, env=env), process(*serve_cmd, port=port) as gateway:
            direct_path = "/v1/messages" if args.translated else "/v1/chat/completions"
            direct_url = f"http://127.0.0.1:{upstream_port}{direct_path}"
            gateway_url = f"http://127.0.0.1:{port}/v1/chat/completions"
            wrk(gateway_url, 32, 2, script)  # warm up
            report(args, direct_url, gateway_url, script, gateway.pid)


def report(args: argparse.Namespace, direct_url: str, gateway_url: str, script: Path, pid: int) -> None:
    threads = args.wrk_threads
    through_32 = [wrk(gateway_url, 32, args.duration, script, threads) for _ in range(args.runs)]
    direct_1 = [wrk(direct_url, 1, args.duration, script) for _ in range(args.runs)]
    through_1 = [wrk(gateway_url, 1, args.duration, script) for _ in range(args.runs)]
    print(
        f"workers={args.workers} runs={args.runs} duration={args.duration}s translated={args.translated} "
        f"wrk threads={args.wrk_threads}"
    )
    print(
        f"throughput @32 connections: {median(through_32, 'rps'):.0f} req/s, "
        f"p99 {median(through_32, 'p99_ms'):.2f} ms, errors {sum(r.errors for r in through_32)}"
    )
    added_50 = median(through_1, "p50_ms") - median(direct_1, "p50_ms")
    added_99 = median(through_1, "p99_ms") - median(direct_1, "p99_ms")
    print(
        f"one connection: direct p50 {median(direct_1, 'p50_ms'):.3f} ms, via ModelMux p50 "
        f"{median(through_1, 'p50_ms'):.3f} ms -> added p50 {added_50:.3f} ms, added p99 {added_99:.3f} ms"
    )
    print(f"worker RSS after the runs: {', '.join(f'{m:.0f} MB' for m in rss_mb(pid))}")


if __name__ == "__main__":
    main()
