"""Evaluating compiled rules: every operator, attribute, literal and function, and dynamic metadata."""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

import pytest

from modelmux.dsl import RequestFacts, compile_rule

from .helpers import compiled, matches


@pytest.mark.parametrize(
    ("text", "facts", "expected"),
    [
        ('model == "gpt-4"', {}, True),
        ('model == "gpt-4"', {"model": "claude"}, False),
        ("model == 'gpt-4'", {}, True),
        ('model != "gpt-4"', {"model": "claude"}, True),
        ('model in ["a", "gpt-4"]', {}, True),
        ('model in ["a", "b"]', {}, False),
        ('model not in ["a", "b"]', {}, True),
        ("model in []", {}, False),
        ('model starts_with "gpt"', {}, True),
        ('model starts_with "claude"', {}, False),
        ('model contains "pt-"', {}, True),
        ('model contains "x"', {}, False),
        ('model matches "^gpt-\\d$"', {}, True),
        ('model matches "^gpt-4o"', {}, False),
        ('model matches "pt"', {}, True),
        ("stream", {"stream": True}, True),
        ("stream", {}, False),
        ("stream == true", {"stream": True}, True),
        ("stream == false", {}, True),
        ("stream != false", {}, False),
        ("not stream", {}, True),
        ("deterministic == true", {"deterministic": True}, True),
        ("temperature < 0.5", {"temperature": 0.2}, True),
        ("temperature < 0.5", {}, False),
        ("temperature == 0", {"temperature": 0.0}, True),
        ("temperature == null", {}, True),
        ("temperature != null", {"temperature": 1.0}, True),
        ("max_tokens > 100", {"max_tokens": 101}, True),
        ("max_tokens >= 100", {"max_tokens": 100}, True),
        ("max_tokens <= 100", {"max_tokens": 100}, True),
        ("max_tokens > 100", {}, False),
        ("tools > 0", {"tools": 2}, True),
        ("tools == 0", {}, True),
        ('user == "alice"', {"user": "alice"}, True),
        ('user == "alice"', {}, False),
        ('user != "alice"', {}, True),
        (
            'org == "acme" and team == "ml" and role == "admin"',
            {"org": "acme", "team": "ml", "role": "admin"},
            True,
        ),
        ('region in ["eu-west-1", "eu-central-1"]', {"region": "eu-west-1"}, True),
        ("region in [null]", {}, True),
        ("latency < 100ms", {"latency": 0.05}, True),
        ("latency < 100ms", {"latency": 0.1}, False),
        ("latency <= 100ms", {"latency": 0.1}, True),
        ("latency < 100ms", {}, False),
        ("latency > 1m", {"latency": 61.0}, True),
        ("latency >= 1h and latency < 1d", {"latency": 3600.0}, True),
        ("prompt_tokens > 1000", {"prompt_tokens": 1500}, True),
        ('prompt contains "hello"', {"prompt": "well hello there"}, True),
        ("len(prompt) > 3", {"prompt": "abcd"}, True),
        ("len(prompt) == 0", {}, True),
        ('lower(model) == "gpt-4"', {"model": "GPT-4"}, True),
        ('lower(user) == "bob"', {}, False),
        ('headers["x-tier"] == "gold"', {"headers": {"x-tier": "gold"}}, True),
        ('headers["X-Tier"] == "gold"', {"headers": {"x-tier": "gold"}}, True),
        ('headers["x-tier"] == null', {}, True),
        ('headers["x-tier"] starts_with "go"', {"headers": {"x-tier": "gold"}}, True),
        ("true", {}, True),
        ("false", {}, False),
        ('stream or model == "gpt-4"', {}, True),
        ('stream and model == "gpt-4"', {}, False),
        ('not (stream or model == "x")', {}, True),
        ('stream or deterministic or model == "gpt-4"', {}, True),
        ("stream and deterministic and tools == 0", {"stream": True, "deterministic": True}, True),
        ("user == team", {}, True),
        ("user == team", {"user": "a"}, False),
        ('"gpt-4" in [model, user]', {}, True),
        ("$0.50 < $1", {}, True),
        ("80% > 0.5 == true", {}, None),
    ],
)
def test_operators_and_attributes(text: str, facts: dict[str, object], expected: bool | None) -> None:
    rule = compile_rule(text)
    if expected is None:
        assert not rule.ok
        return
    assert matches(text, **facts) is expected


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        ("cost_sensitive == true", {"cost_sensitive": True}, True),
        ("cost_sensitive == true", {"cost_sensitive": "true"}, True),
        ("cost_sensitive == true", {"cost_sensitive": "yes"}, True),
        ("cost_sensitive == true", {"cost_sensitive": 1}, False),
        ("cost_sensitive == true", {}, False),
        ("cost_sensitive != true", {}, True),
        ("cost_sensitive", {"cost_sensitive": True}, True),
        ("cost_sensitive", {"cost_sensitive": "false"}, False),
        ("not cost_sensitive", {}, True),
        ("cost_sensitive == null", {}, True),
        ("cost_sensitive == null", {"cost_sensitive": None}, True),
        ("cost_sensitive != null", {"cost_sensitive": False}, True),
        ("tier == 1", {"tier": 1}, True),
        ("tier == 1", {"tier": "1"}, True),
        ("tier == 1", {"tier": True}, False),
        ("tier == 1", {"tier": [1]}, False),
        ("tier > 2", {"tier": "3.5"}, True),
        ("tier > 2", {"tier": "gold"}, False),
        ("tier > 2", {"tier": {"a": 1}}, False),
        ("tier < 2", {"tier": True}, False),
        ('tier == "gold"', {"tier": "gold"}, True),
        ('tier == "gold"', {"tier": 5}, False),
        ('tier in ["gold", "silver"]', {"tier": "gold"}, True),
        ('tier in ["gold", "silver"]', {"tier": ["gold"]}, False),
        ('tier not in ["gold", "silver"]', {"tier": {"x": 1}}, True),
        ("tier in [1, 2]", {"tier": "2"}, True),
        ("budget < 100ms", {"budget": "50ms"}, True),
        ("budget < 100ms", {"budget": 0.05}, True),
        ("budget < 100ms", {"budget": "soon"}, False),
        ("budget > 10MB", {"budget": "1GB"}, True),
        ("budget < $1", {"budget": "$0.50"}, True),
        ("budget < $1", {"budget": "0.5"}, True),
        ("budget < $1", {"budget": Decimal("0.5")}, True),
        ("budget < $1", {"budget": Decimal("NaN")}, False),
        ("budget < $1", {"budget": float("nan")}, False),
        ("share > 50%", {"share": "80%"}, True),
        ("share > 50%", {"share": 0.8}, True),
        ('tags contains "a"', {"tags": ["a", "b"]}, True),
        ('tags contains "a"', {"tags": "cat"}, True),
        ('tags contains "a"', {"tags": 5}, False),
        ("tags == [1, 2]", {"tags": [1, 2]}, True),
        ('name starts_with "al"', {"name": "alice"}, True),
        ('name starts_with "al"', {"name": 1}, False),
        ('name matches "^a"', {"name": "alice"}, True),
        ('name matches "^a"', {"name": ["alice"]}, False),
        ("len(tags) == 2", {"tags": ["a", "b"]}, True),
        ("len(tags) == 2", {"tags": 12}, False),
        ('lower(name) == "al"', {"name": "AL"}, True),
        ("contains_code(snippet)", {"snippet": "```\nx\n```"}, True),
        ("contains_code(snippet)", {"snippet": 5}, False),
        ("metadata.a.b == 1", {"a": {"b": 1}}, True),
        ("metadata.a.b == 1", {"a": 1}, False),
        ('metadata["my-key"] == "v"', {"my-key": "v"}, True),
        ("a == b", {"a": 1, "b": 1}, True),
        ("a == b", {}, True),
        ("a == b", {"a": True, "b": 1}, False),
        ("a < b", {"a": 1, "b": "x"}, False),
        ("a in b", {"a": 1, "b": [1, 2]}, True),
        ("a in b", {"a": 1, "b": "1"}, False),
        ("model == preferred", {"preferred": "gpt-4"}, True),
        ("stream == flag", {"flag": "false"}, True),
        ("latency < limit", {"limit": "1s"}, False),
    ],
)
def test_metadata_is_read_safely_at_run_time(text: str, metadata: dict[str, object], expected: bool) -> None:
    assert matches(text, metadata=metadata) is expected


