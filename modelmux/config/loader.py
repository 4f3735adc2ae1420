"""Reads config files: the only module that touches the file system for configs.

Each file is parsed with ruamel.yaml in round-trip mode so every key and value keeps its file, line
and column. Files of 4 KiB and more first go through `fast_yaml` (libyaml's C parser), which builds
the same nodes about ten times faster and hands every file it cannot reproduce exactly (and every
file with a YAML error) back to ruamel.yaml. `include:` (paths and globs, relative to the including
file) merges more files: mappings merge key by key, lists are concatenated, and a scalar set in two
files is a diagnostic. The result is plain data plus a table from each node's path to where it was
written.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import ScalarString

from modelmux.config.diagnostics import DiagnosticBag
from modelmux.source import SourceSpan

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class NodePosition:
    """Where a node was written: its key (for mapping entries) and its value, and the scalar style."""

    key: SourceSpan | None
    value: SourceSpan
    style: str | None = None  # None (plain), "'" or '"', "|" or ">"


@dataclass
class _Node:
    value: Any  # dict[str, _Node] | list[_Node] | scalar
    position: NodePosition


@dataclass
class LoadedConfig:
    """Plain data, positions by path, the source lines of every file, and load-time diagnostics."""

    data: dict[str, Any]
    positions: dict[PathKey, NodePosition]
    files: list[str]
    lines: dict[str, list[str]]
    diagnostics: DiagnosticBag = field(default_factory=DiagnosticBag)
    base_dir: str = "."
    scripts: dict[str, str] = field(default_factory=dict)
    script_paths: list[str] = field(default_factory=list)

    def span(self, path: PathKey, *, key: bool = False) -> SourceSpan | None:
        """The closest known position for a path (walking up to a parent when needed)."""
        probe = path
        while True:
            pos = self.positions.get(probe)
            if pos is not None:
                return (pos.key or pos.value) if key else pos.value
            if not probe:
                return None
            probe = probe[:-1]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    return yaml


def load_config(path: str | os.PathLike[str], *, text: str | None = None) -> LoadedConfig:
    """Load a config file and its includes. Never raises for bad content: problems are diagnostics."""
    loader = _Loader()
    root_name = str(path)
    try:
        node = loader.load_file(root_name, text=text, stack=())
    except RecursionError:
        loader.bag.error(
            "the config is nested too deeply to read",
            SourceSpan(root_name, 1, 1),
            code="yaml",
            hint="configs are a few levels deep; check for a runaway structure",
        )
        node = None
    data: dict[str, Any] = {}
    positions: dict[PathKey, NodePosition] = {}
    if node is not None:
        if isinstance(node.value, dict):
            positions[()] = node.position
            try:
                plain = _flatten(node, (), positions)
            except _TooDeep as deep:
                plain, positions = {}, {}
                loader.bag.error(
                    f"the config is nested more than {MAX_DEPTH} levels deep", deep.position.value, code="yaml"
                )
            data = plain if isinstance(plain, dict) else {}
        else:
            loader.bag.error(
                "a config file must be a mapping of top-level keys",
                node.position.value,
                hint="start with `providers:`",
            )
    loaded = LoadedConfig(
        data,
        positions,
        loader.files,
        loader.lines,
        DiagnosticBag(loader.lines),
        str(Path(root_name).resolve().parent),
    )
    loaded.diagnostics.items.extend(loader.bag.items)
    _read_scripts(loaded)
    return loaded


SCRIPT_PATHS: tuple[PathKey, ...] = (("routing", "custom", "script"),)


def _read_scripts(loaded: LoadedConfig) -> None:
    """Read files a config names (the custom routing script), relative to the file that names them."""
    for path in SCRIPT_PATHS:
        value: Any = loaded.data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        span = loaded.span(path)
        if not isinstance(value, str) or span is None or "${" in value:
            continue
        target = Path(span.file).resolve().parent / value
        loaded.script_paths.append(str(target))
        try:
            loaded.scripts[value] = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc})"
            loaded.diagnostics.error(f"script {value!r} {reason}", span, code="script")


class _Loader:
    def __init__(self) -> None:
        self.files: list[str] = []
        self.lines: dict[str, list[str]] = {}
        self.bag = DiagnosticBag(self.lines)

    def load_file(self, name: str, *, text: str | None, stack: tuple[str, ...]) -> _Node | None:
        if text is None:
            try:
                text = Path(name).read_text(encoding="utf-8")
            except FileNotFoundError:
                self.bag.error(f"config file {name!r} does not exist", None, code="load")
                return None
            except (OSError, UnicodeDecodeError) as exc:
                self.bag.error(f"cannot read {name!r}: {exc}", None, code="load")
                return None
        self.files.append(name)
        self.lines[name] = text.splitlines()
        node = _fast_load(text, name)
        if node is None:
            node = self._ruamel_load(text, name)
        if node is not None and isinstance(node.value, dict) and "include" in node.value:
            self._include(node, name, (*stack, str(Path(name).resolve())))
        return node

    def _ruamel_load(self, text: str, name: str) -> _Node | None:
        """The reference loader (and the only one that reports YAML errors)."""
        try:
            raw = _yaml().load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            span = SourceSpan(name, mark.line + 1, mark.column + 1) if mark is not None else None
            problem = exc.problem or exc.context or "invalid YAML"
            tabs = "\\t" in problem or "\t" in problem
            hint = "YAML does not allow tabs for indentation; indent with spaces" if tabs else None
            if "duplicate key" in problem:
                hint = "each key may appear once in a mapping; remove or rename one"
            self.bag.error(f"invalid YAML: {problem}", span, code="yaml", hint=hint)
            return None
        except YAMLError as exc:
            self.bag.error(f"invalid YAML: {exc}", SourceSpan(name, 1, 1), code="yaml")
            return None
        if raw is None:
            return _Node({}, NodePosition(None, SourceSpan(name, 1, 1)))
        return _convert(raw, name, NodePosition(None, SourceSpan(name, 1, 1)))

    def _include(self, node: _Node, name: str, stack: tuple[str, ...]) -> None:
        include = node.value["include"]
        items = include.value if isinstance(include.value, list) else [include]
        base = Path(name).resolve().parent
        for item in items:
            if not isinstance(item.value, str):
                self.bag.error("`include` takes file paths or globs", item.position.value)
                continue
            pattern = str(base / item.value)
            matches = sorted(glob.glob(pattern)) if glob.has_magic(item.value) else [pattern]
            if not matches:
                self.bag.warning(f"include pattern {item.value!r} matches no file", item.position.value)
            for match in matches:
                resolved = str(Path(match).resolve())
                if resolved in stack:
                    self.bag.error(f"include cycle: {item.value!r} includes itself", item.position.value)
                    continue
                if not Path(match).exists():
                    self.bag.error(f"included file {item.value!r} does not exist", item.position.value)
                    continue
                shown = os.path.relpath(match) if not os.path.isabs(item.value) else match
                child = self.load_file(shown, text=None, stack=stack)
                if child is None:
                    continue
                if not isinstance(child.value, dict):
                    self.bag.error("an included file must be a mapping", child.position.value)
                    continue
                child.value.pop("include", None)
                _merge(node, child, self.bag)


# Files shorter than this go straight to ruamel.yaml while PyYAML is not imported yet: importing it
# (about 11 ms) costs more than ruamel.yaml takes to read such a file (break-even measured at about
# 3,000 characters), and `modelmux validate` on a small config must not start slower.
FAST_PATH_MIN_CHARS = 4096


def _fast_load(text: str, name: str) -> _Node | None:
    """The file through libyaml (`fast_yaml`), or None when that path declines it."""
    if len(text) < FAST_PATH_MIN_CHARS and "yaml._yaml" not in sys.modules:
        return None
    from modelmux.config import fast_yaml  # imported on first use: it imports PyYAML

    try:
        return fast_yaml.load(text, name)
    except fast_yaml.Declined:
        return None


def _convert(raw: Any, name: str, position: NodePosition) -> _Node:
    if isinstance(raw, CommentedMap):
        items: dict[str, _Node] = {}
        own = (position.value.line - 1, position.value.column - 1)
        for key, value in raw.items():
            key_line, key_col = _mark(raw.lc.key, key, own)
            value_line, value_col = _mark(raw.lc.value, key, own)
            style = getattr(value, "style", None) if isinstance(value, ScalarString) else None
            child_position = NodePosition(
                SourceSpan(name, key_line + 1, key_col + 1, key_line + 1, key_col + 1 + len(str(key))),
                _value_span(name, value_line, value_col, value),
                _style(value, style),
            )
            items[str(key)] = _convert(value, name, child_position)
        return _Node(items, position)
    if isinstance(raw, CommentedSeq):
        elements = []
        for index, value in enumerate(raw):
            line, col = raw.lc.item(index)
            child_position = NodePosition(None, _value_span(name, line, col, value), _style(value, None))
            elements.append(_convert(value, name, child_position))
        return _Node(elements, position)
    if isinstance(raw, ScalarString):
        return _Node(str(raw), position)
    return _Node(raw, position)


def _mark(lookup: Any, key: Any, fallback: tuple[int, int]) -> tuple[int, int]:
    """A key's or value's position; keys merged in with `<<: *anchor` have none: use the mapping's."""
    try:
        found = lookup(key)
    except (KeyError, TypeError):
        return fallback
    return (found[0], found[1]) if found and found[0] is not None else fallback


