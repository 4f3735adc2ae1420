"""The libyaml fast path (`modelmux/config/fast_yaml.py`) against the ruamel.yaml loader it stands in for.

For any text the fast path either declines or builds exactly the node tree ruamel.yaml's round-trip
path builds: the same keys in the same order, values of the same Python types (down to ruamel.yaml's
`ScalarInt`/`ScalarFloat` and their formatting attributes), and the same key spans, value spans and
scalar styles. Checked on every YAML file in the repository, on hand-written edge cases, on trees
ruamel.yaml dumps in varied styles, and on generated config-like text with comments, block scalars and
flow collections (the text generator found the divergences the fast path now declines).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import NoneType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from benchmarks.compile_bench import generated_config
from modelmux.cli.render import text_report
from modelmux.compiler.compile import compile_file
from modelmux.config import fast_yaml, loader
from modelmux.config.loader import LoadedConfig, _Loader, _Node, load_config
from tests.config.test_valid_fixtures import environment

REPO = Path(__file__).resolve().parents[2]
YAML_FILES = sorted(
    p.relative_to(REPO)
    for folder in ("fixtures", "configs")
    for pattern in ("*.yaml", "*.yml")
    for p in (REPO / folder).rglob(pattern)
)
CONFIG_FILES = [p for p in YAML_FILES if p.parts[:2] in {("fixtures", "configs"), ("configs", "demo.yaml")}]
CONFIG_FILES += [p for p in YAML_FILES if p.parts[:2] == ("configs", "examples")]

GENERATED = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

pytestmark = pytest.mark.skipif(not fast_yaml.available(), reason="PyYAML without libyaml")


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def ruamel_node(text: str, name: str = "t.yaml") -> _Node | None:
    return _Loader()._ruamel_load(text, name)


def fast_node(text: str, name: str = "t.yaml") -> _Node | None:
    """The fast path's tree, or None when it declines."""
    try:
        return fast_yaml.load(text, name)
    except fast_yaml.Declined:
        return None


def assert_same_value(fast: Any, ref: Any, where: object) -> None:
    assert type(fast) is type(ref), (where, fast, ref)
    if isinstance(ref, str | int | float | NoneType) and ref == ref:  # not for NaN or ruamel's TaggedScalar
        assert fast == ref, (where, fast, ref)
    assert repr(fast) == repr(ref), where
    assert str(fast) == str(ref), where
    assert attributes(fast) == attributes(ref), where


def attributes(value: Any) -> dict[str, str]:
    """The formatting attributes of ruamel.yaml's ScalarInt and ScalarFloat (width, precision, ...)."""
    return {name: repr(attribute) for name, attribute in getattr(value, "__dict__", {}).items()}


def assert_same_tree(fast: _Node, ref: _Node, path: tuple[object, ...] = ()) -> None:
    assert fast.position == ref.position, path
    if isinstance(ref.value, dict):
        assert isinstance(fast.value, dict), path
        assert list(fast.value) == list(ref.value), path
        for key in ref.value:
            assert_same_tree(fast.value[key], ref.value[key], (*path, key))
    elif isinstance(ref.value, list):
        assert isinstance(fast.value, list), path
        assert len(fast.value) == len(ref.value), path
        for index, (a, b) in enumerate(zip(fast.value, ref.value, strict=True)):
            assert_same_tree(a, b, (*path, index))
    else:
        assert_same_value(fast.value, ref.value, path)


def same_or_declined(text: str, name: str = "t.yaml") -> bool:
    """Assert the fast path declines or agrees with ruamel.yaml; True when it took the text."""
    fast = fast_node(text, name)
    ref = ruamel_node(text, name)
    if fast is None:
        return False
    assert ref is not None, f"the fast path took text that ruamel.yaml rejects: {text!r}"
    assert_same_tree(fast, ref)
    return True


def assert_same_loaded(fast: LoadedConfig, ref: LoadedConfig) -> None:
    assert fast.positions == ref.positions
    for path, value in ref.positions.items():
        assert fast.positions[path] == value
    assert_same_data(fast.data, ref.data, ())
    assert fast.files == ref.files
    assert fast.lines == ref.lines
    assert [d.render() for d in fast.diagnostics.items] == [d.render() for d in ref.diagnostics.items]
    assert fast.scripts == ref.scripts
    assert fast.script_paths == ref.script_paths
    assert fast.base_dir == ref.base_dir


