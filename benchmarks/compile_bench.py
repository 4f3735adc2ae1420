"""Compiler benchmarks: `modelmux validate` wall time on the demo config, and compile time of a
generated config with 1,000 providers and 2,000 rules.

Run: .venv/bin/python -m benchmarks.compile_bench [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generated_config(providers: int, rules: int) -> str:
    lines = ["providers:"]
    for i in range(providers):
        lines += [
            f"  - name: p{i}",
            "    type: openai_compatible",
            f"    base_url: http://127.0.0.1:{10000 + i}/v1",
            f'    models: ["m-{i}", "shared"]',
            "    timeout: 30s",
        ]
    lines += ["routing:", "  strategy: hybrid", "  rules:"]
    for i in range(rules):
        provider = i % providers
        if i % 2 == 0:
            condition = f'model == "m-{provider}" and stream == false'
        else:
            condition = f'model == "m-{provider}" and (latency < {i + 1}ms or metadata.tier in ["a", "b{i}"])'
        lines += [f"    - if: {condition}", f"      provider: p{provider}"]
    return "\n".join(lines) + "\n"


def compile_time(text: str, runs: int) -> list[float]:
    from modelmux.compiler.compile import compile_file

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = compile_file("generated.yaml", {}, text=text)
        times.append(time.perf_counter() - start)
        assert result.ok, [d.render() for d in result.errors[:3]]
    return times


def validate_wall_time(config: Path, runs: int) -> list[float]:
    command = [str(Path(sys.executable).parent / "modelmux"), "validate", str(config)]
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    wall = validate_wall_time(ROOT / "configs" / "demo.yaml", args.runs)
    text = generated_config(1000, 2000)
    with tempfile.TemporaryDirectory():
        big = compile_time(text, max(3, args.runs // 2))
    print(f"validate demo.yaml wall time: {_summary(wall)}")
    print(f"load + compile 1,000 providers + 2,000 rules: {_summary(big)}")


def _summary(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms"


if __name__ == "__main__":
    main()
