"""Properties: compile_rule never raises, predicates never raise, and the analysis is sound."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelmux.dsl import CompiledRule, RequestFacts, compile_rule, never_matches, shadows

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = [
    "model", "stream", "deterministic", "temperature", "max_tokens", "tools", "user", "org", "team",
    "role", "region", "latency", "prompt_tokens", "prompt", "headers", "metadata", "cost_sensitive",
    "contains_code", "is_creative", "len", "lower", "and", "or", "not", "in", "not in", "matches",
    "contains", "starts_with", "true", "false", "null", "True", "None", "==", "!=", "<", "<=", ">",
    ">=", "=", "&&", "||", "!", "(", ")", "[", "]", ",", ".", '"gpt-4"', "'x'", '"', "'", '"(["',
    '"^a\\d+$"', "1", "-2", "0.5", "1e3", "100ms", "5m", "1d", "10MB", "1KiB", "$0.50", "$", "80%",
    "5min", "100 ms", "x-name", '["x-a"]', "\u201c", "@", "#", "\\", "\n", "   ", "9" * 30,
]  # fmt: skip


def check_diagnostics(text: str, rule: CompiledRule) -> None:
    assert rule.text == text
    for diagnostic in rule.diagnostics:
        assert diagnostic.severity in ("error", "warning")
        assert 0 <= diagnostic.offset <= max(len(text) - 1, 0)
        assert diagnostic.length >= 1
        assert diagnostic.offset + diagnostic.length <= max(len(text), 1)
        assert diagnostic.message and "\n" not in diagnostic.message
        assert not diagnostic.message.startswith("internal error"), diagnostic.message
    for _name, offset, length in rule.unknown_attributes:
        assert offset >= 0 and offset + length <= len(text)
    if not rule.ok:
        assert rule.condition is None and rule.model_equals is None


@SETTINGS
@given(st.text())
def test_compile_rule_never_raises_on_any_text(text: str) -> None:
    check_diagnostics(text, compile_rule(text))


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=14), st.sampled_from([" ", "", "  "]))
def test_compile_rule_never_raises_on_token_soup(tokens: list[str], separator: str) -> None:
    text = separator.join(tokens)
    rule = compile_rule(text)
    check_diagnostics(text, rule)
    if rule.ok:
        assert isinstance(rule.predicate(RequestFacts(model="gpt-4")), bool)


MODELS = ["gpt-4", "gpt-3.5", "claude", ""]
STRINGS = st.sampled_from(["a", "b", "gpt", "gpt-4", ""])


def quoted(value: str) -> str:
    return '"' + value + '"'


def string_list(values: list[str]) -> str:
    return "[" + ", ".join(quoted(value) for value in values) + "]"


ORDERING = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
EQUALITY = st.sampled_from(["==", "!="])
DURATIONS = st.sampled_from(["10ms", "100ms", "1s", "5s"])
SMALL_INTS = st.integers(min_value=-1, max_value=3)
METADATA_NAMES = st.sampled_from(["x", "metadata.x", "y", 'metadata["y"]'])
METADATA_LITERALS = st.sampled_from(['"a"', '"1"', "1", "2", "0.5", "true", "false", "null", "100ms", "$1", "50%"])
FIXED_ATOMS = [
    "stream",
    "deterministic",
    "stream == true",
    "stream == false",
    "deterministic != true",
    "latency == null",
    "latency != null",
    "temperature == null",
    "user == null",
    "contains_code(prompt)",
    "is_creative(prompt)",
    "len(prompt) > 2",
    'lower(model) == "gpt-4"',
    "true",
    "false",
    "x == y",
    'x contains "a"',
    "x in [1, 2]",
]


def comparison(
    subject: str | st.SearchStrategy[str], ops: st.SearchStrategy[str], values: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    subjects = st.just(subject) if isinstance(subject, str) else subject
    return st.builds(lambda s, op, v: f"{s} {op} {v}", subjects, ops, values)


QUOTED = STRINGS.map(quoted)
STRING_LISTS = st.lists(STRINGS, max_size=3).map(string_list)
ATOMS = st.one_of(
    st.sampled_from(FIXED_ATOMS),
    METADATA_NAMES,
    comparison("model", st.sampled_from(["==", "!=", "starts_with", "contains"]), QUOTED),
    comparison("model", st.just("matches"), STRINGS.map(lambda v: quoted("^" + v))),
    comparison("model", st.sampled_from(["in", "not in"]), STRING_LISTS),
    comparison("latency", ORDERING, DURATIONS),
    comparison("temperature", ORDERING, st.sampled_from(["0", "0.5", "1"])),
    comparison(st.sampled_from(["tools", "max_tokens"]), ORDERING, SMALL_INTS.map(str)),
    comparison("user", EQUALITY, QUOTED),
    comparison("region", st.just("in"), STRING_LISTS),
    comparison('headers["X-A"]', EQUALITY, QUOTED),
    comparison(METADATA_NAMES, EQUALITY, METADATA_LITERALS),
    comparison(METADATA_NAMES, st.sampled_from(["<", ">="]), SMALL_INTS.map(str)),
)


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", children, children),
        st.builds(lambda a, b: f"({a}) or ({b})", children, children),
        st.builds(lambda a: f"not ({a})", children),
    )


RULES = st.recursive(ATOMS, combine, max_leaves=6)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.decimals(allow_nan=True)
    | st.sampled_from(["1", "true", "100ms", "$1", "50%", "a"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=5,
)
OPTIONAL_TEXT = st.none() | STRINGS | st.text(max_size=8)

ANY_FACTS = st.builds(
    RequestFacts,
    model=st.sampled_from(MODELS) | st.text(max_size=8),
    stream=st.booleans(),
    deterministic=st.booleans(),
    temperature=st.none() | st.floats(),
    max_tokens=st.none() | st.integers(),
    tools=st.integers(min_value=0, max_value=5),
    user=OPTIONAL_TEXT,
    org=OPTIONAL_TEXT,
    team=OPTIONAL_TEXT,
    role=OPTIONAL_TEXT,
    region=OPTIONAL_TEXT,
    latency=st.none() | st.floats(min_value=0),
    prompt_tokens=st.integers(min_value=0),
    prompt=st.text(max_size=40) | st.sampled_from(["```\nx\n```", "write a poem"]),
    headers=st.dictionaries(st.sampled_from(["x-a", "x-b"]), st.text(max_size=5), max_size=2),
    metadata=st.dictionaries(st.sampled_from(["x", "y", "z"]), JSON_VALUES, max_size=3),
)

SMALL_FACTS = st.builds(
    RequestFacts,
    model=st.sampled_from(MODELS),
    stream=st.booleans(),
    deterministic=st.booleans(),
    temperature=st.sampled_from([None, 0.0, 0.5, 1.0, 0.7]),
    max_tokens=st.sampled_from([None, -1, 0, 1, 2, 3]),
    tools=st.sampled_from([0, 1, 2, 3]),
    user=st.sampled_from([None, "a", "b", ""]),
    region=st.sampled_from([None, "a", "b"]),
    latency=st.sampled_from([None, 0.005, 0.01, 0.05, 0.1, 1.0, 3.0, 5.0, 9.0]),
    prompt=st.sampled_from(["", "hi", "```\nx\n```", "write a poem"]),
    headers=st.sampled_from([{}, {"x-a": "a"}, {"x-a": "gpt"}]),
    metadata=st.dictionaries(
        st.sampled_from(["x", "y"]),
        st.sampled_from([None, 1, 2, 0.5, "1", "a", True, False, "true", "100ms", "$1", "50%", [1], 1.5]),
        max_size=2,
    ),
)


@SETTINGS
@given(RULES)
def test_generated_rules_compile_cleanly(text: str) -> None:
    rule = compile_rule(text)
    assert rule.ok, (text, rule.diagnostics)
    check_diagnostics(text, rule)


@SETTINGS
@given(RULES, ANY_FACTS)
def test_predicates_never_raise(text: str, facts: RequestFacts) -> None:
    rule = compile_rule(text)
    assert isinstance(rule.predicate(facts), bool)


@SETTINGS
@given(RULES, st.lists(SMALL_FACTS, min_size=1, max_size=20))
def test_never_matching_rules_match_nothing(text: str, requests: list[RequestFacts]) -> None:
    rule = compile_rule(text)
    if never_matches(rule):
        assert not any(rule.predicate(facts) for facts in requests)


@SETTINGS
@given(RULES, RULES, st.lists(SMALL_FACTS, min_size=1, max_size=20))
def test_shadowed_rules_match_only_what_the_earlier_rule_matches(
    earlier_text: str, later_text: str, requests: list[RequestFacts]
) -> None:
    earlier, later = compile_rule(earlier_text), compile_rule(later_text)
    if shadows(earlier, later):
        for facts in requests:
            assert not later.predicate(facts) or earlier.predicate(facts), facts


@SETTINGS
@given(RULES, st.lists(SMALL_FACTS, min_size=1, max_size=20))
def test_a_rule_shadows_its_own_restrictions(text: str, requests: list[RequestFacts]) -> None:
    base = compile_rule(text)
    narrower = compile_rule(f"({text}) and stream")
    assert shadows(base, narrower)
    assert shadows(base, base)


MODEL_ATOMS = st.one_of(
    comparison("model", st.just("=="), QUOTED),
    comparison("model", st.just("in"), STRING_LISTS),
)
MODEL_RULES = st.one_of(
    st.builds(lambda m, r: f"({m}) and ({r})", MODEL_ATOMS, RULES),
    st.builds(lambda m, n: f"({m}) or ({n})", MODEL_ATOMS, MODEL_ATOMS),
    RULES,
)


@SETTINGS
@given(MODEL_RULES, st.lists(SMALL_FACTS, min_size=1, max_size=20))
def test_model_equals_holds_for_every_match(text: str, requests: list[RequestFacts]) -> None:
    rule = compile_rule(text)
    for facts in requests:
        if rule.model_equals is not None and rule.predicate(facts):
            assert facts.model in rule.model_equals


def test_decimal_nan_in_metadata_is_harmless() -> None:
    rule = compile_rule("x < $1 or x == $1 or x in [$1]")
    assert not rule.predicate(RequestFacts(model="m", metadata={"x": Decimal("sNaN")}))
