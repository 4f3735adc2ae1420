"""Type checking: every ill-typed rule is an error at the right place, with a message that helps."""

from __future__ import annotations

import pytest

from modelmux.dsl import ATTRIBUTE_TYPES, compile_rule

from .helpers import at, compiled, only_error


@pytest.mark.parametrize(
    ("text", "message", "pointed"),
    [
        ("model > 3", "cannot compare model (string) with 3 (integer)", "model > 3"),
        ('stream == "yes"', 'cannot compare stream (bool) with "yes" (string)', 'stream == "yes"'),
        ("latency < 5", "latency is a duration; write 5ms or 5s", "5"),
        ("5 > latency", "latency is a duration; write 5ms or 5s", "5"),
        ("latency < 2.5", "latency is a duration; write 2.5ms or 2.5s", "2.5"),
        ("latency < 10MB", "cannot compare latency (duration) with 10MB (size)", "latency < 10MB"),
        ("tools > 1s", "cannot compare tools (integer) with 1s (duration)", "tools > 1s"),
        (
            'max_tokens == "100"',
            'cannot compare max_tokens (integer) with "100" (string)',
            'max_tokens == "100"',
        ),
        (
            "temperature >= true",
            "cannot compare temperature (number) with true (bool)",
            "temperature >= true",
        ),
        ("user == 1", "cannot compare user (string) with 1 (integer)", "user == 1"),
        ("model", "rule must be a condition", "model"),
        ("latency", "rule must be a condition", "latency"),
        ('"gpt-4"', "rule must be a condition", '"gpt-4"'),
        ("len(prompt)", "rule must be a condition", "len(prompt)"),
        ("stream and model", "`and` needs conditions on both sides", "model"),
        ("model or stream", "`or` needs conditions on both sides", "model"),
        ("not tools", "`not` needs a condition", "tools"),
        ('model > "a"', "cannot use `>` on model (string)", 'model > "a"'),
        ("stream < true", "cannot use `<` on stream (bool)", "stream < true"),
        ("latency < null", "cannot use `<` on null", "latency < null"),
        ('model in "gpt-4"', '`in` needs a list on the right, not "gpt-4" (string)', '"gpt-4"'),
        ("tools not in 3", "`not in` needs a list on the right, not 3 (integer)", "3"),
        ('model in ["a", 1]', "list mixes string and integer", "1"),
        ("model in [1, 2]", "cannot compare model (string) with 1 (integer)", "model in [1, 2]"),
        ("latency in [1, 2]", "latency is a duration; write 1ms or 1s", "1"),
        ('[["a"]] contains "a"', "lists cannot contain lists", '["a"]'),
        (
            'stream contains "a"',
            "`contains` needs text or a list on the left, not stream (bool)",
            'stream contains "a"',
        ),
        ("prompt contains 1", "cannot compare prompt (string) with 1 (integer)", "prompt contains 1"),
        (
            'tools starts_with "a"',
            "`starts_with` needs text on the left, not tools (integer)",
            'tools starts_with "a"',
        ),
        ('tools matches "a"', "`matches` needs text on the left, not tools (integer)", 'tools matches "a"'),
        ("prompt matches user", "`matches` needs a regular expression in quotes", "user"),
        (
            'prompt matches "(unclosed"',
            "invalid regular expression: missing ), unterminated subpattern",
            '"(unclosed"',
        ),
        ("foo(prompt)", "unknown function `foo`", "foo"),
        ("contains_cod(prompt)", "unknown function `contains_cod`", "contains_cod"),
        ("len(prompt, model) > 1", "`len` takes 1 argument, got 2", "len(prompt, model)"),
        ("contains_code()", "`contains_code` takes 1 argument, got 0", "contains_code()"),
        ("len(tools) > 1", "`len` needs text or a list, not tools (integer)", "tools"),
        ('lower(stream) == "a"', "`lower` needs text, not stream (bool)", "stream"),
        ("contains_code", "`contains_code` is a function", "contains_code"),
        ("stream == True", "`True` is not a value", "True"),
        ("user == None", "`None` is not a value", "None"),
        ('headers.x_tier == "a"', "header names go in brackets", "x_tier"),
        ('headers == "a"', "`headers` needs a header name", "headers"),
        ('headers["a"]["b"] == "c"', "a header has no fields", '"b"]'),
        ('headers[""] == "c"', "empty header name", '""]'),
        ("metadata == 1", "`metadata` needs a name", "metadata"),
        ("model.name == 1", "`model` has no fields", "name"),
    ],
)
def test_type_errors_point_at_the_problem(text: str, message: str, pointed: str) -> None:
    diagnostic = only_error(text)
    assert diagnostic.message == message
    assert at(text, diagnostic) == pointed


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ('stream == "yes"', "write stream == true or stream == false"),
        ("latency < 5", "expected a duration such as 250ms, 30s, 5m, 1h or 1d"),
        ("latency < 10MB", "expected a size such as 512KB, 10MB or 1GiB"),
        ("model", 'model is a string; compare it with a value, e.g. model == "text"'),
        ('model in "gpt-4"', "use `contains` to look for text"),
        ("contains_cod(prompt)", "did you mean `contains_code`?"),
        ("contains_code", "write contains_code(prompt)"),
        ("stream == True", "write `true`"),
        ('headers.x_tier == "a"', 'write headers["x_tier"]'),
    ],
)
def test_type_errors_carry_hints(text: str, hint: str) -> None:
    assert only_error(text).hint == hint


def test_every_type_error_of_a_rule_is_reported() -> None:
    rule = compile_rule('model > 3 and stream == "yes" and latency < 5')
    assert [d.message for d in rule.diagnostics] == [
        "cannot compare model (string) with 3 (integer)",
        'cannot compare stream (bool) with "yes" (string)',
        "latency is a duration; write 5ms or 5s",
    ]


