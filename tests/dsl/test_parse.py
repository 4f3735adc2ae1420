"""Parsing: literals, precedence, names, and friendly syntax errors with their offsets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from modelmux.dsl import compile_rule
from modelmux.dsl.ast import Attribute, BoolOp, Compare, Header, ListExpr, Literal, Metadata, Not
from modelmux.dsl.parser import grammar_text, parse, rule_parser

from .helpers import at, only_error


def right_literal(text: str) -> Literal:
    node = parse(text)
    assert isinstance(node, Compare)
    assert isinstance(node.right, Literal)
    return node.right


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ('x == "gpt-4"', "gpt-4", "string"),
        ("x == 'gpt-4'", "gpt-4", "string"),
        (r'x == "say \"hi\""', 'say "hi"', "string"),
        (r"x == 'it\'s'", "it's", "string"),
        (r'x == "a\nb\t\u00e9\\"', "a\nb\té\\", "string"),
        (r'x == "^gpt-\d+$"', r"^gpt-\d+$", "string"),
        ("x == 42", 42, "integer"),
        ("x == -3", -3, "integer"),
        ("x == 0.25", 0.25, "float"),
        ("x == 1e3", 1000.0, "float"),
        ("x == true", True, "bool"),
        ("x == false", False, "bool"),
        ("x == null", None, "null"),
        ("x == 100ms", 0.1, "duration"),
        ("x == 30s", 30.0, "duration"),
        ("x == 5m", 300.0, "duration"),
        ("x == 1h", 3600.0, "duration"),
        ("x == 1d", 86400.0, "duration"),
        ("x == 1.5s", 1.5, "duration"),
        ("x == 10MB", 10_000_000, "size"),
        ("x == 1KiB", 1024, "size"),
        ("x == $0.50", Decimal("0.50"), "money"),
        ("x == $1000", Decimal("1000"), "money"),
        ("x == 80%", 0.8, "percentage"),
    ],
)
def test_literal_values_and_kinds(text: str, value: object, kind: str) -> None:
    literal = right_literal(text)
    assert literal.value == value
    assert literal.kind == kind


def test_list_literal_keeps_items_in_order() -> None:
    node = parse('model in ["a", "b",]')
    assert isinstance(node, Compare) and isinstance(node.right, ListExpr)
    assert [item.value for item in node.right.items if isinstance(item, Literal)] == ["a", "b"]


def test_empty_list_parses() -> None:
    node = parse("model in []")
    assert isinstance(node, Compare) and isinstance(node.right, ListExpr)
    assert node.right.items == ()


def test_and_binds_tighter_than_or() -> None:
    node = parse("stream or deterministic and tools > 1")
    assert isinstance(node, BoolOp) and node.op == "or"
    assert isinstance(node.items[1], BoolOp) and node.items[1].op == "and"


def test_not_negates_the_whole_comparison() -> None:
    node = parse('not model == "a" and stream')
    assert isinstance(node, BoolOp) and node.op == "and"
    assert isinstance(node.items[0], Not) and isinstance(node.items[0].operand, Compare)


def test_parentheses_override_precedence() -> None:
    node = parse("(stream or deterministic) and tools > 1")
    assert isinstance(node, BoolOp) and node.op == "and"
    assert isinstance(node.items[0], BoolOp) and node.items[0].op == "or"


def test_not_in_is_one_operator() -> None:
    node = parse('model not   in ["a"]')
    assert isinstance(node, Compare) and node.op == "not in"


def test_names_resolve_to_attributes_headers_and_metadata() -> None:
    node = parse('model == headers["X-Tier"] and metadata.team.name == cost_sensitive')
    assert isinstance(node, BoolOp)
    first, second = node.items
    assert isinstance(first, Compare) and isinstance(second, Compare)
    assert isinstance(first.left, Attribute) and first.left.name == "model"
    assert isinstance(first.right, Header) and first.right.key == "x-tier"
    assert isinstance(second.left, Metadata) and second.left.path == ("team", "name")
    assert not second.left.bare
    assert isinstance(second.right, Metadata) and second.right.path == ("cost_sensitive",)
    assert second.right.bare


def test_keywords_are_reserved_but_may_be_metadata_keys() -> None:
    node = parse('metadata["in"] == 1')
    assert isinstance(node, Compare) and isinstance(node.left, Metadata) and node.left.path == ("in",)


def test_keywords_inside_names_are_names() -> None:
    node = parse("android == notable")
    assert isinstance(node, Compare)
    assert isinstance(node.left, Metadata) and node.left.path == ("android",)


def test_spans_point_at_the_source() -> None:
    text = 'stream and model  ==  "gpt-4"'
    node = parse(text)
    assert isinstance(node, BoolOp)
    comparison = node.items[1]
    assert isinstance(comparison, Compare)
    assert text[comparison.span.offset : comparison.span.end] == 'model  ==  "gpt-4"'
    assert text[comparison.op_span.offset : comparison.op_span.end] == "=="


def test_parser_is_built_once() -> None:
    assert rule_parser() is rule_parser()


def test_grammar_is_found_in_the_repository() -> None:
    assert "?start: or_test" in grammar_text()


def test_shipped_grammar_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = tmp_path / "_grammar"
    shipped.mkdir()
    (shipped / "rules.lark").write_text("// shipped copy\n", encoding="utf-8")
    monkeypatch.setattr("importlib.resources.files", lambda package: tmp_path)
    assert grammar_text() == "// shipped copy\n"


@pytest.mark.parametrize(
    ("text", "message", "pointed", "hint"),
    [
        ('model = "gpt-4"', "unexpected `=`; did you mean `==`?", "=", None),
        ('model == "gpt-4', "unterminated string", '"gpt-4', 'close it with "'),
        ("model == 'gpt-4", "unterminated string", "'gpt-4", "close it with '"),
        ('model == "gpt-4" and', "expected a value after `and`", "and", None),
        ('model == "gpt-4" or', "expected a value after `or`", "or", None),
        ("not", "expected a value after `not`", "not", None),
        ("model ==", "expected a value after `==`", "==", None),
        ('model in ["a", "b"', "`[` is never closed", "[", "add `]`"),
        ('(model == "a"', "`(` is never closed", "(", "add `)`"),
        ('model == "a")', "unexpected `)` with nothing to close", ")", None),
        ("stream && deterministic", "unexpected `&&`; did you mean `and`?", "&&", None),
        ("stream || deterministic", "unexpected `||`; did you mean `or`?", "||", None),
        ("!stream", "unexpected `!`; did you mean `not`?", "!", None),
        ("tools => 2", "unexpected `=>`; did you mean `>=`?", "=>", None),
        ("latency < 5min", "unknown unit `min` in `5min`", "5min", None),
        ("latency < 100 ms", "unexpected space between `100` and `ms`", "ms", "write 100ms"),
        ("latency < -5ms", "`-5ms` cannot be negative", "-5ms", None),
        ("tools < 2 < 3", "comparisons cannot be chained", "<", "join them with `and`: a < b and b < c"),
        (
            'model "gpt-4"',
            'unexpected `"gpt-4"`',
            '"gpt-4"',
            "expected an operator such as `==`, `in` or `and`",
        ),
        ('model == "a" AND stream', "unexpected `AND`", "AND", "keywords are lower-case: `and`"),
        ('model == "a" adn stream', "unexpected `adn`", "adn", "did you mean `and`?"),
        ("model == == 1", "expected a value after `==`, found `==`", "==", None),
        (
            "model == \u201cgpt\u201d",
            "unexpected character `\u201c`",
            "\u201c",
            "use straight quotes: \" or '",
        ),
        ("cost > $", "expected an amount after `$`", "$", "write money as $1000 or $0.50"),
        ("model == @", "unexpected character `@`", "@", None),
        ("stream and or", "expected a value after `and`, found `or`", "or", None),
        ("metadata.in == 1", "`in` is a keyword, not a name", "in", 'write metadata["in"]'),
    ],
)
def test_syntax_errors_are_friendly(text: str, message: str, pointed: str, hint: str | None) -> None:
    diagnostic = only_error(text)
    assert diagnostic.message == message
    assert at(text, diagnostic) == pointed
    if hint is not None:
        assert diagnostic.hint == hint


def test_unknown_unit_hint_lists_the_units() -> None:
    diagnostic = only_error("latency < 5min")
    assert diagnostic.hint is not None and "ms, s, m, h or d" in diagnostic.hint and "MB" in diagnostic.hint


def test_chained_comparison_points_at_the_second_operator() -> None:
    text = "tools < 2 < 3"
    assert only_error(text).offset == 10


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_rule_is_an_error(text: str) -> None:
    diagnostic = only_error(text)
    assert diagnostic.message == "empty rule"
    assert diagnostic.offset == 0 and diagnostic.length == 1


def test_syntax_error_rule_never_matches_and_has_no_condition() -> None:
    rule = compile_rule('model = "x"')
    assert not rule.ok
    assert rule.condition is None and rule.model_equals is None
    assert rule.predicate.__name__ == "never"


def test_multi_line_rule_offsets_count_characters() -> None:
    text = 'model == "a"\n  and stream ==\n'
    diagnostic = only_error(text)
    assert diagnostic.message == "expected a value after `==`"
    assert at(text, diagnostic) == "=="


def test_number_too_long_is_an_error_not_a_crash() -> None:
    text = "tools > " + "9" * 5000
    diagnostic = only_error(text)
    assert diagnostic.message.endswith("is out of range")
    assert diagnostic.offset == 8


@pytest.mark.parametrize("text", ["not " * 80 + "stream", "[" * 80 + "]" * 80 + " == tags"])
def test_deep_nesting_is_refused(text: str) -> None:
    assert only_error(text).message == "rule nests too deeply (more than 64 levels)"


def test_many_parentheses_are_fine() -> None:
    rule = compile_rule("(" * 300 + "stream" + ")" * 300)
    assert rule.ok
