"""The compiler never raises: whatever the file holds, the outcome is a CompileResult whose diagnostics
render. Hypothesis feeds it YAML trees built from real config keys mixed with random text, configs that
are valid but for one mutation, arbitrary text as a whole file, and arbitrary text as a rule.

Runs are derandomized (and keep no example database in the tree) so the suite is reproducible; the
crashers found while writing these tests are kept as regression tests at the end.
"""

from __future__ import annotations

import io
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from ruamel.yaml import YAML

from modelmux.cli.render import github_report, json_report, text_report
from modelmux.compiler.compile import CompileResult, compile_file
from modelmux.config.models import Config

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ENV = {"OPENAI_API_KEY": "sk-test-openai", "ANTHROPIC_API_KEY": "sk-ant-test"}


def _config_keys() -> list[str]:
    """Every key the config models know, found by walking them from Config."""
    seen: set[type[BaseModel]] = set()
    keys: set[str] = set()

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, info in annotation.model_fields.items():
                keys.add(info.alias or name)
                visit(info.annotation)
            return
        for arg in typing.get_args(annotation):
            visit(arg)
        if isinstance(annotation, types.UnionType):
            for arg in annotation.__args__:
                visit(arg)

    visit(Config)
    return sorted(keys)


CONFIG_KEYS = _config_keys()
VALUES = [
    "openai",
    "anthropic",
    "mock",
    "vertex_ai",
    "hybrid",
    "round_robin",
    "custom",
    "exponential",
    "enforced",
    "redis",
    "30s",
    "250ms",
    "10MB",
    "$1000",
    "80%",
    "${OPENAI_API_KEY}",
    "${MISSING_VAR}",
    "${BROKEN",
    "$$",
    "*",
    'model == "gpt-4"',
    "stream == true",
    "latency < 100ms",
    "model > 3",
    "(",
    "https://api.openai.com/v1",
    "redis://localhost:6379/0",
    "gpt-4",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(VALUES),
    st.text(max_size=30),
)
keys = st.one_of(st.sampled_from(CONFIG_KEYS), st.text(min_size=1, max_size=15))
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=25,
)
documents = st.dictionaries(keys, trees, max_size=8)


def dump(data: Any) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A private, empty directory: `include:` globs and script paths the fuzzer writes resolve in here.
    return tmp_path_factory.mktemp("fuzz")


def check(result: object, path: Path) -> None:
    assert isinstance(result, CompileResult)
    assert result.ok == (result.plan is not None)
    assert result.ok == (not result.errors)
    for diagnostic in result.diagnostics:
        assert diagnostic.message
        diagnostic.render()
        diagnostic.to_json()
    text_report(str(path), result)
    json_report([(str(path), result)])
    github_report(str(path), result)


def compile_text(workdir: Path, text: str, *, strict: bool = False) -> CompileResult:
    path = workdir / "fuzz.yaml"
    result = compile_file(path, ENV, text=text, strict=strict)
    check(result, path)
    return result


@FUZZ
@given(documents)
def test_arbitrary_trees_of_config_keys(workdir: Path, data: dict[Any, Any]) -> None:
    compile_text(workdir, dump(data))