@pytest.mark.parametrize(
    ("declared", "text", "metadata", "expected"),
    [
        ("number", "tier > 2", {"tier": "3"}, True),
        ("number", "tier > 2", {"tier": "many"}, False),
        ("bool", "flag", {"flag": "true"}, True),
        ("bool", "flag == null", {}, True),
        ("duration", "wait < 1s", {"wait": "500ms"}, True),
        ("size", "body > 1KB", {"body": "2KB"}, True),
        ("money", "spend < $10", {"spend": "$2.50"}, True),
        ("percentage", "share >= 50%", {"share": "50%"}, True),
        ("list", "tags contains 1", {"tags": [1]}, True),
        ("list", "tags contains 1", {"tags": "1"}, False),
        ("string", 'name == "a"', {"name": "a"}, True),
        ("string", 'name == "1"', {"name": 1}, False),
    ],
)
def test_declared_metadata_is_read_as_its_type(
    declared: str, text: str, metadata: dict[str, object], expected: bool
) -> None:
    rule = compiled(text, declared={text.split()[0].split("(")[-1]: declared})
    assert rule.predicate(RequestFacts(model="m", metadata=metadata)) is expected


def test_regex_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = compiled('prompt matches "^(a|b)+$"')

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("regular expression compiled at evaluation time")

    monkeypatch.setattr("re.compile", fail)
    monkeypatch.setattr("re.search", fail)
    assert rule.predicate(RequestFacts(model="m", prompt="abab"))


def test_predicate_does_no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    rule = compiled('model == "gpt-4" and latency < 100ms')

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed at evaluation time")

    monkeypatch.setattr("modelmux.dsl.parser.parse", fail)
    monkeypatch.setattr("modelmux.dsl.compiler.parse", fail)
    assert rule.predicate(RequestFacts(model="gpt-4", latency=0.01))


def test_predicates_return_real_booleans() -> None:
    facts = RequestFacts(model="gpt-4", metadata={"x": "1"}, headers={"a": "b"})
    for text in ("stream", "x == 1", 'headers["a"] == "b"', "contains_code(prompt)", "x", "len(prompt) == 0"):
        assert isinstance(compiled(text).predicate(facts), bool), text


def test_request_facts_defaults_are_empty_and_read_only() -> None:
    facts = RequestFacts(model="m")
    assert facts.headers == {} and facts.metadata == {}
    assert isinstance(facts.headers, MappingProxyType)
    assert facts.prompt == "" and facts.tools == 0 and facts.latency is None


def test_same_text_compiles_to_the_same_rule() -> None:
    assert compile_rule("stream == true") is compile_rule("stream == true")
    declared = compile_rule("x == 1", declared={"x": "number"})
    assert declared is not compile_rule("x == 1")
