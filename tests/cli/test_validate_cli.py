"""`modelmux validate` as users and CI run it: the installed console script in a subprocess.

Exit codes: 0 valid, 1 invalid, 2 usage error. The environment is passed explicitly, and the
commands run from the repository root with relative paths, as the golden `.expected` files assume.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.test_invalid_golden import COMPILER_BUGS, ENV, INVALID_FIXTURES, WARNING_FIXTURES

REPO = Path(__file__).resolve().parents[2]
MODELMUX = Path(sys.executable).with_name("modelmux")
VALID = "fixtures/configs/valid/roadmap-providers.yaml"
INVALID = "fixtures/configs/invalid/22-unknown-provider-in-rule.yaml"
MISSING_ENV = "fixtures/configs/invalid/32-missing-env-var.yaml"
WARNING = "fixtures/configs/warnings/01-shadowed-rule.yaml"

ANNOTATION = re.compile(
    r"^::(?P<level>error|warning) file=(?P<file>[^,]+),line=(?P<line>\d+),col=(?P<col>\d+)"
    r"(?:,endColumn=\d+)?(?:,title=[^:]*)?::(?P<message>.+)$"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "NO_COLOR": "1", **ENV}
    return subprocess.run(
        [str(MODELMUX), "validate", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def expected(path: str | Path, suffix: str = ".expected") -> str:
    return (REPO / Path(path).with_suffix(suffix)).read_text(encoding="utf-8")


def test_console_script_is_installed() -> None:
    assert MODELMUX.is_file(), f"{MODELMUX} is missing; install the package (pip install -e .)"


def test_valid_config_exits_0() -> None:
    result = run(VALID)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(rf"{re.escape(VALID)}: valid, fingerprint [0-9a-f]{{16}}\n", result.stdout)


def test_invalid_config_exits_1_and_prints_the_golden_text() -> None:
    result = run(INVALID)
    assert result.returncode == 1
    assert result.stdout == expected(INVALID)


def test_every_golden_matches_the_cli_in_one_run() -> None:
    """Several files at once: each report in order, and exit 1 because some are invalid."""
    paths = [str(p) for p in INVALID_FIXTURES if p.stem not in COMPILER_BUGS]
    result = run(*paths)
    assert result.returncode == 1
    assert result.stdout == "".join(expected(p) for p in paths)


def test_several_valid_files_exit_0() -> None:
    paths = [VALID, "configs/demo.yaml", WARNING]
    result = run(*paths)
    assert result.returncode == 0, result.stdout
    summaries = [line for line in result.stdout.splitlines() if ": valid, fingerprint " in line]
    assert [line.split(":")[0] for line in summaries] == paths


def test_one_invalid_file_among_valid_ones_exits_1() -> None:
    result = run(VALID, INVALID, "configs/demo.yaml")
    assert result.returncode == 1
    assert f"{VALID}: valid" in result.stdout
    assert f"{INVALID}: invalid: 2 errors" in result.stdout
    assert "configs/demo.yaml: valid" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="missing-argument"),
        pytest.param(("--no-such-option", VALID), id="unknown-option"),
        pytest.param(("--format", "xml", VALID), id="bad-format"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "Usage:" in result.stdout + result.stderr
    assert "valid" not in result.stdout


def test_json_format_reports_every_file() -> None:
    result = run("--format", "json", VALID, INVALID, WARNING)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False
    files = {item["path"]: item for item in document["files"]}
    assert list(files) == [VALID, INVALID, WARNING]

    assert files[VALID]["valid"] is True
    assert re.fullmatch(r"[0-9a-f]{16}", files[VALID]["fingerprint"])
    assert files[VALID]["errors"] == 0

    bad = files[INVALID]
    assert bad["valid"] is False and bad["fingerprint"] is None
    assert bad["errors"] == 2 and bad["warnings"] == 0
    assert [(d["line"], d["column"]) for d in bad["diagnostics"]] == [(15, 17), (17, 30)]
    first = bad["diagnostics"][0]
    assert first == {
        "severity": "error",
        "code": "unknown-provider",
        "message": "unknown provider 'opena'",
        "file": INVALID,
        "line": 15,
        "column": 17,
        "hint": "did you mean `openai`?",
    }

    warned = files[WARNING]
    assert warned["valid"] is True and warned["warnings"] == 1
    assert warned["diagnostics"][0]["severity"] == "warning"


def test_json_format_all_valid() -> None:
    result = run("--format", "json", VALID)
    assert result.returncode == 0
    assert json.loads(result.stdout)["valid"] is True


def test_github_format_prints_annotations() -> None:
    result = run("--format", "github", INVALID, WARNING)
    assert result.returncode == 1
    annotations = [ANNOTATION.match(line) for line in result.stdout.splitlines() if line.startswith("::")]
    assert all(annotations), result.stdout
    found = [(m["level"], m["file"], int(m["line"]), int(m["col"])) for m in annotations if m]
    assert found == [
        ("error", INVALID, 15, 17),
        ("error", INVALID, 17, 30),
        ("warning", WARNING, 16, 11),
    ]
    messages = [m["message"] for m in annotations if m]
    assert messages[0] == "unknown provider 'opena' (did you mean `openai`?)"
    assert "\n" not in "".join(messages)


def test_github_format_escapes_properties_and_data() -> None:
    # The github annotation of a multi-line YAML error keeps to one line (newlines escaped as %0A).
    result = run("--format", "github", "fixtures/configs/invalid/38-yaml-tab-indentation.yaml")
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert len(lines) == 1
    assert ANNOTATION.match(lines[0]), lines[0]
    assert ",line=3,col=1" in lines[0]


@pytest.mark.parametrize("path", [str(p) for p in WARNING_FIXTURES])
def test_strict_turns_warnings_into_errors(path: str) -> None:
    relaxed = run(path)
    assert relaxed.returncode == 0
    assert relaxed.stdout == expected(path)
    strict = run("--strict", path)
    assert strict.returncode == 1
    assert strict.stdout == expected(path, ".strict.expected")


def test_strict_on_a_clean_config_still_exits_0() -> None:
    result = run("--strict", "configs/demo.yaml")
    assert result.returncode == 0, result.stdout


def test_missing_environment_variable_is_an_error() -> None:
    result = run(MISSING_ENV)
    assert result.returncode == 1
    assert "error: environment variable MODELMUX_TEST_UNSET_KEY is not set" in result.stdout


def test_allow_missing_env_reports_a_warning_and_exits_0() -> None:
    result = run("--allow-missing-env", MISSING_ENV)
    assert result.returncode == 0, result.stdout
    warning = "warning: environment variable MODELMUX_TEST_UNSET_KEY is not set"
    assert f"{MISSING_ENV}:4:14: {warning}" in result.stdout
    summary = rf"{re.escape(MISSING_ENV)}: valid, fingerprint [0-9a-f]{{16}} \(1 warning\)"
    assert re.search(summary, result.stdout)


def test_allow_missing_env_does_not_hide_other_errors() -> None:
    result = run("--allow-missing-env", MISSING_ENV, INVALID)
    assert result.returncode == 1
    assert f"{INVALID}: invalid: 2 errors" in result.stdout


def test_allow_missing_env_with_strict_fails() -> None:
    result = run("--allow-missing-env", "--strict", MISSING_ENV)
    assert result.returncode == 1
    assert "error: environment variable MODELMUX_TEST_UNSET_KEY is not set" in result.stdout
