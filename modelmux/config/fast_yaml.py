"""The fast path for reading a config file: libyaml's event stream turned straight into the loader's nodes.

ruamel.yaml's round-trip loader (in `loader.py`) stays the reference and the only source of YAML
diagnostics. This module takes a file only when its result is certain to be the one ruamel.yaml gives:
the same data, the same Python types and the same key and value positions. Anything else raises
`Declined` and the caller loads the file with ruamel.yaml, so errors keep their exact wording.

The parser is libyaml's (through PyYAML's C extension, libyaml 0.2.5 or newer), which reads YAML 1.1
where ruamel.yaml reads YAML 1.2. The two grammars agree on what this module lets through; it declines:

- any error from libyaml, and characters that YAML does not allow, line breaks that only YAML 1.1 has
  (NEL, LS, PS), a byte-order mark, and tabs (the two specs differ on where a tab may separate tokens);
- directives, more than one document, a root that is not a mapping, tags, anchors and aliases;
- keys that are not plain or quoted scalars resolving to strings (merge keys `<<`, null, numbers,
  booleans, complex keys), and a key written twice;
- plain scalars whose YAML 1.2 type (resolved by ruamel.yaml's own resolver) is not a string, null,
  boolean, decimal integer or simple decimal float: timestamps, `0x`/`0o`/`0b` and leading-zero
  integers, underscores, `.inf`/`.nan`, `=`; integers and floats are built by ruamel.yaml's own
  constructor, so they are the same `ScalarInt`/`ScalarFloat` objects;
- empty values inside flow collections, and an empty block mapping value that ends its mapping or
  comes before an explicit `? key` (ruamel.yaml places an empty `key:` by what follows it);
- block scalars that ruamel.yaml rejects and libyaml takes: a comment right after the header (`|#`),
  and a first line of only spaces;
- nesting deeper than `MAX_NESTING`.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode

from modelmux.config.loader import NodePosition, _Node, _value_span
from modelmux.source import SourceSpan

if TYPE_CHECKING:
    from yaml.events import Event

MAX_NESTING = 100
# libyaml 0.2.5 takes `{claude: anthropic.claude-sonnet-4-5-v1:0}` and the `\/` escape, which older
# releases reject; the differential tests ran on the libyaml PyYAML 6.0.4's wheel bundles (0.2.6). A
# PyYAML linked to an older system libyaml leaves every file to ruamel.yaml.
MIN_LIBYAML = (0, 2, 5)

# Tab, the characters outside YAML's printable set, NEL/LS/PS and the BOM (U+FEFF). Spelled as the
# characters to find rather than the complement of the printable ones: a negated class over the whole
# of Unicode takes milliseconds to compile, which `modelmux validate` would pay at every start.
_DECLINED_TEXT = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
# The integer and float spellings taken (after ruamel.yaml resolved the scalar to int or float).
_SIMPLE_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_SIMPLE_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z|[-+]?[0-9]+[eE][-+]?[0-9]+\Z")
_LINE_BREAK = re.compile("\r\n|\r|\n")
# A block scalar's header: indicator, optional chomping and indentation indicators, then spaces and an
# optional comment (ruamel.yaml requires a space before the comment; libyaml does not).
_BLOCK_HEADER = re.compile(r"[|>](?:[1-9][-+]?|[-+][1-9]?)?(?: +#.*| *)\Z")

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_NON_PLAIN_STYLES = frozenset({"'", '"', "|", ">"})


class Declined(Exception):
    """The fast path does not take this file; ruamel.yaml loads it."""


class _Libyaml:
    """PyYAML's C parser and event classes, imported on first use (and only if PyYAML has libyaml)."""

    def __init__(self) -> None:
        import yaml
        from yaml import events

        if not getattr(yaml, "__with_libyaml__", False):
            raise ImportError("PyYAML is installed without libyaml")
        from yaml._yaml import CParser, get_version

        if get_version() < MIN_LIBYAML:
            raise ImportError(f"libyaml {get_version()} is older than {MIN_LIBYAML}")

        self.parser = CParser
        self.error = yaml.YAMLError
        self.scalar = events.ScalarEvent
        self.mapping_start = events.MappingStartEvent
        self.mapping_end = events.MappingEndEvent
        self.sequence_start = events.SequenceStartEvent
        self.sequence_end = events.SequenceEndEvent
        self.document_start = events.DocumentStartEvent
        self.document_end = events.DocumentEndEvent
        self.stream_start = events.StreamStartEvent
        self.stream_end = events.StreamEndEvent


