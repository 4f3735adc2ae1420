"""Leak check: worker RSS after each of three rounds of at least 30,000 requests.

Run: .venv/bin/python -m benchmarks.memory_bench [--requests 30000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.http_bench import BIN, POST_LUA, free_port, gateway_config, process, rss_mb, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    upstream_port, port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(POST_LUA)
        config = Path(folder) / "bench.yaml"
        config.write_text(gateway_config(upstream_port, port, translated=False))
        upstream = [str(BIN / "python"), "-m", "benchmarks.fake_upstream", "--port", str(upstream_port)]
        serve = [str(BIN / "modelmux"), "serve", str(config), "--workers", str(args.workers), "--no-watch"]
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        with process(*upstream, port=upstream_port, env=env), process(*serve, port=port) as gateway:
            wrk(url, 32, 2, script)
            print(f"after warm-up: {', '.join(f'{m:.1f} MB' for m in rss_mb(gateway.pid))}")
            for round_number in range(1, args.rounds + 1):
                sent = 0
                while sent < args.requests:
                    result = wrk(url, 32, 10, script)
                    sent += int(result.rps * 10)
                    if result.errors:
                        sys.exit(f"errors during round {round_number}: {result.errors}")
                sizes = ", ".join(f"{m:.1f} MB" for m in rss_mb(gateway.pid))
                print(f"round {round_number}: ~{sent} requests, worker RSS {sizes}")


if __name__ == "__main__":
    main()