def _style(value: Any, style: str | None) -> str | None:
    if isinstance(value, ScalarString):
        return getattr(value, "style", None) or style
    return None


def _value_span(name: str, line: int, col: int, value: Any) -> SourceSpan:
    width = len(str(value)) if not isinstance(value, dict | list) else 1
    return SourceSpan(name, line + 1, col + 1, line + 1, col + 1 + max(width, 1))


def _merge(into: _Node, other: _Node, bag: DiagnosticBag) -> None:
    for key, child in other.value.items():
        existing = into.value.get(key)
        if existing is None:
            into.value[key] = child
        elif isinstance(existing.value, dict) and isinstance(child.value, dict):
            _merge(existing, child, bag)
        elif isinstance(existing.value, list) and isinstance(child.value, list):
            existing.value.extend(child.value)
        else:
            first = existing.position.key or existing.position.value
            bag.error(
                f"`{key}` is set twice: here and at {first}",
                child.position.key or child.position.value,
                hint="set each scalar key in one file only",
            )


MAX_DEPTH = 64


class _TooDeep(Exception):
    def __init__(self, position: NodePosition) -> None:
        self.position = position


def _flatten(node: _Node, path: PathKey, positions: dict[PathKey, NodePosition]) -> Any:
    if len(path) > MAX_DEPTH:
        raise _TooDeep(node.position)
    if isinstance(node.value, dict):
        result: dict[str, Any] = {}
        for key, child in node.value.items():
            positions[(*path, key)] = child.position
            result[key] = _flatten(child, (*path, key), positions)
        return result
    if isinstance(node.value, list):
        items = []
        for index, child in enumerate(node.value):
            positions[(*path, index)] = child.position
            items.append(_flatten(child, (*path, index), positions))
        return items
    return node.value