class _Ruamel:
    """ruamel.yaml's YAML 1.2 resolver and round-trip constructor: plain scalars get their types here."""

    def __init__(self) -> None:
        yaml = YAML(typ="rt")
        yaml.version = (1, 2)
        self.resolver = yaml.resolver
        self.constructor = yaml.constructor

    def tag(self, text: str) -> str:
        """The tag of a plain scalar."""
        return str(self.resolver.resolve(ScalarNode, text, (True, False)))

    def value(self, text: str, tag: str) -> Any:
        """A plain scalar's value as the round-trip loader builds it; Declined for the types not taken."""
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return self.constructor.construct_yaml_bool(ScalarNode(tag, text))
        if tag == _INT and _SIMPLE_INT.match(text):
            return self.constructor.construct_yaml_int(ScalarNode(tag, text))
        if tag == _FLOAT and _SIMPLE_FLOAT.match(text):
            return self.constructor.construct_yaml_float(ScalarNode(tag, text))
        raise Declined(f"plain scalar {text!r} resolves to {tag}")


@functools.cache
def _libyaml() -> _Libyaml | None:
    try:
        return _Libyaml()
    except ImportError:
        return None


@functools.cache
def _ruamel() -> _Ruamel:
    return _Ruamel()


def available() -> bool:
    """Whether the fast path can run at all (PyYAML built with libyaml)."""
    return _libyaml() is not None


def load(text: str, name: str) -> _Node:
    """The root node of `text`, equal to what the ruamel.yaml path builds; raises Declined otherwise."""
    lib = _libyaml()
    if lib is None:
        raise Declined("PyYAML with libyaml is not installed")
    found = _DECLINED_TEXT.search(text)
    if found is not None:
        raise Declined(f"character {found.group()!r}")
    parser = lib.parser(text)
    try:
        return _Builder(lib, _ruamel(), parser.get_event, parser.peek_event, text, name).stream()
    except lib.error as exc:
        raise Declined(f"libyaml: {exc}") from None


def _check_collection(start: Any, depth: int, what: str) -> None:
    if start.anchor is not None or start.tag is not None:
        raise Declined(f"anchor or tag on a {what}")
    if depth > MAX_NESTING:
        raise Declined("nested too deeply")


