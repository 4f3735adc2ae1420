"""Golden diagnostics: every fixture under fixtures/configs/invalid/ and fixtures/configs/warnings/ is
compiled in-process and rendered exactly as `modelmux validate` prints it, then compared with its
`.expected` file (`.strict.expected` for `validate --strict` on a warnings fixture).

Regenerate with `MODELMUX_UPDATE_GOLDENS=1 pytest tests/config/test_invalid_golden.py`. The expected
files of the fixtures listed in COMPILER_BUGS are hand-written (they hold what the compiler SHOULD
print) and are never rewritten.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from modelmux.cli.render import text_report
from modelmux.compiler.compile import CompileResult, compile_file
from modelmux.config.diagnostics import Diagnostic

REPO = Path(__file__).resolve().parents[2]
INVALID = Path("fixtures/configs/invalid")
WARNINGS = Path("fixtures/configs/warnings")
UPDATE = os.environ.get("MODELMUX_UPDATE_GOLDENS") == "1"

# The only environment the fixtures see: file names, values and "did you mean" hints stay stable.
ENV = {
    "OPENAI_API_KEY": "sk-test-openai",
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "COHERE_API_KEY": "co-test",
    "AZURE_OPENAI_API_KEY": "azure-test",
}

# Fixtures whose `.expected` holds what the compiler should print but does not yet (strict xfail).
COMPILER_BUGS: dict[str, str] = {}

# Fixtures whose diagnostics lack the source line and caret (a subset of COMPILER_BUGS).
NO_SNIPPET_BUGS: set[str] = set()

# For the "unknown ..." fixtures: the close name the help line must suggest.
CLOSE_NAMES = {
    "01-unknown-top-level-key": ["routing"],
    "02-unknown-provider-key": ["models"],
    "03-unknown-routing-key": ["strategy"],
    "04-unknown-fallback-key": ["max_retries"],
    "05-unknown-caching-key": ["backend"],
    "06-unknown-api-key-key": ["role"],
    "07-misspelled-provider-type": ["openai"],
    "08-misspelled-strategy": ["round_robin"],
    "09-bad-backoff": ["exponential"],
    "22-unknown-provider-in-rule": ["openai", "anthropic"],
    "23-unknown-provider-in-region": ["anthropic"],
    "24-unknown-provider-in-pipeline": ["gpt-4", "claude-3-opus"],
    "34-several-errors": ["server", "anthropic", "round_robin"],
    "45-unknown-role": ["developer"],
}
CLOSE_NAME_BUGS: set[str] = set()

SPAN = re.compile(r"^(?P<file>[^\s:]+\.yaml):(?P<line>\d+):(?P<col>\d+): (error|warning): ", re.MULTILINE)


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fixture paths are relative to the repository root, as `modelmux validate` run there prints them.
    monkeypatch.chdir(REPO)


def _fixtures(directory: Path) -> list[Path]:
    return sorted(p.relative_to(REPO) for p in (REPO / directory).glob("[0-9][0-9]-*.yaml"))


def _bug(name: str, bugs: set[str] | dict[str, str], reason: str | None = None) -> list[pytest.MarkDecorator]:
    if name not in bugs:
        return []
    why = reason or (bugs[name] if isinstance(bugs, dict) else "compiler bug")
    return [pytest.mark.xfail(strict=True, reason=why)]


def _cases(bugs: set[str] | dict[str, str], reason: str | None = None) -> list[object]:
    return [pytest.param(p, id=p.stem, marks=_bug(p.stem, bugs, reason)) for p in INVALID_FIXTURES]


INVALID_FIXTURES = _fixtures(INVALID)
WARNING_FIXTURES = _fixtures(WARNINGS)


def compile_fixture(path: Path, *, strict: bool = False) -> CompileResult:
    return compile_file(str(path), ENV, strict=strict)


def validate_output(path: Path, result: CompileResult) -> str:
    """Exactly what `modelmux validate PATH` writes to stdout."""
    return text_report(str(path), result) + "\n"


def check_golden(expected: Path, actual: str, *, known_bug: bool) -> None:
    if UPDATE and not known_bug:
        expected.write_text(actual, encoding="utf-8")
        return
    assert expected.is_file(), f"{expected} is missing; run with MODELMUX_UPDATE_GOLDENS=1"
    assert actual == expected.read_text(encoding="utf-8")


def _spanned(result: CompileResult) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.span is not None]


def test_there_are_enough_fixtures() -> None:
    assert len(INVALID_FIXTURES) >= 30
    assert len(WARNING_FIXTURES) >= 2


def test_every_expected_file_has_a_fixture() -> None:
    for directory in (INVALID, WARNINGS):
        for expected in (REPO / directory).glob("*.expected"):
            stem = expected.name.removesuffix(".expected").removesuffix(".strict")
            assert (expected.parent / f"{stem}.yaml").is_file(), f"orphan golden {expected}"
    if not UPDATE:
        for path in INVALID_FIXTURES + WARNING_FIXTURES:
            assert (REPO / path.with_suffix(".expected")).is_file(), f"{path} has no .expected"
        for path in WARNING_FIXTURES:
            assert (REPO / path.with_suffix(".strict.expected")).is_file(), f"{path} has no .strict.expected"


@pytest.mark.parametrize("path", _cases(COMPILER_BUGS))
def test_invalid_fixture_golden(path: Path) -> None:
    result = compile_fixture(path)
    actual = validate_output(path, result)
    check_golden(path.with_suffix(".expected"), actual, known_bug=path.stem in COMPILER_BUGS)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in INVALID_FIXTURES])
def test_invalid_fixture_is_rejected_with_located_errors(path: Path) -> None:
    result = compile_fixture(path)
    assert not result.ok
    assert result.plan is None
    assert result.errors, "an invalid fixture must produce at least one error"
    for diagnostic in result.diagnostics:
        assert diagnostic.span is not None, diagnostic.message
        assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1
        assert diagnostic.headline().startswith(f"{diagnostic.span.file}:{diagnostic.span.line}:")
    rendered = validate_output(path, result)
    assert len(SPAN.findall(rendered)) == len(result.diagnostics)
    assert rendered.splitlines()[-1].startswith(f"{path}: invalid: {len(result.errors)} error")


@pytest.mark.parametrize("path", _cases(NO_SNIPPET_BUGS, "load-time diagnostics render no source line"))
def test_every_diagnostic_shows_its_line_and_a_caret(path: Path) -> None:
    for diagnostic in compile_fixture(path).diagnostics:
        lines = diagnostic.render().splitlines()
        assert len(lines) >= 3, diagnostic.render()
        assert lines[1].startswith(f"{diagnostic.span.line:>4} | "), diagnostic.render()  # type: ignore[union-attr]
        caret = lines[2]
        assert caret.lstrip(" ").startswith("| ") and "^" in caret, diagnostic.render()
        # The caret sits under the column the headline names (the gutter is 7 characters wide).
        assert caret.index("^") - 7 + 1 == diagnostic.span.column, diagnostic.render()  # type: ignore[union-attr]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in INVALID_FIXTURES])
def test_diagnostics_come_in_file_order(path: Path) -> None:
    by_file: dict[str, list[tuple[int, int]]] = {}
    for diagnostic in _spanned(compile_fixture(path)):
        assert diagnostic.span is not None
        by_file.setdefault(diagnostic.span.file, []).append((diagnostic.span.line, diagnostic.span.column))
    for positions in by_file.values():
        assert positions == sorted(positions)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in INVALID_FIXTURES])
def test_unknown_diagnostics_have_help(path: Path) -> None:
    for diagnostic in compile_fixture(path).diagnostics:
        if diagnostic.message.startswith("unknown "):
            assert diagnostic.hint, f"{diagnostic.headline()} has no help line"
            assert "  = help: " in diagnostic.render()


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=_bug(n, CLOSE_NAME_BUGS, "no did-you-mean")) for n in CLOSE_NAMES],
)
def test_unknown_names_suggest_the_close_name(name: str) -> None:
    path = INVALID / f"{name}.yaml"
    hints = [d.hint or "" for d in compile_fixture(path).diagnostics]
    for close in CLOSE_NAMES[name]:
        assert any(f"did you mean `{close}`?" in hint for hint in hints), (close, hints)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in WARNING_FIXTURES])
def test_warning_fixture_golden(path: Path) -> None:
    result = compile_fixture(path)
    assert result.ok and result.plan is not None, "a warnings fixture is valid: validate exits 0"
    assert not result.errors
    check_golden(path.with_suffix(".expected"), validate_output(path, result), known_bug=False)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in WARNING_FIXTURES])
def test_warning_fixture_strict_golden(path: Path) -> None:
    relaxed = compile_fixture(path)
    result = compile_fixture(path, strict=True)
    assert not result.ok and result.plan is None, "--strict turns the warnings into errors"
    assert not result.warnings
    assert len(result.errors) >= len(relaxed.warnings)
    check_golden(path.with_suffix(".strict.expected"), validate_output(path, result), known_bug=False)
