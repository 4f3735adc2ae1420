"""Turns pydantic validation errors into diagnostics that point at the YAML that caused them.

A pydantic error location (`('providers', 0, 'openai', 'api_kye')`) is walked along the config models
to find the data path (`('providers', 0, 'api_kye')`), the keys allowed there (for "did you mean"),
and so the file, line and column.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from modelmux.config.diagnostics import DiagnosticBag, suggestion
from modelmux.config.loader import LoadedConfig, PathKey
from modelmux.config.models import Config
from modelmux.units import EXAMPLES, UnitKind


@dataclass(frozen=True, slots=True)
class _Located:
    path: PathKey
    allowed: tuple[str, ...]
    branch_mismatch: bool = False  # the error came from a union member whose shape the data does not have


def check_config(data: dict[str, Any], loaded: LoadedConfig, bag: DiagnosticBag) -> Config | None:
    """Validate data against the models; every problem becomes a diagnostic. None when invalid."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    located = [(error, _locate(error["loc"], data)) for error in errors]
    relevant = [(e, where) for e, where in located if not where.branch_mismatch]
    for error, where in relevant or located:
        _report(error, where, data, loaded, bag)
    return None


def _report(
    error: ErrorDetails, located: _Located, data: dict[str, Any], loaded: LoadedConfig, bag: DiagnosticBag
) -> None:
    kind = error["type"]
    path = located.path
    message = _clean(error["msg"])
    hint: str | None = None
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        message = f"unknown key `{key}` {_where(path[:-1])}"
        hint = suggestion(key, located.allowed) or _allowed_hint(located.allowed)
        bag.error(message, loaded.span(path, key=True), hint=hint, code="unknown-key")
        return
    if kind == "missing":
        key = str(path[-1]) if path else "?"
        parent = path[:-1]
        bag.error(f"missing required key `{key}` {_where(parent)}", loaded.span(parent, key=True), code="missing-key")
        return
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        tag = str(ctx.get("tag", ""))
        expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        message = f"unknown provider type {tag!r}"
        hint = suggestion(tag, expected) or f"one of: {', '.join(expected)}"
        bag.error(message, loaded.span((*path, "type")), hint=hint, code="unknown-type")
        return
    if kind == "union_tag_not_found":
        bag.error(
            "provider entry needs `type:`",
            loaded.span(path, key=True),
            hint=_types_hint(),
            code="missing-key",
        )
        return
    if kind == "literal_error":
        ctx = error.get("ctx") or {}
        expected = [e.strip().strip("'") for e in str(ctx.get("expected", "")).replace(" or ", ",").split(",")]
        value = _value_at(data, path)
        hint = suggestion(str(value), expected) or f"one of: {', '.join(e for e in expected if e)}"
        message = f"{value!r} is not a valid `{path[-1] if path else 'value'}`"
    bag.error(message, loaded.span(path), hint=hint or _unit_hint(message), code=kind)


def _locate(loc: Sequence[int | str], data: Any) -> _Located:
    annotation: Any = Config
    path: list[str | int] = []
    allowed: tuple[str, ...] = ()
    mismatch = False
    parts = list(loc)
    while parts:
        part = parts[0]
        annotation = _unwrap(annotation)
        members = _union_members(annotation)
        if members:
            chosen = _choose_member(members, part)
            if chosen is not None:
                mismatch = mismatch or not _shape_fits(chosen, _value_at(data, tuple(path)))
                annotation = chosen
                parts.pop(0)
                continue
            annotation = _only_model(members)
            continue
        parts.pop(0)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = _field_names(annotation)
            allowed = tuple(fields)
            path.append(part)
            field = fields.get(str(part))
            annotation = field if field is not None else Any
            continue
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        path.append(part)
        if origin in (list, tuple) and args:
            annotation = args[0]
        elif origin is dict and len(args) == 2:
            annotation = args[1]
        else:
            annotation = Any
    return _Located(tuple(path), allowed, mismatch)


def _only_model(members: tuple[Any, ...]) -> Any:
    """`Section | None` has no member name in pydantic's location: step into the one model it holds."""
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else Any


def _shape_fits(member: Any, value: Any) -> bool:
    """Whether data of this shape could be meant for this union member (a mapping for a model...)."""
    origin = typing.get_origin(member) or member
    if isinstance(value, dict):
        return (isinstance(origin, type) and issubclass(origin, BaseModel)) or origin is dict
    if isinstance(value, list):
        return origin in (list, tuple)
    return not ((isinstance(origin, type) and issubclass(origin, BaseModel)) or origin in (list, tuple, dict))


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(_unwrap(a) for a in typing.get_args(annotation))
    return ()


def _choose_member(members: tuple[Any, ...], part: int | str) -> Any | None:
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel):
            tag = member.model_fields.get("type")
            if tag is not None and part in typing.get_args(tag.annotation):
                return member
            if part == member.__name__:
                return member
        name = getattr(member, "__name__", None) or str(member)
        if isinstance(part, str) and (part == name or part.startswith(f"{name}[")):
            return member
        if (
            isinstance(part, str)
            and typing.get_origin(member) is not None
            and part.startswith(getattr(typing.get_origin(member), "__name__", "?"))
        ):
            return member
    return None


def _field_names(model: type[BaseModel]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        names[info.alias or name] = info.annotation
    return names


def _where(path: PathKey) -> str:
    if not path:
        return "at the top level"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"in {text}"


def _value_at(data: Any, path: PathKey) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message[:1].lower() + message[1:] if message else message


def _unit_hint(message: str) -> str | None:
    for kind in UnitKind:
        if EXAMPLES[kind] in message:
            return f"write {EXAMPLES[kind]}"
    return None


def _allowed_hint(allowed: tuple[str, ...]) -> str | None:
    return f"allowed keys: {', '.join(allowed)}" if allowed else None


def _types_hint() -> str:
    from modelmux.config.providers import PROVIDER_TYPES

    return f"one of: {', '.join(PROVIDER_TYPES)}"