class _Builder:
    def __init__(self, lib: _Libyaml, types: _Ruamel, get: Any, peek: Any, text: str, name: str) -> None:
        self.lib = lib
        self.types = types
        self.get = get
        self.peek = peek
        self.text = text
        self.name = name
        self.lines: list[str] | None = None
        self.tags: dict[str, str] = {}

    def _tag(self, text: str) -> str:
        tag = self.tags.get(text)
        if tag is None:
            tag = self.tags[text] = self.types.tag(text)
        return tag

    def stream(self) -> _Node:
        lib = self.lib
        root = NodePosition(None, SourceSpan(self.name, 1, 1))
        self._expect(self.get(), lib.stream_start)
        event = self.get()
        if type(event) is lib.stream_end:
            return _Node({}, root)  # no document: what ruamel.yaml loads as None
        self._expect(event, lib.document_start)
        if event.version is not None or event.tags:
            raise Declined("directive")
        start = self.get()
        if type(start) is not lib.mapping_start:
            raise Declined("the root is not a mapping")
        node = _Node(self._mapping(start, 0), root)
        self._expect(self.get(), lib.document_end)
        self._expect(self.get(), lib.stream_end)
        return node

    @staticmethod
    def _expect(event: Event, kind: type[Event]) -> None:
        if type(event) is not kind:
            raise Declined(f"unexpected {type(event).__name__}")

    def _mapping(self, start: Any, depth: int) -> dict[str, _Node]:
        _check_collection(start, depth, "mapping")
        lib, get, name = self.lib, self.get, self.name
        scalar, mapping_end = lib.scalar, lib.mapping_end
        flow = bool(start.flow_style)
        items: dict[str, _Node] = {}
        while True:
            event = get()
            kind = type(event)
            if kind is mapping_end:
                return items
            if kind is not scalar or event.anchor is not None or event.tag is not None:
                raise Declined("a key that is not a plain or quoted scalar")
            key = event.value
            style = event.style
            if style:
                if style != "'" and style != '"':
                    raise Declined("a block scalar as a key")
            elif self._tag(key) != _STR:
                raise Declined(f"key {key!r} is not a string")
            if key in items:
                raise Declined(f"duplicate key {key!r}")
            mark = event.start_mark
            line, column = mark.line + 1, mark.column + 1
            key_span = SourceSpan(name, line, column, line, column + len(key))
            event = get()
            if type(event) is scalar:
                value, value_style, mark = self._scalar(event, flow, True)
                position = NodePosition(key_span, _value_span(name, mark.line, mark.column, value), value_style)
                items[key] = _Node(value, position)
            else:
                items[key] = self._collection(event, key_span, depth)

    def _sequence(self, start: Any, depth: int) -> list[_Node]:
        _check_collection(start, depth, "sequence")
        lib, get, name = self.lib, self.get, self.name
        scalar, sequence_end = lib.scalar, lib.sequence_end
        flow = bool(start.flow_style)
        items: list[_Node] = []
        while True:
            event = get()
            kind = type(event)
            if kind is sequence_end:
                return items
            if kind is scalar:
                value, value_style, mark = self._scalar(event, flow, False)
                position = NodePosition(None, _value_span(name, mark.line, mark.column, value), value_style)
                items.append(_Node(value, position))
            else:
                items.append(self._collection(event, None, depth))

    def _collection(self, event: Any, key_span: SourceSpan | None, depth: int) -> _Node:
        mark = event.start_mark
        kind = type(event)
        value: dict[str, _Node] | list[_Node]
        if kind is self.lib.mapping_start:
            value = self._mapping(event, depth + 1)
        elif kind is self.lib.sequence_start:
            value = self._sequence(event, depth + 1)
        else:
            raise Declined(f"unexpected {kind.__name__}")  # an alias
        return _Node(value, NodePosition(key_span, _value_span(self.name, mark.line, mark.column, value), None))

    def _scalar(self, event: Any, flow: bool, mapping_value: bool) -> tuple[Any, str | None, Any]:
        """(value, style for the node position, mark of the value's start as ruamel.yaml has it)."""
        if event.anchor is not None or event.tag is not None:
            raise Declined("anchor or tag on a scalar")
        text = event.value
        style = event.style
        if style:
            if style not in _NON_PLAIN_STYLES:
                raise Declined(f"scalar style {style!r}")
            if style in "|>":
                self._check_block_scalar(event.start_mark)
            return text, style, event.start_mark
        if text == "":
            if flow:
                raise Declined("an empty value in a flow collection")
            if mapping_value:
                return None, None, self._empty_value_mark(event.start_mark)
        return self.types.value(text, self._tag(text)), None, event.start_mark

    def _line(self, index: int) -> str:
        if self.lines is None:
            self.lines = _LINE_BREAK.split(self.text)
        return self.lines[index] if index < len(self.lines) else ""

    def _check_block_scalar(self, mark: Any) -> None:
        """Decline the block scalars that ruamel.yaml rejects and libyaml takes: a comment not separated
        from the header (`|#`), and a first line of only spaces followed by a line more indented ("more
        indented follow up line than first"; declined whenever the first line is only spaces)."""
        if not _BLOCK_HEADER.match(self._line(mark.line), mark.column):
            raise Declined("a block scalar header")
        first = self._line(mark.line + 1)
        if first and not first.strip(" "):
            raise Declined("a block scalar whose first line is only spaces")

    def _empty_value_mark(self, mark: Any) -> Any:
        """Where ruamel.yaml places an empty block mapping value (libyaml puts it just after the colon).

        ruamel.yaml places it at the colon's end when a comment follows on the same line, and otherwise
        at the next token. Taken only when that token is the next key of the same mapping (at the end of
        a mapping or of the file ruamel.yaml's choice depends on what follows).
        """
        following = self.peek()
        if type(following) is not self.lib.scalar:
            raise Declined("an empty value that ends a mapping")
        line = self._line(mark.line)
        if mark.column < 1 or line[mark.column - 1 : mark.column] != ":":
            raise Declined("an empty value not after a colon")
        rest = line[mark.column :].lstrip(" ")
        if rest.startswith("#"):
            return mark
        if rest:
            raise Declined("an empty value followed by text")
        start: Any = following.start_mark  # libyaml's events always carry their marks
        if self._line(start.line)[: start.column].strip(" "):
            raise Declined("an empty value before an explicit `?` key")  # ruamel.yaml: after the `?`
        return start