def test_messages_are_one_lower_case_line_without_period() -> None:
    for text in ("model > 3", 'model = "x"', "foo(prompt)", "latency < 5", "model", "True"):
        for diagnostic in compile_rule(text).diagnostics:
            assert "\n" not in diagnostic.message
            assert not diagnostic.message.endswith(".")
            assert not diagnostic.message[0].isupper()


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens == null",
        "temperature != null and temperature < 0.5",
        'user == null or region in [null, "eu"]',
        "latency < 100ms",
        "latency >= 1.5s",
        "temperature > 0",
        "max_tokens <= 1.5",
        "tools >= 1 and prompt_tokens < 1000",
        "user == team",
        "stream",
        "not deterministic",
        'headers["X-Tier"] == "gold"',
        'headers["x-tier"] != null',
        "contains_code(prompt) or is_creative(prompt)",
        'lower(user) in ["alice", "bob"]',
        "len(prompt) > 1000",
        "len(metadata.tags) > 2",
        '"gpt" in [model]',
        "[1, 2.5] contains 2",
        'prompt contains "SELECT"',
        'model starts_with "gpt-"',
        'model matches "^gpt-4(o|-turbo)?$"',
        "true",
        "false",
        "(stream)",
    ],
)
def test_well_typed_rules_compile(text: str) -> None:
    compiled(text)


@pytest.mark.parametrize(
    "text",
    [
        "cost_sensitive == true",
        "cost_sensitive",
        'tier == 1 or tier == "gold" or tier < 5 or tier == 100ms',
        "metadata.budget < $5",
        'metadata.tags contains "x"',
        "metadata.x in [1, 2]",
        "model == metadata.preferred_model",
        "latency < metadata.budget",
        "a.b.c == 1",
        'metadata["my-key"] == "v"',
    ],
)
def test_metadata_compares_with_anything(text: str) -> None:
    compiled(text)


def test_unknown_bare_names_are_listed_once_with_their_place() -> None:
    text = "cost_sensitive == true and tier > 2 and cost_sensitive"
    rule = compiled(text)
    assert rule.unknown_attributes == (("cost_sensitive", 0, 14), ("tier", 27, 4))
    assert rule.diagnostics == ()


def test_explicit_metadata_is_not_unknown() -> None:
    assert compiled("metadata.cost_sensitive == true").unknown_attributes == ()


def test_declared_names_are_not_unknown() -> None:
    rule = compiled("cost_sensitive == true", declared={"cost_sensitive": "bool"})
    assert rule.unknown_attributes == ()


def test_close_misspelling_warns_with_did_you_mean() -> None:
    rule = compile_rule('modle == "gpt-4"')
    assert rule.ok
    (warning,) = rule.diagnostics
    assert warning.severity == "warning"
    assert warning.message == "unknown attribute `modle` is read from metadata"
    assert warning.hint == "did you mean `model`?"
    assert (warning.offset, warning.length) == (0, 5)
    assert rule.unknown_attributes == (("modle", 0, 5),)


def test_misspelling_of_a_declared_name_warns() -> None:
    rule = compile_rule("cost_sensitiv == true", declared={"cost_sensitive": "bool"})
    assert [d.hint for d in rule.diagnostics] == ["did you mean `cost_sensitive`?"]


@pytest.mark.parametrize(
    ("declared", "text", "message"),
    [
        ("bool", 'flag == "yes"', 'cannot compare flag (bool) with "yes" (string)'),
        ("number", 'flag == "yes"', 'cannot compare flag (number) with "yes" (string)'),
        ("string", "flag > 3", "cannot compare flag (string) with 3 (integer)"),
        ("duration", "flag < 5", "flag is a duration; write 5ms or 5s"),
        ("size", "flag < 5", "flag is a size; write 5KB or 5MB"),
        ("money", "flag < 5", "flag is money; write $5"),
        ("percentage", "flag < 5", "flag is a percentage; write 5%"),
        ("list", "flag > 1", "cannot compare flag (list) with 1 (integer)"),
    ],
)
def test_declared_metadata_is_type_checked(declared: str, text: str, message: str) -> None:
    assert only_error(text, declared={"flag": declared}).message == message


def test_declared_names_may_carry_the_metadata_prefix() -> None:
    diagnostic = only_error("metadata.flag == 1", declared={"metadata.flag": "bool"})
    assert diagnostic.message == "cannot compare metadata.flag (bool) with 1 (integer)"


def test_unknown_declared_type_stays_dynamic() -> None:
    compiled('flag == 1 or flag == "a"', declared={"flag": "mystery"})


def test_comparing_a_never_null_attribute_with_null_warns() -> None:
    rule = compile_rule("model == null")
    assert rule.ok
    assert [(d.severity, d.message) for d in rule.diagnostics] == [("warning", "model is never null")]


def test_attribute_types_name_every_attribute() -> None:
    assert ATTRIBUTE_TYPES["model"] == "string"
    assert ATTRIBUTE_TYPES["stream"] == "bool"
    assert ATTRIBUTE_TYPES["temperature"] == "float|null"
    assert ATTRIBUTE_TYPES["max_tokens"] == "int|null"
    assert ATTRIBUTE_TYPES["tools"] == "int"
    assert ATTRIBUTE_TYPES["latency"] == "duration|null"
    assert set(ATTRIBUTE_TYPES) >= {
        "deterministic",
        "user",
        "org",
        "team",
        "role",
        "region",
        "prompt_tokens",
        "prompt",
        "headers",
        "metadata",
    }


def test_attribute_types_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        ATTRIBUTE_TYPES["model"] = "int"  # type: ignore[index]
