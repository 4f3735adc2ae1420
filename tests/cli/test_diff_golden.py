"""Golden tests of `modelmux diff`: text, markdown and JSON, and its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted(p.name for p in (ROOT / "fixtures" / "diff").iterdir() if p.is_dir())
FORMATS = {"text": "expected.txt", "markdown": "expected.md", "json": "expected.json"}
ENV = {
    "OPENAI_API_KEY": "sk-old-secret",
    "OPENAI_API_KEY_V2": "sk-new-secret",
    "TEAM_A_KEY": "team-a-secret",
}


def run_diff(case: str, output: str) -> subprocess.CompletedProcess[str]:
    folder = Path("fixtures") / "diff" / case
    command = [
        str(Path(sys.executable).parent / "modelmux"),
        "diff",
        str(folder / "old.yaml"),
        str(folder / "new.yaml"),
        "--format",
        output,
    ]
    env = {**os.environ, **ENV}
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)


@pytest.mark.parametrize("output", sorted(FORMATS))
@pytest.mark.parametrize("case", CASES)
def test_diff_matches_golden(case: str, output: str) -> None:
    result = run_diff(case, output)
    expected_file = ROOT / "fixtures" / "diff" / case / FORMATS[output]
    if os.environ.get("MODELMUX_UPDATE_GOLDENS"):
        expected_file.write_text(result.stdout)
    assert result.stdout == expected_file.read_text()
    assert result.returncode == (0 if case == "reordered" else 1)


def test_diff_never_shows_secret_values() -> None:
    for output in FORMATS:
        result = run_diff("secrets", output)
        for value in (*ENV.values(), "literal-secret-value"):
            assert value not in result.stdout


def test_diff_json_lists_each_change() -> None:
    changes = json.loads(run_diff("secrets", "json").stdout)["changes"]
    paths = {(c["kind"], c["path"]) for c in changes}
    assert ("changed", "providers[openai].api_key") in paths
    assert ("added", "auth.api_keys[team-b]") in paths
    assert ("changed", "auth.api_keys[team-a].budget.monthly") in paths


def test_diff_exits_2_when_a_config_does_not_compile(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers: []\n")
    command = [str(Path(sys.executable).parent / "modelmux"), "diff", "configs/demo.yaml", str(broken)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 2
    assert "broken.yaml" in result.stderr