def assert_same_data(fast: Any, ref: Any, path: tuple[object, ...]) -> None:
    if isinstance(ref, dict):
        assert type(fast) is dict and list(fast) == list(ref), path
        for key in ref:
            assert_same_data(fast[key], ref[key], (*path, key))
    elif isinstance(ref, list):
        assert type(fast) is list and len(fast) == len(ref), path
        for index, (a, b) in enumerate(zip(fast, ref, strict=True)):
            assert_same_data(a, b, (*path, index))
    else:
        assert_same_value(fast, ref, path)


@pytest.fixture
def fast_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file goes to the fast path first, whatever its size."""
    monkeypatch.setattr(loader, "FAST_PATH_MIN_CHARS", 0)


def load_both(monkeypatch: pytest.MonkeyPatch, path: Path) -> tuple[LoadedConfig, LoadedConfig]:
    with monkeypatch.context() as patch:
        patch.setattr(loader, "FAST_PATH_MIN_CHARS", 0)
        fast = load_config(str(path))
    with monkeypatch.context() as patch:
        patch.setattr(loader, "_fast_load", lambda text, name: None)
        ref = load_config(str(path))
    return fast, ref


# --- every YAML file in the repository ------------------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=str)
def test_every_file_is_the_same_or_declined(path: Path) -> None:
    same_or_declined(path.read_text(encoding="utf-8"), str(path))


@pytest.mark.parametrize("path", YAML_FILES, ids=str)
def test_loading_every_file_with_its_includes_is_the_same(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    fast, ref = load_both(monkeypatch, path)
    assert_same_loaded(fast, ref)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=str)
def test_compiling_every_config_is_the_same(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    env = environment(path)
    with monkeypatch.context() as patch:
        patch.setattr(loader, "FAST_PATH_MIN_CHARS", 0)
        fast = compile_file(str(path), env)
    with monkeypatch.context() as patch:
        patch.setattr(loader, "_fast_load", lambda text, name: None)
        ref = compile_file(str(path), env)
    assert text_report(str(path), fast) == text_report(str(path), ref)
    assert fast.public == ref.public


TAKEN = [
    Path("configs/demo.yaml"),
    *sorted(Path("configs/examples").glob("*.yaml")),
    *sorted(Path("fixtures/configs/valid").glob("*.yaml")),
]


@pytest.mark.parametrize("path", TAKEN, ids=str)
def test_real_configs_take_the_fast_path(path: Path) -> None:
    # Otherwise the speed-up would be a fallback to ruamel.yaml in disguise.
    fast_yaml.load(path.read_text(encoding="utf-8"), str(path))


def test_the_benchmark_config_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    text = generated_config(100, 200)
    assert len(text) >= loader.FAST_PATH_MIN_CHARS
    assert same_or_declined(text, "generated.yaml")
    calls: list[str] = []
    original = fast_yaml.load

    def spy(text: str, name: str) -> _Node:
        node = original(text, name)
        calls.append(name)
        return node

    monkeypatch.setattr(fast_yaml, "load", spy)
    loaded = load_config("generated.yaml", text=text)
    assert calls == ["generated.yaml"]
    assert len(loaded.data["providers"]) == 100


def test_the_full_benchmark_config_is_not_declined() -> None:
    fast_yaml.load(generated_config(1000, 2000), "generated.yaml")


# --- hand-written cases ---------------------------------------------------------------------------

TAKEN_CASES = {
    "flow mapping with a Bedrock id": "models: {claude: anthropic.claude-sonnet-4-5-v1:0}\n",
    "flow sequences": "models: [\"gpt-4\", gpt-4o, 'o1']\nempty: []\nnested: [[a, b], {c: d}, [1, 2.5]]\n",
    "flow over lines": "pricing: {\n  input: $0.15,\n  output: $0.60,\n}\nlist: [\n  a,\n  b\n]\n",
    "empty values": "a:\nb:\n  c:\n  d: 1\ne: x\n",
    "empty value with a comment": "a: # nothing here\nb: 1\n",
    "empty value then a comment line": "a:\n  # later\nb: 1\n",
    "empty sequence entries": "list:\n  -\n  - a\n  -\n",
    "quoted keys": '\'single key\': 1\n"double key": 2\n"a\\tb": 3\n"yes": 4\n\'1\': 5\n',
    "multi-line plain scalar": 'rule: model == "gpt-4" and\n  stream == false\n\n  and x\nnext: 1\n',
    "multi-line quoted scalars": 'a: \'one\n  two\n\n  three\'\nb: "one\\\n  two \\"q\\" \\/ \\u00e9 \\x41"\n',
    "literal block scalars": "a: |\n  x\n  y\n\nb: |-\n  x\n\nc: |+\n  x\n\nd: |2\n    indented\ne: 1\n",
    "folded block scalars": "a: >\n  x\n  y\n\n  z\nb: >-\n  x\n   more\n  y\nc: >+\n  x\n\nd: 1\n",
    "block scalar with a header comment": "a: |  # note\n  text\nb: >- # note\n  text\n",
    "comments everywhere": "# head\na: 1  # one\n# middle\nb:\n  # inside\n  - x # item\n  # after\n# tail\n",
    "unicode": '名前: 中文の値\nemoji: 😀 and 🎉\n"\U0001d518 key": "é ü 𝄞"\nlist: [中, 😀]\n',
    "environment references": "api_key: ${OPENAI_API_KEY}\nurl: ${BASE:-http://127.0.0.1:8080/v1}\nx: $$\n",
    "scalar types": "a: true\nb: False\nc: null\nd: ~\ne: 0\nf: -0\ng: 42\nh: -7\ni: +3\nj: 1.5\nk: .5\nl: 1e3\n"
    "m: -2.5E-3\nn: 1.\no: 123456789012345678901234567890\np: yes\nq: on\n",
    "explicit document": "---\na: 1\n...\n",
    "crlf line ends": "a: 1\r\nb:\r\n  - x\r\n  - 'y'\r\nc: |\r\n  t\r\n",
    "no final line break": "a: 1\nb: two",
    "deep nesting": "".join(f"{'  ' * i}k{i}:\n" for i in range(70)) + "  " * 70 + "leaf: 1\n",
    "sequence of mappings": "providers:\n- name: a\n  type: mock\n-   name: b\n    type: mock\n",
    "urls and colons": "url: http://127.0.0.1:9000/v1\ntime: 12:30\nratio: 1:2\n",
    "empty file": "",
    "only comments": "# nothing\n\n# at all\n",
}


@pytest.mark.parametrize("text", TAKEN_CASES.values(), ids=TAKEN_CASES.keys())
def test_hand_written_cases_are_taken_and_the_same(text: str) -> None:
    assert same_or_declined(text), "declined"


DECLINED_CASES = {
    "tab": "a:\n\tb: 1\n",
    "tab in a value": "a: 'x\ty'\n",
    "anchor and alias": "a: &x 1\nb: *x\n",
    "merge key": "base: &b {x: 1}\nc:\n  <<: *b\n",
    "plain merge key": "<<: {a: 1}\n",
    "tag": "a: !!str 1\n",
    "local tag": "a: !thing 1\n",
    "directive": "%YAML 1.2\n---\na: 1\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "duplicate key": "a: 1\na: 2\n",
    "complex key": "? [a, b]\n: 1\n",
    "integer key": "1: a\n",
    "null key": "~: a\n",
    "boolean key": "true: a\n",
    "timestamp": "a: 2024-01-01\n",
    "hex": "a: 0x1F\n",
    "octal": "a: 0o17\n",
    "leading zero": "a: 007\n",
    "underscores": "a: 1_000\n",
    "infinity": "a: .inf\n",
    "not a number": "a: .nan\n",
    "value key": "a: =\n",
    "NEL": "a: 'x\x85y'\n",
    "line separator": "a: x\u2028y\n",
    "paragraph separator": "a: x\u2029y\n",
    "byte-order mark": "\ufeffa: 1\n",
    "control character": "a: x\x07y\n",
    "empty value in a flow mapping": "a: {b: , c: 1}\n",
    "empty value in a flow sequence entry": "a: [b: ]\n",
    "empty value ending a mapping": "a: 1\nb:\n",
    "empty value ending a nested mapping": "a:\n  b:\nc: 1\n",
    "block header comment without a space": "a: |#c\n  x\n",
    "block scalar starting with spaces": "a: >\n  \n   x\n",
    "scalar root": "just text\n",
    "sequence root": "- a\n- b\n",
    "syntax error": "a: [1, 2\n",
    "too deep": "a: " + "[" * 120 + "]" * 120 + "\n",
}


@pytest.mark.parametrize("text", DECLINED_CASES.values(), ids=DECLINED_CASES.keys())
def test_hand_written_cases_that_are_declined(text: str) -> None:
    assert fast_node(text) is None


@pytest.mark.parametrize("text", [*TAKEN_CASES.values(), *DECLINED_CASES.values()])
def test_load_config_is_the_same_either_way(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8", newline="")
    fast, ref = load_both(monkeypatch, path)
    assert_same_loaded(fast, ref)


# --- without libyaml, and below the size threshold ------------------------------------------------


def test_without_libyaml_the_loader_uses_ruamel_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    monkeypatch.setitem(sys.modules, "yaml._yaml", None)  # as if the C extension were not built
    fast_yaml._libyaml.cache_clear()
    try:
        assert not fast_yaml.available()
        with pytest.raises(fast_yaml.Declined):
            fast_yaml.load("a: 1\n", "t.yaml")
        text = generated_config(50, 100)
        loaded = load_config("generated.yaml", text=text)
        with monkeypatch.context() as patch:
            patch.setattr(loader, "_fast_load", lambda text, name: None)
            ref = load_config("generated.yaml", text=text)
        assert_same_loaded(loaded, ref)
        assert not loaded.diagnostics.items
    finally:
        fast_yaml._libyaml.cache_clear()


def test_small_files_skip_the_fast_path_until_pyyaml_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str, name: str) -> _Node:
        raise AssertionError("the fast path was used")

    monkeypatch.setattr(fast_yaml, "load", refuse)
    monkeypatch.delitem(sys.modules, "yaml._yaml")
    small = "a: 1\n"
    assert len(small) < loader.FAST_PATH_MIN_CHARS
    assert load_config("t.yaml", text=small).data == {"a": 1}


def test_validating_a_small_config_does_not_import_pyyaml() -> None:
    code = (
        "import sys\n"
        "from modelmux.config.loader import load_config\n"
        "load_config('configs/demo.yaml')\n"
        "assert 'yaml' not in sys.modules, 'PyYAML was imported'\n"
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env, timeout=60)


# --- generated: ruamel.yaml dumps in varied styles ------------------------------------------------

KEYS = [
    "providers",
    "name",
    "type",
    "models",
    "if",
    "provider",
    "yes",
    "no",
    "on",
    "null key",
    "a b",
    "x.y",
    "中文",
    "😀",
    "${VAR}",
    "k:v",
    "#hash",
    "-dash",
]
WORDS = [
    "openai",
    "anthropic.claude-sonnet-4-5-v1:0",
    "http://127.0.0.1:9000/v1",
    'model == "gpt-4" and stream == false',
    "${OPENAI_API_KEY}",
    "${BASE:-http://x}",
    "$0.50",
    "30s",
    "80%",
    "yes",
    "No",
    "null",
    "~",
    "true",
    "0",
    "1.5",
    "007",
    "0x1F",
    "2024-01-01",
    "",
    " leading space",
    "trailing space ",
    "two\nlines",
    "ends with newline\n",
    "a: b",
    "a #b",
    "- item",
    "[x]",
    "{y}",
    "'quote'",
    '"double"',
    "back\\slash",
    "中文 😀 é",
]
texts = st.one_of(
    st.sampled_from(WORDS),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
keys = st.one_of(st.sampled_from(KEYS), st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12))
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=20,
)
documents = st.dictionaries(keys, trees, min_size=1, max_size=6)
STRING_STYLES = [None, SingleQuotedScalarString, DoubleQuotedScalarString, LiteralScalarString, FoldedScalarString]


def styled(data: Any, draw: Any) -> Any:
    """The tree with ruamel.yaml's round-trip types: each string in a drawn style, each collection
    in block or flow style."""
    if isinstance(data, dict):
        mapping = CommentedMap((key, styled(value, draw)) for key, value in data.items())
        if draw(st.booleans()):
            mapping.fa.set_flow_style()
        return mapping
    if isinstance(data, list):
        sequence = CommentedSeq(styled(value, draw) for value in data)
        if draw(st.booleans()):
            sequence.fa.set_flow_style()
        return sequence
    if isinstance(data, str):
        style = draw(st.sampled_from(STRING_STYLES))
        return style(data) if style is not None else data
    return data


@st.composite
def dumped(draw: Any) -> str:
    data = draw(documents)
    if draw(st.booleans()):
        data = styled(data, draw)
    yaml = YAML(typ="rt")
    yaml.default_flow_style = draw(st.sampled_from([False, True, None]))
    yaml.width = draw(st.sampled_from([12, 40, 80, 4096]))
    mapping, sequence, offset = draw(st.sampled_from([(2, 2, 0), (2, 4, 2), (4, 4, 2), (3, 5, 3)]))
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = draw(st.booleans())
    stream = io.StringIO()
    try:
        yaml.dump(data, stream)
    except Exception:  # ruamel.yaml's emitter refuses some styles (and crashes on a few folded strings)
        assume(False)
    return stream.getvalue()


def ruamel_crashes(text: str) -> bool:
    """ruamel.yaml raises something other than a YAML error on a few odd inputs (a NotImplementedError
    on overlapping comments): there is no reference to compare with."""
    try:
        YAML(typ="rt").load(text)
    except YAMLError:
        return False
    except Exception:
        return True
    return False


@GENERATED
@given(dumped())
def test_ruamel_dumps_in_any_style_are_the_same_or_declined(text: str) -> None:
    assume(not ruamel_crashes(text))
    event("taken" if same_or_declined(text) else "declined")


def test_plain_block_dumps_are_taken() -> None:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump({"providers": [{"name": "p", "models": ["a", "b"], "weight": 0.5, "retries": 3}]}, stream)
    assert same_or_declined(stream.getvalue())


# --- generated: config-like text with comments, block scalars and flow collections ----------------

PIECES = ["a", " ", "b c", ":", ": ", " #", "#", "-", "?", ",", "[", "]", "{", "}", "'", '"', "é", "中", "😀", "!"]
PIECES += ["&", "*", "%", "@", "|", ">", "~", "0", "1.5", "=", "<<", "${V}", "\\/", "\\u00e9", "\\x41", "\\"]
LINE_KEYS = ["a", "b", "key", "x y", "é", "'q'", '"d"', "yes", "k-1", "http://h:1/v1", "a#b", "${VAR}"]
VALUE_ATOMS = ["x", "1", "-0", "1.5", ".5", "1e3", "true", "null", "~", "", "30s", "a: b", "a #b", "中文", "😀"]
VALUE_ATOMS += ["anthropic.claude-sonnet-4-5-v1:0", "'s'", '"d\\/"', "[a, b]", "{a: b}", "[a, {b: c}]", "{a: [1, 2]}"]


@st.composite
def scalar_text(draw: Any, indent: int) -> str:
    kind = draw(st.sampled_from(["atom", "atom", "plain", "single", "double", "block", "flow"]))
    if kind == "atom":
        return draw(st.sampled_from(VALUE_ATOMS))
    body = "".join(draw(st.lists(st.sampled_from(PIECES), max_size=5)))
    if kind == "plain":
        return body.replace("\n", "\n" + " " * (indent + 2))
    if kind == "single":
        return "'" + body.replace("'", "''") + "'"
    if kind == "double":
        return '"' + body.replace('"', '\\"') + '"'
    if kind == "flow":
        items = draw(st.lists(st.sampled_from(VALUE_ATOMS), max_size=3))
        return draw(st.sampled_from(["[{}]", "{{{}}}"])).format(draw(st.sampled_from([", ", ",\n  "])).join(items))
    header = draw(st.sampled_from(["|", "|-", "|+", ">", ">-", ">+", "|2", ">1-", "| # c", "|#c"]))
    body_lines = st.sampled_from(["a", "b c", "  more", "", " ", "#x", "- y", "k: v"])
    lines = draw(st.lists(body_lines, min_size=1, max_size=4))
    pad = " " * (indent + 2)
    return header + "".join("\n" + pad + line for line in lines)


@st.composite
def config_text(draw: Any) -> str:
    lines: list[str] = []

    def block(indent: int, depth: int, sequence: bool) -> None:
        for _ in range(draw(st.integers(1, 3))):
            prefix = " " * indent + ("- " if sequence else "")
            inner = indent + (2 if sequence else 0)
            key = draw(st.sampled_from(LINE_KEYS))
            comment = draw(st.sampled_from(["", "", " # c", "  #c", "#c"]))
            kind = draw(st.sampled_from(["value", "value", "value", "nested", "empty"]))
            if kind == "nested" and depth < 3:
                lines.append(prefix + key + ":" + comment)
                if draw(st.booleans()):
                    lines.append(draw(st.sampled_from(["", "  # between", "#x"])))
                block(inner + draw(st.sampled_from([0, 2, 4])), depth + 1, draw(st.booleans()))
            elif kind == "empty":
                lines.append(prefix + key + ":" + comment)
            else:
                lines.append(prefix + key + ": " + draw(scalar_text(inner)) + comment)

    block(0, 0, False)
    head = draw(st.sampled_from(["", "", "---\n", "# head\n", "%YAML 1.2\n---\n"]))
    tail = draw(st.sampled_from(["\n", "\n", "", "\n...\n", "\n# tail\n", "\n---\n"]))
    text = head + "\n".join(lines) + tail
    return text.replace("\n", "\r\n") if draw(st.integers(0, 9)) == 0 else text


@GENERATED
@given(config_text())
def test_config_like_text_is_the_same_or_declined(text: str) -> None:
    assume(not ruamel_crashes(text))
    event("taken" if same_or_declined(text) else "declined")
