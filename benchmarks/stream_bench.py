"""Streaming benchmarks: time-to-first-token overhead and chunk relay rate through ModelMux.

TTFT: sequential streamed requests, time from sending to the first `data:` line, via ModelMux minus
direct to the same fake upstream (medians). Relay: the upstream sends `--chunks` chunks per response
as fast as it can; ModelMux (one worker) decodes, re-stamps and re-encodes every chunk; chunks/s is
counted at the client.

Run: .venv/bin/python -m benchmarks.stream_bench [--requests 300] [--chunks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.http_bench import free_port, process

BIN = Path(sys.executable).parent
BODY = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello."}]}'


async def first_token_times(url: str, requests: int) -> list[float]:
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(requests):
            start = time.perf_counter()
            async with session.post(url, data=BODY, headers={"content-type": "application/json"}) as response:
                async for _line in response.content:
                    times.append(time.perf_counter() - start)
                    break
                await response.read()
    return times


async def relay_rate(url: str, concurrency: int, rounds: int) -> float:
    chunks = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal chunks
        for _ in range(rounds):
            async with session.post(url, data=BODY, headers={"content-type": "application/json"}) as response:
                tail = b"\n"  # counted in raw reads: aiohttp's line reader copies the rest of a read per line
                async for data in response.content.iter_any():
                    joined = tail + data
                    chunks += joined.count(b"\ndata: {")
                    tail = joined[-7:]  # too short to hold a whole marker, long enough to complete one

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session) for _ in range(concurrency)))
    return chunks / (time.perf_counter() - start)


def config(upstream_port: int, port: int) -> str:
    return f"""
server: {{port: {port}}}
providers:
  - name: upstream
    type: openai_compatible
    base_url: http://127.0.0.1:{upstream_port}/v1
    models: ["gpt-4o-mini"]
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=2000)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryDirectory() as folder:
        short_up, long_up, port_a, port_b = free_port(), free_port(), free_port(), free_port()
        python = str(BIN / "python")
        short_cmd = [python, "-m", "benchmarks.fake_upstream", "--port", str(short_up), "--chunks", "20"]
        long_cmd = [python, "-m", "benchmarks.fake_upstream", "--port", str(long_up), "--chunks", str(args.chunks)]
        for name, upstream, port in (("a", short_up, port_a), ("b", long_up, port_b)):
            (Path(folder) / f"{name}.yaml").write_text(config(upstream, port))
        serve = [str(BIN / "modelmux"), "serve", "--workers", "1", "--no-watch"]
        with (
            process(*short_cmd, port=short_up, env=env),
            process(*long_cmd, port=long_up, env=env),
            process(*serve, str(Path(folder) / "a.yaml"), port=port_a),
            process(*serve, str(Path(folder) / "b.yaml"), port=port_b),
        ):
            direct = f"http://127.0.0.1:{short_up}/v1/chat/completions"
            gateway = f"http://127.0.0.1:{port_a}/v1/chat/completions"
            asyncio.run(first_token_times(gateway, 20))
            ttft_direct = statistics.median(asyncio.run(first_token_times(direct, args.requests)))
            ttft_gateway = statistics.median(asyncio.run(first_token_times(gateway, args.requests)))
            rate = asyncio.run(relay_rate(f"http://127.0.0.1:{port_b}/v1/chat/completions", 8, 3))
    print(
        f"TTFT: direct {ttft_direct * 1000:.3f} ms, via ModelMux {ttft_gateway * 1000:.3f} ms, "
        f"overhead {(ttft_gateway - ttft_direct) * 1000:.3f} ms (median of {args.requests})"
    )
    print(f"relay: {rate:,.0f} chunks/s through one worker ({args.chunks} chunks per response, 8 concurrent)")


if __name__ == "__main__":
    main()