BASE: dict[str, Any] = {
    "providers": [
        {"name": "openai", "type": "openai", "api_key": "${OPENAI_API_KEY}", "models": ["gpt-4"]},
        {"name": "local", "type": "mock", "models": ["*"], "latency": "5ms"},
    ],
    "routing": {
        "strategy": "hybrid",
        "rules": [
            {"if": 'model == "gpt-4"', "provider": "openai"},
            {"if": "latency < 100ms", "providers": ["local"]},
        ],
        "fallback": {"enabled": True, "max_retries": 2},
    },
    "caching": {"backend": "memory", "rules": [{"cache_if": "deterministic == true"}]},
    "regions": {"us-east-1": {"providers": ["openai", "local"]}},
    "auth": {
        "roles": {"dev": {"models": ["gpt-4"]}},
        "api_keys": [{"name": "ci", "key": "k", "role": "dev"}],
    },
    "pipelines": [{"name": "p", "steps": [{"provider": "gpt-4", "task": "t"}]}],
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


BASE_PATHS = [p for p in _paths(BASE) if p]


def _mutated(path: tuple[Any, ...], replacement: Any, extra_key: str | None) -> dict[str, Any]:
    import copy

    data = copy.deepcopy(BASE)
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = replacement
    if extra_key is not None and isinstance(parent, dict):
        parent[extra_key] = replacement
    return data


def test_the_unmutated_base_is_valid(workdir: Path) -> None:
    result = compile_text(workdir, dump(BASE))
    assert result.ok, [d.render() for d in result.diagnostics]


@FUZZ
@given(st.sampled_from(BASE_PATHS), trees, st.one_of(st.none(), keys))
def test_valid_config_with_one_mutation(
    workdir: Path, path: tuple[Any, ...], replacement: Any, extra_key: str | None
) -> None:
    compile_text(workdir, dump(_mutated(path, replacement, extra_key)))
    compile_text(workdir, dump(_mutated(path, replacement, extra_key)), strict=True)


yaml_ish = st.text(
    alphabet=st.sampled_from(list("abcdefgijklmnoprstuvwxyz_-:[]{},'\"#&*!|>%@`$?\\ \t\n0123456789.")),
    max_size=200,
)


@FUZZ
@given(st.one_of(st.text(max_size=300), yaml_ish))
def test_arbitrary_text_as_a_config_file(workdir: Path, text: str) -> None:
    compile_text(workdir, text)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_after_a_valid_head(workdir: Path, text: str) -> None:
    compile_text(workdir, "providers:\n  - name: a\n    type: mock\n" + text)


RULE_CHARACTERS = "modelstrauncyiqwx_ \"'()[]=!<>,.0123456789$%msMBKG\\"
rule_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.sampled_from(list(RULE_CHARACTERS)), max_size=60),
    st.lists(
        st.sampled_from(
            [
                "model",
                "stream",
                "latency",
                "max_tokens",
                "temperature",
                "headers",
                '["x-tier"]',
                "metadata.tier",
                "==",
                "!=",
                "<",
                ">=",
                "in",
                "not in",
                "matches",
                "contains",
                "starts_with",
                "and",
                "or",
                "not",
                "(",
                ")",
                "[",
                "]",
                ",",
                '"gpt-4"',
                "'a'",
                "100ms",
                "5",
                "-1.5e3",
                "10MB",
                "$1",
                "80%",
                "true",
                "null",
                "len(",
                "lower(",
                "contains_code(prompt)",
                '"unterminated',
                '"(["',
            ]
        ),
        max_size=12,
    ).map(" ".join),
)


@FUZZ
@given(rule_text, st.sampled_from(["plain", "dumped"]))
def test_arbitrary_text_in_a_rule_position(workdir: Path, rule: str, style: str) -> None:
    if style == "dumped":
        data = {
            "providers": [{"name": "a", "type": "mock"}],
            "routing": {"rules": [{"if": rule, "provider": "a"}]},
            "caching": {"rules": [{"cache_if": rule}, {"skip_if": rule}]},
        }
        text = dump(data)
    else:
        # Written straight into the YAML line, as a user types it: it may not even be valid YAML.
        head = "providers:\n  - name: a\n    type: mock\nrouting:\n  rules:\n"
        text = f"{head}    - if: {rule}\n      provider: a\n"
    result = compile_text(workdir, text)
    for diagnostic in result.diagnostics:
        assert diagnostic.span is not None
        assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1


@FUZZ
@given(rule_text)
def test_a_rule_error_points_inside_its_own_line(workdir: Path, rule: str) -> None:
    # A single-line rule in a single-quoted scalar: every rule diagnostic sits on that line, within it.
    if "\n" in rule or "\r" in rule or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in rule):
        return
    if rule != rule.strip() or "'" in rule or any(c in rule for c in "\u2028\u2029\x85\ufeff"):
        return
    line = f"    - if: '{rule}'"
    text = f"providers:\n  - name: a\n    type: mock\nrouting:\n  rules:\n{line}\n      provider: a\n"
    result = compile_text(workdir, text)
    for diagnostic in result.diagnostics:
        if diagnostic.code != "rule":
            continue
        assert diagnostic.span is not None
        assert diagnostic.span.line == 6
        assert 12 <= diagnostic.span.column <= len(line), (rule, diagnostic.render())


# --- crashers found while writing these tests, fixed -----------------------------------------------


def test_yaml_merge_key_does_not_crash(workdir: Path) -> None:
    text = "defaults: &defaults {type: mock, models: ['*']}\nproviders:\n  - <<: *defaults\n    name: a\n"
    result = compile_text(workdir, text)
    # Either merge keys work (then only the extra top-level key is reported) or they are a diagnostic.
    assert result.diagnostics
    assert all(d.span is not None for d in result.diagnostics)


def test_deeply_nested_yaml_does_not_crash(workdir: Path) -> None:
    depth = 400
    text = "providers: " + "[" * depth + "]" * depth + "\n"
    result = compile_text(workdir, text)
    assert not result.ok
    assert result.errors
