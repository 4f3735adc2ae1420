"""`modelmux explain` as users run it: the installed console script in a subprocess.

Exit codes: 0 with at least one candidate provider, 1 with none, 2 on usage errors or a config that
does not compile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MODELMUX = Path(sys.executable).with_name("modelmux")
CONFIG = """\
providers:
  - name: openai
    type: openai
    api_key: ${EXPLAIN_TEST_KEY}
    base_url: http://127.0.0.1:9/v1
    models: [gpt-4, gpt-4o]
  - {name: anthropic, type: mock, models: {gpt-4: claude-3-opus}}
  - {name: cohere, type: mock, models: [gpt-4]}
  - {name: local, type: mock, models: [llama], region: eu}
routing:
  strategy: cost
  rules:
    - if: model == "gpt-4" and stream == true
      providers: [anthropic, openai]
      name: streams
    - if: metadata.cost_sensitive == true
      provider: cohere
    - if: model == "llama" and region == "us"
      provider: local
"""
SECRET = "sk-explain-test-secret-value"


def run(tmp_path: Path, *args: str, config: str = CONFIG) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "modelmux.yaml"
    path.write_text(config, encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "NO_COLOR": "1", "EXPLAIN_TEST_KEY": SECRET}
    return subprocess.run(
        [str(MODELMUX), "explain", str(path), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_text_names_the_rule_its_location_the_candidates_and_the_exclusions(tmp_path: Path) -> None:
    result = run(tmp_path, "--model", "gpt-4", "--stream")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'MATCH streams: if model == "gpt-4" and stream == true' in out
    assert "modelmux.yaml:13:11" in out
    assert "route: streams" in out
    assert "strategy: cost (lowest estimated cost first (unknown prices last))" in out
    assert "1. openai (openai)\n  2. anthropic (mock) as claude-3-opus" in out  # a known price comes first
    assert "cohere  not in rule target" in out
    assert "local   does not serve model" in out
    assert SECRET not in out + result.stderr


def test_rules_tested_before_the_match_say_why_they_did_not_match(tmp_path: Path) -> None:
    result = run(tmp_path, "--model", "gpt-4", "--metadata", "cost_sensitive=true", "--header", "X-Team=blue")
    assert result.returncode == 0, result.stderr
    assert "no    streams: if" in result.stdout
    assert "`stream == true` is false (stream = false)" in result.stdout
    assert "MATCH rule-2: if metadata.cost_sensitive == true" in result.stdout
    assert "matched (metadata.cost_sensitive = true) -> providers cohere" in result.stdout
    assert "header x-team: blue" in result.stdout


def test_json_output(tmp_path: Path) -> None:
    result = run(tmp_path, "--model", "llama", "--region", "us", "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["route"] == "rule-3" and doc["rule"]["location"].endswith("modelmux.yaml:18:11")
    assert doc["request"]["region"] == "us"
    assert [c["name"] for c in doc["candidates"]] == ["local"]
    assert [v["name"] for v in doc["rules_tested"]] == ["rule-2", "rule-3"]
    assert doc["rules_skipped_by_index"] == 1


def test_no_candidate_exits_1_with_the_reason(tmp_path: Path) -> None:
    result = run(tmp_path, "--model", "llama")
    assert result.returncode == 0, result.stdout
    assert "no rule matched: the default route" in result.stdout
    residency = CONFIG + "  data_residency: enforced\nregions:\n  eu:\n    providers: [local]\n"
    result = run(tmp_path, "--model", "gpt-4", "--region", "eu", config=residency)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no candidate: every provider that serves 'gpt-4' was excluded" in result.stdout
    assert "cohere     outside allowed regions" in result.stdout
    result = run(tmp_path, "--model", "unknown-model")
    assert result.returncode == 1
    assert "no candidate: no provider serves model 'unknown-model'" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--model", "gpt-4", "--metadata", "no-equals-sign"),
        ("--model", "gpt-4", "--header", "X-ModelMux-Latency-Budget=fast"),
        ("--stream",),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert run(tmp_path, *args).returncode == 2


def test_an_invalid_config_exits_2_with_its_diagnostics(tmp_path: Path) -> None:
    result = run(tmp_path, "--model", "gpt-4", config=CONFIG.replace("provider: cohere", "provider: cohera"))
    assert result.returncode == 2
    assert "cohera" in result.stderr and "invalid" in result.stderr
